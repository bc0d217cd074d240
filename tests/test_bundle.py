"""Loading a bundle refuses anything it cannot trust, with one line saying what to do."""

import json

import pytest

from conftest import edit_metadata
from formcast.bundle import BundleError, load_bundle


def test_a_good_bundle_loads_with_its_schema(bundle_copy):
    bundle = load_bundle(bundle_copy)

    assert bundle.schema.target == "species"
    assert bundle.schema.feature_names == list(bundle.pipeline.feature_names_in_)


def test_no_bundle_says_how_to_train_one(tmp_path):
    with pytest.raises(BundleError, match=r"no model bundle in .*train one with `python train.py`"):
        load_bundle(tmp_path / "empty")


@pytest.mark.parametrize("text", ["{trunc", "", "[]", "\xff\xfe"])
def test_unreadable_metadata_is_refused(bundle_copy, text):
    (bundle_copy / "metadata.json").write_text(text, encoding="latin-1")

    with pytest.raises(BundleError, match="metadata.json.*retrain"):
        load_bundle(bundle_copy)


def test_a_damaged_model_file_fails_its_checksum(bundle_copy):
    model = next(bundle_copy.glob("pipeline-*.joblib"))
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))

    with pytest.raises(BundleError, match="does not match the sha256"):
        load_bundle(bundle_copy)


def test_a_missing_model_file_is_named(bundle_copy):
    next(bundle_copy.glob("pipeline-*.joblib")).unlink()

    with pytest.raises(BundleError, match=r"pipeline-[0-9a-f]{12}\.joblib is missing"):
        load_bundle(bundle_copy)


def test_a_model_from_another_scikit_learn_is_refused_naming_both_versions(bundle_copy):
    edit_metadata(bundle_copy, lambda m: m["versions"].update({"scikit-learn": "1.2.0"}))

    with pytest.raises(BundleError) as raised:
        load_bundle(bundle_copy)

    message = str(raised.value)
    assert "scikit-learn 1.2.0 (installed: " in message
    assert "pip install -r requirements.txt" in message and "python train.py" in message


@pytest.mark.parametrize("name", ["../../etc/passwd", "/var/lib/x.joblib", "pipeline-abc.pkl"])
def test_metadata_cannot_point_at_another_file(bundle_copy, name):
    edit_metadata(bundle_copy, lambda m: m.update({"model_file": name}))

    with pytest.raises(BundleError, match="unexpected model file"):
        load_bundle(bundle_copy)


def test_a_bundle_of_another_format_version_is_refused(bundle_copy):
    edit_metadata(bundle_copy, lambda m: m.update({"format_version": 99}))

    with pytest.raises(BundleError, match="format_version 99"):
        load_bundle(bundle_copy)

"""The model card (GET /model) and its plots: from the bundle, checked, escaped, served only if listed."""

import json
import subprocess
import sys

import pytest

from conftest import PROJECT, edit_metadata, train_bundle
from formcast.bundle import BundleError, load_bundle
from formcast.web import create_app


def test_the_card_page_shows_metrics_baseline_selection_data_and_versions(client):
    page = client.get("/model")

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for words in ("Model card", "baseline (most frequent)", "How it was chosen", "Results per class",
                  "Permutation importance", "No column was left out", "Versions", "scikit-learn", "matplotlib"):
        assert words in text, words


def test_every_plot_on_the_page_is_a_png_from_the_bundle(client, penguin_bundle):
    metadata = json.loads((penguin_bundle / "metadata.json").read_text())
    page = client.get("/model").get_data(as_text=True)

    assert [f["stem"] for f in metadata["files"]] == ["confusion-matrix", "importance"]
    for entry in metadata["files"]:
        assert f'src="/model/plots/{entry["name"]}"' in page
        image = client.get(f"/model/plots/{entry['name']}")
        assert image.status_code == 200 and image.mimetype == "image/png"
        assert image.data == (penguin_bundle / entry["name"]).read_bytes()
        assert image.data.startswith(b"\x89PNG")


@pytest.mark.parametrize("name", ["metadata.json", "..%2Fmetadata.json", "confusion-matrix-000000000000.png",
                                  "pipeline-2ce89d0c756a.joblib"])
def test_only_the_listed_plots_are_served(client, name):
    assert client.get(f"/model/plots/{name}").status_code == 404


def test_a_damaged_plot_fails_its_checksum_at_load(bundle_copy):
    plot = json.loads((bundle_copy / "metadata.json").read_text())["files"][0]["name"]
    (bundle_copy / plot).write_bytes(b"\x89PNG not the plot that was trained")

    with pytest.raises(BundleError, match=f"{plot} does not match the sha256.*retrain"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("name", ["../metadata.json", "plot.svg", "Plot-0123456789ab.png", "x/y-0123456789ab.png"])
def test_metadata_cannot_list_a_file_outside_the_safe_pattern(bundle_copy, name):
    edit_metadata(bundle_copy, lambda m: m["files"].append({"stem": "x", "name": name, "sha256": "0" * 64}))

    with pytest.raises(BundleError, match="not plain <name>-<sha12>.png"):
        load_bundle(bundle_copy)


def test_a_bundle_from_before_the_card_still_serves_and_says_to_retrain(bundle_copy):
    def strip(metadata):
        del metadata["evaluation"], metadata["files"]

    edit_metadata(bundle_copy, strip)
    client = create_app({"TESTING": True, "MODEL_DIR": str(bundle_copy)}).test_client()

    assert client.post("/predict", json={}).status_code == 422  # still serves
    assert "retrain it with" in client.get("/model").get_data(as_text=True)


def test_text_from_the_training_data_is_escaped_on_the_card(tmp_path):
    csv = tmp_path / "hostile.csv"
    rows = [f"{i % 7},{('<b>x</b>', 'plain')[i % 2]},{'yes' if i % 3 else 'no'},{i}" for i in range(60)]
    csv.write_text("<img src=x>,kind,y,row_id\n" + "\n".join(rows) + "\n")
    bundle = train_bundle(tmp_path / "model", csv, "y", "--model", "linear")
    client = create_app({"TESTING": True, "MODEL_DIR": str(bundle)}).test_client()

    page = client.get("/model").get_data(as_text=True)

    assert "&lt;img src=x&gt;" in page and "<img src=x>" not in page
    assert "row_id" in page  # the dropped identifier column is listed with its reason


def test_the_app_never_imports_matplotlib(penguin_bundle):
    code = ("import sys; from formcast.web import create_app; "
            f"create_app({{'MODEL_DIR': {str(penguin_bundle)!r}}}).test_client().get('/model'); "
            "print('matplotlib' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=60)

    assert result.stdout.strip() == "False", result.stderr

"""The fast prediction path gives the Pipeline's answers, and steps aside where it cannot.

Each bundle is trained by `train.py`'s own code; here its stored fast path is
compared with its unpickled Pipeline on every row of the training CSV (not only
the held-out rows that training checked), and on those rows with every
nullable feature missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from formcast import fastpath
from formcast.bundle import BundleError, load_bundle, write_bundle
from formcast.dataset import read_csv
from formcast.predictor import Predictor
from formcast.schema import CLASSIFICATION, prepare_frame, records_to_frame
from formcast.training import train
from formcast.web import create_app
from tests.conftest import DATASETS, PENGUIN, PROJECT


def every_record(dataset: str, schema) -> list[dict]:
    """Every row of the dataset's CSV as a validated record, then again with its nullable features missing."""
    csv, _ = DATASETS[dataset]
    records = fastpath.records_from_frame(prepare_frame(read_csv(csv), schema), schema)
    nullable = [f.name for f in schema.features if f.nullable]
    return records + [{**record, **dict.fromkeys(nullable)} for record in records] if nullable else records


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_the_fast_path_agrees_with_the_pipeline_on_every_row(bundles, dataset):
    bundle = load_bundle(bundles[dataset])
    verdict = bundle.metadata["fast_path"]
    assert verdict["used"], verdict["reason"]
    assert verdict["rows_checked"] >= bundle.metadata["rows"]["test"]
    assert verdict["max_abs_difference"] <= fastpath.ATOL + fastpath.RTOL

    predictor = Predictor(bundle)
    assert predictor.fast is not None
    records = every_record(dataset, bundle.schema)
    frame = records_to_frame(records, bundle.schema)
    classifier = bundle.schema.task == CLASSIFICATION
    expected = bundle.pipeline.predict_proba(frame) if classifier else bundle.pipeline.predict(frame)
    # Both ways the app answers: a batch in one matrix product, and one record at a time.
    batch = predictor.fast.predict(records)
    one_by_one = np.array([predictor.fast.predict_one(record) for record in records]).reshape(expected.shape)
    for fast in (batch, one_by_one):
        np.testing.assert_allclose(fast, expected, rtol=fastpath.RTOL, atol=fastpath.ATOL)
        if classifier:
            assert np.array_equal(fast.argmax(axis=1), expected.argmax(axis=1))

    if classifier:  # and what a client sees, in a batch and alone
        labels = [json_label(label) for label in bundle.pipeline.predict(frame)]
        assert [result["prediction"] for result in predictor.predict(records)] == labels
        assert [predictor.predict([record])[0]["prediction"] for record in records[:50]] == labels[:50]
    else:
        assert predictor.predict(records[:1])[0]["prediction"] == pytest.approx(expected[0], rel=fastpath.RTOL)


def json_label(label):
    return label.item() if isinstance(label, np.generic) else label


def test_a_model_it_does_not_reproduce_is_served_by_the_pipeline(tmp_path):
    csv, target = DATASETS["penguins"]
    result = train(read_csv(csv), target)
    pipeline = result.pipeline
    frame = prepare_frame(read_csv(csv), result.schema)
    pipeline.set_params(model=HistGradientBoostingClassifier(max_iter=5)).fit(frame, read_csv(csv)[target])

    verdict = fastpath.check(pipeline, frame, result.schema)
    assert verdict["used"] is False
    assert verdict["reason"] == "the estimator HistGradientBoostingClassifier has no fast path (only linear models have)"
    assert "arrays" not in verdict

    write_bundle(tmp_path, pipeline, {"schema": result.schema.to_dict(), "fast_path": verdict})
    predictor = Predictor(load_bundle(tmp_path))
    assert predictor.fast is None
    [answer] = predictor.predict([PENGUIN])
    assert answer["prediction"] == pipeline.predict(records_to_frame([PENGUIN], result.schema))[0]


def test_damaged_fast_path_arrays_stop_the_app_with_one_line(bundles, tmp_path):
    for source in bundles["penguins"].iterdir():
        (tmp_path / source.name).write_bytes(source.read_bytes())
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    metadata["fast_path"]["arrays"]["coef"] = [[1.0, 2.0]]
    (tmp_path / "metadata.json").write_text(json.dumps(metadata))

    with pytest.raises(BundleError, match=r"^the fast path in metadata.json is damaged \(coef has 2 columns"):
        create_app({"TESTING": True, "MODEL_DIR": str(tmp_path)})


def test_an_app_with_a_fast_path_starts_and_answers_without_scikit_learn_or_pandas(penguin_bundle):
    # In a fresh interpreter: what the app imports is the point, and this test process has both.
    script = (
        "import json, sys\n"
        "from formcast.web import create_app\n"
        f"answer = create_app().test_client().post('/predict', json={PENGUIN!r})\n"
        "print(json.dumps([answer.status_code, answer.get_json()['prediction'],\n"
        "                  'sklearn' in sys.modules, 'pandas.core.frame' in sys.modules]))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "FORMCAST_MODEL_DIR": str(penguin_bundle)}, check=True)
    assert json.loads(run.stdout) == [200, "Adelie", False, False]

"""The model card in a real browser, for each dataset: its tables, and its plots actually drawn.

Each bundle is served by its own live gunicorn (the Procfile's command); chromium
loads GET /model as a person would, and a screenshot of each card is kept in
test-artifacts/ to be looked at.
"""

import pytest

from browser import browser, page, screenshot  # noqa: F401  (fixtures)
from conftest import DATASETS, LiveServer

pytestmark = pytest.mark.server

PLOTS = {
    "penguins": ["Confusion matrix", "Feature importance"],
    "tips": ["Predicted against actual", "Residuals", "Feature importance"],
    "breast_cancer": ["Confusion matrix", "Feature importance"],
}


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_the_model_card_shows_metrics_beside_the_baseline_and_its_plots(bundles, page, dataset):
    server = LiveServer(bundles[dataset])
    try:
        server.wait_until_ready()
        page.goto(server.url + "/model")
        page.wait_for_load_state("load")  # every <img> has loaded or failed by then

        assert page.get_by_role("heading", name="Model card").is_visible()
        header = page.locator("#metrics thead").inner_text()
        assert "model" in header and "baseline" in header
        captions = page.locator(".plots figcaption").all_inner_texts()
        assert captions == PLOTS[dataset]
        widths = page.locator(".plots img").evaluate_all("images => images.map(i => i.naturalWidth)")
        assert len(widths) == len(PLOTS[dataset]) and all(width > 0 for width in widths)
        assert page.locator("#selection tr.chosen").count() == 1
        assert page.locator("#importance tbody tr").count() == len(page.locator("#data dd").nth(2).inner_text()
                                                                  .split(", "))
        screenshot(page, f"card-{dataset}")
    finally:
        server.stop()

"""The model card: ``GET /model`` shows what the model is, how well it does and what it costs.

Everything on the page comes from the bundle's ``metadata.json`` (its
``"evaluation"`` key, written by train.py) and its plots, which were drawn at
training time: the app draws nothing and never imports matplotlib. A plot is
served only if ``metadata.json`` lists it, from the bytes whose sha256 was
checked when the bundle was loaded.
"""

from __future__ import annotations

from flask import Blueprint, abort, make_response, render_template

from formcast.web.context import current_predictor

bp = Blueprint("card", __name__)


@bp.get("/model")
def model_card():
    bundle = current_predictor().bundle
    metadata = bundle.metadata
    evaluation = metadata.get("evaluation")
    file_names = {entry["stem"]: entry["name"] for entry in metadata.get("files", []) if "stem" in entry}
    plots = [{**plot, "file": file_names[plot["name"]]}
             for plot in (evaluation or {}).get("plots", []) if plot["name"] in file_names]
    return render_template("card.html", metadata=metadata, schema=bundle.schema, model=current_predictor().summary,
                           evaluation=evaluation, plots=plots)


@bp.get("/model/plots/<name>")
def plot(name: str):
    """One of the card's PNG files; 404 for any name ``metadata.json`` does not list."""
    content = current_predictor().bundle.files.get(name)
    if content is None:
        abort(404)
    response = make_response(content)
    response.mimetype = "image/png"
    # The name holds the file's checksum, so its content never changes: cache it for good.
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response

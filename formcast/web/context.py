"""Access to the per-app Predictor from inside a request."""

from flask import current_app

from formcast.predictor import Predictor

PREDICTOR_KEY = "formcast.predictor"


def current_predictor() -> Predictor:
    """The Predictor that ``create_app`` loaded for this app (one per process, shared by requests)."""
    return current_app.extensions[PREDICTOR_KEY]

"""The Flask application: a factory that loads the bundle once and wires the parts.

``create_app`` reads its settings from defaults, then ``FORMCAST_*`` environment
variables, then the ``test_config`` it is given, loads and checks the bundle,
and registers the ``api``, ``pages``, ``docs`` and ``card`` blueprints, the error handlers,
the security checks and headers, and the logs, metrics and probes.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from formcast.bundle import load_bundle
from formcast.paths import default_model_dir
from formcast.predictor import Predictor
from formcast.web import api, card, docs, errors, observability, pages, security
from formcast.web.context import PREDICTOR_KEY


class StrictJSONProvider(DefaultJSONProvider):
    """JSON responses are strict JSON: NaN or Infinity fail loudly on our side, never reach a client."""

    sort_keys = False  # keep results in the order we build them: prediction first

    def dumps(self, obj, **kwargs):
        kwargs.setdefault("allow_nan", False)
        return super().dumps(obj, **kwargs)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app around the bundle in ``MODEL_DIR``.

    Parameters
    ----------
    test_config : dict, optional
        Settings that override the defaults and the environment, e.g.
        ``{"MODEL_DIR": tmp_path / "model"}`` in tests.

    Raises
    ------
    formcast.bundle.BundleError
        If the bundle is missing, damaged or from other library versions.
    """
    app = Flask(__name__)
    app.json = StrictJSONProvider(app)
    app.config.from_mapping(
        # model/ in the project, wherever the process was started from.
        MODEL_DIR=str(default_model_dir()),
        # Bounds the memory one request can take: a larger body is refused with
        # 413 before it is read. 8 MiB holds about 50,000 typical records.
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
        # Bounds the work one request can ask for (Heroku's router cuts at 30 s).
        MAX_RECORDS=10_000,
        # FORMCAST_API_KEY: when set, the JSON API needs it (see formcast.web.security).
        API_KEY=None,
    )
    # FORMCAST_MODEL_DIR, FORMCAST_MAX_CONTENT_LENGTH, FORMCAST_MAX_RECORDS, ...
    app.config.from_prefixed_env("FORMCAST")
    if test_config:
        app.config.update(test_config)

    bundle = load_bundle(Path(str(app.config["MODEL_DIR"])))
    app.extensions[PREDICTOR_KEY] = Predictor(bundle)

    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(card.bp)
    errors.init_app(app)
    # Reliability, security and observability (issue 7): headers, API key, logs, metrics, probes.
    security.init_app(app)
    observability.init_app(app)
    return app

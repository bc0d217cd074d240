"""Security for every response: headers, an optional API key, and no debug mode in production.

- Every response, errors included, carries a Content-Security-Policy that allows
  only this site's own files (no inline script or style, no framing) and the
  other headers a browser uses to contain a page.
- When ``FORMCAST_API_KEY`` is set, the JSON API (``/predict``, ``/metadata``,
  ``/metrics``) needs it, as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``;
  it is compared in constant time. The HTML form posts to the server itself, so
  it stays usable without a key, as do the docs and the health probes.
- Debug mode (which shows tracebacks and, with the Werkzeug debugger, runs code)
  is only ever on when ``FORMCAST_ENV=development`` says this is a developer's machine.
"""

from __future__ import annotations

import hmac
import os

from flask import Flask, current_app, request

from formcast.web.errors import problem_response

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",  # plots may be embedded as data: images
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

# Endpoints that need the API key when one is set: the JSON API, not the page or the probes.
PROTECTED_ENDPOINTS = frozenset({"api.predict", "api.metadata", "observability.metrics"})


def init_app(app: Flask) -> None:
    """Turn debug off outside development, check the API key, add the headers to every response."""
    if os.environ.get("FORMCAST_ENV") != "development":
        app.debug = False
    key = app.config.get("API_KEY")
    # from_prefixed_env parses values as JSON: a key of digits arrives as a number.
    app.config["API_KEY"] = str(key) if key not in (None, "") else None
    app.before_request(_require_api_key)
    app.after_request(_add_security_headers)


def _require_api_key():
    expected = current_app.config["API_KEY"]
    if expected is None or request.endpoint not in PROTECTED_ENDPOINTS:
        return None
    given = _given_key()
    if given is not None and hmac.compare_digest(given.encode(), expected.encode()):
        return None
    detail = ("this API needs a key: send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
              if given is None else "the API key is not valid")
    return problem_response(401, detail, headers={"WWW-Authenticate": 'Bearer realm="formcast"'})


def _given_key() -> str | None:
    authorization = request.headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("X-API-Key") or None


def _add_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response

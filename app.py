"""The web app, for ``gunicorn app:app`` (see gunicorn.conf.py and the Procfile).

It loads the model bundle once, at start-up. If the bundle cannot be used,
the process exits with one line saying what is wrong and what to do, rather
than serving errors.
"""

import sys

from formcast.bundle import BundleError
from formcast.web import create_app

try:
    app = create_app()
except BundleError as error:
    sys.exit(f"formcast: cannot start: {error}")

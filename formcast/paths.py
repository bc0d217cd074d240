"""Where the project keeps its default data and model, independent of the working directory.

gunicorn, a PaaS or a container may start the app from any directory, so every
default path is resolved from this file's location, never from ``os.getcwd()``.
"""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = PROJECT_ROOT / "data" / "penguins.csv"
DEFAULT_TARGET = "species"


def default_model_dir() -> Path:
    """``$FORMCAST_MODEL_DIR`` if set, else ``model/`` in the project."""
    return Path(os.environ.get("FORMCAST_MODEL_DIR") or PROJECT_ROOT / "model")

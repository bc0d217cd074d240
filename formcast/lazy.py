"""Import a heavy library on first use instead of at start-up.

The web app serves a model with a checked fast path (formcast/fastpath.py) from
plain arrays: it needs neither pandas nor scikit-learn, whose imports are most
of a server's start-up time. Modules that need pandas only to read training
data or to run the Pipeline take it through ``lazy_import``; the real import
happens the first time one of its attributes is used.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """Return module ``name``, loaded when first used (the recipe in the importlib docs).

    >>> pd = lazy_import("pandas")   # nothing imported yet
    >>> pd.DataFrame                 # doctest: +SKIP
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module

"""The optional ``sc2`` extra: one clear error naming the extra when pysc2-evolved, s2protocol or sc2reader is absent.

Everything else in the library works without these packages; StarCraft II features call ``require`` first so a
missing package never surfaces as a bare ImportError from deep inside a module.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

EXTRA = "sc2"
INSTALL_HINT = "pip install 'perceiver-star[sc2]'  (pysc2-evolved, s2protocol, sc2reader)"
# import name -> PyPI distribution name
PACKAGES = {"pysc2_evolved": "pysc2-evolved", "s2protocol": "s2protocol", "sc2reader": "sc2reader"}


class MissingExtraError(ImportError):
    """A StarCraft II feature was used without the ``sc2`` extra installed."""


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` (e.g. ``pysc2_evolved.lib.features``) or raise MissingExtraError saying what to install."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pysc2 imports pygame, which greets on stdout
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        dist = PACKAGES.get(top, top)
        raise MissingExtraError(
            f"{feature} needs the optional extra '{EXTRA}' ({dist} is not installed: {exc}). Install it with: "
            f"{INSTALL_HINT}"
        ) from None

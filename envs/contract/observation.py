"""The keys of an observation dict, in the order batches stack them (shapes and meaning: README.md here)."""

from __future__ import annotations

OBS_KEYS = ("units", "unit_mask", "scalars", "available_actions")

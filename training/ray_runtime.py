"""Starting (or joining) Ray for actors and evaluation workers, with settings that suit one machine and CI.

A local Ray by default (no dashboard, a small object store, quiet logs); ``address`` joins an existing cluster.
``RAY_USAGE_STATS_ENABLED=0`` is set unless the user set it. An already initialised Ray is reused as is.
"""

from __future__ import annotations

import os
from typing import Any

OBJECT_STORE_BYTES = 256 * 2**20


def start_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Initialise Ray once per process and return the module (imported lazily: Ray is heavy to import)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        return ray
    if address:
        ray.init(address=address, logging_level="WARNING")
    else:
        cpus = num_cpus if num_cpus is not None else max(2, os.cpu_count() or 2)
        # address "local": always a new local Ray, never the last cluster `ray start` made on this machine (which
        # ray.init would otherwise join, or fail on once it is gone)
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
                 logging_level="WARNING", log_to_driver=True)  # fmt: skip
    return ray

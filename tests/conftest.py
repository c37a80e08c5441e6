"""Shared pytest setup: deterministic seeds and a small thread count for the 2-core CI machine."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole test session (starting Ray costs several seconds); shut down at the end."""
    import os

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from training.ray_runtime import start_ray

    ray = start_ray(num_cpus=2)
    yield ray
    ray.shutdown()

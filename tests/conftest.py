"""Shared pytest setup: deterministic seeds, one local Ray, and a few recorded Skirmish games for BC tests."""

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _skirmish_kernels():
    """Skirmish's numba kernels compiled once up front, so subprocess tests (recording workers, Ray actors) load
    them from the cache instead of compiling under their own deadlines."""
    from envs.skirmish.precompile import precompile

    precompile()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def one_thread():
    """One torch thread for a test of small ops: as fast, and robust on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


@pytest.fixture(scope="session")
def replay_dir(tmp_path_factory) -> Path:
    """Three hard-vs-easy games on mirrored 3m (read only: runs keep their caches elsewhere)."""
    from envs.skirmish.botgame import mirrored, play_bot_game
    from envs.skirmish.replay import save_replay
    from envs.skirmish.scenario import load_scenario

    directory = tmp_path_factory.mktemp("replays")
    for seed in range(3):
        match = play_bot_game(mirrored(load_scenario("3m"), seed), {1: "hard", 2: "easy"}, seed=seed, max_units=64)
        save_replay(directory / f"g{seed}.skreplay", match, {1: "bot:hard", 2: "bot:easy"})
    return directory

"""Shared pytest setup: deterministic seeds and a small thread count for the 2-core CI machine."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield

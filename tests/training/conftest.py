"""Training tests use tiny models on 64x64 images: one torch thread is faster than two for them (and much
faster when other processes share the CPU)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

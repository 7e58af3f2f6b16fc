"""Training tests use tiny models on 64x64 images: one torch thread is faster than two for them (and much
faster when other processes share the CPU)."""

from __future__ import annotations

import pytest

from dermaseg.data.synthetic import write_dataset


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ham(tmp_path_factory):
    """A synthetic HAM10000-layout dataset of 15 images (64×64), one per test module."""
    return write_dataset(tmp_path_factory.mktemp("ham") / "HAM", "ham10000", n=15, size=(64, 64), seed=2)

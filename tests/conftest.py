"""Shared fixtures. Tests that read ../shared/data use ``shared_data`` and skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DERMASEG_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_configure(config):
    # 2-core CI machines: keep torch from oversubscribing when several tests build models
    try:
        import torch

        torch.set_num_threads(min(2, os.cpu_count() or 1))
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ../shared/data (real ISIC 2017 and HAM10000 layouts); skips the test when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA

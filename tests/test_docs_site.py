"""The documentation site builds with ``mkdocs build --strict`` (every nav entry and relative link resolves)
and loads nothing from a CDN (no web fonts, the offline search shim vendored)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_strict_build_is_offline(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, env={"NO_MKDOCS_2_WARNING": "1",
                                                                          "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    pages = sorted(p.name for p in site.glob("*.html"))
    for page in ("index.html", "ARCHITECTURE.html", "tracking.html", "workspaces.html", "compare.html", "api.html"):
        assert page in pages
    api = (site / "api.html").read_text(encoding="utf-8")  # mkdocstrings read the docstrings
    assert 'id="dermaseg.inference.predictor.Predictor.set_image"' in api
    for html in site.glob("*.html"):
        srcs = re.findall(r'(?:src|href)="(https?://[^"]+)"', html.read_text(encoding="utf-8"))
        assert not [u for u in srcs if re.search(r"fonts\.|unpkg|cdn|jsdelivr", u)], (html.name, srcs)

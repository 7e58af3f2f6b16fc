"""The "Export and ONNX Runtime" example of docs/onnx.md (README links it) runs as written, with numpy, PIL and onnxruntime only, on
graphs written by ``dermaseg export`` for ``default`` and ``litemedsam``, and its masks agree with the
Predictor's (so the page cannot drift from the export format)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermaseg.export.onnx_export import export_cli
from dermaseg.inference.predictor import load_predictor
from dermaseg.io import read_image

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- onnx-example: tested by tests/export/test_readme_example.py -->"


def readme_example() -> str:
    text = (ROOT / "docs" / "onnx.md").read_text(encoding="utf-8")
    m = re.search(re.escape(MARKER) + r"\s*```python\n(.*?)```", text, re.S)
    assert m, "docs/onnx.md lost its ONNX example"
    return m.group(1)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * int((a & b).sum()) / max(1, int(a.sum()) + int(b.sum()))


def test_example_is_short_and_free_of_dermaseg():
    code = readme_example()
    imports = {a.name.split(".")[0] for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Import) for a in n.names}
    imports |= {n.module.split(".")[0] for n in ast.walk(ast.parse(code)) if isinstance(n, ast.ImportFrom)}
    assert imports == {"json", "numpy", "onnxruntime", "PIL"}
    assert len(code.strip().splitlines()) <= 16


@pytest.mark.slow
def test_readme_example_runs_on_exported_models(tmp_path):
    sample = "src/dermaseg/assets/samples/ISIC_0012143.jpg"
    assert sample in readme_example()
    (tmp_path / sample).parent.mkdir(parents=True)
    shutil.copy(ROOT / sample, tmp_path / sample)
    for name in ("default", "litemedsam"):  # dermaseg export --model NAME --format onnx --out onnx/NAME
        export_cli(name, format="onnx", out=tmp_path / "onnx" / name)
    r = subprocess.run([sys.executable, "-c", readme_example()], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    rgb = read_image(ROOT / sample)
    box = tuple(float(v) for v in re.search(r"np\.array\(\[\[\[(\d+), (\d+)\], \[(\d+), (\d+)\]\]\]", readme_example()
                                            ).groups())
    for name, kw in (("default", {}), ("litemedsam", {"box": box})):
        got = np.asarray(Image.open(tmp_path / f"mask_{name}.png")) > 0
        p = load_predictor(name, postprocess=False)
        p.set_image(rgb)
        want = p.predict(**kw).mask
        assert got.shape == want.shape and want.mean() > 0.02
        assert _dice(got, want) >= 0.97, name  # PIL's resize instead of OpenCV's: edge pixels may differ

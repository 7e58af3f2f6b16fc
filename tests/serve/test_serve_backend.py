"""``dermaseg serve --backend onnx``: the server's two models run under onnxruntime (graphs exported into a
private cache), report their backend, and give the torch backend's masks for an upload (automatic) and for
box and point prompts. Tiny models (tests/export/conftest.py) keep it fast."""

from __future__ import annotations

import numpy as np
import pytest

from dermaseg.data.prompts import mask_bbox
from dermaseg.data.synthetic import make_image
from dermaseg.inference.predictor import Predictor

from .conftest import b64_mask, png_bytes

pytest.importorskip("onnxruntime")


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s


def test_serve_onnx_backend_gives_the_torch_masks(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from dermaseg.serve.app import create_app
    from tests.export.conftest import tiny_cnn, tiny_sam

    monkeypatch.setenv("DERMASEG_CACHE", str(tmp_path / "cache"))
    cnn, sam = tiny_cnn(), tiny_sam(multimask=False)
    rgb, truth = make_image(72, 96, seed=5)
    with TestClient(create_app(cnn, sam, backend="onnx", prefetch_sam=False, device="cpu"),
                    base_url="http://127.0.0.1") as client:
        models = client.get("/api/models").json()
        assert models["automatic"]["backend"] == models["prompted"]["backend"] == "onnx"
        exported = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "cache" / "onnx").iterdir())
        assert exported == ["fpn-tiny", "tiny-sam"]  # both graphs exported once, into the private cache

        r = client.post("/api/images", files={"file": ("l.png", png_bytes(rgb), "image/png")})
        assert r.status_code == 201, r.text
        body = r.json()
        torch_cnn = Predictor(cnn, device="cpu")
        torch_cnn.set_image(rgb)
        want = torch_cnn.predict()
        assert want.mask.any() and _dice(b64_mask(body["auto"]["mask"]), want.mask) >= 0.999

        torch_sam = Predictor(sam, device="cpu")
        torch_sam.set_image(rgb)
        x0, y0, x1, y1 = mask_bbox(truth)
        cy, cx = np.argwhere(truth).mean(0)
        for prompt in ({"box": [x0 - 3, y0 - 3, x1 + 3, y1 + 3]}, {"points": [[float(cx), float(cy)]], "labels": [1]}):
            r = client.post(f"/api/images/{body['id']}/predict", json=prompt)
            assert r.status_code == 200, r.text
            want = torch_sam.predict(box=prompt.get("box"), points=prompt.get("points"),
                                     point_labels=prompt.get("labels"))
            assert want.mask.any() and _dice(b64_mask(r.json()["mask"]), want.mask) >= 0.999, prompt
            assert r.json()["score"] == pytest.approx(want.score, abs=1e-4)

"""Edits are kept, end to end through the API: a prompt after ``PUT .../mask`` refines from the edited mask
and keeps the brushed and erased pixels it does not change, equal to the Predictor's rule by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dermaseg.inference.predictor import Predictor
from dermaseg.io import read_image

from .conftest import b64_mask, png_bytes

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:'litemedsam' was trained")]
SAMPLE = Path(__file__).resolve().parents[2] / "src/dermaseg/assets/samples/ISIC_0012099.jpg"


def test_prompt_after_put_mask_keeps_strokes(make_client, sam_predictor):
    client = make_client()
    rgb = read_image(SAMPLE)
    h, w = rgb.shape[:2]
    r = client.post("/api/images", files={"file": ("lesion.png", png_bytes(rgb), "image/png")})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    box = [w * 0.2, h * 0.2, w * 0.8, h * 0.8]
    first = b64_mask(client.post(f"/api/images/{iid}/predict", json={"box": box}).json()["mask"])
    edited = first.copy()
    edited[4:14, 4:14] = True  # brushed, far outside the box
    ys, xs = np.nonzero(first)
    cy, cx = int(ys.mean()), int(xs.mean())
    edited[cy - 3:cy + 3, cx - 3:cx + 3] = False  # erased, inside the lesion
    assert client.put(f"/api/images/{iid}/mask", content=png_bytes(edited.astype(np.uint8) * 255)).status_code == 200
    click = {"box": box, "points": [[w * 0.75, h * 0.5]], "labels": [1]}
    got = b64_mask(client.post(f"/api/images/{iid}/predict", json=click).json()["mask"])
    # the same session by hand on an independent Predictor: the rule of dermaseg.inference.edits
    ref = Predictor(sam_predictor.model, device="cpu")
    ref.set_image(rgb)
    assert np.array_equal(ref.predict(box=box).mask, first)
    ref.apply_edit(edited)
    want = ref.predict(box=click["box"], points=click["points"], point_labels=click["labels"])
    new = ref._cache["session"]["mask"]
    assert np.array_equal(got, want.mask) and np.array_equal(got, np.where(first != new, new, edited))
    assert got[4:14, 4:14].all()  # the stroke survived the prompt
    kept = (first == new) & (edited != first)
    assert kept.any() and np.array_equal(got[kept], edited[kept])
    # the stroke also survives a later prompt; the same prompts on an unedited image never give it
    more = {"box": box, "points": [[w * 0.75, h * 0.5], [w * 0.5, h * 0.25]], "labels": [1, 0]}
    assert b64_mask(client.post(f"/api/images/{iid}/predict", json=more).json()["mask"])[4:14, 4:14].all()
    other = client.post("/api/images", files={"file": ("b.png", png_bytes(rgb), "image/png")}).json()["id"]
    client.post(f"/api/images/{other}/predict", json={"box": box})
    plain = b64_mask(client.post(f"/api/images/{other}/predict", json=click).json()["mask"])
    assert not plain[4:14, 4:14].any()

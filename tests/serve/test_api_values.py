"""The REST API returns exactly what the Predictor gives (bit-exact masks, scores, quality, flags), edited
masks round-trip bit-exact, evicted images are recomputed to the same result under a tiny cache, files in
the private temporary folder go away on delete, expiry and shutdown, and concurrent prompts on different
images never get each other's mask."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from dermaseg.data.prompts import mask_bbox
from dermaseg.data.synthetic import make_image
from dermaseg.inference.predictor import Predictor
from dermaseg.measure import measure
from dermaseg.measure.rules import rules

from .conftest import b64_mask, png_bytes, png_mask

pytestmark = pytest.mark.slow  # SAM embeddings: about a second each on 2 idle cores


@pytest.fixture(scope="module")
def images():
    """Three synthetic lesions at different places and sizes (non-square, both orientations)."""
    return [make_image(96, 128, seed=11), make_image(112, 80, seed=12), make_image(80, 120, seed=13)]


@pytest.fixture(scope="module")
def ref(sam_predictor):
    """An independent Predictor on the same SAM weights (its own cache and encoder copy)."""
    return Predictor(sam_predictor.model, device="cpu")


def _upload(client, rgb, name="lesion.png", **data):
    r = client.post("/api/images", files={"file": (name, png_bytes(rgb), "image/png")}, data=data)
    assert r.status_code == 201, r.text
    return r.json()


def _box(truth, pad=4):
    x0, y0, x1, y1 = mask_bbox(truth)
    return [x0 - pad, y0 - pad, x1 + pad, y1 + pad]


def test_upload_gives_the_automatic_predictors_mask(make_client, auto_predictor, images):
    client = make_client()
    rgb, truth = images[0]
    body = _upload(client, rgb, pixel_size="0.05")
    auto_predictor.set_image(rgb)
    want = auto_predictor.predict()
    assert (body["width"], body["height"]) == (128, 96) and len(body["id"]) == 32
    got = b64_mask(body["auto"]["mask"])
    assert got.shape == (96, 128) and np.array_equal(got, want.mask)
    assert body["auto"]["predicted_quality"] == want.quality and body["auto"]["flags"] == list(want.flags)
    assert body["auto"]["area_px"] == int(want.mask.sum()) > 0
    assert body["auto"]["measurements"] == measure(want.mask, image=rgb, pixel_size=0.05)
    assert body["auto"]["measurements"]["area_mm2"] == pytest.approx(want.mask.sum() * 0.05**2)
    assert body["auto"]["measurements"]["measure_version"] == rules()["measure_version"]
    # the current mask is the automatic one, and the decoded image comes back as is
    assert np.array_equal(png_mask(client.get(f"/api/images/{body['id']}/mask.png").content), want.mask)
    from io import BytesIO

    from PIL import Image

    img = np.asarray(Image.open(BytesIO(client.get(f"/api/images/{body['id']}/image.png").content)))
    assert np.array_equal(img, rgb)


def test_predict_equals_predictor_for_box_and_points(make_client, ref, images):
    client = make_client()
    rgb, truth = images[1]
    iid = _upload(client, rgb)["id"]
    ref.set_image(rgb)
    cy, cx = np.argwhere(truth).mean(0)
    prompts = [{"box": _box(truth)},
               {"points": [[float(cx), float(cy)], [2.0, 3.0]], "labels": [1, 0]},
               {"box": _box(truth, 8), "points": [[float(cx), float(cy)]]}]
    for i, p in enumerate(prompts):
        ps = [None, 0.02, 0.1][i]
        r = client.post(f"/api/images/{iid}/predict", json={**p, "pixel_size": ps})
        assert r.status_code == 200, r.text
        body = r.json()
        want = ref.predict(box=p.get("box"), points=p.get("points"), point_labels=p.get("labels"))
        got = b64_mask(body["mask"])
        assert np.array_equal(got, want.mask), p
        assert body["score"] == pytest.approx(want.score, abs=0) and body["area_px"] == int(want.mask.sum())
        assert body["flags"] == list(want.flags)
        assert body["measurements"] == measure(want.mask, image=rgb, pixel_size=ps)
        # the prompt's mask became the image's current mask
        assert np.array_equal(png_mask(client.get(f"/api/images/{iid}/mask.png").content), want.mask)
    assert client.get(f"/api/images/{iid}").json()["mask_kind"] == "prompt"
    assert client.post(f"/api/images/{iid}/predict", json={**prompts[0], "measure": False}).json()["measurements"] is None
    # the box lands on the lesion (a real model, not noise)
    got = b64_mask(client.post(f"/api/images/{iid}/predict", json=prompts[0]).json()["mask"])
    assert 2 * (got & truth).sum() / (got.sum() + truth.sum()) > 0.8


def test_segment_one_shot_equals_predictor(make_client, auto_predictor, ref, images):
    client = make_client()
    rgb, truth = images[1]
    files = {"file": ("x.png", png_bytes(rgb), "image/png")}
    r = client.post("/api/segment", files=files)
    assert r.status_code == 200, r.text
    auto_predictor.set_image(rgb)
    assert np.array_equal(b64_mask(r.json()["mask"]), auto_predictor.predict().mask)
    ref.set_image(rgb)
    box = _box(truth)
    want = ref.predict(box=box, points=[[20.0, 30.0]], point_labels=[0])
    for form in ({"box": ",".join(map(str, box)), "points": "20,30", "labels": "0"},
                 {"box": str(box), "points": "[[20, 30]]", "labels": "[0]"}):
        r = client.post("/api/segment", files=files, data=form)
        assert r.status_code == 200, r.text
        body = r.json()
        assert np.array_equal(b64_mask(body["mask"]), want.mask)
        assert body["predicted_quality"] == pytest.approx(want.quality, abs=0) and body["flags"] == list(want.flags)
        assert (body["width"], body["height"]) == (80, 112)
        assert body["measurements"] == measure(want.mask, image=rgb)
    r = client.post("/api/segment", files=files, data={"pixel_size": "0.25"})
    auto_predictor.set_image(rgb)
    assert r.json()["measurements"] == measure(auto_predictor.predict().mask, image=rgb, pixel_size=0.25)
    assert len(client.app.state.store) == 0  # one shot: nothing kept


def test_edited_mask_round_trips_bit_exact(make_client, images):
    client = make_client()
    rgb, _ = images[0]
    iid = _upload(client, rgb)["id"]
    edited = np.random.default_rng(0).random((96, 128)) > 0.5
    r = client.put(f"/api/images/{iid}/mask?pixel_size=0.03", content=png_bytes(edited.astype(np.uint8) * 255),
                   headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    assert r.json()["area_px"] == int(edited.sum())
    assert r.json()["measurements"] == measure(edited, image=rgb, pixel_size=0.03)
    for ps in (None, 0.07):  # measurements of the stored mask, with and without a pixel size
        q = "" if ps is None else f"?pixel_size={ps}"
        assert client.get(f"/api/images/{iid}/measurements{q}").json() == measure(edited, image=rgb, pixel_size=ps)
    assert np.array_equal(png_mask(client.get(f"/api/images/{iid}/mask.png").content), edited)
    # the page sends RGBA PNGs from a canvas: read by the same mask rule
    rgba = np.zeros((96, 128, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[edited, :3] = 255
    client.put(f"/api/images/{iid}/mask", content=png_bytes(rgba))
    assert np.array_equal(png_mask(client.get(f"/api/images/{iid}/mask.png").content), edited)
    assert client.get(f"/api/images/{iid}").json()["mask_kind"] == "edit"


def test_eviction_and_recompute_under_a_tiny_cache(make_client, ref, images):
    # 0.1 MB: one 96x128 image with its masks fits, a SAM state (~19 MB) never stays
    client = make_client(cache_mb=0.1)
    store = client.app.state.store
    (a, ta), (b, tb), (c, _) = images
    ia = _upload(client, a)["id"]
    edited = np.zeros(ta.shape, bool)
    edited[10:40, 20:70] = True
    assert client.put(f"/api/images/{ia}/mask", content=png_bytes(edited.astype(np.uint8) * 255)).status_code == 200
    ib = _upload(client, b)["id"]
    _upload(client, c)
    ea = store.peek(ia)
    assert not ea.resident and ea.mask is None and ea.mask_file.exists()  # evicted, edited mask spilled
    assert store.nbytes <= store.cache_bytes and store.evictions >= 1
    # restored on use, bit-exact
    assert np.array_equal(png_mask(client.get(f"/api/images/{ia}/mask.png").content), edited)
    # a prompt on an evicted image recomputes its embedding: same mask as the reference (on b, which has no
    # edit: a prompt after an edit keeps the edit, tests/serve/test_edits_kept_api.py)
    assert not store.peek(ib).resident
    ref.set_image(b)
    for _ in range(2):  # twice: evicted again after each request (the SAM state alone is over the cap)
        r = client.post(f"/api/images/{ib}/predict", json={"box": _box(tb)})
        assert np.array_equal(b64_mask(r.json()["mask"]), ref.predict(box=_box(tb)).mask)
        assert store.nbytes <= store.cache_bytes
    assert client.get(f"/api/images/{ib}").json()["sam"] == "evicted"


def test_temp_files_removed_on_delete_expiry_and_shutdown(make_client, images):
    client = make_client()
    store = client.app.state.store
    rgb, _ = images[2]
    i1, i2 = _upload(client, rgb, name="../../etc/passwd")["id"], _upload(client, rgb)["id"]
    folder = store.dir
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{i}.{s}" for i in (i1, i2) for s in ("upload", "auto.png")])  # names from the id only
    assert client.get(f"/api/images/{i1}").json()["name"] == "passwd"
    assert client.delete(f"/api/images/{i1}").json() == {"id": i1, "deleted": True}
    assert not any(p.name.startswith(i1) for p in folder.iterdir())
    assert client.get(f"/api/images/{i1}").status_code == 404
    assert store.expire(now=time.monotonic() + store.ttl_s + 1) == [i2]
    assert list(folder.iterdir()) == [] and client.get(f"/api/images/{i2}").status_code == 404
    _upload(client, rgb)
    client.__exit__(None, None, None)  # shutdown
    assert not folder.exists()


def test_background_embedding_state(make_client, images):
    client = make_client(prefetch_sam=True)
    rgb, truth = images[0]
    iid = _upload(client, rgb)["id"]
    deadline = time.monotonic() + 120
    states = []
    while time.monotonic() < deadline:
        states.append(client.get(f"/api/images/{iid}").json()["sam"])
        if states[-1] == "ready":
            break
        time.sleep(0.2)
    assert states[-1] == "ready" and set(states) <= {"pending", "ready"}
    assert client.app.state.store.peek(iid).sam_state is not None


def test_concurrent_prompts_no_cross_talk(make_client, ref, images):
    client = make_client()
    ids = [_upload(client, rgb)["id"] for rgb, _ in images[:2]]
    want = []
    for rgb, truth in images[:2]:
        ref.set_image(rgb)
        want.append(ref.predict(box=_box(truth)).mask)
    got: dict[tuple[int, int], np.ndarray] = {}

    def worker(k: int, rep: int) -> None:
        r = client.post(f"/api/images/{ids[k]}/predict", json={"box": _box(images[k][1])})
        got[(k, rep)] = b64_mask(r.json()["mask"])

    threads = [threading.Thread(target=worker, args=(k, rep)) for rep in range(3) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(got) == 6
    for (k, _), m in got.items():
        assert np.array_equal(m, want[k])

"""``GET /api/lesions``, ``/api/lesions/{id}/timeline`` and ``/api/images/{id}/timeline`` on a workspace of
real images: the visits of a lesion in date order, each compared with the previous one
(:func:`dermaseg.compare.timeline.lesion_timeline`); a visit without a mask gets this server's automatic
mask first; a lesion grown by a known ring is measured as grown; an image without a lesion_id has an empty
timeline; unknown lesions and servers without a workspace answer 404."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermaseg.io import read_image, write_png
from tests.compare.common import grow

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).resolve().parents[2] / "src" / "dermaseg" / "assets" / "samples"
PIXEL_SIZE = 0.05


def test_a_lesions_timeline_through_the_api(tmp_path, make_client, auto_predictor):
    from dermaseg.workspace.store import Workspace

    rgb = read_image(SAMPLES / "ISIC_0012099.jpg")
    auto_predictor.set_image(rgb)
    mask = auto_predictor.predict().mask
    g_rgb, g_mask = grow(rgb, mask, 6)
    src, masks = tmp_path / "src", tmp_path / "masks"
    write_png(src / "b_first.png", rgb)  # no mask given: the server's automatic mask
    write_png(src / "a_second.png", g_rgb)
    write_png(masks / "a_second.png", g_mask)
    write_png(src / "other.png", read_image(SAMPLES / "ISIC_0001769.jpg"))
    meta = tmp_path / "meta.csv"
    meta.write_text("image_id,lesion_id,date\nb_first,L1,2024-01-10\na_second,L1,2024-09-02\nother,,2024-01-10\n")
    Workspace.init(tmp_path / "ws", [src], masks=masks, status="approved", metadata=meta, pixel_size=PIXEL_SIZE).close()
    client = make_client(workspace=tmp_path / "ws")

    assert client.get("/api/lesions").json() == [{"lesion_id": "L1", "visits": 2}]
    r = client.get("/api/lesions/L1/timeline")
    assert r.status_code == 200, r.text
    t = r.json()
    assert [v["id"] for v in t["visits"]] == ["b_first", "a_second"]  # by date, not by name
    assert [v["date"] for v in t["visits"]] == ["2024-01-10", "2024-09-02"]
    assert t["visits"][0]["status"] == "auto" and t["visits"][1]["status"] == "approved"
    (c,) = t["comparisons"]
    assert (c["before"], c["after"]) == ("b_first", "a_second")
    assert c["registration"]["ok"] is True and c["status"] == "compared"
    assert c["before_measurements"]["area_px"] == int(mask.sum())  # the server's automatic mask of visit 1
    grown_mm2 = (g_mask.sum() - mask.sum()) * PIXEL_SIZE**2
    assert c["change"]["area_mm2"] == pytest.approx(grown_mm2, rel=0.1)
    assert c["changed"] is True and c["exceeded"]

    again = client.get("/api/images/a_second/timeline").json()  # by one of its images: the same, now cached
    assert again["lesion_id"] == "L1" and again["comparisons"][0]["cached"] is True
    assert again["comparisons"][0]["change"] == c["change"]
    assert client.get("/api/images/other/timeline").json() == {"lesion_id": None, "date_column": None,
                                                               "visits": [], "comparisons": []}
    r = client.get("/api/lesions/L9/timeline")
    assert r.status_code == 404 and "L9" in r.json()["detail"]
    assert client.get("/api/images/nope/timeline").status_code == 404
    plain = make_client()
    assert plain.get("/api/lesions").status_code == 404

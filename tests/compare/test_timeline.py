"""A workspace lesion's timeline: visits ordered by date, each compared with the previous, cached."""

from __future__ import annotations

import json

import pytest

from dermaseg.compare.simulate import reacquire
from dermaseg.compare.timeline import CACHE_DIR, lesion_timeline, lesions
from dermaseg.errors import DermasegError
from dermaseg.io import write_png
from tests.compare.common import PIXEL_SIZE, grow, ph2


@pytest.fixture()
def workspace(shared_data, tmp_path):
    from dermaseg.workspace.store import Workspace

    rgb, mask = ph2(shared_data, "IMD016")
    same = reacquire(rgb, mask, seed=21)
    g_rgb, g_mask = grow(rgb, mask, 40)
    grown = reacquire(g_rgb, g_mask, seed=22)
    src, masks = tmp_path / "src", tmp_path / "masks"
    # names sort in another order than the dates: the dates decide
    for name, (im, m) in {"c_visit1": (rgb, mask), "a_visit2": (same.image, same.mask),
                          "b_visit3": (grown.image, grown.mask), "z_other": (rgb, mask)}.items():
        write_png(src / f"{name}.png", im)
        write_png(masks / f"{name}.png", m)
    meta = tmp_path / "meta.csv"
    meta.write_text("image_id,lesion_id,date\nc_visit1,L1,2023-01-10\na_visit2,L1,2023-07-02\n"
                    "b_visit3,L1,2024-01-15\nz_other,L2,2023-01-10\n")
    ws = Workspace.init(tmp_path / "ws", [src], masks=masks, status="approved", metadata=meta,
                        pixel_size=PIXEL_SIZE)
    yield ws
    ws.close()


def test_timeline_orders_visits_and_flags_only_the_growth(workspace):
    assert lesions(workspace) == [{"lesion_id": "L1", "visits": 3}, {"lesion_id": "L2", "visits": 1}]
    t = lesion_timeline(workspace, "L1")
    assert [v["id"] for v in t["visits"]] == ["c_visit1", "a_visit2", "b_visit3"]
    assert t["date_column"] == "date" and t["visits"][0]["pixel_size"] == PIXEL_SIZE
    first, second = t["comparisons"]
    assert (first["before"], first["after"], second["before"], second["after"]) == \
        ("c_visit1", "a_visit2", "a_visit2", "b_visit3")
    assert first["status"] == "compared" and first["changed"] is False
    assert second["changed"] is True and second["change"]["area_mm2"] > 0
    assert not first["cached"]
    again = lesion_timeline(workspace, "L1")
    assert all(c["cached"] for c in again["comparisons"])
    assert json.dumps(again["comparisons"]) == json.dumps([{**c, "cached": True} for c in t["comparisons"]])
    assert len(list((workspace.root / CACHE_DIR).glob("*.json"))) == 2


def test_timeline_unknown_lesion_and_single_visit(workspace):
    with pytest.raises(DermasegError, match="no image of the workspace"):
        lesion_timeline(workspace, "L9")
    t = lesion_timeline(workspace, "L2")
    assert len(t["visits"]) == 1 and t["comparisons"] == []

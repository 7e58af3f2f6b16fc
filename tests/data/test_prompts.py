"""The one prompt type: SkinSAM's simulation (statistics over many seeds), the prompts not taken from the
truth, parsing what a user typed, the check against the image, and the one text."""

from __future__ import annotations

import numpy as np
import pytest

from dermaseg.data.prompt_input import parse_box, parse_point, read_prompts_csv
from dermaseg.data.prompts import (
    SOURCE_CENTRE,
    SOURCE_TRUTH,
    SOURCE_USER,
    Prompt,
    box_from_mask,
    center_box,
    center_point,
    make_prompt,
    mask_bbox,
    pixel_scale,
    skinsam_prompt,
    user_prompt,
)
from dermaseg.errors import DermasegError

H, W = 192, 256  # ISIC 2017 copy's size: k = 256 / 600


def _lesion() -> np.ndarray:
    m = np.zeros((H, W), bool)
    yy, xx = np.mgrid[:H, :W]
    m[((xx - 120) / 40.0) ** 2 + ((yy - 95) / 28.0) ** 2 <= 1] = True  # ellipse well inside the image
    return m


def test_pixel_scale_rule():
    assert pixel_scale((450, 600)) == 1.0
    assert pixel_scale((192, 256)) == pytest.approx(256 / 600)
    assert pixel_scale((1200, 900)) == 2.0


def test_skinsam_statistics_over_seeds():
    m = _lesion()
    x0, y0, x1, y1 = mask_bbox(m)
    k = 256 / 600
    gw, gh = (x1 - x0) + 2 * 20 * k, (y1 - y0) + 2 * 20 * k  # grown box size before jitter
    gcx, gcy = (x0 + x1) / 2, (y0 + y1) / 2
    dxs, dys, ss = [], [], []
    for seed in range(3000):
        p = skinsam_prompt(m, "box+point", seed=seed, image_id="ISIC_0000001")
        assert p.source == SOURCE_TRUTH
        (px, py), = p.points
        assert m[int(py), int(px)], "the point must lie inside the true mask"
        bx0, by0, bx1, by1 = p.box
        assert 0 <= bx0 < bx1 <= W - 1 and 0 <= by0 < by1 <= H - 1
        sw, sh = (bx1 - bx0) / gw, (by1 - by0) / gh
        assert sw == pytest.approx(sh, abs=1e-9), "one scale factor for width and height"
        ss.append(sw)
        dxs.append((bx0 + bx1) / 2 - gcx)
        dys.append((by0 + by1) / 2 - gcy)
    dxs, dys, ss = map(np.asarray, (dxs, dys, ss))
    lim = 30 * k
    assert np.abs(dxs).max() <= lim + 1e-9 and np.abs(dys).max() <= lim + 1e-9
    assert np.abs(dxs).max() > 0.95 * lim and np.abs(dys).max() > 0.95 * lim  # the full range is used
    se = lim / np.sqrt(3) / np.sqrt(len(dxs))
    assert abs(dxs.mean()) < 4 * se and abs(dys.mean()) < 4 * se  # mean shift ~ 0
    assert abs(np.corrcoef(dxs, dys)[0, 1]) < 0.1  # independent axes
    assert ss.min() >= 0.9 - 1e-9 and ss.max() <= 1.1 + 1e-9
    assert ss.min() < 0.905 and ss.max() > 1.095 and abs(ss.mean() - 1.0) < 0.005


def test_seeded_and_order_independent():
    m = _lesion()
    a = [skinsam_prompt(m, "box+point", seed=3, image_id=i) for i in ("a", "b", "c")]
    b = [skinsam_prompt(m, "box+point", seed=3, image_id=i) for i in ("c", "b", "a")][::-1]
    assert a == b
    assert a[0] != a[1]
    assert skinsam_prompt(m, "box+point", seed=4, image_id="a") != a[0]
    box_only = skinsam_prompt(m, "box", seed=3, image_id="a")
    pt_only = skinsam_prompt(m, "point", seed=3, image_id="a")
    assert box_only.box == a[0].box and box_only.points is None  # same box in box and box+point runs
    assert pt_only.points == a[0].points and pt_only.box is None


def test_box_clipped_at_image_border():
    m = np.zeros((H, W), bool)
    m[:20, :30] = True  # lesion in the top-left corner
    for seed in range(200):
        x0, y0, x1, y1 = skinsam_prompt(m, "box", seed=seed, image_id="c").box
        assert x0 >= 0 and y0 >= 0 and x1 <= W - 1 and y1 <= H - 1


def test_empty_truth_gives_empty_prompt():
    p = skinsam_prompt(np.zeros((10, 12), bool), "box+point")
    assert p.empty and p.source == SOURCE_TRUTH


def test_prompts_not_from_truth():
    c = center_point((100, 201))
    assert c.points == ((100.0, 49.5),) and c.labels == (1,) and c.source == SOURCE_CENTRE
    b = center_box((101, 201), fraction=0.5)
    assert b.box == (50.0, 25.0, 150.0, 75.0) and b.source == SOURCE_CENTRE
    m = np.zeros((50, 60), bool)
    m[10:21, 5:31] = True
    assert mask_bbox(m) == (5.0, 10.0, 30.0, 20.0)
    fm = box_from_mask(m, "default", margin=8)
    assert fm.box == (0.0, 2.0, 38.0, 28.0) and fm.source == "model: default"
    assert box_from_mask(np.zeros((5, 5), bool), "default").empty
    u = user_prompt(box=(1, 2, 3, 4), point=(5, 6))
    assert u.kwargs() == {"box": (1.0, 2.0, 3.0, 4.0), "points": ((5.0, 6.0),), "point_labels": (1,)}
    assert u.describe() == "box 1,2,3,4 + point 5,6 [user]"
    assert make_prompt("none", (5, 5)) == Prompt(source="none")
    assert make_prompt("center-box", (101, 201), center_fraction=0.5) == b
    with pytest.raises(ValueError, match="truth"):
        make_prompt("box", (5, 5))
    with pytest.raises(ValueError, match="unknown prompt kind"):
        make_prompt("boxes", (5, 5))


def test_user_input_parsing():
    assert parse_box("1, 2, 30, 40") == (1.0, 2.0, 30.0, 40.0) and parse_box("1 2 30 40") == (1.0, 2.0, 30.0, 40.0)
    assert parse_point("5.5,6") == (5.5, 6.0)
    for text, msg in (("10,20,5", "box must be 4 numbers"), ("30,20,10,40", "has no area"),
                      ("-1,0,5,5", "has a negative coordinate"), ("1,2,nan,4", "box must be 4 numbers")):
        with pytest.raises(DermasegError, match=msg):
            parse_box(text)
    with pytest.raises(DermasegError, match="--point: point must be 2 numbers"):
        parse_point("a,b")
    with pytest.raises(DermasegError, match="p.csv line 3: point coordinates must not be negative"):
        parse_point("-1,2", where="p.csv line 3")


def test_read_prompts_csv(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("image,x0,y0,x1,y1,px,py\na.png,1,2,30,40,,\nb,,,,,7,8\n")
    table = read_prompts_csv(p)
    assert set(table) == {"a.png", "a", "b"}
    assert table["a"] == user_prompt(box=(1, 2, 30, 40)) and table["a.png"] is table["a"]
    assert table["b"] == Prompt(points=((7.0, 8.0),), labels=(1,), source=SOURCE_USER)
    for body, msg in (("image,x0,y0,x1,y1\na.png,1,2,,\n", "line 2: box needs all of"),
                      ("image,x0,y0,x1,y1\na.png,1,2,3,4\na,1,2,3,4\n", "line 3: image 'a' appears twice"),
                      ("name,x0\n", "'image' column"), ("image,q\n", "columns x0,y0,x1,y1 and/or px,py")):
        p.write_text(body)
        with pytest.raises(DermasegError, match=msg):
            read_prompts_csv(p)
    with pytest.raises(DermasegError, match="cannot read prompts CSV"):
        read_prompts_csv(tmp_path / "absent.csv")


def test_for_image_orders_clips_and_checks():
    p = Prompt(box=(90, 5, -10, 200), points=[(3, 4)], source="user").for_image((50, 80))
    assert p.box == (0.0, 5.0, 79.0, 49.0)  # ordered, then clipped to [0, W-1] x [0, H-1]
    assert p.points == ((3.0, 4.0),) and p.labels == (1,) and p.source == "user"
    assert Prompt(points=[]).for_image((5, 5)).empty and Prompt().for_image((5, 5)) == Prompt()
    neg = Prompt(points=np.array([[1.0, 2.0], [3.0, 4.0]]), labels=[1, 0]).for_image((9, 9))
    assert neg.points == ((1.0, 2.0), (3.0, 4.0)) and neg.labels == (1, 0)
    for bad, msg in ((Prompt(box=(100, 100, 120, 130)), "lies outside the 80x50 image"),
                     (Prompt(box=(1, 2, 3)), "4 finite numbers"), (Prompt(points=[(1, np.inf)]), "finite"),
                     (Prompt(points=[(1, 2)], labels=(1, 1)), "1 points but 2 point labels")):
        with pytest.raises(DermasegError, match=msg):
            bad.for_image((50, 80))


def test_describe_is_the_one_text():
    p = Prompt(box=(10.04, 12, 80, 90.26), points=((40, 50), (1, 2)), labels=(1, 0), source="user")
    assert p.describe() == "box 10,12,80,90.3 + point 40,50 + negative point 1,2 [user]"
    assert p.describe(source=False) == "box 10,12,80,90.3 + point 40,50 + negative point 1,2"
    assert p.describe(compact=True) == "box=10.0 12.0 80.0 90.3;point=40.0 50.0+;point=1.0 2.0-"
    assert Prompt(source="none").describe() == "none [none]" and Prompt().describe(compact=True) == "none"
    assert Prompt.of({"box": (1, 2, 3, 4), "point_labels": None, "source": "model: x"}) == Prompt(
        box=(1, 2, 3, 4), source="model: x")
    assert Prompt.of(None) == Prompt() and Prompt.of(p) is p
    with pytest.raises(TypeError):
        Prompt.of((1, 2, 3, 4))


def test_prompt_point_shorthand_accepted_or_refused_naming_points_and_labels():
    from dermaseg.errors import DermasegError

    p = Prompt(point=(12, 34.5))
    assert p.points == ((12.0, 34.5),) and p.labels == (1,)
    with pytest.raises(DermasegError, match=r"points=.*labels="):
        Prompt(point=((1, 2), (3, 4)))
    with pytest.raises(DermasegError, match=r"points=/labels="):
        Prompt(point=(1, 2), points=((3, 4),), labels=(1,))

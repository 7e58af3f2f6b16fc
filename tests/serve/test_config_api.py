"""GET /api/config: the rules the page shares with the server, each read from its one Python home."""

from __future__ import annotations


def test_config_gives_the_overlay_style_cuts_and_prompt_bounds(make_client):
    c = make_client()
    r = c.get("/api/config")
    assert r.status_code == 200
    body = r.json()
    assert body == {
        "overlay": {"rgb": [255, 255, 0], "box_rgb": [0, 255, 255], "point_rgb": [0, 255, 0], "width": 1,
                    "pixels_per_width": 300,
                    "width_rule": "max(1, round(max(W, H) / pixels_per_width)), halves rounded to even"},
        "threshold": 0.5, "failure_cut": 0.65, "review_cut": 0.8,
        "points": "0 <= x <= width-1 and 0 <= y <= height-1", "box": "x0 < x1, y0 < y1, both corners on the image",
        "max_points": 64}
    # the same rule as the server's: a point at W-1 is on the image, at W-0.5 it is not
    iid = c.post("/api/images", files={"file": ("a.png", _png(), "image/png")}).json()["id"]
    assert c.post(f"/api/images/{iid}/predict", json={"points": [[79, 63]]}).status_code == 200
    assert c.post(f"/api/images/{iid}/predict", json={"points": [[79.5, 10]]}).status_code == 400


def _png() -> bytes:
    import numpy as np

    from tests.serve.conftest import png_bytes

    rgb = np.full((64, 80, 3), 200, np.uint8)
    rgb[20:44, 25:55] = (120, 60, 40)
    return png_bytes(rgb)

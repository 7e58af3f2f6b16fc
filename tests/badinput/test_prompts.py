"""Bad-input catalogue, prompts: --box, --point and --prompts values a user can get wrong (NaN, inf,
reversed, outside the image, zero area, too few numbers, text, missing columns, another encoding, rows with
more fields than the header, a CSV naming none of the images). `segment` refuses each in one line naming
the option or file, writes nothing for the image, and leaves the inputs as they were.
"""

from __future__ import annotations

import pytest

from .files import _png, lesion, write
from .harness import assert_refused, run_cli, snapshot

PART_A = "segment's prompt checks are part A of issue 11"

BOXES = {
    "nan": "nan,5,40,30", "inf": "5,5,inf,30", "reversed": "40,30,5,5", "outside": "100,100,200,200",
    "zero-area": "10,10,10,30", "too-few": "1,2,3", "text": "a,b,c,d", "empty": "", "negative-outside": "-50,-50,-10,-10",
    "too-many": "1,2,3,4,5",
}
POINTS = {"nan": "nan,3", "inf": "inf,3", "outside": "1000,1000", "empty": "", "one-number": "7", "text": "x,y",
          "negative": "-5,-5"}
HEADER = "image,x0,y0,x1,y1,px,py\n"
CSVS = {
    "missing-columns": b"image,x0,y0\nIMG,10,10\n",  # half a box
    "no-image-column": b"file,x0,y0,x1,y1\nIMG,5,5,40,30\n",
    "latin1": (HEADER + "IMG,5,5,40,30,20,15\n# n\xe6vus\n").encode("latin-1"),
    "extra-fields": (HEADER + "IMG,5,5,40,30,20,15,99,98\n").encode(),
    "nan-values": (HEADER + "IMG,nan,5,40,30,,\n").encode(),
    "reversed-box": (HEADER + "IMG,40,30,5,5,,\n").encode(),
    "names-no-image": (HEADER + "other.png,5,5,40,30,,\n").encode(),
    "empty-file": b"",
    "binary": bytes(range(256)),
}


@pytest.fixture()
def image(tmp_path):
    return write(tmp_path / "in" / "IMG.png", _png(lesion()[0]))


def _expect_refused(o, names, out):
    assert_refused(o, names)
    assert not out.exists() or not list(out.glob("IMG_*")), "output written for a refused prompt"


@pytest.mark.parametrize("case", list(BOXES))
def test_bad_box(image, tmp_path, capsys, case):
    before = snapshot(image.parent)
    o = run_cli(["segment", image, "--out", tmp_path / "out", "--model", "litemedsam", "--box", BOXES[case]], capsys)
    assert o.exc is None, f"traceback: {o.exc}"
    assert snapshot(image.parent) == before
    _expect_refused(o, ["--box", BOXES[case] or "box", str(image)], tmp_path / "out")


@pytest.mark.parametrize("case", list(POINTS))
def test_bad_point(image, tmp_path, capsys, case):
    before = snapshot(image.parent)
    o = run_cli(["segment", image, "--out", tmp_path / "out", "--model", "litemedsam", "--box", "5,5,40,30",
                 "--point", POINTS[case]], capsys)
    assert o.exc is None, f"traceback: {o.exc}"
    assert snapshot(image.parent) == before
    _expect_refused(o, ["--point", POINTS[case] or "point", str(image)], tmp_path / "out")


@pytest.mark.parametrize("case", list(CSVS))
def test_bad_prompts_csv(image, tmp_path, capsys, case):
    csv = tmp_path / "prompts.csv"
    csv.write_bytes(CSVS[case].replace(b"IMG", b"IMG.png"))
    before = snapshot(image.parent, csv)
    o = run_cli(["segment", image, "--out", tmp_path / "out", "--model", "litemedsam", "--prompts", csv], capsys)
    assert o.exc is None, f"traceback: {o.exc}"
    assert snapshot(image.parent, csv) == before
    _expect_refused(o, [str(csv), "--prompts", str(image)], tmp_path / "out")

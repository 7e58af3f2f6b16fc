"""Image and mask reading (the mask rule on every encoding, image conversion), in-memory image checks, and
atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dermaseg.io import read_image, read_mask

TRUTH = np.zeros((6, 8), bool)
TRUTH[1:4, 2:7] = True


@pytest.mark.parametrize("kind", ["01", "0255", "rgb", "palette", "bmp", "16bit", "rgba", "bilevel"])
def test_mask_rule_encodings(tmp_path, kind):
    p = tmp_path / ("m.bmp" if kind == "bmp" else "m.png")
    t = TRUTH.astype(np.uint8)
    if kind == "01":
        Image.fromarray(t).save(p)
    elif kind in ("0255", "bmp"):
        Image.fromarray(t * 255).save(p)
    elif kind == "rgb":  # lesion drawn in pure red on black
        a = np.zeros((6, 8, 3), np.uint8)
        a[TRUTH] = (200, 0, 0)
        Image.fromarray(a).save(p)
    elif kind == "palette":
        im = Image.fromarray(t, mode="L").convert("P")
        im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
        im.save(p)
    elif kind == "16bit":
        Image.fromarray(t.astype(np.uint16) * 65535).save(p)
    elif kind == "rgba":
        a = np.zeros((6, 8, 4), np.uint8)
        a[..., 3] = 255
        a[TRUTH, :3] = 255
        Image.fromarray(a).save(p)
    elif kind == "bilevel":
        Image.fromarray(TRUTH).convert("1").save(p)
    m = read_mask(p)
    assert m.dtype == bool and np.array_equal(m, TRUTH)


def test_mask_threshold_half_of_max(tmp_path):
    a = np.array([[0, 100, 127, 128, 255]], np.uint8)
    Image.fromarray(a).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").tolist() == [[False, False, False, True, True]]
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(tmp_path / "e.png")
    assert not read_mask(tmp_path / "e.png").any()


def test_image_conversions(tmp_path):
    g = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(g).save(tmp_path / "g.png")
    rgb = read_image(tmp_path / "g.png")
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.uint8 and np.array_equal(rgb[..., 1], g)
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0  # transparent pixel composited on white
    Image.fromarray(rgba).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.shape == (3, 4, 3) and tuple(out[1, 1]) == (200, 0, 0) and tuple(out[0, 0]) == (255, 255, 255)
    Image.fromarray(g.astype(np.uint16) * 257).save(tmp_path / "w.png")
    w = read_image(tmp_path / "w.png")
    assert w.dtype == np.uint8 and abs(int(w[2, 3, 0]) - int(g[2, 3])) <= 1


def test_exif_orientation_applied(tmp_path):
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = (255, 0, 0)  # left half red, right half blue
    a[:, 20:] = (0, 0, 255)
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    im.save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "r.jpg")
    assert out.shape == (40, 20, 3)
    assert out[2, 10, 0] > 200 and out[-3, 10, 2] > 200  # red on top after the rotation


def test_check_rgb_accepts_images_and_names_what_is_wrong():
    from dermaseg.errors import DataError
    from dermaseg.io import check_rgb

    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = check_rgb(gray)
    assert out.shape == (3, 4, 3) and np.array_equal(out[..., 2], gray)
    rgba = np.zeros((5, 6, 4), np.uint8)
    rgba[..., 0] = 7
    out = check_rgb(rgba[:, ::-1])  # a non-contiguous view comes back contiguous, alpha dropped
    assert out.shape == (5, 6, 3) and out.flags.c_contiguous and (out[..., 0] == 7).all()
    with pytest.raises(DataError, match=r"expected an RGB image H×W×3, got an array of shape \(5, 6, 2\)"):
        check_rgb(np.zeros((5, 6, 2), np.uint8))
    with pytest.raises(DataError, match="too small"):
        check_rgb(np.zeros((1, 6, 3), np.uint8))
    with pytest.raises(DataError, match="a.png: image of 6x1 pixels is too small"):
        check_rgb(np.zeros((1, 6, 3), np.uint8), "a.png")
    with pytest.raises(DataError, match="uint8 RGB image, got dtype float32"):
        check_rgb(np.zeros((5, 6, 3), np.float32))


def test_atomic_writes_leave_nothing_half_written(tmp_path):
    from dermaseg.io import atomic_path, write_png, write_text

    write_text(tmp_path / "a" / "t.txt", "hello")
    assert (tmp_path / "a" / "t.txt").read_text() == "hello"
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "a" / "t.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert (tmp_path / "a" / "t.txt").read_text() == "hello"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["t.txt"]
    m = np.zeros((4, 5), bool)
    m[1, 2] = True
    write_png(tmp_path / "m.png", m)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "m.png")), m.astype(np.uint8) * 255)
    with pytest.raises(ValueError, match="uint8 or bool"):
        write_png(tmp_path / "f.png", np.zeros((2, 2), np.float32))
    assert not (tmp_path / "f.png").exists()


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of ``width`` x ``height`` black pixels, compressed to a few KB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("scale", [1.2, 2.5])  # PIL warns between 1x and 2x its limit, raises above
def test_decompression_bomb_is_a_data_error(tmp_path, monkeypatch, scale):
    import io

    from dermaseg.errors import DataError

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    side = int(100 * scale ** 0.5) + 1
    p = tmp_path / "bomb.png"
    p.write_bytes(bomb_png(side, side))
    for read in (read_image, read_mask):
        with pytest.raises(DataError, match=r"bomb\.png: .*(exceeds the limit|decompression bomb)"):
            read(p)
    with pytest.raises(DataError, match="^upload.png: "):
        read_image(io.BytesIO(p.read_bytes()), name="upload.png")
    small = tmp_path / "small.png"
    small.write_bytes(bomb_png(100, 100))  # at the limit: read as usual
    assert read_mask(small).shape == (100, 100) and not read_mask(small).any()


def test_read_from_file_objects(tmp_path):
    import io

    from dermaseg.errors import DataError

    a = (np.arange(24, dtype=np.uint8).reshape(2, 4, 3) * 10)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    assert np.array_equal(read_image(io.BytesIO(buf.getvalue())), a)
    buf = io.BytesIO()
    Image.fromarray(TRUTH.astype(np.uint8) * 255).save(buf, format="PNG")
    assert np.array_equal(read_mask(io.BytesIO(buf.getvalue())), TRUTH)
    with pytest.raises(DataError, match="^x.jpg: cannot read image"):
        read_image(io.BytesIO(b"not an image"), name="x.jpg")
    with pytest.raises(DataError, match="^<upload>: cannot read image"):
        read_image(io.BytesIO(buf.getvalue()[:40]))  # truncated

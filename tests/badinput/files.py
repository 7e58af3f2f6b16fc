"""The bad (and odd but valid) files of the bad-input suite, each written by a small function from one
synthetic lesion image, so the suite needs no data and every file is what its name says."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from dermaseg.data.synthetic import make_image

H, W = 48, 64  # every test image: small, so the model calls stay cheap


def lesion(h: int = H, w: int = W, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic RGB lesion image (uint8 h×w×3) and its bool mask."""
    return make_image(h, w, seed)


def _png(a: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", **kw)
    return buf.getvalue()


def _jpeg(a: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=92, **kw)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int, rows: int | None = None) -> bytes:
    """A 1-bit PNG claiming ``width`` x ``height`` pixels; ``rows`` of them actually stored (all when None:
    a real bomb, a few KB for millions of pixels)."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height if rows is None else rows)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


# ---- images that cannot be read: name suffix -> bytes ------------------------------------------------------

def broken_images() -> dict[str, tuple[str, bytes]]:
    """kind -> (file suffix, bytes) of images no reader can use."""
    rgb, _ = lesion()
    jpg, png = _jpeg(rgb), _png(rgb)
    rng = np.random.default_rng(0)
    return {
        "garbage": (".jpg", rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()),
        "truncated-jpeg": (".jpg", jpg[: len(jpg) // 3]),
        "truncated-png": (".png", png[: len(png) // 2]),
        "zero-byte": (".png", b""),
        "text-named-png": (".png", b"image_id,lesion_id,dx\nISIC_0000000,HAM_1,nv\n"),
        "html-named-jpg": (".jpg", b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n"),
        "bomb-header": (".png", bomb_png(30000, 30000, rows=4)),   # over twice PIL's limit: refused at open
        "bomb-real": (".png", bomb_png(10000, 10000)),             # 1e8 px: between 1x and 2x PIL's limit
    }


# ---- images that are odd but valid: kind -> (suffix, bytes, displayed (H, W) or None when unusable) ---------

def _apng(frames: list[np.ndarray]) -> bytes:
    buf = io.BytesIO()
    ims = [Image.fromarray(f) for f in frames]
    ims[0].save(buf, format="PNG", save_all=True, append_images=ims[1:], duration=100, loop=0)
    return buf.getvalue()


def _gif(frames: list[np.ndarray]) -> bytes:
    buf = io.BytesIO()
    ims = [Image.fromarray(f).convert("P", palette=Image.ADAPTIVE) for f in frames]
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=100, loop=0)
    return buf.getvalue()


def _exif_rotated(rgb: np.ndarray) -> bytes:
    """A JPEG stored sideways (W×H swapped) with EXIF orientation 6: displayed as ``rgb``."""
    stored = np.ascontiguousarray(np.rot90(rgb, k=1))  # displayed = stored rotated 90° clockwise
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=92, exif=exif.tobytes())
    return buf.getvalue()


def _tiff(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="TIFF", **kw)
    return buf.getvalue()


def odd_images() -> dict[str, tuple[str, bytes, tuple[int, int] | None]]:
    """kind -> (suffix, bytes, displayed (H, W)); the size is None for images too small to segment."""
    rgb, _ = lesion()
    gray = (rgb.mean(axis=2)).astype(np.uint8)
    rgba = np.dstack([rgb, np.full((H, W), 200, np.uint8)])
    cmyk = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(cmyk, format="JPEG", quality=92)
    pal = io.BytesIO()
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=32).save(pal, format="PNG")
    pal_t = io.BytesIO()
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=32).save(pal_t, format="PNG", transparency=0)
    one = io.BytesIO()
    Image.fromarray(gray).convert("1").save(one, format="PNG")
    la = io.BytesIO()
    Image.fromarray(np.dstack([gray, np.full((H, W), 255, np.uint8)]), mode="LA").save(la, format="PNG")
    g16 = gray.astype(np.uint16) * 257
    multi = io.BytesIO()
    Image.fromarray(rgb).save(multi, format="TIFF", save_all=True, append_images=[Image.fromarray(rgb[::-1])])
    return {
        "gray16-png": (".png", _png(g16), (H, W)),
        "cmyk-jpeg": (".jpg", cmyk.getvalue(), (H, W)),
        "palette-png": (".png", pal.getvalue(), (H, W)),
        "palette-transparency": (".png", pal_t.getvalue(), (H, W)),
        "rgba-png": (".png", _png(rgba), (H, W)),
        "gray-alpha-png": (".png", la.getvalue(), (H, W)),
        "gray-jpeg": (".jpg", _jpeg(gray), (H, W)),
        "1bit-png": (".png", one.getvalue(), (H, W)),
        "animated-gif": (".gif", _gif([rgb, rgb[::-1]]), (H, W)),
        "animated-png": (".png", _apng([rgb, rgb[::-1]]), (H, W)),
        "exif-rotated": (".jpg", _exif_rotated(rgb), (H, W)),
        "float-tiff": (".tif", _tiff(Image.fromarray(gray.astype(np.float32) / 255.0, mode="F")), (H, W)),
        "multipage-tiff": (".tif", multi.getvalue(), (H, W)),
        "bmp": (".bmp", _bmp(rgb), (H, W)),
        "webp": (".webp", _webp(rgb), (H, W)),
        "png-named-jpg": (".jpg", _png(rgb), (H, W)),        # mislabelled but whole: read by content
        "jpeg-named-png": (".png", _jpeg(rgb), (H, W)),
        "2x2": (".png", _png(rgb[:2, :2]), (2, 2)),
        "1x5000": (".png", _png(np.repeat(rgb[:1, :1], 5000, axis=1)), None),   # 1 px high
        "5000x1": (".png", _png(np.repeat(rgb[:1, :1], 5000, axis=0)), None),   # 1 px wide
        "1x1": (".png", _png(rgb[:1, :1]), None),
    }


def _bmp(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="BMP")
    return buf.getvalue()


def _webp(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="WEBP", quality=90)
    return buf.getvalue()


def mask_png(shape: tuple[int, int], seed: int = 0) -> bytes:
    """A 0/255 mask PNG of ``shape`` (H, W): the synthetic lesion's mask, or a centred block when tiny."""
    h, w = shape
    if h >= 8 and w >= 8:
        return _png(lesion(h, w, seed)[1].astype(np.uint8) * 255)
    m = np.zeros((h, w), np.uint8)
    m[h // 4: max(h // 4 + 1, 3 * h // 4), w // 4: max(w // 4 + 1, 3 * w // 4)] = 255
    return _png(m)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path

"""Prompts as people type them: ``--box``/``--point`` text, a prompts CSV, the API's form fields.

Each reader turns text into numbers and checks them by THE prompt rule of :mod:`dermaseg.data.prompts`
(:func:`~dermaseg.data.prompts.box_problem` for a box before the image is known,
:func:`~dermaseg.data.prompts.check_user_prompt` and :meth:`~dermaseg.data.prompts.Prompt.for_image` once it
is); nothing here defines a rule of its own.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from dermaseg.data.prompts import MAX_POINTS, Box, Prompt, _nums, box_problem, user_prompt
from dermaseg.errors import DermasegError

__all__ = ["parse_box", "parse_point", "parse_numbers", "parse_form_prompt", "read_prompts_csv"]


def _numbers(text: str, n: int, what: str, where: str) -> tuple[float, ...]:
    parts = [p.strip() for p in str(text).replace(" ", ",").split(",") if p.strip()]
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        vals = ()
    if len(vals) != n or not all(np.isfinite(vals)):
        fmt = "x0,y0,x1,y1" if n == 4 else "x,y"
        raise DermasegError(f"{where}: {what} must be {n} numbers {fmt}, got '{text}'")
    return vals


def parse_box(text: str, where: str = "--box") -> Box:
    """``"x0,y0,x1,y1"`` -> floats by :func:`box_problem` (positive area, none negative), else DermasegError.
    The image is not known yet: a box that reaches past an image is clipped to it (:meth:`Prompt.for_image`:
    one ``--box`` serves images of several sizes)."""
    x0, y0, x1, y1 = _numbers(text, 4, "box", where)
    if problem := box_problem((x0, y0, x1, y1)):
        raise DermasegError(f"{where}: box {problem}, got '{text}'")
    return (x0, y0, x1, y1)


def parse_point(text: str, where: str = "--point") -> tuple[float, float]:
    """``"x,y"`` -> floats (not negative), else DermasegError."""
    x, y = _numbers(text, 2, "point", where)
    if min(x, y) < 0:
        raise DermasegError(f"{where}: point coordinates must not be negative, got '{text}'")
    return (x, y)


def parse_numbers(text: str | None, field: str, group: int | None = None) -> list | None:
    """A form field as JSON (``[1, 2]``, ``[[1, 2], [3, 4]]``) or plain text (``1,2`` / ``1,2;3,4``) ->
    a list of finite numbers, or of ``group``-long lists; empty -> None. Else DermasegError."""
    if text is None or not str(text).strip():
        return None
    s = str(text).strip()
    try:
        val = json.loads(s)
    except ValueError:
        rows = [r for r in s.split(";") if r.strip()] if group else [s]
        try:
            val = [[float(v) for v in r.replace(" ", ",").split(",") if v] for r in rows]
        except ValueError:
            raise DermasegError(f"{field}: cannot read numbers from '{s}'") from None
        val = val if group else val[0]
    if isinstance(val, int | float):  # "0": one label
        val = [val]
    if not isinstance(val, list):
        raise DermasegError(f"{field}: expected a list of numbers, got '{s}'")
    if group and val and not isinstance(val[0], list):
        val = [val[i:i + group] for i in range(0, len(val), group)]
    flat = [v for row in val for v in (row if isinstance(row, list) else [row])] if group else val
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and _finite(v) for v in flat):
        raise DermasegError(f"{field}: expected finite numbers, got '{s}'")
    if group and any(len(r) != group for r in val):
        raise DermasegError(f"{field}: expected pairs x,y, got '{s}'")
    return val


def _finite(v: int | float) -> bool:
    try:
        return math.isfinite(v)
    except OverflowError:  # an int too large for a float
        return False


def parse_form_prompt(box: str | None, points: str | None, labels: str | None):
    """The text fields of a prompt (``POST /api/segment``'s form) -> (box, points, labels) lists or None,
    checked by the same rules as ``--box`` (:func:`box_problem`) and :data:`MAX_POINTS`; the image-bound
    part of the rule follows in :func:`check_user_prompt`. Else DermasegError."""
    b = parse_numbers(box, "box")
    if b is not None and len(b) != 4:
        raise DermasegError(f"box: expected 4 numbers x0,y0,x1,y1, got '{box}'")
    if b is not None and (problem := box_problem(b)):
        raise DermasegError(f"box {_nums(b)} {problem}")
    pts = parse_numbers(points, "points", group=2)
    if pts is not None and len(pts) > MAX_POINTS:
        raise DermasegError(f"{len(pts)} points: at most {MAX_POINTS} points per prompt")
    lab = parse_numbers(labels, "labels")
    if lab is not None and any(v not in (0, 1) for v in lab):
        raise DermasegError(f"labels: each label is 1 (lesion) or 0 (background), got '{labels}'")
    return b, pts, None if lab is None else [int(v) for v in lab]


def read_prompts_csv(path: str | os.PathLike, lines: dict[str, int] | None = None) -> dict[str, Prompt]:
    """Read a prompts CSV (columns ``image``, ``x0,y0,x1,y1`` and/or ``px,py``, either group may be empty)
    -> {file name and stem: user Prompt}. Any malformed row -> DermasegError naming the file and line.
    ``lines``, when given, is filled with {file name and stem: the row's line number}."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise DermasegError(f"{p}: cannot read prompts CSV ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise DermasegError(f"{p}: prompts CSV is not UTF-8 text (byte {e.start}); save it as UTF-8") from e
    reader = csv.DictReader(io.StringIO(text))
    cols = [c.strip() for c in (reader.fieldnames or [])]
    if "image" not in cols:
        raise DermasegError(f"{p}: prompts CSV needs an 'image' column (and x0,y0,x1,y1 and/or px,py)")
    if not ({"x0", "y0", "x1", "y1"} <= set(cols) or {"px", "py"} <= set(cols)):
        raise DermasegError(f"{p}: prompts CSV needs columns x0,y0,x1,y1 and/or px,py")
    out: dict[str, Prompt] = {}
    for row in reader:
        line = reader.line_num
        where = f"{p} line {line}"
        if None in row:  # csv.DictReader files surplus fields under the key None
            raise DermasegError(f"{where}: more fields than the header's {len(cols)} columns")
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        name = row.get("image", "")
        if not name:
            raise DermasegError(f"{where}: empty 'image'")
        bvals = [row.get(k, "") for k in ("x0", "y0", "x1", "y1")]
        pvals = [row.get(k, "") for k in ("px", "py")]
        if any(bvals) and not all(bvals):
            raise DermasegError(f"{where}: box needs all of x0,y0,x1,y1 (or none)")
        if any(pvals) and not all(pvals):
            raise DermasegError(f"{where}: point needs both px,py (or neither)")
        box = parse_box(",".join(bvals), where) if all(bvals) else None
        point = parse_point(",".join(pvals), where) if all(pvals) else None
        prompt = user_prompt(box=box, point=point)
        for key in {Path(name).name, Path(name).stem}:
            if key in out:
                raise DermasegError(f"{where}: image '{name}' appears twice")
            out[key] = prompt
            if lines is not None:
                lines[key] = line
    return out

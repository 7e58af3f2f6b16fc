"""``dermaseg segment``: images and folders in; masks, probability maps, overlays and a table out.

For each input image ``<stem>``, OUT gets ``<stem>_mask.png`` (uint8 0/255, the input's own W×H),
``<stem>_prob.png`` (uint8 probability × 255), ``<stem>_overlay.png`` (the image with the lesion
outline in yellow and the prompt drawn: box in cyan, points as green/red dots) and OUT/results.csv
(image, model, prompt, source, lesion_area_px, predicted_quality, seconds), one row per segmented image.

Prompts: ``--box x0,y0,x1,y1`` and/or ``--point x,y`` (input pixels, applied to every image), or
``--prompts CSV`` with columns ``image`` (file name or stem), ``x0,y0,x1,y1`` and ``px,py`` (either
group may be empty). An image with no prompt is segmented automatically (a CNN's mask, CNN+SAM, or a
SAM-family model's own no-prompt output, labelled as such). Malformed prompts stop everything before
any file is written; unreadable images are reported by name, skipped, and counted as failures.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from pathlib import Path

import numpy as np

from dermaseg.data.prompts import Prompt, parse_box, parse_point, read_prompts_csv, user_prompt
from dermaseg.errors import DermasegError
from dermaseg.inference.predictor import load_predictor
from dermaseg.io import IMAGE_EXTENSIONS, read_image, write_png, write_text
from dermaseg.models.files import looks_like_model_file
from dermaseg.overlays import draw_overlay

__all__ = ["segment_files", "collect_images", "RESULT_COLUMNS"]

RESULT_COLUMNS = ("image", "model", "prompt", "source", "lesion_area_px", "predicted_quality", "seconds")
_OUTPUT_SUFFIXES = ("_mask", "_prob", "_overlay")


def collect_images(inputs: list[str | os.PathLike]) -> list[Path]:
    """Files as given plus the image files of each folder (sorted, not recursive). A missing path or
    a folder without images -> DermasegError. Files named like our own outputs are skipped."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
                           and not f.stem.endswith(_OUTPUT_SUFFIXES))
            if not found:
                raise DermasegError(f"{p}: folder contains no images ({', '.join(IMAGE_EXTENSIONS)})")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise DermasegError(f"{p}: no such file or folder")
    if not out:
        raise DermasegError("no input images")
    return out


def _unique_stems(paths: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    stems = []
    for p in paths:
        n = seen.get(p.stem, 0) + 1
        seen[p.stem] = n
        stems.append(p.stem if n == 1 else f"{p.stem}_{n}")
    return stems


def segment_files(inputs, out, model: str = "default", checkpoint=None, box: str | None = None,
                  point: str | None = None, prompts_csv=None, auto: str | None = None,
                  tta: bool | None = None, postprocess: bool = True, batch_size: int = 4,
                  device: str | None = None, progress: bool | None = None) -> int:
    """Segment every input image into ``out`` (module docstring). Returns the number of failed images.

    Everything that can be checked before the first write is checked first (inputs exist, prompts
    parse, the model loads), so a usage error leaves ``out`` untouched.
    """
    from tqdm import tqdm

    if prompts_csv is not None and (box or point):
        raise DermasegError("use either --prompts CSV or --box/--point, not both")
    common = None
    if box or point:
        common = user_prompt(box=parse_box(box) if box else None, point=parse_point(point) if point else None)
    table = read_prompts_csv(prompts_csv) if prompts_csv is not None else {}
    paths = collect_images(list(inputs))
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DermasegError(f"{out}: exists and is not a folder")
    predictor = load_predictor(model, checkpoint=checkpoint, device=device, auto=auto, tta=tta,
                               postprocess=postprocess)
    is_file = not isinstance(model, str) or looks_like_model_file(model)
    name = f"{predictor.name} ({Path(str(model)).name})" if is_file and isinstance(model, str) else (
        predictor.name if is_file else model)
    if not predictor.promptable and (common is not None or table):
        print(f"warning: model '{name}' takes no prompts; segmenting automatically", file=sys.stderr)

    def prompt_for(p: Path):
        if not predictor.promptable:
            return None
        return table.get(p.name) or table.get(p.stem) or common

    rows: list[dict[str, object]] = []
    failed: list[str] = []
    stems = dict(zip(paths, _unique_stems(paths), strict=True))
    bs = max(1, int(batch_size))
    bar = tqdm(total=len(paths), desc="segment", unit="img", file=sys.stderr,
               disable=(not sys.stderr.isatty()) if progress is None else not progress)
    for start in range(0, len(paths), bs):
        ok, images, prompts = [], [], []
        for p in paths[start:start + bs]:
            try:
                rgb = read_image(p)
                pr = prompt_for(p)
                if pr is not None:
                    pr.for_image(rgb.shape[:2])
            except DermasegError as e:
                failed.append(str(p))
                bar.write(f"error: {e}" if str(p) in str(e) else f"error: {p}: {e}")
                bar.update(1)
                continue
            ok.append(p)
            images.append(rgb)
            prompts.append(pr)
        if not ok:
            continue
        t0 = time.perf_counter()
        preds = predictor.predict_batch(images, prompts if predictor.promptable else None, batch_size=bs)
        dt = (time.perf_counter() - t0) / len(ok)
        for p, rgb, pr, pred in zip(ok, images, prompts, preds, strict=True):
            stem = stems[p]
            write_png(out / f"{stem}_mask.png", pred.mask)
            write_png(out / f"{stem}_prob.png", np.clip(pred.prob * 255.0 + 0.5, 0, 255).astype(np.uint8))
            write_png(out / f"{stem}_overlay.png", draw_overlay(rgb, pred.mask, pred.box, pred.points))
            rows.append({"image": str(p), "model": name, "prompt": (pr or Prompt()).describe(source=False),
                         "source": pred.source,
                         "lesion_area_px": int(pred.mask.sum()),
                         "predicted_quality": "" if pred.quality is None else f"{pred.quality:.4f}",
                         "seconds": f"{dt:.4f}"})
            bar.update(1)
    bar.close()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=RESULT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "results.csv", buf.getvalue())
    if failed:
        print(f"{len(failed)} of {len(paths)} images failed: {', '.join(failed)}", file=sys.stderr)
    return len(failed)

"""Measure the int8 calibration ranges of the bundled CNN and ship them: ``dermaseg/assets/int8/<model>-<sha16>.json``.

Static int8 (:mod:`dermaseg.export.quantize`) needs each quantised tensor's range of values. This script
exports the model's fp32 graph, pre-processes it as the quantiser does, runs ``N`` ISIC 2017 *training*
images through it (a seeded sample of ``ISIC-2017_Training_Data``, never validation or test images, never
PH2) with onnxruntime's MinMax calibrator, and writes onnxruntime's calibration cache (the min/max per
tensor, a few tens of KB) together with the names of the images used. The images themselves are not
shipped. Run by hand after the bundled weights change:
``python scripts/calibrate_int8.py [--data ../shared/data/isic2017] [--n 32] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "isic2017")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="default")
    args = ap.parse_args()

    from onnxruntime.quantization import CalibrationDataReader

    from dermaseg.export.onnx_export import export_model, weights_sha256
    from dermaseg.export.quantize import CALIBRATION_DIR, preprocess_graph, static_quantize
    from dermaseg.inference.cnn_steps import cnn_input
    from dermaseg.io import read_image
    from dermaseg.models.registry import create_model

    train = sorted((args.data / "ISIC-2017_Training_Data").glob("*.jpg"))
    if len(train) < args.n:
        raise SystemExit(f"{args.data}: fewer than {args.n} ISIC 2017 training images")
    rng = np.random.default_rng(args.seed)
    files = [train[i] for i in sorted(rng.choice(len(train), args.n, replace=False))]
    model = create_model(args.model)
    batches = [cnn_input(model, [read_image(f)]) for f in files]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(batches)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"image": x}

    digest = weights_sha256(model)
    name = str(model.config.get("name"))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        export_model(model, tmp / "fp32")
        pre = tmp / "pre.onnx"
        preprocess_graph(tmp / "fp32" / "model.onnx", pre)
        cache = tmp / "cache.json"
        static_quantize(pre, tmp / "int8.onnx", cache, Reader())
        ranges = json.loads(cache.read_text())
    out = CALIBRATION_DIR / f"{name}-{digest[:16]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"model": name, "weights_sha256": digest, "method": "MinMax (onnxruntime.quantization)",
           "source": f"ISIC 2017 training: {args.n} images, numpy default_rng({args.seed}) sample of the sorted "
                     "ISIC-2017_Training_Data/*.jpg (stored at 256x192)",
           "images": [f.name for f in files], "tensor_names": sorted(ranges["data"]), "ranges": ranges}
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out} ({out.stat().st_size // 1024} KB, {len(ranges['data'])} tensors, {args.n} images)")


if __name__ == "__main__":
    main()

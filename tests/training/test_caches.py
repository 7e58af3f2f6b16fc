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


# ---- several processes filling one embedding cache at once --------------------------------------------------
def _fill_worker(cache_dir: str, images: list, rank: int, world: int, barrier, start, log: str) -> None:
    """Fill the cache at ``cache_dir`` as one process would (no SAM model: ``fill`` needs only the folder);
    every computed index is appended to ``log``."""
    import time
    from pathlib import Path

    from dermaseg.training.caches import EmbeddingCache

    cache = EmbeddingCache.__new__(EmbeddingCache)
    cache.dir, cache.model = Path(cache_dir), None

    def compute(i: int) -> torch.Tensor:
        with open(log, "a") as f:
            f.write(f"{i}\n")
        time.sleep(0.05)  # long enough for the other process to want the same image
        return torch.full((2, 4, 4), float(i))

    start.wait()  # both processes begin together (spawning takes seconds)
    cache.fill([Path(p) for p in images], compute, rank=rank, world_size=world,
               barrier=barrier.wait if barrier is not None else None)


@pytest.mark.parametrize("ranks", [False, True], ids=["independent processes", "two ranks"])
def test_two_processes_fill_one_embedding_cache_once(tmp_path, ranks):
    import multiprocessing as mp

    from dermaseg.training.caches import EmbeddingCache

    images = []
    for i in range(12):
        p = tmp_path / f"img{i}.png"
        p.write_bytes(f"image {i}".encode())  # the cache keys on the file's bytes only
        images.append(str(p))
    cache_dir = tmp_path / "cache"
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2) if ranks else None
    start = ctx.Barrier(2)
    logs = [tmp_path / f"log{r}.txt" for r in range(2)]
    procs = [ctx.Process(target=_fill_worker, args=(str(cache_dir), images, r if ranks else 0,
                                                    2 if ranks else 1, barrier, start, str(logs[r])))
             for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    done = [[int(x) for x in log.read_text().split()] if log.exists() else [] for log in logs]
    assert sorted(done[0] + done[1]) == list(range(12))  # every image computed exactly once, in all
    if ranks:  # each rank its share, no waiting on locks
        assert sorted(done[0]) == list(range(0, 12, 2)) and sorted(done[1]) == list(range(1, 12, 2))
    else:  # both did some of the work (the other skipped what one held)
        assert done[0] and done[1]
    cache = EmbeddingCache.__new__(EmbeddingCache)
    cache.dir, cache.model = cache_dir, None
    for i, p in enumerate(images):
        e = cache.load(cache.path_for(p))
        assert e.dtype == np.float16 and e.shape == (2, 4, 4) and float(e[0, 0, 0]) == i
    assert sorted(x.suffix for x in cache_dir.iterdir()) == [".npy"] * 12  # no lock or temp file left

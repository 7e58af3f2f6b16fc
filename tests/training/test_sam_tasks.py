"""The SAM training tasks on tiny synthetic data: SkinSAM embeds each image once into the on-disk cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dermaseg.data.readers import load_dataset
from dermaseg.data.synthetic import write_dataset
from dermaseg.models.registry import create_model
from dermaseg.training.recipes import get_recipe
from dermaseg.training.run import train_run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = write_dataset(tmp_path_factory.mktemp("sam") / "f", "folder", n=4, size=(48, 64), seed=3)
    return load_dataset(root)


@pytest.mark.slow
def test_skinsam_training_caches_embeddings_once(data, tmp_path, monkeypatch):
    torch.manual_seed(0)
    recipe = get_recipe("skinsam").override(epochs=1, batch_size=2)
    train, val = data.samples[:3], data.samples[3:]
    monkeypatch.setattr("dermaseg.models.sam.finetuned.create_model",
                        lambda name, **kw: create_model(name, **{**kw, "pretrained": False}))
    cache = tmp_path / "cache"
    s1 = train_run(data, recipe, tmp_path / "r1", train, val, "t", cache_dir=cache, progress=False)
    files = list(cache.rglob("*.npy"))
    assert len(files) == 4 and np.load(files[0], mmap_mode="r").dtype == np.float16
    assert np.load(files[0], mmap_mode="r").shape == (256, 64, 64)
    # each file is the frozen encoder's embedding of its image: rebuild the run's model (same seed stream)
    from dermaseg.io import read_image
    from dermaseg.training.caches import EmbeddingCache
    from dermaseg.training.trainer import seed_everything

    seed_everything(0, 1_000_000)
    model = create_model("skinsam-litemedsam").eval()
    cached = EmbeddingCache(model, cache)
    assert cached.dir.is_dir()  # the cache folder is named by this model's encoder fingerprint
    with torch.no_grad():
        want = model.encode(model.preprocess(read_image(data.samples[3].image))[0][None])[0].numpy()
    got = np.asarray(cached.load(cached.path_for(data.samples[3].image)), dtype=np.float32)
    assert np.abs(got - want).max() <= 2e-3 * np.abs(want).max()  # fp16 storage
    assert s1["val"]["prompt"] == "ground truth (SkinSAM jitter)"
    # a second run reads every embedding from the cache: the encoder never runs for training
    calls = []
    from dermaseg.models.sam import common
    from dermaseg.models.sam.fast_inference import FastEncoder

    original = common.SamFamilySegmenter.encode
    monkeypatch.setattr(common.SamFamilySegmenter, "encode", lambda self, x: calls.append(1) or original(self, x))
    fast = FastEncoder.__call__
    monkeypatch.setattr(FastEncoder, "__call__", lambda self, x: calls.append(2) or fast(self, x))
    torch.manual_seed(0)
    train_run(data, recipe, tmp_path / "r2", train, val, "t", cache_dir=cache, progress=False)
    # training read every embedding from the cache; the only encoder runs are the final validation's, one
    # per validation image, through the Predictor's encoder (as `dermaseg evaluate` runs it)
    assert calls == [2] * len(val) and len(list(cache.rglob("*.npy"))) == 4
    # best.pt is a plain model file: the trained decoder loads back by path alone
    trained = create_model(str(tmp_path / "r1" / "best.pt"))
    assert trained.config["name"] == "skinsam-litemedsam"
    ref = torch.load(tmp_path / "r1" / "best.pt", weights_only=True)["state_dict"]
    for k, v in trained.state_dict().items():
        assert torch.equal(v, ref[k]), k

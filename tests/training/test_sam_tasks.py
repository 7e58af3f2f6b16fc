"""skinsam-/melseg- models and their training tasks, on tiny synthetic data (pretrained=False)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dermaseg.data.readers import load_dataset
from dermaseg.data.synthetic import write_dataset
from dermaseg.models.files import save_model
from dermaseg.models.registry import create_model
from dermaseg.training.caches import encoder_fingerprint
from dermaseg.training.recipes import get_recipe
from dermaseg.training.run import train_run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = write_dataset(tmp_path_factory.mktemp("sam") / "f", "folder", n=4, size=(48, 64), seed=3)
    return load_dataset(root)


@pytest.mark.slow
def test_melseg_litemedsam_forward_backward_and_starts_as_sam():
    torch.manual_seed(0)
    model = create_model("melseg-litemedsam", pretrained=False).train()
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():  # the FPN's fusion conv starts at zero: the embedding is the encoder's own
        assert torch.allclose(model.encode(x), model.image_encoder(x))
    logits, iou = model(x, boxes=torch.tensor([[20.0, 30.0, 200.0, 180.0]]))
    assert logits.shape == (1, 1, 256, 256) and iou.shape == (1, 1)
    logits.mean().backward()
    assert model.fpn.fuse.weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.image_encoder.parameters())
    assert model.mask_decoder.output_upscaling[0].weight.grad.abs().sum() > 0


def test_melseg_fpn_over_a_vit_encoder():
    from segment_anything.modeling import ImageEncoderViT

    from dermaseg.models.sam.common import SamFamilySegmenter
    from dermaseg.models.sam.melseg import MelSegSegmenter

    enc = ImageEncoderViT(img_size=64, patch_size=16, embed_dim=32, depth=4, num_heads=2, out_chans=256,
                          window_size=2, global_attn_indexes=(1, 3))
    base = SamFamilySegmenter({"name": "vit"}, enc, torch.nn.Identity(), torch.nn.Identity(), image_size=64)
    model = MelSegSegmenter(base, {"name": "melseg-vit"})
    assert len(model.fpn.lateral) == 2  # one level per global-attention block
    with torch.no_grad():
        model.fpn.fuse.weight.normal_()
        out = model.encode(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 256, 4, 4)


def test_skinsam_freezes_the_image_encoder_only():
    model = create_model("skinsam-litemedsam", pretrained=False)
    assert model.config["name"] == "skinsam-litemedsam" and model.config["base"] == "litemedsam"
    assert not any(p.requires_grad for p in model.image_encoder.parameters())
    assert all(p.requires_grad for p in model.mask_decoder.parameters())
    emb = torch.randn(2, 256, 64, 64)
    logits, _ = model.decode(emb, boxes=torch.tensor([[10.0, 10, 100, 100], [5, 5, 50, 60]]), multimask=False)
    logits.sum().backward()
    assert model.prompt_encoder.point_embeddings[2].weight.grad is not None  # box corner embedding


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


def test_fingerprint_follows_the_encoder_weights():
    a = create_model("skinsam-litemedsam", pretrained=False)
    fp = encoder_fingerprint(a)
    with torch.no_grad():
        next(a.image_encoder.parameters()).add_(1.0)
    assert encoder_fingerprint(a) != fp


def test_melseg_save_and_load(tmp_path):
    torch.manual_seed(1)
    model = create_model("melseg-litemedsam", pretrained=False).eval()
    with torch.no_grad():
        model.fpn.fuse.weight.normal_(std=0.01)
    save_model(model, tmp_path / "m.pt")
    again = create_model(str(tmp_path / "m.pt")).eval()
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        assert torch.allclose(model.encode(x), again.encode(x))

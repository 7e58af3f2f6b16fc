"""melSeg: an FPN over the SAM encoder's stages, starting as the pretrained SAM, trained end to end."""

from __future__ import annotations

import pytest
import torch

from dermaseg.models.files import save_model
from dermaseg.models.registry import create_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


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
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad():
        own = model.image_encoder(x)
        assert torch.equal(model.encode(x), own)  # fuse weight and bias at zero: exactly the encoder's output
        model.fpn.fuse.weight.normal_()
        out = model.encode(x)
        model.fpn.fuse.weight.mul_(2.0)
        out2 = model.encode(x)
    assert out.shape == (2, 256, 4, 4)
    added = out - own
    assert added.abs().mean() > 1e-2  # once the fuse weight is non-zero the FPN path changes the embedding
    assert torch.allclose(out2 - own, 2 * added, atol=1e-5)  # ... through the (linear, bias-free) fuse conv


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

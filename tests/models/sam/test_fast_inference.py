"""The fast inference paths equal the upstream forward: the prepared mask decoder against
``SamFamilySegmenter.decode`` for the decoders of segment-anything, MobileSAM and LiteMedSAM, and the
conv+BN-fused channels-last encoder against ``encode``; both step aside where they do not apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dermaseg.data.prompts import Prompt
from dermaseg.data.synthetic import make_image
from dermaseg.inference import sam_steps
from dermaseg.inference.predictor import Predictor
from dermaseg.models.registry import create_model
from dermaseg.models.sam import fast_inference as fi
from dermaseg.models.sam.common import SamFamilySegmenter


def _perturb(module: nn.Module, seed: int) -> None:
    """Random values in every parameter and BatchNorm statistic, so no identity/zero init hides a bug."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))


def _segment_anything_decoder() -> SamFamilySegmenter:
    from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

    pe = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024),
                       mask_in_chans=16)
    dec = MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(depth=2, embedding_dim=256,
                                                                             mlp_dim=2048, num_heads=8),
                      transformer_dim=256, iou_head_depth=3, iou_head_hidden_dim=256)
    return SamFamilySegmenter({"name": "sa-decoder"}, nn.Identity(), pe, dec, image_size=1024)


def _family(name: str) -> SamFamilySegmenter:
    m = _segment_anything_decoder() if name == "segment-anything" else create_model(name, pretrained=False)
    _perturb(m.prompt_encoder, 1)
    _perturb(m.mask_decoder, 2)
    return m.eval()


PROMPTS = {
    "box": dict(boxes=torch.tensor([[30.0, 22.0, 180.0, 140.0]])),
    "point": dict(points=torch.tensor([[[90.0, 70.0]]]), labels=torch.tensor([[1]])),
    "box+points": dict(boxes=torch.tensor([[30.0, 22.0, 180.0, 140.0]]),
                       points=torch.tensor([[[90.0, 70.0], [5.0, 6.0]]]), labels=torch.tensor([[1, 0]])),
    "none": {},
}


@pytest.mark.parametrize("family", ["segment-anything", "mobilesam", "litemedsam"])
def test_prepared_decoder_equals_upstream(family):
    m = _family(family)
    emb = torch.randn(1, 256, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        prep = fi.prepare(m, emb)
        assert prep is not None
        for pname, kw in PROMPTS.items():
            for multimask in (False, True):
                want, want_iou = m.decode(emb, multimask=multimask, **kw)
                sparse, _ = m.prompt_embeddings(kw.get("boxes"), kw.get("points"), kw.get("labels"), 1)
                got, got_iou = fi.decode_prepared(m, prep, sparse, multimask)
                assert got.shape == want.shape and got_iou.shape == want_iou.shape, pname
                tol = 1e-4 * float(want.abs().max()) + 1e-5
                assert float((got - want).abs().max()) < tol, (family, pname, multimask)
                assert torch.allclose(got_iou, want_iou, atol=1e-5), (family, pname, multimask)


def test_prepare_declines_what_it_does_not_know():
    m = _family("litemedsam")
    emb = torch.randn(1, 256, 64, 64)
    assert fi.prepare(m, torch.randn(2, 256, 64, 64)) is None  # one image at a time

    class OwnDecode(SamFamilySegmenter):
        def decode(self, *a, **k):  # a model with its own decode keeps it
            return super().decode(*a, **k)

    other = OwnDecode(m.config, m.image_encoder, m.prompt_encoder, m.mask_decoder, m.image_size, "minmax")
    assert fi.prepare(other, emb) is None
    m.mask_decoder.output_upscaling = nn.Sequential(nn.Identity())  # not upstream's layout
    assert not fi.supports(m) and fi.prepare(m, emb) is None


def test_fast_encoder_equals_encode_and_follows_weight_changes():
    torch.manual_seed(0)
    m = create_model("litemedsam", pretrained=False)
    _perturb(m.image_encoder, 4)
    m.eval()  # after the change: TinyViT caches its attention biases when put in eval mode
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(5))
    fe = fi.FastEncoder(m)
    assert fe.applies
    with torch.inference_mode():
        want, got = m.encode(x), fe(x)
        assert fe._copy is not None and not any(isinstance(t, nn.BatchNorm2d) for t in fe._copy.modules())
        assert got.is_contiguous() and torch.allclose(got, want, atol=1e-4 * float(want.abs().max()))
        first_copy = fe._copy
        fe(x)
        assert fe._copy is first_copy  # reused while the weights stay the same
    conv = next(t for t in m.image_encoder.modules() if isinstance(t, nn.Conv2d))
    with torch.no_grad():
        conv.weight.mul_(1.5)  # an in-place change, as an optimiser step makes
    with torch.inference_mode():
        want2, got2 = m.encode(x), fe(x)
    assert fe._copy is not first_copy and not torch.allclose(want2, want, atol=1e-3)
    assert torch.allclose(got2, want2, atol=1e-4 * float(want2.abs().max()))
    # with gradients on (training) it is the model's own encode
    m.encode = lambda t: "model's own encode"
    assert fe(x) == "model's own encode"


def test_fast_encoder_steps_aside():
    melseg = create_model("melseg-litemedsam", pretrained=False)
    assert not fi.FastEncoder(melseg).applies  # its encode hooks the encoder's stages
    no_bn = SamFamilySegmenter({"name": "t"}, nn.Conv2d(3, 256, 16, 16), _family("mobilesam").prompt_encoder,
                               _family("mobilesam").mask_decoder, image_size=1024)
    assert not fi.FastEncoder(no_bn).applies  # nothing to fuse (SAM ViT-b/l/h)


def test_predictor_fast_path_equals_upstream_path():
    """Real LiteMedSAM on a synthetic lesion: the Predictor (fast encoder + prepared decoder) gives the
    same probability map and score as encode + decode through the upstream modules."""
    lite = create_model("litemedsam")
    rgb, _ = make_image(150, 210, seed=2)
    p = Predictor(lite, device="cpu", postprocess=False)
    p.set_image(rgb)
    emb = p._cache["sam"]
    assert emb.prepared is not None
    plain = sam_steps.sam_embed(lite, [rgb], torch.device("cpu"))[0]
    plain.prepared = None
    assert torch.allclose(emb.tensor, plain.tensor, atol=1e-3)
    for kw in ({"box": (40, 30, 170, 120)}, {"points": [(100, 75)]}, {}):
        fast = p.predict(**kw)
        prompt = Prompt(box=kw.get("box"), points=kw.get("points")).for_image(plain.size)
        prob, score = sam_steps.sam_decode(lite, plain, prompt, multimask=not kw or lite.multimask_default)
        assert np.abs(fast.prob - prob).max() < 2e-3 and abs(fast.score - score) < 1e-3
        assert (np.logical_xor(fast.prob > 0.5, prob > 0.5)).mean() < 1e-3

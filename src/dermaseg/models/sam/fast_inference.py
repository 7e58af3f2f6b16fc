"""Faster, numerically equivalent inference paths through the upstream SAM-family modules.

Encoder (:class:`FastEncoder`): a copy of the image encoder with every convolution + BatchNorm pair
folded into one convolution (``torch.nn.utils.fusion.fuse_conv_bn_eval``) and the convolutions run in
channels-last memory layout. TinyViT (LiteMedSAM, MobileSAM) is convolution-heavy at its first
stages; on a 2-core CPU this makes ``set_image`` about a quarter faster. Models with no such pair
(SAM ViT-b/l/h) use their encoder unchanged. The copy tracks the source tensors' storage and in-place
version counters and is rebuilt when the weights change (an optimiser step, ``load_state_dict``, ``.to``).

Decoder: upstream ``MaskDecoder.forward`` redoes, for every prompt, work that depends only on the image: it
adds the (constant, no-mask) dense prompt embedding to the image embedding, and layer 0 of the
two-way transformer projects that same image-side tensor to the keys and values of its
token-to-image attention and to the queries of its image-to-token attention. Three of the ten
4096×256 projections a prompt costs are therefore the same for every prompt on one image.
:func:`prepare` computes them once per image (the Predictor calls it in ``set_image``), and
:func:`decode_prepared` runs the rest with the upstream modules' own weights. It also replaces the
two stride-2 transposed convolutions of ``output_upscaling`` by matrix products over a flat pixel
list (a 2×2, stride-2 transposed convolution writes each input pixel to its own 2×2 block, so it is
a per-pixel linear map), which avoids the layout copies around the convolutions, and computes the
hypernetwork outputs only for the mask tokens that are returned.

The result equals ``SamFamilySegmenter.decode`` up to float rounding (tests compare the two on the
decoders of segment-anything, MobileSAM and LiteMedSAM). Inference only: nothing here is meant to be
differentiated, and :func:`prepare` returns None for any decoder whose structure it does not
recognise, in which case callers use the upstream forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dermaseg.models.sam.common import SamFamilySegmenter

__all__ = ["FastEncoder", "PreparedImage", "prepare", "with_mask", "decode_prepared", "supports"]


def _fuse_conv_bn(module: nn.Module) -> int:
    """Replace, in place, every ``Sequential(Conv2d, BatchNorm2d)`` child by one fused Conv2d (eval
    statistics); returns how many were fused."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    n = 0
    for mod in list(module.modules()):
        for name, child in list(mod.named_children()):
            if (isinstance(child, nn.Sequential) and len(child) == 2 and isinstance(child[0], nn.Conv2d)
                    and isinstance(child[1], nn.BatchNorm2d) and child[1].track_running_stats):
                setattr(mod, name, fuse_conv_bn_eval(child[0].eval(), child[1].eval()))
                n += 1
    return n


class FastEncoder:
    """``model.encode`` for inference, through a conv+BN-fused, channels-last copy of the encoder
    when that applies (see the module docstring); otherwise ``model.encode`` itself."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        # a subclass that overrides encode (melSeg's FPN hooks the encoder's stages) keeps its own path
        self.applies = (isinstance(model, SamFamilySegmenter) and type(model).encode is SamFamilySegmenter.encode
                        and any(isinstance(m, nn.BatchNorm2d) for m in model.image_encoder.modules()))
        self._copy: nn.Module | None = None
        self._stamp: tuple | None = None

    def _versions(self) -> tuple:
        """Changes when any encoder tensor is modified in place (optimiser step, ``load_state_dict``)
        or replaced (``.to(device)``, ``.half()``): storage address and in-place version counter."""
        enc = self.model.image_encoder
        return tuple((t.data_ptr(), t._version) for t in (*enc.parameters(), *enc.buffers()))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.applies or torch.is_grad_enabled():
            return self.model.encode(x)
        stamp = self._versions()
        if self._copy is None or stamp != self._stamp:
            import copy

            enc = copy.deepcopy(self.model.image_encoder).eval()
            if _fuse_conv_bn(enc) == 0:
                self.applies = False
                return self.model.encode(x)
            self._copy, self._stamp = enc.to(memory_format=torch.channels_last), stamp
        return self._copy(x.contiguous(memory_format=torch.channels_last)).contiguous()


@dataclass
class PreparedImage:
    """Prompt-independent decoder state for one image (all tensors batch 1)."""

    src: torch.Tensor  # 1×HW×C: image embedding + no-mask dense embedding, as a token list
    pos: torch.Tensor  # 1×HW×C: dense positional encoding
    k0: torch.Tensor  # 1×heads×HW×c: layer 0 token->image keys
    v0: torch.Tensor  # 1×heads×HW×c: layer 0 token->image values
    q0: torch.Tensor  # 1×heads×HW×c: layer 0 image->token queries
    hw: tuple[int, int]


def _is_ct2x2(m: nn.Module) -> bool:
    return (isinstance(m, nn.ConvTranspose2d) and tuple(m.kernel_size) == (2, 2) and tuple(m.stride) == (2, 2)
            and tuple(m.padding) == (0, 0) and tuple(m.output_padding) == (0, 0) and m.groups == 1
            and tuple(m.dilation) == (1, 1) and m.bias is not None)


def supports(model: nn.Module) -> bool:
    """True when ``model`` decodes as :meth:`SamFamilySegmenter.decode` (not overridden) and its
    ``mask_decoder`` / ``prompt_encoder`` have the upstream SAM structure."""
    if not isinstance(model, SamFamilySegmenter) or type(model).decode is not SamFamilySegmenter.decode:
        return False
    dec, pe = getattr(model, "mask_decoder", None), getattr(model, "prompt_encoder", None)
    if dec is None or pe is None or not hasattr(pe, "no_mask_embed") or not hasattr(pe, "get_dense_pe"):
        return False
    tr = getattr(dec, "transformer", None)
    layers = getattr(tr, "layers", None)
    if tr is None or layers is None or len(layers) == 0 or not hasattr(tr, "final_attn_token_to_image"):
        return False
    if not getattr(layers[0], "skip_first_layer_pe", False):
        return False
    for name in ("iou_token", "mask_tokens", "output_hypernetworks_mlps", "iou_prediction_head", "num_mask_tokens"):
        if not hasattr(dec, name):
            return False
    up = getattr(dec, "output_upscaling", None)
    if not isinstance(up, nn.Sequential) or len(up) != 5:
        return False
    ln = up[1]
    return (_is_ct2x2(up[0]) and _is_ct2x2(up[3]) and hasattr(ln, "weight") and hasattr(ln, "bias")
            and hasattr(ln, "eps") and ln.weight.shape[0] == up[0].out_channels)


def _heads(x: torch.Tensor, n: int) -> torch.Tensor:
    b, t, c = x.shape
    return x.view(b, t, n, c // n).transpose(1, 2)


def _attend(attn: nn.Module, q, k, v, *, projected: tuple = (None, None, None)) -> torch.Tensor:
    """Upstream ``Attention.forward`` (projections, per-head softmax(qkᵀ/√d)v, output projection);
    any of q/k/v may be given already projected and split into heads."""
    n = attn.num_heads
    pq, pk, pv = projected
    q = pq if pq is not None else _heads(attn.q_proj(q), n)
    k = pk if pk is not None else _heads(attn.k_proj(k), n)
    v = pv if pv is not None else _heads(attn.v_proj(v), n)
    out = F.scaled_dot_product_attention(q, k, v)
    b, _, t, _ = out.shape
    return attn.out_proj(out.transpose(1, 2).reshape(b, t, -1))


@torch.inference_mode()
def prepare(model: nn.Module, embedding: torch.Tensor) -> PreparedImage | None:
    """Image embedding 1×C×h×w -> the decoder's prompt-independent state, or None if unsupported."""
    if embedding.dim() != 4 or embedding.shape[0] != 1 or not supports(model):
        return None
    pe_mod, dec = model.prompt_encoder, model.mask_decoder
    _, c, h, w = embedding.shape
    pos = pe_mod.get_dense_pe()
    if tuple(pos.shape[-2:]) != (h, w):
        return None
    dense = pe_mod.no_mask_embed.weight.reshape(1, -1, 1, 1)  # what the prompt encoder adds without a mask
    src = (embedding + dense).flatten(2).transpose(1, 2).contiguous()
    pos = pos.to(src.dtype).flatten(2).transpose(1, 2).contiguous()
    layer0 = dec.transformer.layers[0]
    kin = src + pos
    t2i, i2t = layer0.cross_attn_token_to_image, layer0.cross_attn_image_to_token
    return PreparedImage(src=src, pos=pos, k0=_heads(t2i.k_proj(kin), t2i.num_heads),
                         v0=_heads(t2i.v_proj(src), t2i.num_heads), q0=_heads(i2t.q_proj(kin), i2t.num_heads),
                         hw=(h, w))


def _mask_path_ok(pe_mod: nn.Module) -> bool:
    ds = getattr(pe_mod, "mask_downscaling", None)
    return (isinstance(ds, nn.Sequential) and len(ds) >= 2 and isinstance(ds[-1], nn.Conv2d)
            and tuple(ds[-1].kernel_size) == (1, 1) and ds[-1].bias is not None)


@torch.inference_mode()
def with_mask(model: nn.Module, prep: PreparedImage, mask: torch.Tensor) -> PreparedImage | None:
    """``prep`` with a mask prompt (low-res logits 1×1×256×256) in place of "no mask"; None if unsupported.

    The prompt encoder's mask branch ends in a 1×1 convolution (16 -> C channels), so the dense embedding
    is ``W3·g + b3`` with ``g`` a 16-channel map; the layer-0 projections of ``emb + dense`` are the
    prepared ones plus ``(Wk·W3)·g + Wk·(b3 - no_mask)``: a 16-wide product instead of a C-wide one."""
    pe_mod, dec = model.prompt_encoder, model.mask_decoder
    if not _mask_path_ok(pe_mod):
        return None
    ds = pe_mod.mask_downscaling
    g = ds[:-1](mask)  # 1×16×h×w
    if tuple(g.shape[-2:]) != prep.hw:
        return None
    w3 = ds[-1].weight[:, :, 0, 0]  # C×16
    shift = ds[-1].bias - pe_mod.no_mask_embed.weight[0]  # C
    gf = g.flatten(2).transpose(1, 2)  # 1×HW×16
    layer0 = dec.transformer.layers[0]
    t2i, i2t = layer0.cross_attn_token_to_image, layer0.cross_attn_image_to_token

    def delta(lin: nn.Linear, heads: int) -> torch.Tensor:
        return _heads(gf @ (lin.weight @ w3).T + lin.weight @ shift, heads)

    return PreparedImage(src=prep.src + gf @ w3.T + shift, pos=prep.pos,
                         k0=prep.k0 + delta(t2i.k_proj, t2i.num_heads), v0=prep.v0 + delta(t2i.v_proj, t2i.num_heads),
                         q0=prep.q0 + delta(i2t.q_proj, i2t.num_heads), hw=prep.hw)


def _upscale_masks(dec: nn.Module, keys: torch.Tensor, hyper: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """``output_upscaling`` + hypernetwork product on a flat pixel list.

    keys 1×HW×C, hyper 1×K×C2 -> masks 1×K×4h×4w, equal to upstream's
    ``hyper @ output_upscaling(keys as 1×C×h×w)``.
    """
    ct1, ln, act1, ct2, act2 = dec.output_upscaling
    h, w = hw
    c1, c2 = ct1.out_channels, ct2.out_channels
    # ConvTranspose weight: C_in × C_out × 2 × 2; row p of the pixel list -> 4 sub-pixels (di, dj)
    w1 = ct1.weight.permute(0, 2, 3, 1).reshape(ct1.in_channels, 4 * c1)
    y = (keys[0] @ w1).view(h * w * 4, c1) + ct1.bias
    y = act1(F.layer_norm(y, (c1,), ln.weight, ln.bias, ln.eps))
    w2 = ct2.weight.permute(0, 2, 3, 1).reshape(c1, 4 * c2)
    z = act2((y @ w2).view(h * w * 16, c2) + ct2.bias)
    m = z @ hyper[0].transpose(0, 1)  # (h·w·2·2·2·2)×K, rows ordered (i, j, di, dj, ei, ej)
    k = m.shape[1]
    m = m.view(h, w, 2, 2, 2, 2, k).permute(6, 0, 2, 4, 1, 3, 5)  # pixel (4i+2di+ei, 4j+2dj+ej)
    return m.reshape(1, k, 4 * h, 4 * w)


@torch.inference_mode()
def decode_prepared(model: nn.Module, prep: PreparedImage, sparse: torch.Tensor,
                    multimask: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse prompt embeddings 1×N×C (from the prompt encoder) -> (logits 1×K×4h×4w, IoU 1×K), K = 3
    with ``multimask`` else 1: the same as upstream ``MaskDecoder(..., multimask_output=multimask)``."""
    dec = model.mask_decoder
    tr = dec.transformer
    out_tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], dim=0)[None]
    tokens = torch.cat([out_tokens.to(sparse.dtype), sparse], dim=1)
    queries, keys, pos = tokens, prep.src, prep.pos
    for i, layer in enumerate(tr.layers):
        first = i == 0
        if layer.skip_first_layer_pe:
            queries = _attend(layer.self_attn, queries, queries, queries)
        else:
            q = queries + tokens
            queries = queries + _attend(layer.self_attn, q, q, queries)
        queries = layer.norm1(queries)
        q = queries + tokens
        kp = None if first else keys + pos
        queries = layer.norm2(queries + _attend(layer.cross_attn_token_to_image, q, kp, keys,
                                                projected=(None, prep.k0, prep.v0) if first else (None, None, None)))
        queries = layer.norm3(queries + layer.mlp(queries))
        q = queries + tokens
        attn_out = _attend(layer.cross_attn_image_to_token, kp, q, queries,
                           projected=(prep.q0, None, None) if first else (None, None, None))
        keys = layer.norm4(keys + attn_out)
    q = queries + tokens
    queries = tr.norm_final_attn(queries + _attend(tr.final_attn_token_to_image, q, keys + pos, keys))
    sel = range(1, dec.num_mask_tokens) if multimask else range(0, 1)
    hyper = torch.stack([dec.output_hypernetworks_mlps[j](queries[:, 1 + j, :]) for j in sel], dim=1)
    masks = _upscale_masks(dec, keys, hyper, prep.hw)
    iou = dec.iou_prediction_head(queries[:, 0, :])
    return masks, iou[:, 1:] if multimask else iou[:, 0:1]

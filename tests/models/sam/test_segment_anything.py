"""SAM ViT-b/l/h: where the user's checkpoint comes from, and its checks."""

from __future__ import annotations

import pytest
import torch

from dermaseg.errors import WeightsError
from dermaseg.models.registry import create_model, describe_models
from dermaseg.models.sam.segment_anything import ENV_DIR, resolve_checkpoint


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

"""The one device choice (Predictor, trainer, every command)."""

from __future__ import annotations

import pytest
import torch

from dermaseg.devices import select_device
from dermaseg.errors import DermasegError


def test_select_device():
    assert select_device("cpu").type == "cpu"
    assert select_device(None).type in ("cuda", "mps", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(DermasegError, match="CUDA is not available"):
            select_device("cuda")
        assert select_device(None).type in ("mps", "cpu")


def test_unknown_device_is_a_one_line_error():
    with pytest.raises(DermasegError, match="unknown device 'tpu9'"):
        select_device("tpu9")
    assert select_device("") == select_device(None)  # an empty --device means: the best available

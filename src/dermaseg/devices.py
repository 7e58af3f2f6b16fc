"""The one device choice of dermaseg: the Predictor, the trainer and every command use :func:`select_device`."""

from __future__ import annotations

from dermaseg.errors import DermasegError

__all__ = ["select_device"]


def select_device(device: str | None = None):
    """``device`` as given (``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``), else the best available:
    CUDA, then Apple MPS, then CPU. Returns a ``torch.device``.

    An unknown name, or a CUDA/MPS device this machine does not have, raises :class:`DermasegError`.
    """
    import torch

    mps = getattr(torch.backends, "mps", None)
    mps_ok = mps is not None and mps.is_available()
    if not device:
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_ok else torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise DermasegError(f"unknown device '{device}' (use cuda, mps or cpu)") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DermasegError(f"device '{device}' requested but CUDA is not available")
    if dev.type == "mps" and not mps_ok:
        raise DermasegError(f"device '{device}' requested but MPS is not available")
    return dev

"""dermaseg: skin-lesion segmentation for dermoscopic images.

The package mirrors the pipeline: ``data`` -> ``models`` -> ``training`` -> ``inference`` ->
``evaluation`` -> ``report``; ``cli`` and ``serve`` are thin front ends over the library.
Heavy libraries (torch, segment-anything, smp) are imported lazily by the modules that need them.
"""

from __future__ import annotations

__all__ = ["__version__", "DermasegError"]
__version__ = "0.1.0"

from dermaseg.errors import DermasegError  # noqa: E402

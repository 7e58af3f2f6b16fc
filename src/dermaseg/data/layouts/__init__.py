"""Readers of each dataset layout as downloaded, one module per layout, and format detection (used by
:func:`dermaseg.data.readers.load_dataset`).

Every reader returns a :class:`~dermaseg.data.dataset.Dataset` whose samples are sorted by (split, id), and
records layout problems (missing masks, orphan masks, duplicate ids, metadata rows without image) instead
of raising; it raises :class:`~dermaseg.errors.DataError` only when the folder is not that layout at all.
To add a layout: a module with ``read_<layout>(root) -> Dataset`` and ``detect(root) -> str | None`` (helpers
in :mod:`~dermaseg.data.layouts.common`), then an entry in :data:`READERS` and :data:`DETECTORS`.
"""

from __future__ import annotations

from pathlib import Path

from dermaseg.data.layouts import folder, ham10000, isic, ph2, workspace
from dermaseg.data.layouts.folder import read_folder
from dermaseg.data.layouts.ham10000 import read_ham10000
from dermaseg.data.layouts.isic import read_isic
from dermaseg.data.layouts.ph2 import read_ph2
from dermaseg.data.layouts.workspace import read_workspace

__all__ = ["detect_format", "READERS", "DETECTORS", "read_ham10000", "read_isic", "read_ph2", "read_folder",
           "read_workspace"]

READERS = {"ham10000": read_ham10000, "isic": read_isic, "ph2": read_ph2, "folder": read_folder,
           "workspace": read_workspace}
#: tried in this order: the first layout that recognises the folder wins
DETECTORS = (workspace.detect, ham10000.detect, ph2.detect, isic.detect, folder.detect)


def detect_format(root: Path) -> str | None:
    """The layout of ``root`` (a name of ``FORMATS``) or None; isic is resolved to its year (``isic`` when
    several ISIC years share the folder)."""
    for detect in DETECTORS:
        found = detect(Path(root))
        if found is not None:
            return found
    return None

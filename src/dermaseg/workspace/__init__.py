"""Workspaces: a folder of images under review, kept on disk as a folder-pairs dataset plus one SQLite state
file. ``Workspace`` (open, init, images, save_mask, set_status, log, approved_pairs) is in
:mod:`dermaseg.workspace.store`; the layout and schema in :mod:`~dermaseg.workspace.layout`; ``workspace init``'s
import of images, masks and metadata in :mod:`~dermaseg.workspace.build`; ``status`` and ``export`` in
:mod:`~dermaseg.workspace.export`. This package imports nothing heavy at its top (the data layer reads
:mod:`~dermaseg.workspace.layout`).
"""

from __future__ import annotations

__all__: list[str] = []  # import dermaseg.workspace.store.Workspace

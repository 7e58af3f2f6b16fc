"""The one exception type the command line turns into a one-line error and a non-zero exit."""

from __future__ import annotations

__all__ = ["DermasegError", "DataError", "WeightsError"]


class DermasegError(Exception):
    """A problem with the user's input or environment, explained in one line.

    The message should name the file (or model, or option) and say what is wrong with it.
    """


class DataError(DermasegError):
    """A dataset, image or mask that cannot be read or does not follow its layout."""


class WeightsError(DermasegError):
    """A weight file that is missing, corrupted (sha256 mismatch) or incompatible."""

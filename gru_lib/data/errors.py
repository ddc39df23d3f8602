"""The two ways loading data can fail, each with a message meant for the user.

The command line catches both and prints the message alone, so every message says
which file, what was expected, and what to do about it.
"""

from __future__ import annotations

__all__ = ["DataError", "DataIntegrityError", "DataNotFoundError"]


class DataError(RuntimeError):
    """Base class of the data package's errors."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data file is missing and could not be downloaded (disabled, offline, unwritable)."""


class DataIntegrityError(DataError):
    """A data file is there but is not what it should be: checksum mismatch, truncated,
    corrupt, malformed, or an archive with unsafe members. It is never parsed further."""

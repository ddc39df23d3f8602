"""Where the data lives and whether a file is the one we expect.

Data directory, in this order: the ``data_dir`` argument; the environment variable
``GRU_LIB_DATA_DIR``; the per-user cache ``$XDG_CACHE_HOME/gru_lib`` (by default
``~/.cache/gru_lib``). A file is accepted only if its size and sha256 match the
canonical values; digests are remembered per (path, size, mtime) for the process,
so a file that is loaded twice is hashed once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from .errors import DataIntegrityError

ENV_VAR = "GRU_LIB_DATA_DIR"

PathLike = Union[str, os.PathLike]

_CHUNK = 1 << 20
_DIGESTS: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class RemoteFile:
    """A canonical data file: its name, size in bytes, sha256 and where to download it."""

    name: str
    sha256: str
    size: Optional[int] = None
    urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataDir:
    """A resolved data directory and where the choice came from (for messages)."""

    path: Path
    origin: str

    def describe(self) -> str:
        return f"{self.path}, {self.origin}"


def user_cache_dir() -> Path:
    """The per-user cache directory: ``$XDG_CACHE_HOME/gru_lib`` or ``~/.cache/gru_lib``."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base).expanduser() if base and Path(base).expanduser().is_absolute() else Path.home() / ".cache"
    return root / "gru_lib"


def resolve(data_dir: Optional[PathLike] = None) -> DataDir:
    """Resolve the data directory: argument, then ``$GRU_LIB_DATA_DIR``, then the user cache."""
    if data_dir is not None:
        return DataDir(Path(data_dir).expanduser(), "given as data_dir")
    env = os.environ.get(ENV_VAR)
    if env:
        return DataDir(Path(env).expanduser(), f"from ${ENV_VAR}")
    return DataDir(user_cache_dir(), "the per-user cache")


def resolve_data_dir(data_dir: Optional[PathLike] = None) -> Path:
    """The directory the loaders read (and download into).

    Parameters
    ----------
    data_dir : str or path-like, optional
        Used as given when not ``None``.

    Returns
    -------
    pathlib.Path
        ``data_dir``, else ``$GRU_LIB_DATA_DIR``, else ``$XDG_CACHE_HOME/gru_lib``
        (``~/.cache/gru_lib`` when ``XDG_CACHE_HOME`` is unset). The directory need
        not exist yet.
    """
    return resolve(data_dir).path


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB chunks; remembered per (path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        digest = h.hexdigest()
        _DIGESTS[key] = digest
    return digest


def _advice(expected: RemoteFile, path: Path) -> str:
    if expected.urls:
        return (f"Delete it and load again to download a fresh copy, or replace it with the canonical file "
                f"from {expected.urls[0]}.")
    return f"Replace it with an intact copy of {expected.name}, or delete it."


def verify_file(path: Path, expected: RemoteFile) -> str:
    """Check a file's size and sha256 against ``expected``; return the digest.

    Raises
    ------
    DataIntegrityError
        On any mismatch, naming the file, the expected and actual values, and the fix.
    """
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        hint = " (truncated or incomplete download?)" if size < expected.size else ""
        raise DataIntegrityError(
            f"{path} has {size} bytes, expected {expected.size}{hint}. It is not the canonical "
            f"{expected.name} and will not be used. {_advice(expected, path)}"
        )
    digest = file_sha256(path)
    if digest != expected.sha256:
        raise DataIntegrityError(
            f"{path} has sha256 {digest}, expected {expected.sha256}. The file is corrupt or not the canonical "
            f"{expected.name} and will not be used. {_advice(expected, path)}"
        )
    return digest

"""MNIST (LeCun, Bottou, Bengio & Haffner 1998): 28×28 grey-level handwritten digits.

60000 training and 10000 test images with labels 0–9, in the four canonical IDX
files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` under ``<data dir>/mnist/``.
Every file is checked against its canonical size and sha256 (:data:`FILES`) before
it is parsed; a missing file is downloaded from the mirrors in ``gru_lib.data.mnist.MIRRORS``
when allowed.

The paper (Dey & Salem 2017, §4) reads each image as a sequence: row-wise, 28 steps
of 28 pixels, or pixel-wise, 784 steps of one pixel, pixels scaled to [0, 1]
(:func:`mnist_sequences`).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ._download import ensure_files
from ._files import PathLike, RemoteFile, resolve, verify_file
from .errors import DataIntegrityError

__all__ = ["FILES", "MIRRORS", "SPLITS", "MODES", "load_mnist", "mnist_dataset", "mnist_sequences",
           "pixel_permutation"]

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


def _remote(name: str, size: int, sha256: str) -> RemoteFile:
    return RemoteFile(name, sha256, size, tuple(m + name for m in MIRRORS))


#: The canonical files: name → size and sha256 of the ``.gz`` file as distributed.
FILES: dict[str, RemoteFile] = {
    f.name: f
    for f in (
        _remote("train-images-idx3-ubyte.gz", 9912422,
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        _remote("train-labels-idx1-ubyte.gz", 28881,
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        _remote("t10k-images-idx3-ubyte.gz", 1648877,
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        _remote("t10k-labels-idx1-ubyte.gz", 4542,
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    )
}

SPLITS = {"train": "train", "test": "t10k"}
MODES = ("row", "pixel")

_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
SIDE = 28
PIXELS = SIDE * SIDE


def _check_choice(name: str, value: object, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {list(choices)}")


def _read_idx(path: Path, magic: int, ndim: int) -> tuple[tuple[int, ...], np.ndarray]:
    """Decompress and parse one IDX file of unsigned bytes; return (dims, flat data)."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise DataIntegrityError(f"{path} is not a valid gzip file ({exc}); it may be truncated or corrupt. "
                                 "Delete it and load again, or replace it with the canonical file.") from None
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataIntegrityError(f"{path}: {len(raw)} bytes after decompression, too short for an IDX header")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataIntegrityError(f"{path}: IDX magic number {found}, expected {magic}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise DataIntegrityError(f"{path}: {len(raw)} bytes after decompression, but the header {dims} "
                                 f"implies {expected}")
    return dims, np.frombuffer(raw, dtype=np.uint8, offset=header)


def load_mnist(split: str = "train", data_dir: Optional[PathLike] = None,
               download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split of MNIST (LeCun et al. 1998) as tensors.

    Parameters
    ----------
    split : {"train", "test"}
        ``"train"``: the 60000 training images; ``"test"``: the 10000 test images
        (the ``t10k`` files).
    data_dir : str or path-like, optional
        Directory that holds ``mnist/``; default ``$GRU_LIB_DATA_DIR``, then the
        per-user cache (see :func:`resolve_data_dir`).
    download : bool
        Download missing files from ``MIRRORS`` into the data directory.

    Returns
    -------
    images : torch.Tensor
        ``uint8`` of shape ``(N, 28, 28)``, grey levels 0 (background) to 255.
    labels : torch.Tensor
        ``int64`` of shape ``(N,)``, digits 0–9.

    Raises
    ------
    DataNotFoundError
        A file is missing and could not be downloaded.
    DataIntegrityError
        A file does not match its canonical size/sha256, or is not valid IDX.
    ValueError
        Unknown ``split``.
    """
    _check_choice("split", split, SPLITS)
    prefix = SPLITS[split]
    remotes = [FILES[f"{prefix}-images-idx3-ubyte.gz"], FILES[f"{prefix}-labels-idx1-ubyte.gz"]]
    images_path, labels_path = ensure_files("MNIST files", resolve(data_dir), "mnist", remotes, download)
    for path, remote in zip((images_path, labels_path), remotes, strict=True):
        verify_file(path, remote)

    dims, pixels = _read_idx(images_path, _IMAGES_MAGIC, 3)
    if dims[1:] != (SIDE, SIDE):
        raise DataIntegrityError(f"{images_path}: images of {dims[1]}×{dims[2]} pixels, expected {SIDE}×{SIDE}")
    (count,), labels = _read_idx(labels_path, _LABELS_MAGIC, 1)
    if count != dims[0]:
        raise DataIntegrityError(f"{images_path} has {dims[0]} images but {labels_path} has {count} labels")
    if count and int(labels.max()) > 9:
        raise DataIntegrityError(f"{labels_path}: label {int(labels.max())} outside 0–9")
    images_t = torch.from_numpy(pixels.reshape(dims).copy())
    labels_t = torch.from_numpy(labels.astype(np.int64))
    return images_t, labels_t


def pixel_permutation(seed: int) -> torch.Tensor:
    """The fixed permutation of the 784 pixels used for permuted pixel MNIST with ``seed``.

    ``torch.randperm(784)`` from a generator seeded with ``seed``; the same seed gives
    the same permutation on every machine.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return torch.randperm(PIXELS, generator=torch.Generator().manual_seed(seed))


def _as_permutation(permutation: Union[torch.Tensor, int]) -> torch.Tensor:
    if isinstance(permutation, int) and not isinstance(permutation, bool):
        return pixel_permutation(permutation)
    perm = torch.as_tensor(permutation)
    if perm.dtype.is_floating_point or perm.dtype == torch.bool or perm.shape != (PIXELS,):
        raise ValueError(f"permutation must be an int seed or {PIXELS} integer indices, "
                         f"got {perm.dtype} of shape {tuple(perm.shape)}")
    perm = perm.to(torch.int64)
    if not torch.equal(torch.sort(perm).values, torch.arange(PIXELS)):
        raise ValueError(f"permutation must contain each index 0…{PIXELS - 1} exactly once")
    return perm


def mnist_sequences(images: Union[torch.Tensor, np.ndarray], mode: str = "row",
                    permutation: Union[torch.Tensor, int, None] = None) -> torch.Tensor:
    """MNIST images as input sequences for a recurrent network, pixels scaled to [0, 1].

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        ``uint8`` of shape ``(N, 28, 28)``, as returned by :func:`load_mnist`.
    mode : {"row", "pixel"}
        ``"row"``: 28 steps of 28 values, step ``t`` is row ``t`` (top to bottom).
        ``"pixel"``: 784 steps of one value, scanning from the upper-left to the
        bottom-right pixel row by row (the paper's pixel-wise MNIST).
    permutation : int or torch.Tensor, optional
        Pixel mode only: permuted pixel MNIST. An int is a seed for
        :func:`pixel_permutation`; a tensor of the 784 pixel indices is used as
        given: step ``t`` shows pixel ``permutation[t]`` of the row-major scan.

    Returns
    -------
    torch.Tensor
        ``float32``, ``(N, 28, 28)`` for rows or ``(N, 784, 1)`` for pixels, equal to
        ``images / 255``.
    """
    _check_choice("mode", mode, MODES)
    x = torch.as_tensor(images)
    if x.dtype != torch.uint8:
        raise TypeError(f"images must be uint8 grey levels 0-255 (as from load_mnist), got {x.dtype}")
    if x.dim() != 3 or tuple(x.shape[1:]) != (SIDE, SIDE):
        raise ValueError(f"images must have shape (N, {SIDE}, {SIDE}), got {tuple(x.shape)}")
    x = x.to(torch.float32).div_(255.0)
    if mode == "row":
        if permutation is not None:
            raise ValueError("permutation applies to mode='pixel' only (permuted pixel MNIST)")
        return x
    x = x.reshape(x.shape[0], PIXELS)
    if permutation is not None:
        x = x[:, _as_permutation(permutation)]
    return x.unsqueeze(-1)


def mnist_dataset(split: str = "train", mode: str = "row", data_dir: Optional[PathLike] = None,
                  limit: Optional[int] = None, permutation: Union[torch.Tensor, int, None] = None,
                  download: bool = True) -> TensorDataset:
    """One MNIST split as a ``TensorDataset`` of (sequence, label) pairs.

    Parameters
    ----------
    split, data_dir, download
        As in :func:`load_mnist`.
    mode, permutation
        As in :func:`mnist_sequences`.
    limit : int, optional
        Keep only the first ``limit`` examples in file order (not a random subset:
        the files are not sorted by label, but the first examples are not a
        stratified sample either).

    Returns
    -------
    torch.utils.data.TensorDataset
        Float sequences (see :func:`mnist_sequences`) and ``int64`` labels.
    """
    _check_choice("split", split, SPLITS)
    _check_choice("mode", mode, MODES)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    images, labels = load_mnist(split, data_dir=data_dir, download=download)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return TensorDataset(mnist_sequences(images, mode, permutation), labels)

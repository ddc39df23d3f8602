"""IMDB Large Movie Review Dataset v1 (Maas et al. 2011): 50000 labelled film reviews.

25000 training and 25000 test reviews, each half positive (rating 7–10, label 1) and
half negative (rating 1–4, label 0), stored as ``aclImdb/{train,test}/{pos,neg}/ID_RATING.txt``.
The loaders read, from the data directory (first found wins):

1. ``aclImdb_v1.tar.gz``, the canonical Stanford archive (:data:`CANONICAL`, 84125825
   bytes; the ``unsup/`` reviews and other files in it are ignored);
2. ``aclImdb_v1_labeled.tar.gz``, an archive with only the labelled reviews
   (:data:`LABELED`);
3. an extracted ``aclImdb/`` directory.

An archive must match its sha256; a directory must hold :data:`REVIEWS_PER_CLASS`
reviews in each of the four folders. Reviews are read straight from the archive
(nothing is extracted), and an archive with absolute paths, ``..``, links or device
members is refused. When none is present the canonical archive is downloaded.

Examples are ordered by their path within the archive (so per split: all negative
reviews, then all positive ones, each sorted by file name as text). Keras's
``imdb.load_data`` shuffles; shuffle when training.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator, Optional

import torch

from ..files import atomic_file
from ._download import DownloadFailed, fetch, missing_message
from ._files import PathLike, RemoteFile, resolve, user_cache_dir, verify_file
from .errors import DataIntegrityError, DataNotFoundError
from .text import TOKENIZER_VERSION, _check_index_args, build_vocab, encode, pad_sequences, tokenize

__all__ = ["ARCHIVES", "CANONICAL", "LABELED", "REVIEWS_PER_CLASS", "URL", "load_imdb", "load_imdb_texts"]

URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
CANONICAL = RemoteFile("aclImdb_v1.tar.gz", "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
                       84125825, (URL,))
LABELED = RemoteFile("aclImdb_v1_labeled.tar.gz",
                     "9d1369795f878a32d5739f804b85cd27b17a91461da95ffba665bf64a9c2734a", 27763586)
#: Archives accepted in the data directory, in order of preference.
ARCHIVES: dict[str, RemoteFile] = {CANONICAL.name: CANONICAL, LABELED.name: LABELED}
DIRECTORY = "aclImdb"
REVIEWS_PER_CLASS = 12500
SPLITS = ("train", "test")
LABELS = {"neg": 0, "pos": 1}
#: Version of the processed-tensor cache files; part of their key.
CACHE_FORMAT = 1

_REVIEW = re.compile(r"aclImdb/(train|test)/(pos|neg)/\d+_\d+\.txt")


@dataclass(frozen=True)
class _Source:
    path: Path
    digest: str  # sha256 of an archive; a digest of names, sizes and mtimes of a directory's reviews
    files: tuple[tuple[str, Path], ...] = ()  # a directory's reviews: (archive-style name, path)


# ----------------------------------------------------------------------------- finding the reviews
def _directory_files(root: Path) -> tuple[tuple[str, Path], ...]:
    files = []
    for split in SPLITS:
        for label in LABELS:
            folder = root / split / label
            names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
            found = [(f"{DIRECTORY}/{split}/{label}/{n}", folder / n) for n in names]
            found = [(name, path) for name, path in found if _REVIEW.fullmatch(name) and path.is_file()]
            if len(found) != REVIEWS_PER_CLASS:
                raise DataIntegrityError(
                    f"{folder} holds {len(found)} reviews (ID_RATING.txt files), expected {REVIEWS_PER_CLASS}: "
                    f"{root} is not a complete aclImdb directory. Extract the canonical archive again "
                    f"({URL}), or put the archive itself in {root.parent}."
                )
            files += found
    return tuple(files)


def _directory_digest(files: Iterable[tuple[str, Path]]) -> str:
    h = hashlib.sha256()
    for name, path in files:
        st = path.stat()
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _find_source(data_dir: Optional[PathLike], download: bool) -> _Source:
    where = resolve(data_dir)
    root = where.path
    for remote in ARCHIVES.values():
        path = root / remote.name
        if path.is_file():
            return _Source(path, verify_file(path, remote))
    directory = root / DIRECTORY
    if directory.is_dir():
        files = _directory_files(directory)
        return _Source(directory, _directory_digest(files), files)
    names = [*ARCHIVES, f"{DIRECTORY}/ (extracted)"]
    if not download:
        reason = "Downloading is disabled (download=False, --no-download)."
    else:
        target = root / CANONICAL.name
        try:
            fetch(CANONICAL, target)
            return _Source(target, verify_file(target, CANONICAL))
        except DownloadFailed as exc:
            reason = f"Could not download {CANONICAL.name}: {exc}"
    headline = f"IMDB reviews not found in the data directory {root} ({where.origin}); it has none of:"
    raise DataNotFoundError(missing_message(headline, root, names, reason, [URL]))


# ----------------------------------------------------------------------------- reading the reviews
def _check_member(archive: Path, member: tarfile.TarInfo) -> None:
    path = PurePosixPath(member.name)
    problem = None
    if path.is_absolute() or member.name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", member.name):
        problem = "an absolute path"
    elif ".." in path.parts or ".." in member.name.split("\\"):
        problem = "a '..' component"
    elif member.issym() or member.islnk():
        problem = "a link"
    elif not (member.isfile() or member.isdir()):
        problem = "a device, FIFO or other special file"
    if problem:
        raise DataIntegrityError(
            f"{archive} contains {member.name!r}, {problem}; it is not a genuine aclImdb archive and will "
            f"not be read. Replace it with the canonical archive from {URL}."
        )


def _archive_reviews(archive: Path) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                _check_member(archive, member)
                name = member.name[2:] if member.name.startswith("./") else member.name
                if member.isfile() and _REVIEW.fullmatch(name):
                    handle = tar.extractfile(member)
                    assert handle is not None  # a regular file always has one
                    yield name, handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataIntegrityError(f"{archive} is not a readable .tar.gz archive ({exc}); it may be truncated or "
                                 f"corrupt. Replace it with the canonical archive from {URL}.") from None


def _reviews(source: _Source, splits: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
    """``{split: [(text, label), ...]}`` ordered by path."""
    wanted = set(splits)
    items = (((name, path.read_bytes()) for name, path in source.files if name.split("/")[1] in wanted)
             if source.files else _archive_reviews(source.path))
    found: dict[str, list[tuple[str, str, int]]] = {split: [] for split in wanted}
    for name, raw in items:
        _, split, label, _ = name.split("/")
        if split in wanted:
            found[split].append((name, raw.decode("utf-8", errors="replace"), LABELS[label]))
    out = {}
    for split, reviews in found.items():
        if not reviews:
            raise DataIntegrityError(f"{source.path} holds no {split} reviews (aclImdb/{split}/{{pos,neg}}/*.txt)")
        reviews.sort()
        out[split] = [(text, label) for _, text, label in reviews]
    return out


def load_imdb_texts(split: str = "train", data_dir: Optional[PathLike] = None,
                    download: bool = True) -> list[tuple[str, int]]:
    """The raw IMDB reviews (Maas et al. 2011) of one split, for display.

    Parameters
    ----------
    split : {"train", "test"}
    data_dir : str or path-like, optional
        Directory holding one of the accepted sources (see ``gru_lib.data.imdb``);
        default ``$GRU_LIB_DATA_DIR``, then the per-user cache.
    download : bool
        Download the canonical archive when no source is present.

    Returns
    -------
    list of (str, int)
        ``(text, label)`` with label 1 positive, 0 negative, in the order of
        :func:`load_imdb`'s rows: entry ``i`` is the review behind ``x_<split>[i]``.
        Texts are as in the files (with their ``<br />`` line breaks).
    """
    _check_split(split)
    return _reviews(_find_source(data_dir, download), [split])[split]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")


# ----------------------------------------------------------------------------- processed cache
def _cache_file(cache_dir: Path, source: _Source, num_words: int, maxlen: int, index_from: int) -> Path:
    key = json.dumps({"source": source.digest, "num_words": num_words, "maxlen": maxlen,
                      "index_from": index_from, "tokenizer": TOKENIZER_VERSION, "format": CACHE_FORMAT},
                     sort_keys=True)
    return cache_dir / f"imdb-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"


def _read_cache(path: Path, maxlen: int) -> Optional[dict]:
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        for split in SPLITS:
            x, y = blob["x_" + split], blob["y_" + split]
            if x.dtype != torch.int64 or x.dim() != 2 or x.shape[1] != maxlen or y.shape != (x.shape[0],):
                return None
        if not isinstance(blob["vocab"], list):
            return None
        return blob
    except Exception:  # an unreadable or foreign cache file is rebuilt, never trusted
        return None


def _write_cache(path: Path, blob: dict) -> None:
    try:
        with atomic_file(path, ".part") as f:  # an ordinary file's mode; stale parts removed
            torch.save(blob, f)
    except OSError as exc:
        warnings.warn(f"could not write the IMDB cache {path} ({exc}); the next load will parse the reviews again",
                      stacklevel=3)


# ----------------------------------------------------------------------------- the data set
def _encode_split(texts: Iterable[str], word_index: dict[str, int], maxlen: int) -> torch.Tensor:
    return pad_sequences([encode(tokenize(text), word_index) for text in texts], maxlen)


def load_imdb(data_dir: Optional[PathLike] = None, num_words: int = 20000, maxlen: int = 80,
              download: bool = True, cache: bool = True, index_from: int = 3,
              cache_dir: Optional[PathLike] = None) -> dict:
    """IMDB reviews (Maas et al. 2011) as padded word-index tensors, as in Keras's IMDB example.

    Each review is tokenized (``gru_lib.data.text.tokenize``), encoded with a
    vocabulary built from the *training* reviews only (:func:`build_vocab`: index 1
    start, 2 out-of-vocabulary, the word of frequency rank ``r`` at ``r + index_from``,
    indices ``< num_words`` kept), the start index is prepended, and the sequence is
    padded and truncated at the front to ``maxlen`` (:func:`pad_sequences`), keeping
    the last ``maxlen`` indices. This follows the conventions of Keras's
    ``imdb.load_data(num_words=20000)`` and ``pad_sequences(maxlen=80)`` used by the
    paper; the indices differ from Keras's, whose word index was built with another
    tokenizer on other counts.

    Parameters
    ----------
    data_dir : str or path-like, optional
        Directory holding ``aclImdb_v1.tar.gz``, ``aclImdb_v1_labeled.tar.gz`` or
        ``aclImdb/``; default ``$GRU_LIB_DATA_DIR``, then the per-user cache.
    num_words : int
        Size of the index space (embedding rows): words with index ``>= num_words``
        become 2. With ``index_from=3`` the vocabulary holds ``num_words - 4`` words.
    maxlen : int
        Length of every sequence.
    download : bool
        Download the canonical archive when no source is present.
    cache : bool
        Keep the processed tensors in ``cache_dir`` (key: the source's checksum,
        ``num_words``, ``maxlen``, ``index_from``, the tokenizer version), so that
        later loads skip parsing. Files are written atomically.
    index_from : int
        Offset of word indices (Keras's ``index_from``); 3 leaves index 3 unused,
        like Keras; 2 numbers words from 3.
    cache_dir : str or path-like, optional
        Default ``$XDG_CACHE_HOME/gru_lib/processed`` (``~/.cache/gru_lib/processed``).

    Returns
    -------
    dict
        ``"x_train"``, ``"x_test"``: ``int64`` of shape ``(25000, maxlen)``;
        ``"y_train"``, ``"y_test"``: ``int64`` of shape ``(25000,)``, 1 positive,
        0 negative; ``"vocab"``: the kept words by rank (``vocab[k]`` has index
        ``k + 1 + index_from``); ``"word_index"``: word → index;
        ``"num_words"``, ``"maxlen"``, ``"index_from"``; ``"source"``: the file
        read and ``"source_sha256"`` its checksum (a directory: a digest of its
        file names, sizes and times).

    Raises
    ------
    DataNotFoundError
        No source and it could not be downloaded.
    DataIntegrityError
        An archive with the wrong checksum, unreadable or with unsafe members; an
        incomplete directory.
    """
    if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
        raise ValueError(f"maxlen must be a positive int, got {maxlen!r}")
    if num_words is None:
        raise ValueError("num_words must be an int (the size of the index space), got None")
    _check_index_args(num_words, index_from)
    source = _find_source(data_dir, download)
    cache_path = _cache_file(Path(cache_dir).expanduser() if cache_dir is not None
                             else user_cache_dir() / "processed", source, num_words, maxlen, index_from)
    blob = _read_cache(cache_path, maxlen) if cache else None
    if blob is None:
        reviews = _reviews(source, SPLITS)
        word_index = build_vocab((tokenize(text) for text, _ in reviews["train"]), num_words, index_from)
        blob = {"vocab": list(word_index)}
        for split in SPLITS:
            blob["x_" + split] = _encode_split((text for text, _ in reviews[split]), word_index, maxlen)
            blob["y_" + split] = torch.tensor([label for _, label in reviews[split]], dtype=torch.int64)
        if cache:
            _write_cache(cache_path, blob)
    vocab = blob["vocab"]
    return {
        "x_train": blob["x_train"], "y_train": blob["y_train"], "x_test": blob["x_test"], "y_test": blob["y_test"],
        "vocab": vocab, "word_index": {w: k + 1 + index_from for k, w in enumerate(vocab)},
        "num_words": num_words, "maxlen": maxlen, "index_from": index_from,
        "source": str(source.path), "source_sha256": source.digest,
    }

"""Getting missing files: download to a temporary file beside the target, verify, rename.

The target appears only once its size and sha256 are right (``os.replace`` is atomic
on one file system), so an interrupted or corrupted download never leaves a file
that a later load would trust. Each connection and each read time out after
:data:`TIMEOUT_S` seconds, so a machine without network fails within seconds. A
server that keeps the connection alive but sends next to nothing cannot hold a
download for ever either: it fails when fewer than :data:`STALL_BYTES` bytes came in
the last :data:`STALL_S` seconds, and when it has taken :data:`DEADLINE_S` seconds.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import BinaryIO, Sequence

from ..files import atomic_file
from ._files import ENV_VAR, DataDir, RemoteFile
from .errors import DataNotFoundError

TIMEOUT_S = 10.0
#: A download fails when fewer than STALL_BYTES arrived in the last STALL_S seconds (a trickle).
STALL_S = 30.0
STALL_BYTES = 64 * 1024
#: The longest one file's download may take (the IMDB archive, 84 MB, at about 50 kB/s).
DEADLINE_S = 30 * 60.0
_CHUNK = 1 << 20


class DownloadFailed(Exception):
    """No URL of a file gave the canonical bytes; the message lists why, per URL."""


def _urlopen(url: str, timeout: float) -> BinaryIO:
    """Open ``url`` for reading (the only function here that touches the network)."""
    request = urllib.request.Request(url, headers={"User-Agent": "gru_lib"})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - fixed https URLs


def _fetch_one(url: str, target: Path, expected: RemoteFile, timeout: float) -> None:
    # the temporary file has an ordinary file's mode and is removed on any failure;
    # the ones a killed download left behind are removed once a download succeeds
    start = time.monotonic()
    with atomic_file(target, ".part") as out, _urlopen(url, timeout) as response:
        h = hashlib.sha256()
        size = 0
        window_start, window_bytes = start, 0
        # what has arrived, not a full chunk, so that the time is checked often
        read = response.read1 if hasattr(response, "read1") else response.read
        while chunk := read(_CHUNK):
            out.write(chunk)
            h.update(chunk)
            size += len(chunk)
            now = time.monotonic()
            window_bytes += len(chunk)
            if now - start > DEADLINE_S:
                raise DownloadFailed(f"gave up after {DEADLINE_S:g} s with {size} bytes of "
                                     f"{expected.size or 'unknown'} (the server is too slow)")
            if now - window_start >= STALL_S:
                if window_bytes < STALL_BYTES:
                    raise DownloadFailed(f"stalled: {window_bytes} bytes in {now - window_start:.0f} s, fewer than "
                                         f"{STALL_BYTES} (the server sends next to nothing)")
                window_start, window_bytes = now, 0
        if expected.size is not None and size != expected.size:
            raise DownloadFailed(f"got {size} bytes, expected {expected.size}")
        if h.hexdigest() != expected.sha256:
            raise DownloadFailed(f"got sha256 {h.hexdigest()}, expected {expected.sha256}")


def fetch(expected: RemoteFile, target: Path, timeout: float = TIMEOUT_S) -> None:
    """Download ``expected`` to ``target``, trying its URLs in order.

    Raises
    ------
    DownloadFailed
        When no URL worked (network unreachable, HTTP error, wrong bytes, unwritable
        directory); the message names every URL and its failure.
    """
    reasons = []
    for url in expected.urls:
        print(f"gru_lib: downloading {url} to {target}", file=sys.stderr, flush=True)
        try:
            _fetch_one(url, target, expected, timeout)
            return
        except (OSError, DownloadFailed) as exc:  # URLError, HTTPError, timeouts and write errors are OSErrors
            reasons.append(f"{url}: {exc}")
    if not reasons:
        reasons.append(f"no download address is known for {expected.name}")
    raise DownloadFailed("; ".join(reasons))


def missing_message(headline: str, folder: Path, names: Sequence[str], reason: str, urls: Sequence[str]) -> str:
    """The message of a :class:`DataNotFoundError`: what is missing, why, and how to fix it."""
    lines = [headline, *(f"  {name}" for name in names), reason]
    if urls:
        lines += ["Download:", *(f"  {url}" for url in urls), f"into {folder}{os.sep},"]
    else:
        lines.append(f"Put them in {folder}{os.sep},")
    lines[-1] += f" or point data_dir (--data-dir) or ${ENV_VAR} at a directory that has them."
    return "\n".join(lines)


def ensure_files(what: str, where: DataDir, subdir: str, files: Sequence[RemoteFile], download: bool) -> list[Path]:
    """Paths of ``files`` in ``where/subdir``, downloading the missing ones if allowed.

    Files that are present are returned as they are (the caller verifies them).

    Raises
    ------
    DataNotFoundError
        When a file is missing and downloading is disabled or fails; the message
        names every missing file, the reason, the URLs, and where to put the files.
    """
    folder = where.path / subdir
    missing = [f for f in files if not (folder / f.name).is_file()]
    for i, remote in enumerate(missing):
        left = missing[i:]
        if not download:
            reason = "Downloading is disabled (download=False, --no-download)."
        else:
            try:
                fetch(remote, folder / remote.name)
                continue
            except DownloadFailed as exc:
                reason = f"Could not download {remote.name}: {exc}"
        urls = [url for f in left for url in f.urls[:1]]
        headline = f"{what} missing from {folder} (data directory {where.describe()}):"
        raise DataNotFoundError(missing_message(headline, folder, [f.name for f in left], reason, urls))
    return [folder / f.name for f in files]

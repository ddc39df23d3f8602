"""The files a run leaves: result JSON, checkpoint, and where they came from.

A run with ``out=PATH.json`` writes its result there and a checkpoint to
``PATH.ckpt`` after every epoch, each atomically (a temporary file in the same
directory, flushed, then ``os.replace``), so that a reader or a killed run sees
the old file or the new one, never a torn one. :func:`provenance` records what
produced a result: versions, commit, device, threads, date and command.

Files are created with the mode an ordinary ``open()`` would give them
(``0o666`` less the umask), not the ``0o600`` of ``tempfile.mkstemp``.
A writer holds a lock on its temporary file until the rename, so that the
temporary files of a killed writer (``.NAME.*.tmp``, ``.NAME.*.part``) can be
told from live ones and removed (:func:`remove_stale_temps`).

Which files a run may replace (:func:`claim_run_files`)
    The checkpoint is written before the result, so it is never behind it: a
    resumed run takes the checkpoint as the truth and repairs the result from it.
    A file that is not a ``gru_lib`` result or checkpoint (another tool's
    ``.ckpt``, notes in a ``.json``) is never replaced unless the caller asks to
    overwrite, and a run that starts again replaces the old files only when its
    first epoch has something to put in their place.

One writer per run (:func:`run_lock`)
    While a run trains it holds a lock on ``.NAME.lock`` beside its result
    (``fcntl.flock``, released by the system when the process ends, however it
    ends). A second process that asks for the same result file is refused with a
    :class:`RunFileError` that names the holder, instead of interleaving its epochs
    with the first one's. The lock file is removed when the run ends; one left by
    a killed process is taken over. Where there is no ``fcntl`` (Windows), runs
    are not locked.

Files that are not what they seem
    A run never writes through a symbolic link: a result, checkpoint or lock file
    that is a link is refused (the lock is opened with ``O_NOFOLLOW``), since writing
    would truncate or replace whatever the link points at; temporary files are new
    files (``O_EXCL``). Runs that would share a file, such as ``a.json`` and ``a``
    (both checkpoint to ``a.ckpt``), are refused before anything trains
    (:func:`check_distinct_runs`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from numbers import Real
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Optional, Sequence, Union

import torch

try:  # POSIX: locks tell a live writer's temporary file from a killed one's
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "CHECKPOINT_FORMAT",
    "RESULT_FORMAT",
    "RUN_MODES",
    "RunFileError",
    "RunFiles",
    "RunLockedError",
    "atomic_file",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_distinct_runs",
    "check_not_running",
    "check_writable",
    "checkpoint_path",
    "claim_run_files",
    "lock_path",
    "device_name",
    "file_mode",
    "load_checkpoint",
    "portable_path",
    "new_temp_file",
    "provenance",
    "read_checkpoint",
    "read_result",
    "read_run_result",
    "remove_stale_temps",
    "result_problems",
    "run_lock",
    "run_paths",
]

#: Identifies the layout of result JSON files (and of the checkpoints beside them).
RESULT_FORMAT = "gru_lib.result/1"
CHECKPOINT_FORMAT = "gru_lib.checkpoint/1"

#: Where a temporary file without a lock counts as stale (no ``fcntl``: by age alone).
_STALE_AGE_S = 3600.0


class RunFileError(ValueError):
    """A result or checkpoint file cannot be used as asked: foreign, unreadable, malformed or in the way.

    ``fault`` says what is wrong, ``advice`` what to do about it with ``run`` (or the
    Python API); the message is both. A command with other options (``grid``) gives
    ``fault`` with advice of its own.
    """

    # no "-> None" (implied for __init__): autodoc would print it as the exception's "Return type"
    def __init__(self, fault: str, advice: str = ""):
        self.fault, self.advice = fault, advice
        super().__init__(f"{fault} {advice}" if advice else fault)

    def __reduce__(self):  # pickled (e.g. by Ray) with both parts
        return type(self), (self.fault, self.advice)


# ----------------------------------------------------------------------------- writing
def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set and restore
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from ``open()``: ``0o666`` less the umask."""
    return 0o666 & ~_umask()


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def new_temp_file(path: Union[str, Path], suffix: str) -> tuple[int, str]:
    """A temporary file ``.NAME.XXXX<suffix>`` beside ``path``: ``(fd, name)``, locked (where the
    system has ``fcntl``) and with an ordinary new file's mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=suffix)
    try:
        os.fchmod(fd, file_mode()) if hasattr(os, "fchmod") else os.chmod(tmp, file_mode())
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return fd, tmp


def remove_stale_temps(path: Union[str, Path], suffix: str = ".tmp") -> list[Path]:
    """Remove the temporary files that killed writers of ``path`` left behind; return them.

    A temporary file still locked by its writer is left alone (where there are no
    locks, one younger than an hour is).
    """
    path = Path(path)
    prefix = _temp_prefix(path)
    try:
        names = [n for n in os.listdir(path.parent) if n.startswith(prefix) and n.endswith(suffix)]
    except OSError:
        return []
    removed = []
    for name in names:
        tmp = path.parent / name
        try:
            if fcntl is None:
                if time.time() - tmp.stat().st_mtime < _STALE_AGE_S:
                    continue
                tmp.unlink()
            else:
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its writer lives
                    tmp.unlink()
                finally:
                    os.close(fd)
        except OSError:
            continue
        removed.append(tmp)
    return removed


@contextlib.contextmanager
def atomic_file(path: Union[str, Path], suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: a locked temporary file beside it that
    replaces ``path`` (flushed to disk) when the block ends without an exception, and is
    removed otherwise. Temporary files of killed writers of ``path`` are removed after.

    The new file gets the mode of an ordinary new file (``0o666`` less the umask).
    """
    path = Path(path)
    fd, tmp = new_temp_file(path, suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:
                os.replace(tmp, path)  # still locked: no cleaner takes it for a killed writer's
        if fcntl is None:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    remove_stale_temps(path, suffix)


def atomic_write_bytes(path: Union[str, Path], data: bytes, *, suffix: str = ".tmp") -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a torn one
    (:func:`atomic_file`)."""
    with atomic_file(path, suffix) as f:
        f.write(data)


def atomic_write_json(path: Union[str, Path], obj: Any) -> None:
    """:func:`atomic_write_bytes` of ``obj`` as indented JSON (NaN/inf written as ``null``)."""
    text = json.dumps(_json_safe(obj), indent=1, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def as_json(obj: Any) -> Any:
    """``obj`` as it reads back from a JSON file (tuples as lists, NaN as ``None``)."""
    return json.loads(json.dumps(_json_safe(obj), allow_nan=False))


# ----------------------------------------------------------------------------- reading
def checkpoint_path(out: Union[str, Path], checkpoint_dir: Union[str, Path, None] = None) -> Path:
    """A result file's checkpoint: ``DIR/NAME.json`` → ``DIR/NAME.ckpt``, beside it, or
    ``CHECKPOINT_DIR/NAME.ckpt`` when the checkpoints are kept in a directory of their own
    (for example outside a repository, where the results are committed and the
    checkpoints are not)."""
    out = Path(out)
    path = out.with_suffix(".ckpt") if out.suffix == ".json" else out.with_name(out.name + ".ckpt")
    return path if checkpoint_dir is None else Path(checkpoint_dir) / path.name


def read_result(path: Union[str, Path]) -> Optional[dict]:
    """The JSON at ``path``, or ``None`` if it is missing or not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _is_number(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def result_problems(obj: Any) -> list[str]:
    """What is wrong with a result's structure (empty when it can be tabulated and resumed)."""
    if not isinstance(obj, dict):
        return [f"expected a JSON object, got {type(obj).__name__}"]
    problems = []
    if obj.get("format") != RESULT_FORMAT:
        problems.append(f"format is {obj.get('format')!r}, expected {RESULT_FORMAT!r}")
    config = obj.get("config")
    if not isinstance(config, dict):
        problems.append(f"config must be an object, got {type(config).__name__}")
    else:
        for key in ("task", "model", "activation"):
            if not isinstance(config.get(key), str):
                problems.append(f"config.{key} must be a string, got {config.get(key)!r}")
        if not _is_number(config.get("lr")) or not config["lr"] > 0:
            problems.append(f"config.lr must be a positive number, got {config.get('lr')!r}")
        for key in ("seed", "epochs"):
            if key in config or key == "seed":
                v = config.get(key)
                if isinstance(v, bool) or not isinstance(v, int):
                    problems.append(f"config.{key} must be an integer, got {v!r}")
    history = obj.get("history")
    if not isinstance(history, list):
        problems.append(f"history must be a list, got {type(history).__name__}")
    else:
        for i, h in enumerate(history):
            if not isinstance(h, dict):
                problems.append(f"history[{i}] must be an object, got {type(h).__name__}")
                continue
            for key in ("epoch", "train_acc", "test_acc", "seconds"):
                v = h.get(key)
                if not (_is_number(v) or (v is None and key.endswith("acc") and key in h)):
                    problems.append(f"history[{i}].{key} must be a number, got {v!r}")
            if problems:
                break
    data = obj.get("data", {})
    if not isinstance(data, dict):
        problems.append(f"data must be an object, got {type(data).__name__}")
    if "params" in obj and (isinstance(obj["params"], bool) or not isinstance(obj["params"], int)):
        problems.append(f"params must be an integer, got {obj['params']!r}")
    for key in ("stopped", "provenance"):
        if obj.get(key) is not None and not isinstance(obj[key], dict):
            problems.append(f"{key} must be an object or null, got {type(obj[key]).__name__}")
    return problems


def read_run_result(path: Union[str, Path]) -> dict:
    """A ``gru_lib`` result file's content; :class:`RunFileError` saying why if it is not one."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except OSError as e:
        raise RunFileError(f"cannot read {path}: {e.strerror or e}") from e
    except ValueError as e:
        raise RunFileError(f"{path} is not a gru_lib result: not valid JSON ({e})") from e
    if not isinstance(obj, dict) or obj.get("format") != RESULT_FORMAT:
        raise RunFileError(f"{path} is not a gru_lib result (no \"format\": {RESULT_FORMAT!r})")
    problems = result_problems(obj)
    if problems:
        raise RunFileError(f"{path} is a malformed gru_lib result: " + "; ".join(problems))
    return obj


def load_checkpoint(path: Union[str, Path]) -> dict:
    """A checkpoint's content (tensors on the CPU); ``ValueError`` naming the file if it cannot be read."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a torn or foreign file: say which and why
        raise RunFileError(f"cannot read checkpoint {path}: {e}") from e


def portable_path(path: Union[str, Path]) -> str:
    """``path`` as a result file may record it without naming the machine's directories.

    Absolute paths beside this checkout (the repository and its parent directory,
    e.g. ``../shared/data``) become relative to the repository; paths in the home
    directory start with ``~``; anything else is kept.
    """
    p = Path(path)
    if not p.is_absolute():
        return str(path)
    # Paths are compared as written (normalised, links not followed): a data
    # directory linked in beside the checkout is still "../shared/data".
    p = Path(os.path.abspath(p))
    root = Path(os.path.abspath(__file__)).parents[1]
    for base, prefix in ((root.parent, None), (Path(os.path.abspath(Path.home())), "~")):
        try:
            rel = p.relative_to(base)
        except ValueError:
            continue
        return os.path.relpath(p, root) if prefix is None else str(Path(prefix) / rel)
    return str(path)


_CHECKPOINT_KEYS = {"config": dict, "epoch": int, "model": dict, "optimizer": dict, "rng": dict, "history": list}


def read_checkpoint(path: Union[str, Path]) -> dict:
    """A ``gru_lib`` checkpoint's content, checked; :class:`RunFileError` with what to do if it is not one."""
    path = Path(path)
    advice = ("Start the run again with --overwrite (overwrite=True), which replaces it after the first epoch, "
              "or move it away.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torn, truncated, or another tool's file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunFileError(f"cannot read the checkpoint {path} (unreadable or truncated: {first}).", advice) from e
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise RunFileError(f"{path} is not a gru_lib checkpoint (format {found!r}, expected "
                           f"{CHECKPOINT_FORMAT!r}).", advice)
    wrong = [f"{k} ({type(state.get(k)).__name__}, expected {t.__name__})" for k, t in _CHECKPOINT_KEYS.items()
             if not isinstance(state.get(k), t) or isinstance(state.get(k), bool)]
    if not wrong and len(state["history"]) != state["epoch"]:
        wrong.append(f"history has {len(state['history'])} epochs but epoch is {state['epoch']}")
    if not wrong and not all(isinstance(state["rng"].get(k), torch.Tensor) for k in ("torch", "generator")):
        wrong.append("rng lacks the 'torch' and 'generator' states")
    if wrong:
        raise RunFileError(f"the checkpoint {path} is damaged: " + "; ".join(wrong) + ".", advice)
    return state


def check_writable(path: Union[str, Path], what: str = "output") -> None:
    """:class:`RunFileError` unless a file can be written (atomically) at ``path``."""
    path = Path(path)
    if path.is_dir():
        raise RunFileError(f"the {what} {path} is a directory; expected a file path")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise RunFileError(f"cannot write the {what} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunFileError(f"cannot write the {what} {path}: the directory {parent} is not writable")


# ----------------------------------------------------------------------------- one writer per run
def lock_path(out: Union[str, Path]) -> Path:
    """The lock file of the run whose result is ``out``: ``.NAME.lock`` beside it."""
    out = Path(out)
    return out.parent / f".{out.name}.lock"


def _is_busy(err: OSError) -> bool:
    return err.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES)


class RunLockedError(RunFileError):
    """Another process is writing the run (it holds the run's lock)."""


def _busy_error(out: Path, fd: int) -> RunFileError:
    with contextlib.suppress(OSError):
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
        if len(holder) >= 2:
            return RunLockedError(f"{out} is being written by another run (process {holder[0]} on {holder[1]});",
                                "wait for it to finish, stop it, or choose another --out")
    return RunLockedError(f"{out} is being written by another run;", "wait for it to finish, stop it, "
                        "or choose another --out")


def _flock_or_refuse(fd: int, out: Path, how: int) -> None:
    """``flock`` the lock file ``fd`` without waiting; if that fails, close ``fd`` and raise
    (:class:`RunFileError` naming the holder when another process has it)."""
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except OSError as err:
        try:
            if _is_busy(err):
                raise _busy_error(out, fd) from None
            raise
        finally:
            os.close(fd)


def _no_link(path: Path, what: str) -> None:
    """:class:`RunFileError` if ``path`` is a symbolic link: a run writes its own files, never through a link,
    which would truncate or replace whatever the link points at."""
    if path.is_symlink():
        raise RunFileError(f"the {what} {path} is a symbolic link (to {os.readlink(path)}); a run never writes "
                           "through a link.", "Remove the link, or choose another --out.")


def _open_lock(path: Path, out: Path, flags: int) -> int:
    """Open the lock file ``path`` without following a link (``O_NOFOLLOW`` where the system has it)."""
    _no_link(path, "lock file")
    try:
        return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:  # made a link since the check above
            raise RunFileError(f"the lock file {path} of {out} is a symbolic link; a run never writes through "
                               "a link.", "Remove the link, or choose another --out.") from None
        raise


def check_not_running(out: Union[str, Path]) -> None:
    """:class:`RunFileError` if another process holds the run lock of ``out`` (:func:`run_lock`).

    Creates nothing: a missing lock file means that no run is writing ``out``.
    """
    if fcntl is None:
        return
    out = Path(out)
    try:
        fd = _open_lock(lock_path(out), out, os.O_RDONLY)
    except OSError:  # no lock file: no run is writing out
        return
    _flock_or_refuse(fd, out, fcntl.LOCK_SH)
    os.close(fd)


@contextlib.contextmanager
def run_lock(out: Union[str, Path]) -> Iterator[Path]:
    """Hold the lock that makes this process the only writer of the run ``out`` (and its checkpoint).

    Raises :class:`RunFileError` at once if another process holds it. The lock
    file records the holder (process id and host) for that message and is
    removed on exit. Yields the lock file's path.
    """
    out = Path(out)
    path = lock_path(out)
    if fcntl is None:  # pragma: no cover - Windows
        yield path
        return
    while True:
        fd = _open_lock(path, out, os.O_RDWR | os.O_CREAT)
        _flock_or_refuse(fd, out, fcntl.LOCK_EX)
        # the holder before us removes the file as it lets go: lock the file now at the path
        try:
            mine, there = os.fstat(fd), os.stat(path)
            if (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still locked, so that no one locks a file on its way out
        os.close(fd)


# ----------------------------------------------------------------------------- claiming a run's files
def run_paths(out: Union[str, Path], checkpoint_dir: Union[str, Path, None] = None) -> dict[str, Path]:
    """Every file the run whose result is ``out`` writes: result, checkpoint and lock, by role."""
    return {"result file": Path(out), "checkpoint": checkpoint_path(out, checkpoint_dir), "lock file": lock_path(out)}


def check_distinct_runs(outs: Sequence[Union[str, Path]], checkpoint_dir: Union[str, Path, None] = None) -> None:
    """``ValueError`` if two runs would share a file (result, checkpoint or lock), before anything trains.

    ``a.json`` and ``a`` both keep their checkpoint in ``a.ckpt``; ``b.ckpt`` as a result
    file is ``b.json``'s checkpoint: one run would destroy the other's files.
    """
    seen: dict[str, tuple[int, str]] = {}
    for i, out in enumerate(outs):
        for role, path in run_paths(out, checkpoint_dir).items():
            key = os.path.normcase(os.path.abspath(path))
            if key in seen and seen[key][0] != i:
                j, other_role = seen[key]
                what = (f"the same {role} {path}" if role == other_role else
                        f"the same file {path}: it is the {other_role} of {outs[j]} and the {role} of {out}")
                raise ValueError(f"two runs would write {what}; give each run a result file of its own")
            seen[key] = (i, role)


#: How a run treats the files already at its path, one of ``"new"`` (there must be none),
#: ``"fresh"`` (start again; gru_lib's own files are replaced, foreign ones refused),
#: ``"resume"`` (continue from the checkpoint; foreign files refused), ``"overwrite"``
#: (start again and replace whatever is there).
RUN_MODES = ("new", "fresh", "resume", "overwrite")


@dataclass
class RunFiles:
    """What :func:`claim_run_files` found at a run's paths."""

    out: Path
    checkpoint: Path
    mode: str
    result: Optional[dict] = None  # the existing gru_lib result, if any (resume)
    state: Optional[dict] = None  # the existing checkpoint's content (resume)
    replaces: bool = False  # files are there and the run will replace them


def claim_run_files(out: Union[str, Path], mode: str, *, locks: Optional[contextlib.ExitStack] = None,
                    checkpoint_dir: Union[str, Path, None] = None) -> RunFiles:
    """Check, before any training, that a run may use ``out`` and its checkpoint in ``mode`` (:data:`RUN_MODES`).

    Returns what was found (for ``"resume"`` the result and the checkpoint's
    content); raises :class:`RunFileError` saying what stands in the way and what to
    do, including another process that is writing the same run. Without
    ``locks`` nothing is written or deleted here; with an ``ExitStack``, the run's
    lock (:func:`run_lock`) is taken before the files are read and held until
    the stack closes. ``checkpoint_dir``: where the checkpoint is (:func:`checkpoint_path`).
    """
    if mode not in RUN_MODES:
        raise ValueError(f"mode must be one of {list(RUN_MODES)}, got {mode!r}")
    out = Path(out)
    ckpt = checkpoint_path(out, checkpoint_dir)
    check_writable(out, "result file")
    check_writable(ckpt, "checkpoint")
    if locks is None:
        check_not_running(out)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        locks.enter_context(run_lock(out))
    for path, what in ((out, "result file"), (ckpt, "checkpoint")):
        _no_link(path, what)
    files = RunFiles(out, ckpt, mode)
    present = [p for p in (out, ckpt) if p.exists()]
    if not present:
        return files
    if mode == "new":
        raise RunFileError(f"{' and '.join(map(str, present))} exist{'s' if len(present) == 1 else ''}. "
                           "Pass --resume to continue that run, or --overwrite to start it again "
                           "(resume=True / overwrite=True), or choose another --out.")
    files.replaces = True
    if mode == "overwrite":
        return files
    # fresh and resume: never replace what gru_lib did not write
    result_error = None
    if out.exists():
        try:
            files.result = read_run_result(out)
        except RunFileError as e:
            result_error = e
    if result_error is not None:
        raise RunFileError(f"{result_error}. It will not be replaced:", "move it away, choose another --out, or "
                           "pass --overwrite (overwrite=True) to replace it.") from result_error
    if ckpt.exists():
        if mode == "resume":
            files.state = read_checkpoint(ckpt)
        else:
            try:
                read_checkpoint(ckpt)
            except RunFileError as e:
                raise RunFileError(f"{e.fault} (starting afresh would replace it)", e.advice) from e
    return files


# ----------------------------------------------------------------------------- provenance
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: torch.device) -> str:
    """A human-readable name: the CPU model, the CUDA device's name, or ``"Apple MPS"``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    return _cpu_model()


def _git(*args: str) -> Optional[str]:
    root = Path(__file__).resolve().parents[1]
    try:
        r = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout if r.returncode == 0 else None


#: The commit a copy of the tree was taken from (7 to 40 hexadecimal digits), for a
#: copy sent to another machine: set, it is recorded instead of what git finds there.
SOURCE_COMMIT_ENV = "GRU_LIB_GIT_COMMIT"


def _source_revision() -> tuple[Optional[str], Optional[bool]]:
    """``(commit, dirty)`` of the code this package was loaded from, read now.

    ``$GRU_LIB_GIT_COMMIT``, when it is a commit hash, names the commit; whether the
    files differ from it is then unknown (``None``). Otherwise git is asked: ``HEAD`` of
    the checkout, and whether files under ``gru_lib/`` differ from it; ``(None, None)``
    outside a git checkout.
    """
    given = os.environ.get(SOURCE_COMMIT_ENV, "").strip().lower()
    if re.fullmatch(r"[0-9a-f]{7,40}", given):
        return given, None
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    # "dirty": the package's own files differ from that commit (edited or new files)
    status = _git("status", "--porcelain", "--", "gru_lib")
    return commit.strip(), (bool(status.strip()) if status is not None else None)


# Read once, as the package's code is loaded: a grid that trains for hours records the
# commit of the code it runs, not wherever the checkout's HEAD has moved since.
_SOURCE_REVISION = _source_revision()


def provenance(device: torch.device, command: Optional[list[str]] = None) -> dict:
    """Where a result came from: versions, commit, device, threads, date, command (no host name).

    ``git_commit`` is the commit (``git rev-parse HEAD``) of the checkout ``gru_lib`` was
    imported from, read when the package was imported, so that a long-running process
    records the code it runs even after the checkout moves on; ``$GRU_LIB_GIT_COMMIT``
    overrides it, and it is ``None`` outside a git checkout (an installed wheel). ``git_dirty``
    says whether files under ``gru_lib/`` differed from that commit at import (``None``
    when unknown).
    """
    from . import __version__

    commit, dirty = _SOURCE_REVISION
    return {
        "gru_lib_version": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "torch_version": str(torch.__version__),
        "python_version": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": [_portable_arg(a) for a in (command if command is not None else sys.argv)],
    }


def _portable_arg(arg: str) -> str:
    """A command-line argument with an absolute path in it made :func:`portable_path`."""
    arg = str(arg)
    if "=" in arg and arg.startswith("-"):
        flag, value = arg.split("=", 1)
        return f"{flag}={_portable_arg(value)}"
    return portable_path(arg) if os.path.isabs(arg) else arg

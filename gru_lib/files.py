"""The files a run leaves: result JSON, checkpoint, and where they came from.

A run with ``out=PATH.json`` writes its result there and a checkpoint to
``PATH.ckpt`` after every epoch, each atomically (a temporary file in the same
directory, flushed, then ``os.replace``), so that a reader or a killed run sees
the old file or the new one, never a torn one. :func:`provenance` records what
produced a result: versions, commit, device, threads, date and command.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Union

import torch

__all__ = [
    "CHECKPOINT_FORMAT",
    "RESULT_FORMAT",
    "atomic_write_bytes",
    "atomic_write_json",
    "checkpoint_path",
    "device_name",
    "load_checkpoint",
    "portable_path",
    "provenance",
    "read_result",
]

#: Identifies the layout of result JSON files (and of the checkpoints beside them).
RESULT_FORMAT = "gru_lib.result/1"
CHECKPOINT_FORMAT = "gru_lib.checkpoint/1"


def atomic_write_bytes(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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


def checkpoint_path(out: Union[str, Path]) -> Path:
    """The checkpoint beside a result file: ``PATH.json`` → ``PATH.ckpt``."""
    out = Path(out)
    return out.with_suffix(".ckpt") if out.suffix == ".json" else out.with_name(out.name + ".ckpt")


def read_result(path: Union[str, Path]) -> Optional[dict]:
    """The JSON at ``path``, or ``None`` if it is missing or not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_checkpoint(path: Union[str, Path]) -> dict:
    """A checkpoint's content (tensors on the CPU); ``ValueError`` naming the file if it cannot be read."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a torn or foreign file: say which and why
        raise ValueError(f"cannot read checkpoint {path}: {e}") from e


def portable_path(path: Union[str, Path]) -> str:
    """``path`` as a result file may record it without naming the machine's directories.

    Absolute paths beside this checkout (the repository and its parent directory,
    e.g. ``../shared/data``) become relative to the repository; paths in the home
    directory start with ``~``; anything else is kept.
    """
    p = Path(path)
    if not p.is_absolute():
        return str(path)
    root = Path(__file__).resolve().parents[1]
    for base, prefix in ((root.parent, None), (Path.home(), "~")):
        try:
            rel = p.resolve().relative_to(base.resolve())
        except (ValueError, OSError, RuntimeError):
            continue
        return str(Path(os.path.relpath(p.resolve(), root))) if prefix is None else str(Path(prefix) / rel)
    return str(path)


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


def provenance(device: torch.device, command: Optional[list[str]] = None) -> dict:
    """Where a result came from: versions, commit, device, threads, date, command (no host name).

    ``git_commit`` is ``git rev-parse HEAD`` of the checkout ``gru_lib`` was imported
    from (``None`` outside a git checkout, e.g. an installed wheel); ``git_dirty`` says
    whether files under ``gru_lib/`` differ from that commit.
    """
    from . import __version__

    commit = _git("rev-parse", "HEAD")
    # "dirty": the package's own files differ from that commit (edited or new files)
    status = _git("status", "--porcelain", "--", "gru_lib") if commit else None
    return {
        "gru_lib_version": __version__,
        "git_commit": commit.strip() if commit else None,
        "git_dirty": (bool(status.strip()) if status is not None else None),
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

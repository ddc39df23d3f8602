"""A grid's jobs as Ray tasks: the paper's grid on several machines.

``python -m gru_lib grid ... --ray [ADDRESS]`` (or ``run_grid(..., ray=ADDRESS)``)
plans the grid exactly as the local grid does (:func:`gru_lib.experiments.plan_grid`:
the same jobs, each a stack of models, finished runs skipped) and runs each job as one
Ray task through the same :func:`gru_lib.experiments.run_grid_job`, so a result is the
one the local grid would write (the same training code, seeds and data).

ADDRESS
    ``"local"`` (``--ray`` alone): start a Ray instance on this machine for the grid
    and stop it afterwards. ``"auto"``: the cluster this machine belongs to (started
    with ``ray start``). ``"HOST:6379"``: a cluster's head node. ``"ray://HOST:10001"``:
    the Ray Client server of a remote cluster. If this process is already connected
    to Ray (``ray.init`` in a notebook), that connection is used and left open. An
    address that does not answer within :data:`CONNECT_TIMEOUT_S` seconds is refused
    with what to check (Ray alone would retry it for minutes); for ``"auto"``, that is
    the address Ray would use (``RAY_ADDRESS``, or the address file that the last
    ``ray start`` wrote). Before this process connects, a separate Python process
    connects as Ray would and is given up after :data:`RAY_ANSWER_TIMEOUT_S` seconds,
    so a port that accepts connections but is not Ray is refused too. A Ray that the
    grid started is shut down however the grid ends, a second Ctrl-C included.

Resources
    Each task asks for ``threads`` CPUs (``--threads``, default 1) and trains with that
    many torch threads; with ``--device cuda``, or ``auto`` on a cluster that has GPUs,
    each task also asks for one GPU (and a stack has no size cap, as on a local GPU).

The data: loaded once, by the driver, and put in the object store once
    The driver reads and checks the data files with the same code as the local grid
    and puts the tensors in Ray's object store (``ray.put``); every task receives
    that one object, which Ray copies to each node once. So the worker nodes need
    neither the data files nor internet access, and every task trains on exactly the
    tensors a local grid would use. (Loading on the workers instead would need the
    data on every node and read it once per task.)

The files: written by the driver, as each task finishes
    A task trains in a temporary directory on its node, starting from the run's
    existing result and checkpoint (sent with the task, so partial runs resume and
    ``--epochs`` can grow a finished grid), and returns the files it wrote; the driver
    writes them into the output directory, atomically, as soon as that task finishes.
    So the output directory needs to exist only where the command runs: no shared
    filesystem, one writer per file, and a task that Ray retries on another node
    starts again from the same files. The price: a task's epochs reach the output
    directory when the task ends, not after every epoch; an interrupted grid loses the
    work of its unfinished tasks (rerun it: finished results are skipped). To keep
    long runs safe, grow them in steps (``--epochs 25``, then ``50``, ...).

Every node needs ``gru_lib`` (the same version as the driver's: the tasks import it)
and Ray: ``pip install -e ".[cluster]"``. Importing :mod:`gru_lib` never imports Ray;
this module imports it only when a grid runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, Sequence, Union

__all__ = ["INSTALL_HINT", "ClusterError", "run_grid_ray"]

#: What to install for ``--ray``.
INSTALL_HINT = 'pip install -e ".[cluster]"'


class ClusterError(RuntimeError):
    """Ray is missing, cannot be reached, or cannot give the tasks what they ask for."""


def _import_ray():
    try:
        import ray
    except ImportError as e:
        raise ClusterError(f"running a grid on Ray needs the ray package, which is not installed ({e}); "
                           f"install it with: {INSTALL_HINT}  (or pip install \"ray[client]>=2.9\")") from None
    return ray


#: How long to wait for a cluster's head node to answer before giving up on it.
CONNECT_TIMEOUT_S = 10.0

_ADDRESS_HELP = ("A Ray address is 'local', 'auto', HOST:PORT of a head node started with `ray start --head` (port 6379 "
                 "unless --port was given), or ray://HOST:10001 (the Ray Client server)")


#: How long a cluster may take to accept a driver, once Ray is imported, before it is refused.
RAY_ANSWER_TIMEOUT_S = 30.0

#: How long a fresh Python may take to import Ray for that check.
RAY_IMPORT_TIMEOUT_S = 120.0


def _described(address: str, source: str) -> str:
    return repr(address) + (f" (from {source})" if source else "")


def _probe(address: str, timeout: float, source: str = "") -> None:
    """:class:`ClusterError` unless something listens at a ``HOST:PORT`` or ``ray://HOST:PORT`` address.

    Ray itself retries an address that does not answer for minutes without a word;
    one TCP connection, bounded by ``timeout``, tells at once a wrong host or port.
    ``source`` says where the address came from, for the message.
    """
    import socket

    where = _described(address, source)
    hostport = address.split("://", 1)[1] if address.startswith("ray://") else address
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"cannot use the Ray address {where}: no HOST:PORT in it. {_ADDRESS_HELP}.")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except socket.gaierror as e:
        raise ClusterError(f"cannot reach the Ray cluster at {where}: the host {host!r} is unknown "
                           f"({e.strerror or e}). Check the address. {_ADDRESS_HELP}.") from None
    except OSError as e:
        why = "no answer within {:g} s".format(timeout) if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise ClusterError(f"cannot reach the Ray cluster at {where} ({why}). Check that its head node runs "
                           "(`ray status` there), that the host and port are right, and that no firewall is in "
                           f"the way. {_ADDRESS_HELP}.") from None


def _auto_address() -> tuple[Optional[str], str]:
    """The address that ``ray.init(address="auto")`` would use, and where it comes from.

    Ray's own lookup, in its order: ``RAY_ADDRESS``; the address file that the last
    ``ray start`` wrote in Ray's temporary directory (which outlives a cluster that
    was not stopped with ``ray stop``); a Ray running on this machine.
    ``(None, "")`` where this Ray version keeps that lookup elsewhere.
    """
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"], "the RAY_ADDRESS environment variable"
    try:
        from ray._common.utils import get_ray_address_file
        from ray._private.services import get_ray_address_from_environment
    except ImportError:
        return None, ""
    address_file = get_ray_address_file(None)
    try:
        address = get_ray_address_from_environment("auto", None)
    except ConnectionError:
        raise ClusterError("--ray auto found no Ray on this machine: no RAY_ADDRESS, no address file "
                           f"({address_file}) and no running Ray. Start one with `ray start --head`, or give "
                           f"the cluster's address. {_ADDRESS_HELP}.") from None
    with contextlib.suppress(OSError):
        with open(address_file) as f:
            if f.read().strip() == address:
                return address, (f"Ray's address file {address_file}, which the last `ray start` wrote: if that "
                                 "cluster has stopped, `ray stop` removes the file")
    return address, "a Ray running on this machine"


#: What the separate process runs: import Ray, say so, connect as this process would.
_ANSWER_CHECK = ("import sys, ray; print('imported', flush=True); "
                 "ray.init(address=sys.argv[1], log_to_driver=False); ray.shutdown()")


def _check_answers(address: str, where: str) -> None:
    """:class:`ClusterError` unless a Ray at ``address`` accepts a driver within :data:`RAY_ANSWER_TIMEOUT_S`.

    ``ray.init`` has no timeout of its own for this: against a port that accepts
    connections but is not Ray it retries for minutes, and a ``ray.init`` cannot be
    abandoned halfway. So a separate Python process connects first, and is killed
    when it takes too long; it leaves nothing behind in this one. ``where`` names
    the cluster in the messages.
    """
    import select
    import signal
    import subprocess
    import tempfile

    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, "-c", _ANSWER_CHECK, address], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        try:
            if not select.select([proc.stdout], [], [], RAY_IMPORT_TIMEOUT_S)[0]:
                raise ClusterError(f"checking the Ray cluster at {where}: importing Ray took more than "
                                   f"{RAY_IMPORT_TIMEOUT_S:g} s in a new Python process. {INSTALL_HINT}")
            proc.stdout.readline()
            try:
                code = proc.wait(RAY_ANSWER_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise ClusterError(
                    f"cannot connect to the Ray cluster at {where}: something accepts connections there, but no "
                    f"Ray answered within {RAY_ANSWER_TIMEOUT_S:g} s. Check that the port is the head node's "
                    "(`ray start --head` prints it; 6379 unless --port was given; ray://HOST:10001 for the Ray "
                    f"Client server) and that the head node runs the same Ray version (`ray --version`). "
                    f"{_ADDRESS_HELP}.") from None
        finally:  # answered, refused, timed out or interrupted: the check's process ends here
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            proc.stdout.close()
        if code:
            log.seek(0)
            lines = [line.strip() for line in log.read().splitlines() if line.strip()]
            reason = lines[-1] if lines else f"exit status {code}"
            raise ClusterError(f"could not connect to the Ray cluster at {where}: {reason}. {_ADDRESS_HELP}.")


def _connect(ray, address: str) -> bool:
    """Connect to (or start) Ray; return whether this call started the connection."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"address": address}
    if address == "local":
        kwargs["include_dashboard"] = False
    else:
        target, source = _auto_address() if address == "auto" else (address, "")
        if target is not None:
            _probe(target, CONNECT_TIMEOUT_S, source)
        _check_answers(address, _described(target or address, source))
    try:
        ray.init(**kwargs)
    except (ConnectionError, ValueError, RuntimeError) as e:
        reason = str(e).strip().rstrip(".")
        raise ClusterError(f"could not connect to the Ray cluster at {address!r}: {reason}. {_ADDRESS_HELP}.") from e
    except BaseException:  # interrupted while Ray started: stop what it started
        _shutdown(ray)
        raise
    return True


def _shutdown(ray) -> None:
    """``ray.shutdown()`` with Ctrl-C held back until it is done: a second Ctrl-C during the
    shutdown would leave Ray's processes (its agents, its workers) running."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        ray.shutdown()
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        ray.shutdown()
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        raise KeyboardInterrupt


def _alive_nodes(ray) -> list[dict]:
    return [n for n in ray.nodes() if n.get("Alive")]


def _resources(ray, device: Any, threads: int) -> tuple[int, int]:
    """``(num_cpus, num_gpus)`` of each task, checked against what the cluster's nodes have."""
    nodes = _alive_nodes(ray)
    most_cpus = max((n["Resources"].get("CPU", 0) for n in nodes), default=0)
    gpus = sum(n["Resources"].get("GPU", 0) for n in nodes)
    spec = "auto" if device is None else str(device)
    if spec.startswith("cuda:"):
        raise ClusterError(f"--device {spec}: on Ray each task gets one GPU of its node, chosen by Ray; "
                           "expected --device cuda (or auto)")
    num_gpus = 1 if spec == "cuda" or (spec == "auto" and gpus > 0) else 0
    if num_gpus and gpus == 0:
        raise ClusterError("--device cuda asks for one GPU per task, but the Ray cluster has no GPU "
                           f"(nodes: {len(nodes)}, CPUs on the largest: {most_cpus:g})")
    if threads > most_cpus:
        raise ClusterError(f"each task asks for {threads} CPUs (--threads), but the largest node of the Ray "
                           f"cluster has {most_cpus:g}: expected --threads {max(int(most_cpus), 1)} or fewer")
    return threads, num_gpus


def _job_files(paths: Sequence[Union[str, Path]], checkpoint_dir: Optional[Path] = None) -> dict[str, bytes]:
    """The existing result and checkpoint files of a job's runs, by file name."""
    from .files import checkpoint_path

    files = {}
    for p in map(Path, paths):
        for f in (p, checkpoint_path(p, checkpoint_dir)):
            if f.is_file():
                files[f.name] = f.read_bytes()
    return files


def _train_job(job, data, files: dict[str, bytes], threads: int, progress: bool, command: Optional[list[str]],
               cuda_graph: Optional[bool]) -> tuple[list[dict], dict[str, bytes]]:
    """The Ray task: train one job in a temporary directory; return its statuses and the files it changed."""
    import tempfile

    import torch

    from .experiments import run_grid_job
    from .files import checkpoint_path

    torch.set_num_threads(threads)  # what the task asked Ray for (a run's own --threads sets it again)
    with tempfile.TemporaryDirectory(prefix="gru_lib-job-") as tmp:
        local = [Path(tmp) / Path(p).name for p in job.paths]
        for name, content in files.items():
            (Path(tmp) / name).write_bytes(content)
        statuses = run_grid_job(replace(job, paths=local, checkpoint_dir=None), data, progress=progress,
                                command=command, cuda_graph=cuda_graph)
        changed = {}
        for p in local:
            for f in (checkpoint_path(p), p):  # the checkpoint first, as train writes them
                if f.is_file() and files.get(f.name) != (content := f.read_bytes()):
                    changed[f.name] = content
    return statuses, changed


def run_grid_ray(
    address: str,
    task: str,
    models: Sequence[str],
    activations: Sequence[str],
    lrs: Sequence[float],
    seeds: Sequence[int],
    out_dir: Union[str, Path],
    *,
    preset: str,
    data_dir: Union[str, Path, None],
    download: bool,
    progress: bool,
    command: Optional[list[str]],
    stack: Union[int, str, None],
    cuda_graph: Optional[bool],
    checkpoint_dir: Union[str, Path, None] = None,
    restart_lost: bool = False,
    **overrides: Any,
) -> list[dict]:
    """:func:`gru_lib.experiments.run_grid` with one Ray task per job (see the module docstring).

    Returns the same status dicts. A task that fails does not stop the others: their
    results are written first, then the first failure is raised again.
    """
    from .experiments import CPU_STACK, load_task_data, plan_grid
    from .files import atomic_write_bytes

    ray = _import_ray()
    started = _connect(ray, address)
    pending: dict = {}
    try:
        threads = overrides.get("threads") or 1
        num_cpus, num_gpus = _resources(ray, overrides.get("device"), threads)
        if stack == "auto":  # decided by the tasks' device, not by the driver's
            stack = None if num_gpus else CPU_STACK[task]
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        ckpt_dir = out_dir if checkpoint_dir is None else Path(checkpoint_dir)
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        statuses, jobs = plan_grid(task, models, activations, lrs, seeds, out_dir, preset=preset, stack=stack,
                                   checkpoint_dir=checkpoint_dir, restart_lost=restart_lost, **overrides)

        def say(text: str) -> None:
            if progress:
                print(text, file=sys.stderr, flush=True)

        results: list[dict] = []
        if jobs:
            cfg = jobs[0].configs[0]
            data = load_task_data(task, data_dir=data_dir, download=download, train_limit=cfg.train_limit,
                                  test_limit=cfg.test_limit)
            data_ref = ray.put(data)
            remote = ray.remote(_train_job).options(num_cpus=num_cpus, num_gpus=num_gpus, name="gru_lib.grid_job")
            cpus = ray.cluster_resources().get("CPU", 0)
            say(f"[ray] {len(jobs)} task(s) of {num_cpus} CPU{'' if num_cpus == 1 else 's'}"
                + (f" and {num_gpus} GPU" if num_gpus else "")
                + f" on {len(_alive_nodes(ray))} node(s) with {cpus:g} CPUs")
            for job in jobs:
                ref = remote.remote(job, data_ref, _job_files(job.paths, job.checkpoint_dir), threads, progress,
                                    command, cuda_graph)
                pending[ref] = job
        failures = []
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ref)
            n = len(jobs) - len(pending)
            try:
                job_statuses, files = ray.get(ref)
            except Exception as e:  # the task raised, or its worker or node died after Ray's retries
                failures.append(e)
                say(f"[{n}/{len(jobs)}] failed: {job.describe()}: {type(e).__name__}: {str(e).splitlines()[0]}")
                continue
            for name, content in files.items():
                atomic_write_bytes((ckpt_dir if name.endswith(".ckpt") else out_dir) / name, content)
            results += job_statuses
            say(f"[{n}/{len(jobs)}] " + ", ".join(f"{Path(s['path']).name} {s['status']}" for s in job_statuses))
        if failures:
            raise failures[0]
    finally:
        try:
            for ref in pending:  # interrupted: the unfinished tasks would only be lost work
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
        finally:  # however the cancelling ends (a second Ctrl-C), the Ray this call started stops
            if started:
                _shutdown(ray)
    by_path = {r["path"]: r for r in results}
    return [by_path[s["path"]] if "status" not in s else s for s in statuses]

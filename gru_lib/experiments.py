"""The paper's experiments: named tasks, presets, grids, tables and learning curves.

Tasks (Dey & Salem 2017, §4 and Table 0)
    ``"mnist-pixel"``: MNIST as 784 steps of one pixel, 100 hidden units, 10 classes.
    ``"mnist-row"``: MNIST as 28 steps of one 28-pixel row, 100 hidden units.
    ``"imdb"``: IMDB reviews as the last 80 word indices (vocabulary of the 20000
    most frequent words), a 128-dimensional embedding, 128 hidden units, 2 classes.
    Pixels are scaled to [0, 1]. See :mod:`gru_lib.data` for how the data is read.

Presets
    ``"paper"``: Table 0 — all the data, 100 epochs, batch 32 (hours per run on a
    CPU, pixel-wise about 15 hours; meant for a GPU). ``"quick"``: the same model,
    optimiser and rules on a fixed random subset for a few epochs, so that one run
    takes about a minute on two CPU cores (:data:`PRESETS`). Quick results are
    *not* the paper's protocol and must not be read as a replication of its tables.
    Explicit settings override a preset's.

    Subsets are drawn with a fixed seed (:data:`SUBSET_SEED`), independent of the
    run's seed, so every run of a grid sees the same examples.

Results
    :func:`run_experiment` trains one model and writes a result JSON (see
    :func:`gru_lib.train.train`); :func:`run_grid` runs many, skipping finished runs
    and resuming partial ones; :func:`~gru_lib.report.load_results`, :func:`~gru_lib.report.summarize` and
    :func:`~gru_lib.report.results_table` aggregate result files into the paper's table shapes with
    the paper's numbers (:mod:`gru_lib.paper`) alongside; :func:`~gru_lib.plots.plot_curves` draws
    learning curves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch

from . import paper
from .files import RunFileError, RunLockedError, check_distinct_runs, check_writable, portable_path, read_run_result
from .train import (
    ResumeError,
    SequenceData,
    TrainConfig,
    check_runtime,
    checkpoint_path,
    config_differences,
    preflight,
    train,
    train_stack,
)

from .plots import plot_curves
from .report import EXPERIMENT_SETTINGS, load_results, lr_text, results_table, summarize
from .tasks import TASKS, Task
from .tasks import get_task as _task

# The tables and curves of results live in gru_lib.report and gru_lib.plots, the
# tasks in gru_lib.tasks; their names stay importable from here.
_ELSEWHERE = (EXPERIMENT_SETTINGS, Task, load_results, plot_curves, results_table, summarize)

__all__ = [
    "CPU_STACK",
    "PAPER_GRIDS",
    "PAPER_VARIANTS",
    "PRESETS",
    "SUBSET_SEED",
    "GridJob",
    "auto_stack_size",
    "check_task_data",
    "plan_grid",
    "run_grid_job",
    "load_task_data",
    "make_config",
    "result_filename",
    "run_experiment",
    "run_grid",
]

#: Seed of the fixed random subsets drawn by ``train_limit`` / ``test_limit``.
SUBSET_SEED = 2017


#: The settings of each preset and task, ``PRESETS[preset][task]``, with ``epochs``,
#: ``batch_size``, ``train_limit`` and ``test_limit`` (``None``: all the data). ``"paper"`` is the
#: paper's protocol (Table 0): every example, the paper's epochs and batch size.
#: ``"quick"`` keeps the batch size and trains for a few epochs on a fixed random
#: subset of each split (:data:`SUBSET_SEED`), sized so that a run takes at most about two
#: minutes on two CPU cores (see ``results/README.md``). Explicit settings override a
#: preset's.
#:
#: :meta hide-value:
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {t: {"epochs": 100, "batch_size": 32, "train_limit": None, "test_limit": None} for t in TASKS},
    "quick": {
        "mnist-row": {"epochs": 3, "batch_size": 32, "train_limit": 20000, "test_limit": 5000},
        "imdb": {"epochs": 3, "batch_size": 32, "train_limit": 10000, "test_limit": 5000},
        "mnist-pixel": {"epochs": 3, "batch_size": 32, "train_limit": 8000, "test_limit": 1000},
    },
}



# ----------------------------------------------------------------------------- data
def _mnist_arrays(split: str, data_dir, download: bool):
    """``(images uint8 (N, 28, 28), labels int64 (N,))`` of one MNIST split."""
    from .data import load_mnist

    return load_mnist(split, data_dir=data_dir, download=download)


def _mnist_to_sequences(images: torch.Tensor, mode: str) -> torch.Tensor:
    from .data import mnist_sequences

    return torch.as_tensor(mnist_sequences(images, mode=mode), dtype=torch.float32)


def _imdb_arrays(data_dir, download: bool, num_words: int, maxlen: int) -> dict:
    """The data package's IMDB dict (``x_train``, ``y_train``, ``x_test``, ``y_test``, …)."""
    from .data import load_imdb

    return load_imdb(data_dir=data_dir, num_words=num_words, maxlen=maxlen, download=download)


def _subset(n: int, limit: Optional[int], salt: int) -> Optional[torch.Tensor]:
    if limit is None or limit >= n:
        return None
    if limit < 1:
        raise ValueError(f"a data limit must be a positive int, got {limit}")
    gen = torch.Generator().manual_seed(SUBSET_SEED + salt)
    return torch.randperm(n, generator=gen)[:limit]


def load_task_data(
    task: str,
    *,
    data_dir: Union[str, Path, None] = None,
    download: bool = True,
    train_limit: Optional[int] = None,
    test_limit: Optional[int] = None,
    num_words: int = 20000,
    maxlen: int = 80,
) -> SequenceData:
    """Load a task's training and test sets as tensors, optionally a fixed random subset of each.

    Raises the data package's ``DataNotFoundError`` (files missing, no download)
    and ``DataIntegrityError`` (checksum mismatch, corrupt file).
    """
    t = _task(task)
    info: dict[str, Any] = {"task": t.name, "dataset": t.dataset, "subset_seed": SUBSET_SEED,
                            "train_limit": train_limit, "test_limit": test_limit}
    if t.dataset == "mnist":
        from .data import resolve_data_dir

        info["data_dir"] = portable_path(resolve_data_dir(data_dir))
        mode = "pixel" if t.name == "mnist-pixel" else "row"
        splits = {}
        for salt, split, limit in ((0, "train", train_limit), (1, "test", test_limit)):
            images, labels = _mnist_arrays(split, data_dir, download)
            images, labels = torch.as_tensor(images), torch.as_tensor(labels, dtype=torch.int64)
            idx = _subset(images.shape[0], limit, salt)
            if idx is not None:
                images, labels = images[idx], labels[idx]
            splits[split] = (_mnist_to_sequences(images, mode), labels)
        return SequenceData(*splits["train"], *splits["test"], num_classes=10, info=info)

    raw = _imdb_arrays(data_dir, download, num_words, maxlen)
    out = {}
    for salt, split, limit in ((0, "train", train_limit), (1, "test", test_limit)):
        x = torch.as_tensor(raw["x_" + split], dtype=torch.int64)
        y = torch.as_tensor(raw["y_" + split], dtype=torch.int64)
        idx = _subset(x.shape[0], limit, salt)
        out[split] = (x[idx], y[idx]) if idx is not None else (x, y)
    top = max(int(out["train"][0].max()), int(out["test"][0].max()))
    if top >= num_words:
        raise ValueError(f"IMDB word index {top} is outside the vocabulary of {num_words} words")
    info |= {"num_words": num_words, "maxlen": maxlen}
    info |= {k: raw[k] for k in ("source", "source_sha256", "index_from") if k in raw}
    if "source" in info:
        info["source"] = portable_path(info["source"])
    return SequenceData(*out["train"], *out["test"], num_classes=2, num_embeddings=num_words, info=info)


def check_task_data(task: str, data: SequenceData) -> None:
    """``ValueError`` unless ``data`` has the shape of ``task``'s data (``gru_lib.tasks.TASKS``): token
    indices for IMDB, ``(N, T, m)`` pixels with the task's steps and features for MNIST, and its classes.
    A result is labelled with its task, so it must be that task's data."""
    t = _task(task)
    if not isinstance(data, SequenceData):
        raise TypeError(f"data must be a SequenceData, got {type(data).__name__}")
    x = data.x_train
    if t.input_size is None:
        fits = data.tokens
        expected = "(N, T) token indices with num_embeddings"
    else:
        fits = not data.tokens and tuple(x.shape[1:]) == (t.steps, t.input_size)
        expected = f"(N, {t.steps}, {t.input_size}) floats"
    if not fits or data.num_classes != t.num_classes:
        raise ValueError(f"data does not fit task {task!r}: expected x of {expected} and {t.num_classes} classes, got "
                         f"{tuple(x.shape)} {x.dtype}{' tokens' if data.tokens else ''} and {data.num_classes} "
                         "classes")


# ----------------------------------------------------------------------------- runs
def make_config(task: str, model: str, *, activation: str = "tanh", lr: float = 1e-3, seed: int = 0,
                preset: str = "paper", **overrides: Any) -> TrainConfig:
    """A :class:`~gru_lib.config.TrainConfig`: the task's model size, then the preset, then ``overrides``.

    >>> make_config("mnist-row", "gru2", preset="quick").epochs
    3
    >>> make_config("imdb", "gru0", preset="quick", epochs=5).hidden_size
    128
    """
    t = _task(task)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {list(PRESETS)}")
    settings: dict[str, Any] = {"hidden_size": t.hidden_size}
    settings |= PRESETS[preset][task]
    fields = set(TrainConfig.__dataclass_fields__) - {"task", "model", "activation", "lr", "seed"}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(f"unknown setting(s) {unknown}; expected TrainConfig fields {sorted(fields)}")
    settings |= {k: v for k, v in overrides.items()}
    return TrainConfig(task=task, model=model, activation=activation, lr=lr, seed=seed, **settings)


def run_experiment(
    task: str,
    model: str,
    *,
    activation: str = "tanh",
    lr: float = 1e-3,
    seed: int = 0,
    preset: str = "paper",
    out: Union[str, Path, None] = None,
    resume: bool = False,
    overwrite: bool = False,
    data_dir: Union[str, Path, None] = None,
    download: bool = True,
    progress: bool = True,
    data: Optional[SequenceData] = None,
    command: Optional[list[str]] = None,
    cuda_graph: Optional[bool] = None,
    checkpoint_dir: Union[str, Path, None] = None,
    **overrides: Any,
) -> dict:
    """Train ``model`` on ``task`` and return the result (also written to ``out`` if given).

    ``overrides`` are :class:`~gru_lib.config.TrainConfig` fields (``epochs``,
    ``train_limit``, ``dropout_at``, ``lr_schedule``, ``init``, ``device``, …).
    ``data`` skips loading (it must match the task and the limits). ``resume`` and
    ``overwrite`` and ``checkpoint_dir`` as in :func:`gru_lib.train.train`. The settings, the
    device and the files at ``out`` are checked before the data is loaded.

    For example, ``run_experiment("mnist-row", "gru2", preset="quick")`` trains GRU2
    on row-wise MNIST at the quick preset (it reads or downloads the data), and
    ``result["history"][-1]["test_acc"]`` is its test accuracy after the last epoch.
    """
    config = make_config(task, model, activation=activation, lr=lr, seed=seed, preset=preset, **overrides)
    if data is not None:
        check_task_data(task, data)
    # everything that can fail without the data fails before it is loaded
    preflight([config], [out], resume=resume, overwrite=overwrite, checkpoint_dir=checkpoint_dir)
    if data is None:
        data = load_task_data(task, data_dir=data_dir, download=download, train_limit=config.train_limit,
                              test_limit=config.test_limit)
    return train(config, data, out=out, resume=resume, overwrite=overwrite, progress=progress, command=command,
                 extra={"preset": preset}, cuda_graph=cuda_graph, checkpoint_dir=checkpoint_dir)


def result_filename(task: str, model: str, activation: str, lr: float, seed: int) -> str:
    """``{task}_{model}_{activation}_lr{lr}_seed{seed}.json``, e.g. ``imdb_gru1_tanh_lr0.001_seed0.json``.

    The rate is written by :func:`~gru_lib.report.lr_text`, so that two rates never share a file name:

    >>> result_filename("imdb", "gru0", "tanh", 0.0010000001, 0)
    'imdb_gru0_tanh_lr0.0010000001_seed0.json'
    """
    return f"{task}_{model}_{activation}_lr{lr_text(lr)}_seed{seed}.json"


def _check_grid_lists(**lists: Sequence) -> None:
    """``ValueError`` naming a value that a grid's list holds twice: it would be one run, counted twice."""
    for name, values in lists.items():
        seen = []
        for v in values:
            if v in seen:
                raise ValueError(f"the grid's {name} list {v!r} more than once; each combination is one run, "
                                 "so give each value once")
            seen.append(v)


#: The paper's grid as grids of this package, Tables 1–3 (``gru_lib.paper.TABLES``)
#: and the row-wise MNIST table the paper did not print (GRU0–GRU3 × tanh, ReLU ×
#: η ∈ {1e-3, 1e-4}), each ``task``, ``activations``, ``lrs``, in the order of their
#: cost per model (row-wise first, pixel-wise last). Each grid is a dict with its
#: ``name`` (``"Table 1"`` …), ``task``, ``activations`` and ``lrs``.
#:
#: :meta hide-value:
PAPER_GRIDS: tuple[dict[str, Any], ...] = (
    {"name": "row-wise MNIST", "task": "mnist-row", "activations": ("tanh", "relu"), "lrs": (1e-3, 1e-4)},
    *({"name": f"Table {n}", "task": t.task, "activations": (t.activation,), "lrs": tuple(t.lrs)}
      for n, t in sorted(paper.TABLES.items(), key=lambda item: (item[1].task != "imdb", item[0]))),
)
PAPER_VARIANTS = ("gru0", "gru1", "gru2", "gru3")

#: Largest stack :func:`run_grid` trains by default on the CPU, per task. On two
#: cores ``benchmarks/stack.py`` measured a stack of 8 faster per model than the
#: same 8 models one at a time for every task (row-wise MNIST 1.85×, pixel-wise
#: MNIST 1.51×, IMDB 1.18×; ``results/benchmarks/stack-cpu.json``). On a GPU the
#: whole group is one stack.
CPU_STACK = {"mnist-row": 8, "mnist-pixel": 8, "imdb": 8}


def auto_stack_size(task: str, device: Union[str, torch.device, None] = "auto") -> Optional[int]:
    """The default stack cap of :func:`run_grid`: ``None`` (no cap) on a GPU, else :data:`CPU_STACK`."""
    from .train import resolve_device

    _task(task)
    return None if resolve_device(device).type == "cuda" else CPU_STACK[task]


@dataclass
class GridJob:
    """Runs of a grid that train together as one stack: their configurations, result
    files, and the status dicts that :func:`run_grid_job` completes."""

    configs: list
    paths: list
    statuses: list
    preset: str
    checkpoint_dir: Optional[Path] = None  # None: each checkpoint beside its result
    restart: bool = False  # partial results whose checkpoints are lost, trained again from epoch 1

    def describe(self) -> str:
        if self.restart:
            return ", ".join(f"restarting {Path(p).name} ({_epochs(s['lost'])} lost with its checkpoint)"
                             for p, s in zip(self.paths, self.statuses))
        return ", ".join(("resuming " if s["resumed"] else "") + Path(p).name
                         for p, s in zip(self.paths, self.statuses))


def plan_grid(
    task: str,
    models: Sequence[str],
    activations: Sequence[str] = ("tanh",),
    lrs: Sequence[float] = (1e-3,),
    seeds: Sequence[int] = (0,),
    out_dir: Union[str, Path] = "results",
    *,
    preset: str = "quick",
    stack: Union[int, str, None] = "auto",
    checkpoint_dir: Union[str, Path, None] = None,
    restart_lost: bool = False,
    **overrides: Any,
) -> tuple[list[dict], list[GridJob]]:
    """What :func:`run_grid` would do: one status dict per combination, in the grid's
    order (without a ``"status"`` for a run still to train), and the jobs that train those.

    Runs that share the model and activation go into one job, in chunks of at most
    ``stack`` runs (``"auto"``: :func:`auto_stack_size`; ``None``: no cap). A partial
    result whose checkpoint is missing is a ``"mismatch"``, or with ``restart_lost``
    a run to train again from epoch 1, in a job of its own kind (``restart=True``).
    """
    if stack == "auto":
        stack = auto_stack_size(task, overrides.get("device", "auto"))
    elif stack is not None and (isinstance(stack, bool) or not isinstance(stack, int) or stack < 1):
        raise ValueError(f"stack must be a positive int, 'auto' or None, got {stack!r}")
    out_dir = Path(out_dir)
    checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    _check_grid_lists(variants=models, activations=activations, rates=lrs, seeds=seeds)
    statuses: list[dict] = []
    groups: dict[tuple, list[tuple]] = {}
    combos = [(m, a, lr, s) for a in activations for lr in lrs for m in models for s in seeds]
    check_distinct_runs([out_dir / result_filename(task, *c) for c in combos], checkpoint_dir)
    for model, activation, lr, seed in combos:
        path = out_dir / result_filename(task, model, activation, lr, seed)
        config = make_config(task, model, activation=activation, lr=lr, seed=seed, preset=preset, **overrides)
        status = {"path": str(path), "model": model, "activation": activation, "lr": lr, "seed": seed}
        ckpt = checkpoint_path(path, checkpoint_dir)
        try:
            existing = read_run_result(path) if path.exists() else None
        except RunFileError as e:  # not a gru_lib result, or a damaged one: never replaced by the grid
            status |= {"status": "failed", "message": _grid_message(e)}
            statuses.append(status)
            continue
        diffs = config_differences(existing["config"], config) if existing is not None else []
        if diffs:
            status |= {"status": "mismatch", "message": f"{path} was made with other settings: " + "; ".join(diffs)}
        elif existing is not None and existing.get("stopped"):
            status |= {"status": "stopped earlier", "message": existing["stopped"].get("message")}
        elif existing is not None and existing.get("complete") and (done := len(existing["history"])) >= config.epochs:
            status |= {"status": "skipped"}
            if done > config.epochs:  # a grid never shortens a run, and says that this one keeps its epochs
                status["message"] = (f"complete with {done} epochs, more than the {config.epochs} asked; "
                                     "left as it is")
        elif (existing is not None and existing["history"] and (existing.get("complete") or not restart_lost)
              and not ckpt.exists()):
            done = _epochs(len(existing["history"]))
            status |= {"status": "mismatch", "message": (
                f"{path} is complete with {done}, fewer than the {config.epochs} asked, and a longer run continues "
                f"from its checkpoint {ckpt}, which is missing. If the checkpoint is kept in another directory, "
                "pass that directory (--checkpoint-dir)." if existing.get("complete") else
                f"{path} has {done}, but its checkpoint {ckpt} is missing, so it cannot continue. If the "
                "checkpoint is kept in another directory, pass that directory (--checkpoint-dir); to train the run "
                "again from epoch 1, pass --restart-lost.")}
        else:
            status["resumed"] = ckpt.exists()
            lost = 0 if existing is None or status["resumed"] else len(existing["history"])
            if lost:
                status["lost"] = lost
            groups.setdefault((model, activation, bool(lost)), []).append((config, path, status))
        statuses.append(status)
    jobs = []
    for (_, _, restart), runs in groups.items():
        size = stack or len(runs)
        for i in range(0, len(runs), size):
            chunk = runs[i:i + size]
            jobs.append(GridJob([c for c, _, _ in chunk], [p for _, p, _ in chunk], [s for _, _, s in chunk], preset,
                                checkpoint_dir, restart))
    return statuses, jobs


def _epochs(n: int) -> str:
    return f"{n} epoch{'s' if n != 1 else ''}"


#: What a grid says to do about a run whose files are in the way (its options have no --out or --overwrite).
GRID_ADVICE = "The grid leaves this run's files as they are; move them away to train the run again."


def _grid_message(e: Exception) -> str:
    """A run's failure as the grid reports it: the fault, with advice that names what ``grid`` offers."""
    if not isinstance(e, RunFileError):
        return str(e)
    if isinstance(e, RunLockedError):
        return f"{e.fault} wait for it to finish or stop it, then run the grid again."
    return f"{e.fault.rstrip(':;. ')}. {GRID_ADVICE}"


def run_grid_job(job: GridJob, data: SequenceData, *, progress: bool = True, command: Optional[list[str]] = None,
                 cuda_graph: Optional[bool] = None) -> list[dict]:
    """Train one job of :func:`plan_grid` as one stack; return its runs' final statuses.

    Each run's files are checked first (:func:`gru_lib.train.preflight`): a run whose
    checkpoint is damaged or foreign, or of other settings, is reported (``"failed"``,
    ``"mismatch"``) and left out, and the others train together. If the stack still
    stops on one run's files, the runs train one by one so that only that run is reported.
    """
    def failure(e: Exception) -> dict:
        return {"status": "mismatch" if isinstance(e, ResumeError) else "failed", "message": _grid_message(e)}

    def train_runs(idx: list[int]) -> None:
        results = train_stack([job.configs[i] for i in idx], data, outs=[job.paths[i] for i in idx],
                              resume=not job.restart, overwrite=job.restart,
                              progress=progress, command=command, extra={"preset": job.preset},
                              cuda_graph=cuda_graph, checkpoint_dir=job.checkpoint_dir)
        for i, result in zip(idx, results):
            if result.get("stopped"):
                done[i] = {"status": "diverged", "message": result["stopped"].get("message")}
            elif job.restart:
                lost = job.statuses[i]["lost"]
                done[i] = {"status": "restarted", "message": "its checkpoint was missing, so it trained again from "
                           f"epoch 1 (redoing the {_epochs(lost)} of its earlier result)"}
            else:
                done[i] = {"status": "resumed" if job.statuses[i]["resumed"] else "done"}

    done: dict[int, dict] = {}
    ready = []
    for i, (config, path) in enumerate(zip(job.configs, job.paths)):
        try:
            preflight([config], [path], resume=not job.restart, overwrite=job.restart, data=data,
                      checkpoint_dir=job.checkpoint_dir)
            ready.append(i)
        except (RunFileError, ValueError, TypeError) as e:
            done[i] = failure(e)
    try:
        if ready:
            train_runs(ready)
    except (RunFileError, ValueError) as e:
        for i in ready if len(ready) > 1 else []:
            if i in done:
                continue
            try:
                train_runs([i])
            except (RunFileError, ValueError) as e1:
                done[i] = failure(e1)
        if len(ready) == 1:
            done[ready[0]] = failure(e)
    return [{k: v for k, v in s.items() if k not in ("resumed", "lost")} | done[i] for i, s in enumerate(job.statuses)]


def run_grid(
    task: str,
    models: Sequence[str],
    activations: Sequence[str] = ("tanh",),
    lrs: Sequence[float] = (1e-3,),
    seeds: Sequence[int] = (0,),
    out_dir: Union[str, Path] = "results",
    *,
    preset: str = "quick",
    data_dir: Union[str, Path, None] = None,
    download: bool = True,
    progress: bool = True,
    command: Optional[list[str]] = None,
    stack: Union[int, str, None] = "auto",
    cuda_graph: Optional[bool] = None,
    ray: Optional[str] = None,
    checkpoint_dir: Union[str, Path, None] = None,
    restart_lost: bool = False,
    **overrides: Any,
) -> list[dict]:
    """Run every combination of models, activations, rates and seeds; return one status dict per run.

    Runs that share the model and activation train together as one stack
    (:func:`gru_lib.train.train_stack`): every rate × seed at once, in stacks of at
    most ``stack`` models (``"auto"``: :func:`auto_stack_size`; ``1``: one at a
    time). Each run writes the same result file as it would alone.

    A run whose JSON is complete with at least the requested epochs is skipped
    (with a ``"message"`` when it has more: it is never shortened);
    a run with a checkpoint is resumed; a run that stopped on a non-finite loss
    is not retried (delete its files to retry). A run that diverges is recorded
    and the others go on. The data is loaded once for the whole grid. Statuses:
    ``"done"``, ``"skipped"``, ``"resumed"``, ``"restarted"`` (see ``restart_lost``),
    ``"diverged"``, ``"stopped earlier"``,
    ``"mismatch"`` (the existing files are from a different configuration, or a
    partial result lacks its checkpoint), ``"failed"`` (a file in the way is not a
    ``gru_lib`` result or checkpoint, or is damaged; it is left as it is). One run's
    bad files never stop the others.

    Settings, device and threads are checked for every run before anything trains.

    ``checkpoint_dir``: keep the checkpoints there instead of beside the results in
    ``out_dir`` (:func:`gru_lib.files.checkpoint_path`).

    ``restart_lost``: train a partial result whose checkpoint is missing (a machine
    laid anew, a result copied without it) again from epoch 1, replacing its file,
    instead of reporting it as ``"mismatch"`` (a complete result is never replaced).
    Training is deterministic for a given device and thread count, so the new run
    repeats the epochs that were lost.

    ``ray``: run each stack as a Ray task instead, on the cluster at that address
    (``"local"``: a Ray started for the grid; ``"auto"``, ``"HOST:PORT"``,
    ``"ray://HOST:10001"``); the results are the same (``gru_lib.cluster``).
    """
    if ray is not None:
        from .cluster import run_grid_ray

        return run_grid_ray(ray, task, models, activations, lrs, seeds, out_dir, preset=preset, data_dir=data_dir,
                            download=download, progress=progress, command=command, stack=stack,
                            cuda_graph=cuda_graph, checkpoint_dir=checkpoint_dir, restart_lost=restart_lost,
                            **overrides)
    check_writable(Path(out_dir) / "probe.json", "output directory's file")
    if checkpoint_dir is not None:
        check_writable(Path(checkpoint_dir) / "probe.ckpt", "checkpoint directory's file")
    statuses, jobs = plan_grid(task, models, activations, lrs, seeds, out_dir, preset=preset, stack=stack,
                               checkpoint_dir=checkpoint_dir, restart_lost=restart_lost, **overrides)
    for job in jobs[:1]:
        check_runtime(job.configs[0])
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    data: Optional[SequenceData] = None
    results: list[dict] = []
    for n, job in enumerate(jobs, 1):
        if progress:
            import sys

            print(f"[{n}/{len(jobs)}] {job.describe()}", file=sys.stderr, flush=True)
        if data is None:
            data = load_task_data(task, data_dir=data_dir, download=download, train_limit=job.configs[0].train_limit,
                                  test_limit=job.configs[0].test_limit)
        results += run_grid_job(job, data, progress=progress, command=command, cuda_graph=cuda_graph)
    by_path = {r["path"]: r for r in results}
    return [by_path[s["path"]] if "status" not in s else s for s in statuses]

"""The paper's training protocol and the loop that trains one model or a stack of them.

Dey & Salem (2017, §3 and Table 0) train one recurrent layer and a classifier
(:mod:`gru_lib.model`) with RMSprop, batch 32, 20% dropout and the learning-rate
rule of their eq. (18). This module implements that protocol for any tensors;
:mod:`gru_lib.experiments` supplies the paper's tasks and data, and
:mod:`gru_lib.files` the files a run leaves.

Optimiser
    RMSprop with Keras's defaults (:data:`KERAS_RMSPROP`): Keras ``rho=0.9`` is
    torch's ``alpha`` (the decay of the running mean of squared gradients; torch's
    own default is 0.99) and Keras's ``epsilon``, ``K.epsilon()`` = 1e-7, is torch's
    ``eps`` (torch's default is 1e-8, as was the RMSprop default of the Keras 2.0
    releases of 2017); no momentum, not centred. Both torch and Keras 2.0 add ε
    outside the square root, ``g / (√v + ε)``; at these rates the choice of ε makes
    no measurable difference. :class:`gru_lib.optim.StackedRMSprop` is that update
    with one rate per model of a stack; its state is stored in
    ``torch.optim.RMSprop``'s format.

Learning rate (``lr_schedule``)
    ``"eq18"`` (default) is eq. (18) as written: ``η(e) = η · exp(−cost(e−1))`` where
    ``cost(e−1)`` is the previous epoch's mean training loss (the running mean over
    its batches, with dropout on, which is the ``loss`` Keras reports for an epoch).
    There is no cost before the first epoch; we use ``η(1) = η`` (i.e. cost(0) = 0).
    Because the cost falls as training proceeds, ``exp(−cost)`` *grows* towards 1:
    the rate starts low after epoch 1 and rises towards the base rate η — the
    opposite of a decay, although the paper calls it one. ``"constant"`` keeps η.

Accuracies and losses per epoch
    ``train_loss``/``train_acc`` are running means over the epoch's batches with
    dropout on, as Keras reports them (so the paper's "Train" columns are most
    likely this number); ``test_loss``/``test_acc`` are computed after the epoch in
    evaluation mode. ``eval_train=True`` adds ``train_eval_loss``/``train_eval_acc``,
    the training set re-evaluated in evaluation mode (one extra forward pass).

One model or a stack (:func:`train`, :func:`train_stack`)
    The loop always trains a stack of ``K`` models of one architecture
    (:class:`~gru_lib.model.StackedClassifier`); a single run is the stack of one.
    Each model keeps its own initial weights (``torch.manual_seed(seed)`` before
    :func:`~gru_lib.model.build_model`), its own data order (a generator seeded
    with ``seed``), its own dropout masks (a generator continuing from the random
    state after its initialisation, as a lone run's global generator would), its
    own rate, schedule and optimiser state, its own result file and checkpoint,
    and its own stop on a non-finite loss: a model that diverges is reported and
    dropped from the stack, and the others go on. On the CPU a model's history in
    a stack equals its history alone up to rounding.

Runs that survive
    With ``out=PATH.json`` the result JSON and a checkpoint ``PATH.ckpt`` (model,
    optimiser, random-number-generator states, history, configuration) are written
    after every epoch, each atomically. An interrupted run keeps its last complete
    epoch; ``resume=True`` continues it to ``epochs`` and, on the CPU, reproduces
    the uninterrupted run's history exactly. A non-finite loss stops the run with
    :class:`NonFiniteLossError`; the last good checkpoint is left as it was and the
    JSON records why the run stopped. The checkpoint is written before the result,
    so a kill between the two leaves the checkpoint ahead; resuming rewrites the
    result from it. Before anything is trained, :func:`preflight` checks the
    settings, the device, the threads, the model's size and the files at ``out``
    (:func:`gru_lib.files.claim_run_files`): a file that ``gru_lib`` did not write
    is never replaced unless ``overwrite=True``, and a run that starts again
    replaces the old files only when it has new ones to put in their place.

CUDA graphs (the default on CUDA; ``cuda_graph=False`` trains eagerly)
    One training iteration of the stack (forward, backward, optimiser step) is
    captured once as a CUDA graph on static input buffers and replayed for every
    full batch; a last, partial batch runs eagerly. Kernel launches dominate these
    small models on a GPU, and a replay launches them all at once: on an H200 a
    row-wise MNIST epoch of one stack took 4.5 s replayed against 37 s eagerly
    (``results/benchmarks/gpu-h200.json``), with the same losses and accuracies
    (``tests/test_cuda.py``). If capture fails, training continues eagerly with a
    warning.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor

from .config import (
    LR_SCHEDULES,
    MAX_PARAMS,
    STACK_FREE,
    SequenceData,
    TrainConfig,
    check_device_spec,
    check_runtime,
    resolve_device,
    stack_key,
)
from .files import (
    CHECKPOINT_FORMAT,
    RESULT_FORMAT,
    RunFileError,
    RunFiles,
    as_json,
    atomic_write_bytes,
    atomic_write_json,
    check_distinct_runs,
    checkpoint_path,
    claim_run_files,
    device_name,
    provenance,
)
from .model import (
    ACTIVATIONS,
    DROPOUT_PLACEMENTS,
    INITS,
    SequenceClassifier,
    StackedClassifier,
    build_model,
    recurrent_param_count,
)
from .optim import StackedRMSprop
from .progress import Progress
from .params import count_params
from .variants import VARIANTS

__all__ = [
    "KERAS_RMSPROP",
    "NonFiniteLossError",
    "ResumeError",
    "config_differences",
    "epoch_lr",
    "eq18_lr",
    "evaluate",
    "gate_bias_summary",
    "preflight",
    "TrainStep",
    "train",
    "train_stack",
]

# Names that moved to gru_lib.config, gru_lib.model and gru_lib.files stay importable from here.
_MOVED = (LR_SCHEDULES, MAX_PARAMS, SequenceData, TrainConfig, check_device_spec, check_runtime, resolve_device,
          stack_key, ACTIVATIONS, DROPOUT_PLACEMENTS, INITS, SequenceClassifier, build_model, recurrent_param_count,
          RESULT_FORMAT, RunFileError, atomic_write_json, checkpoint_path, device_name, provenance)

#: Keras's RMSprop defaults in torch's names (Keras ``rho`` is ``alpha``, ``epsilon`` is ``eps``).
KERAS_RMSPROP = {"alpha": 0.9, "eps": 1e-7}


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the run was stopped."""

    # no "-> None" (implied for __init__): autodoc would print it as the exception's "Return type"
    def __init__(self, epoch: int, batch: int, value: float):
        self.epoch, self.batch, self.value = epoch, batch, value
        super().__init__(
            f"the training loss became {value} in epoch {epoch} (by batch {batch}); the run was stopped. "
            "A smaller learning rate usually helps."
        )


class ResumeError(RunFileError):
    """``resume=True`` cannot continue a run: its checkpoint has another configuration, or is missing."""


# ----------------------------------------------------------------------------- eq. 18
def eq18_lr(base_lr: float, epoch: int, previous_cost: Optional[float] = None) -> float:
    """Learning rate of ``epoch`` (1-based) by eq. (18): ``η · exp(−cost(epoch − 1))``.

    ``previous_cost`` is the mean training loss of epoch ``epoch − 1``. The first
    epoch has no previous cost and runs at ``η`` (``previous_cost`` must then be
    ``None`` or 0). As the cost falls, the rate *rises* towards ``η``.

    >>> eq18_lr(1e-3, 1)
    0.001
    >>> round(eq18_lr(1e-3, 2, previous_cost=math.log(2)), 12)
    0.0005
    """
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise ValueError(f"epoch must be an int >= 1, got {epoch!r}")
    if epoch == 1:
        if previous_cost not in (None, 0, 0.0):
            raise ValueError("epoch 1 has no previous cost; pass previous_cost=None")
        return float(base_lr)
    if previous_cost is None:
        raise ValueError(f"eq. 18 needs the cost of epoch {epoch - 1} to set the rate of epoch {epoch}")
    return float(base_lr) * math.exp(-float(previous_cost))


def epoch_lr(schedule: str, base_lr: float, epoch: int, history: list[dict]) -> float:
    """The rate for ``epoch`` under ``schedule`` given the history of epochs before it."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {schedule!r}; expected one of {list(LR_SCHEDULES)}")
    if schedule == "constant":
        return float(base_lr)
    prev = history[epoch - 2]["train_loss"] if epoch > 1 else None
    return eq18_lr(base_lr, epoch, prev)


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def _evaluate_stack(stack: StackedClassifier, x: Tensor, y: Tensor, batch_size: int,
                    on_batch: Optional[Callable[[int], None]] = None) -> tuple[list, list]:
    was_training = stack.training
    stack.eval()
    K, n = stack.size, x.shape[0]
    loss_sum = torch.zeros(K, dtype=torch.float64, device=x.device)
    correct = torch.zeros(K, dtype=torch.int64, device=x.device)
    for i in range(0, n, batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        yk = yb.expand(K, -1)
        logits = stack(xb.expand(K, *xb.shape))
        loss_sum += stack.loss(logits, yk).double() * xb.shape[0]
        correct += (stack.predict(logits) == yk).sum(-1)
        if on_batch is not None:
            on_batch(xb.shape[0] * K)  # examples evaluated, over the K models
    stack.train(was_training)
    return (loss_sum / n).tolist(), (correct.double() / n).tolist()


def evaluate(net: SequenceClassifier, x: Tensor, y: Tensor, batch_size: int = 1000) -> tuple[float, float]:
    """Mean loss and accuracy of ``net`` on ``(x, y)`` in evaluation mode (no dropout)."""
    stack = StackedClassifier([net]).to(x.device)
    losses, accs = _evaluate_stack(stack, x, y, batch_size)
    return losses[0], accs[0]


# ----------------------------------------------------------------------------- the loop
@contextlib.contextmanager
def _run_environment(device: torch.device, threads: Optional[int], deterministic: bool):
    """Threads, deterministic algorithms (CPU) and a forked global RNG, all restored afterwards."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        if threads:
            torch.set_num_threads(threads)
        if deterministic and device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


def config_differences(saved: dict, config: TrainConfig) -> list[str]:
    """The settings in which ``config`` differs from a saved configuration, apart from the resumable ones."""
    return [f"{k}: saved {saved.get(k)!r}, now {v!r}" for k, v in config.to_dict().items()
            if k not in TrainConfig.RESUMABLE_CHANGES and saved.get(k) != v]


def _check_resumable(saved: dict, config: TrainConfig, path: Path) -> None:
    diffs = config_differences(saved, config)
    if diffs:
        raise ResumeError(
            f"cannot resume {path}: it was made with a different configuration (" + "; ".join(diffs) + ").",
            "Use the same settings, or a new --out path.")


def _check_not_shortened(config: TrainConfig, files: Optional[RunFiles]) -> None:
    """A resume extends a run to ``config.epochs``; it never shortens or relabels one."""
    if files is None or files.mode != "resume":
        return
    found = files.state if files.state is not None else files.result
    done = len(found["history"]) if found is not None else 0
    if done > config.epochs:
        raise ResumeError(
            f"cannot resume {files.out} to {config.epochs} epoch{'s' if config.epochs != 1 else ''}: it already "
            f"has {done}, and a resume only extends a run, never shortens or relabels it.",
            f"Resume with --epochs {done} or more (epochs={done}), or start it again with --overwrite "
            "(overwrite=True) or with another --out.")


_SESSION_KEYS = ("date", "command", "device", "device_name", "threads", "git_commit", "git_dirty",
                 "gru_lib_version", "torch_version")


@dataclass(eq=False)  # members are told apart by identity (their stack index changes)
class _Member:
    """One model of a stack: its settings, files, history and random streams."""

    config: TrainConfig
    out: Optional[Path]
    checkpoint: Optional[Path]
    result: dict
    net: Optional[SequenceClassifier]
    optimizer_state: Optional[dict]
    shuffle: torch.Generator  # the data order
    dropout: torch.Generator  # the dropout masks, on the CPU (state "torch" in the checkpoint)
    dropout_cuda: Optional[torch.Generator] = None  # the masks on a CUDA device (state "cuda")
    error: Optional[NonFiniteLossError] = None
    stale_checkpoint: bool = False  # an earlier run's checkpoint is still at the path, to be replaced

    @property
    def history(self) -> list:
        return self.result["history"]

    @property
    def label(self) -> str:
        return f"lr {self.config.lr:g} seed {self.config.seed}: "

    def generator(self, device: torch.device) -> torch.Generator:
        return self.dropout_cuda if device.type == "cuda" else self.dropout

    def rng_state(self, device: torch.device) -> dict:
        state = {"torch": self.dropout.get_state(), "generator": self.shuffle.get_state()}
        if self.dropout_cuda is not None:
            state["cuda"] = self.dropout_cuda.get_state()
        return state


def gate_bias_summary(stack: StackedClassifier, k: int, config: TrainConfig) -> Optional[dict]:
    """Model ``k``'s gate biases ``b_r`` and ``b_z`` as ``[min, mean, max]`` over the units, or
    ``None`` for a model whose gates have no bias (GRU2, the baselines).

    With ``reset_after=True`` a gate's two biases enter the gate as their sum, which is what is
    summarised. Recorded in every epoch of the history (``gate_bias``): with Keras's zero
    initialisation the biases start at 0, so this shows how far the gates' constant part drifts
    (for GRU3 it is all there is to the gates, ``z = σ(b_z)``).
    """
    if config.model not in VARIANTS or not VARIANTS[config.model].bias or "rnn.bias_ih_l0" not in stack.names:
        return None
    n = config.hidden_size
    b = stack.param("rnn.bias_ih_l0")[k, : 2 * n].detach()
    if "rnn.bias_hh_l0" in stack.names:
        b = b + stack.param("rnn.bias_hh_l0")[k, : 2 * n].detach()
    return {gate: [float(rows.min()), float(rows.mean()), float(rows.max())]
            for gate, rows in (("r", b[:n]), ("z", b[n:]))}


def _damaged(ckpt: Path, e: Exception) -> RunFileError:
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return RunFileError(f"the checkpoint {ckpt} does not fit the model of its own configuration ({first}).",
                        "Start the run again with --overwrite (overwrite=True), or move the checkpoint away.")


def _in_step(previous: Optional[dict], result: dict) -> bool:
    """Whether a result file has the epochs that ``result`` has (history and completeness)."""
    return (previous is not None and previous.get("history") == as_json(result["history"])
            and previous.get("complete") == result["complete"])


def _agrees(previous: Optional[dict], result: dict) -> bool:
    """Whether a result file already says what ``result`` says (history, completeness, configuration)."""
    return _in_step(previous, result) and previous.get("config") == as_json(result["config"])


def _open_member(config: TrainConfig, data: SequenceData, files: Optional[RunFiles], device: torch.device,
                 prov: dict, extra: Optional[dict], bar: Progress) -> _Member:
    """Build one model (or restore it from its checkpoint) and the result it will fill.

    ``files`` is what :func:`~gru_lib.files.claim_run_files` found at the run's paths.
    When resuming, the checkpoint is the truth: a result file that is missing or out
    of step with it (a run killed between the two writes) is rewritten at once.
    """
    out = files.out if files is not None else None
    ckpt = files.checkpoint if files is not None else None
    resume = files is not None and files.mode == "resume"
    torch.manual_seed(config.seed)
    input_size = config.embedding_dim if data.tokens else data.x_train.shape[-1]
    net = build_model(
        config.model, input_size=input_size, hidden_size=config.hidden_size, num_classes=data.num_classes,
        activation=config.activation, num_embeddings=data.num_embeddings, dropout=config.dropout,
        dropout_at=config.dropout_at, init=config.init, reset_after=config.reset_after,
        update_rule=config.update_rule, implementation=config.implementation,
    )
    params = count_params(config.model, config.hidden_size, input_size, reset_after=config.reset_after,
                          double_bias=None if config.model in VARIANTS else False)
    actual = recurrent_param_count(net)
    if params != actual:  # the closed form and the module must agree
        raise AssertionError(f"count_params gives {params} but the recurrent layer has {actual} parameters")
    # A lone run draws its masks from the global generator after initialising the
    # model; each model of a stack continues that stream in a generator of its own.
    dropout = torch.Generator()
    dropout.set_state(torch.get_rng_state())
    shuffle = torch.Generator().manual_seed(config.seed)
    dropout_cuda = None
    if device.type == "cuda":
        dropout_cuda = torch.Generator(device=device).manual_seed(config.seed)

    history: list[dict] = []
    sessions: list[dict] = []
    optimizer_state = None
    state = files.state if resume else None
    previous = files.result if resume else None
    if resume and state is None and previous is not None and previous.get("history"):
        # a result without its checkpoint (e.g. one copied or committed without it)
        _check_resumable(previous.get("config", {}), config, out)
        if not (previous.get("complete") and len(previous["history"]) >= config.epochs):
            raise ResumeError(
                f"cannot resume {out}: its checkpoint {ckpt} is missing, so epoch "
                f"{len(previous['history']) + 1} cannot continue from epoch {len(previous['history'])}.",
                "If the checkpoint is kept in another directory, pass that directory (--checkpoint-dir); "
                "otherwise restore the checkpoint, or start the run again (--overwrite).")
        bar.message(f"{out}: already complete ({len(previous['history'])} epochs)")
        return _Member(config, out, ckpt, previous, None, None, shuffle, dropout)
    if state is not None:
        _check_resumable(state["config"], config, ckpt)
        try:
            net.load_state_dict(state["model"])
            probe = StackedClassifier([net])
            StackedRMSprop(list(probe.parameters()), [config.lr], **KERAS_RMSPROP).load_member_state_dict(
                0, state["optimizer"])
            dropout.set_state(state["rng"]["torch"])
            shuffle.set_state(state["rng"]["generator"])
            if dropout_cuda is not None and "cuda" in state["rng"]:
                dropout_cuda.set_state(state["rng"]["cuda"])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise _damaged(ckpt, e) from e
        del probe
        optimizer_state = state["optimizer"]
        history = list(state["history"])
        sessions = list(state.get("sessions", []))
        bar.message(f"resuming {out} after epoch {len(history)} of {config.epochs}")
        before = str((sessions[-1] if sessions else {}).get("device") or "")
        if before and before.split(":")[0] != device.type and len(history) < config.epochs:
            # the masks of the next epochs come from the new device's own generator
            warnings.warn(f"{out}: its epochs so far ran on {before}, the next ones run on {device}; from here "
                          f"the run differs from one that stays on {before.split(':')[0]} (its dropout masks "
                          "come from another generator)", RuntimeWarning, stacklevel=2)
    if len(history) < config.epochs:
        session = {k: prov[k] for k in (*_SESSION_KEYS, "triton") if k in prov}
        sessions.append(session | {"first_epoch": len(history) + 1})
    result = {
        "format": RESULT_FORMAT,
        "complete": False,
        "config": config.to_dict(),
        "data": dict(data.info) | {"train_size": int(data.x_train.shape[0]), "test_size": int(data.x_test.shape[0])},
        "params": params,
        "params_total": sum(p.numel() for p in net.parameters()),
        "history": history,
        "provenance": prov | {"sessions": sessions},
        "stopped": None,
    }
    if extra:
        result |= {k: v for k, v in extra.items() if k not in result}
    member = _Member(config, out, ckpt, result, net, optimizer_state, shuffle, dropout, dropout_cuda,
                     stale_checkpoint=files is not None and not resume and ckpt.exists())
    complete = len(history) >= config.epochs
    result["complete"] = complete
    if state is not None and not _agrees(previous, result):
        # the result follows its checkpoint, and records this session's settings (device, threads)
        atomic_write_json(out, result)
        if previous is not None and not _in_step(previous, result):
            # only a run killed between its two writes leaves a result behind its checkpoint
            bar.message(f"{out}: its result file was behind its checkpoint (a run stopped between the two "
                        f"writes); rewritten from the checkpoint ({len(history)} epochs)")
    if complete:
        bar.message(f"{out}: already complete ({len(history)} epochs)")
        member.net = None
    return member


def _save(member: _Member, stack: StackedClassifier, opt: StackedRMSprop, k: int, device: torch.device,
          with_checkpoint: bool) -> None:
    """Write model ``k``'s result, and its checkpoint after a complete epoch."""
    result = member.result
    result["complete"] = len(member.history) >= member.config.epochs and result["stopped"] is None
    if member.out is None:
        return
    if with_checkpoint:
        buf = io.BytesIO()
        torch.save({
            "format": CHECKPOINT_FORMAT, "config": member.config.to_dict(), "epoch": len(member.history),
            "model": {name: t.cpu() for name, t in stack.member_state_dict(k).items()},
            "optimizer": opt.member_state_dict(k), "rng": member.rng_state(device),
            "history": member.history, "sessions": result["provenance"]["sessions"],
        }, buf)
        atomic_write_bytes(member.checkpoint, buf.getvalue())
        member.stale_checkpoint = False
    elif member.stale_checkpoint:
        # the new run stopped before its first checkpoint: the old run's must not outlive its result
        member.checkpoint.unlink(missing_ok=True)
        member.stale_checkpoint = False
    atomic_write_json(member.out, result)


class TrainStep:
    """One training iteration of a stack (forward, backward, optimiser step): eager, or
    replayed from a CUDA graph captured on static input buffers.

    ``step(xb, yb)`` takes each model's batch, ``(K, B, ...)`` and ``(K, B)``, and
    returns each model's loss ``(K,)`` and logits (detached; with a graph, they are
    static buffers that the next call overwrites). With ``cuda_graph=True`` the
    first three full batches run eagerly, the fourth is captured and every later
    full batch replays the graph; batches of another size run eagerly.
    """

    def __init__(self, stack: StackedClassifier, opt: StackedRMSprop, generators: list, batch_size: int,
                 cuda_graph: bool) -> None:
        self.stack, self.opt, self.generators = stack, opt, generators
        self.batch_size = batch_size
        if cuda_graph:  # a graph's shapes are fixed; a sparse gradient's depend on the batch
            stack.sparse_embedding_grad = False
        self.want_graph = cuda_graph
        self.graph = None
        self.eager_steps = 0

    def eager(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.stack(xb, self.generators)
        loss = self.stack.loss(logits, yb)
        self.opt.zero_grad()
        loss.sum().backward()
        self.opt.step()
        return loss.detach(), logits.detach()

    def __call__(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        full = xb.shape[1] == self.batch_size
        if self.graph is not None and full:
            self.static_x.copy_(xb)
            self.static_y.copy_(yb)
            self.graph.replay()
            return self.static_loss, self.static_logits
        if self.want_graph and full and self.eager_steps >= 3:
            # the first steps run eagerly (as real training steps) to warm up the
            # allocator and autograd before the capture
            self.want_graph = False
            try:
                return self._capture(xb, yb)
            except Exception as e:  # any failure: keep training eagerly
                self.graph = None
                warnings.warn(f"capturing the training step as a CUDA graph failed ({e}); continuing eagerly",
                              RuntimeWarning, stacklevel=2)
                torch.cuda.synchronize()
        self.eager_steps += 1
        return self.eager(xb, yb)

    def _capture(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        graph = torch.cuda.CUDAGraph()
        if self.stack.training and self.stack.template.dropout > 0:
            register = getattr(graph, "register_generator_state", None)
            if register is None:
                raise RuntimeError("this torch cannot replay private generators in a graph "
                                   "(CUDAGraph.register_generator_state is missing)")
            for g in self.generators:
                register(g)
        self.static_x, self.static_y = xb.clone(), yb.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.opt.zero_grad()
            with torch.cuda.graph(graph):
                self.static_loss, self.static_logits = self.eager(self.static_x, self.static_y)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = graph
        graph.replay()
        return self.static_loss, self.static_logits


def run_mode(resume: bool, overwrite: bool) -> str:
    """The :data:`~gru_lib.files.RUN_MODES` entry of ``resume``/``overwrite``."""
    for name, v in (("resume", resume), ("overwrite", overwrite)):
        if not isinstance(v, bool):
            raise TypeError(f"{name} must be a bool, got {v!r}")
    if resume and overwrite:
        raise ValueError("resume=True continues a run and overwrite=True starts it again; pass one of them")
    return "resume" if resume else "overwrite" if overwrite else "fresh"


def preflight(configs: Sequence[TrainConfig], outs: Optional[Sequence[Union[str, Path, None]]] = None, *,
              resume: bool = False, overwrite: bool = False, data: Optional[SequenceData] = None,
              locks: Optional[contextlib.ExitStack] = None,
              checkpoint_dir: Union[str, Path, None] = None) -> tuple[torch.device, list[Optional[RunFiles]]]:
    """Everything that can be checked before training: the configurations (one stack), the
    device, threads and model size (:func:`~gru_lib.config.check_runtime`) and each run's files
    (:func:`~gru_lib.files.claim_run_files`, which also refuses a run that another process is
    writing). Returns the device and what was found at each path; raises
    ``ValueError``/``TypeError`` (:class:`~gru_lib.files.RunFileError` for the files) before
    anything is written. With ``locks``, each run's lock (:func:`~gru_lib.files.run_lock`) is
    taken before its files are read and held until ``locks`` closes. ``checkpoint_dir``: where the
    checkpoints are (:func:`~gru_lib.files.checkpoint_path`; default: beside each result)."""
    configs = list(configs)
    if not configs or not all(isinstance(c, TrainConfig) for c in configs):
        raise TypeError("expected one or more TrainConfig objects")
    if data is not None and not isinstance(data, SequenceData):
        raise TypeError(f"data must be a SequenceData, got {type(data).__name__}")
    mode = run_mode(resume, overwrite)
    outs = [None] * len(configs) if outs is None else list(outs)
    if len(outs) != len(configs):
        raise ValueError(f"expected {len(configs)} output paths, got {len(outs)}")
    for o in outs:
        if o is not None and not isinstance(o, (str, Path)):
            raise TypeError(f"an output path must be a str or Path, got {type(o).__name__}")
    check_distinct_runs([Path(o).resolve() for o in outs if o is not None], checkpoint_dir)
    key = stack_key(configs[0])
    for i, c in enumerate(configs[1:], 1):
        if stack_key(c) != key:
            diffs = [f"{k}: {a!r} vs {b!r}" for (k, a), (_, b) in zip(key, stack_key(c)) if a != b]
            raise ValueError(f"run {i} cannot share a stack with run 0; only {', '.join(STACK_FREE)} may differ "
                             f"({'; '.join(diffs)})")
    device = check_runtime(configs[0], data)
    claims = [claim_run_files(o, mode, locks=locks, checkpoint_dir=checkpoint_dir) if o is not None else None
              for o in outs]
    for c, f in zip(configs, claims):
        _check_not_shortened(c, f)
    return device, claims


def _train_members(configs, data, outs, *, resume, overwrite, checkpoint_dir=None,
                   **how) -> tuple[list[dict], list[Optional[NonFiniteLossError]]]:
    if data is None:
        raise TypeError("data must be a SequenceData, got None")
    with contextlib.ExitStack() as locks:  # each run's lock is held from the check of its files to its last write
        device, claims = preflight(configs, outs, resume=resume, overwrite=overwrite, data=data, locks=locks,
                                   checkpoint_dir=checkpoint_dir)
        return _train_claimed(list(configs), data, device, claims, **how)


def _train_claimed(configs, data, device, claims, *, progress, deterministic, command, extra, on_epoch,
                   cuda_graph) -> tuple[list[dict], list[Optional[NonFiniteLossError]]]:
    ref = configs[0]
    if cuda_graph is None:
        cuda_graph = device.type == "cuda" and hasattr(torch.cuda.CUDAGraph, "register_generator_state")
    elif not isinstance(cuda_graph, bool):
        raise TypeError(f"cuda_graph must be a bool or None, got {cuda_graph!r}")
    elif cuda_graph and device.type != "cuda":
        warnings.warn("cuda_graph=True applies to CUDA devices only; training eagerly", RuntimeWarning, stacklevel=3)
        cuda_graph = False
    bar = Progress(progress)
    errors: list[Optional[NonFiniteLossError]] = [None] * len(configs)

    with _run_environment(device, ref.threads, deterministic):
        prov = provenance(device, command)
        if ref.implementation == "triton":  # the kernels' Triton version and tl.dot precision
            from .triton_gru import provenance as triton_provenance
            prov["triton"] = triton_provenance()
        everyone = [_open_member(c, data, f, device, prov, extra, bar) for c, f in zip(configs, claims)]
        results = [m.result for m in everyone]
        members = [m for m in everyone if m.net is not None]
        if not members:
            return results, errors
        for m in members:
            m.result["provenance"]["sessions"][-1]["stack_size"] = len(members)
        stack = StackedClassifier([m.net for m in members]).to(device)
        opt = StackedRMSprop(list(stack.parameters()), [m.config.lr for m in members], **KERAS_RMSPROP)
        for k, m in enumerate(members):
            if m.optimizer_state is not None:
                opt.load_member_state_dict(k, m.optimizer_state)
            m.net = m.optimizer_state = None

        x_tr, y_tr = data.x_train.to(device), data.y_train.to(device)
        x_te, y_te = data.x_test.to(device), data.y_test.to(device)
        n, bs = x_tr.shape[0], ref.batch_size
        nb = math.ceil(n / bs)
        check_every = 1 if device.type == "cpu" else 50
        step = TrainStep(stack, opt, [m.generator(device) for m in members], bs, cuda_graph)
        stack.train()
        while members:
            K = len(members)
            epochs = [len(m.history) + 1 for m in members]
            lrs = [epoch_lr(m.config.lr_schedule, m.config.lr, e, m.history) for m, e in zip(members, epochs)]
            for k, lr in enumerate(lrs):
                opt.set_lr(k, lr)
            t0 = time.perf_counter()
            perms = torch.stack([torch.randperm(n, generator=m.shuffle) for m in members]).to(device)
            loss_sum = torch.zeros(K, dtype=torch.float64, device=device)
            correct = torch.zeros(K, dtype=torch.int64, device=device)
            seen = shown = 0
            # one bar for the whole epoch: training, then the evaluation of the test (and training) set
            n_eval = x_te.shape[0] + (n if ref.eval_train else 0)
            bar.start(f"epoch {max(epochs)}/{max(m.config.epochs for m in members)}", (n + n_eval) * K)
            for b in range(nb):
                idx = perms[:, b * bs:(b + 1) * bs]
                yb = y_tr[idx]
                loss, logits = step(x_tr[idx], yb)
                loss_sum += loss.double() * idx.shape[1]
                correct += (stack.predict(logits) == yb).sum(-1)
                seen += idx.shape[1]
                if (b + 1) % check_every == 0 or b == nb - 1:
                    means = (loss_sum / seen).tolist()
                    for k, (m, mean) in enumerate(zip(members, means)):
                        if not math.isfinite(mean) and m.error is None:
                            m.error = NonFiniteLossError(epochs[k], b + 1, mean)
                            m.result["stopped"] = {"reason": "non-finite loss", "epoch": epochs[k], "batch": b + 1,
                                                   "message": str(m.error)}
                            _save(m, stack, opt, k, device, with_checkpoint=False)  # the checkpoint keeps the last good epoch
                            bar.message(f"{m.out or ''} {m.error}".strip())
                    bar.update((seen - shown) * K, sum(means) / K, float(correct.sum()) / (seen * K))
                    shown = seen
                    if all(m.error is not None for m in members):
                        break
            opt.catch_up()  # at the same point in every run, so that a resumed run repeats an uninterrupted one
            train_seconds = time.perf_counter() - t0
            alive = [k for k, m in enumerate(members) if m.error is None]
            bar.describe("evaluating")
            test = _evaluate_stack(stack, x_te, y_te, ref.eval_batch_size, bar.update) if alive else None
            train_eval = (_evaluate_stack(stack, x_tr, y_tr, ref.eval_batch_size, bar.update)
                          if alive and ref.eval_train else None)
            bar.close()
            seconds = time.perf_counter() - t0
            train_losses, train_accs = (loss_sum / n).tolist(), (correct.double() / n).tolist()
            for k in alive:
                m = members[k]
                entry = {"epoch": epochs[k], "lr": lrs[k], "train_loss": train_losses[k], "train_acc": train_accs[k],
                         "test_loss": test[0][k], "test_acc": test[1][k]}
                if train_eval is not None:
                    entry["train_eval_loss"], entry["train_eval_acc"] = train_eval[0][k], train_eval[1][k]
                if (gates := gate_bias_summary(stack, k, m.config)) is not None:
                    entry["gate_bias"] = gates
                entry |= {"train_seconds": train_seconds, "seconds": seconds, "stack_size": K}
                m.history.append(entry)
                _save(m, stack, opt, k, device, with_checkpoint=True)
                bar.end_epoch(m.config.epochs, entry, m.label if K > 1 else "")
                if on_epoch is not None:
                    on_epoch(m.result)
            keep = [k for k in alive if len(members[k].history) < members[k].config.epochs]
            if len(keep) < K:
                for m in members:
                    if m.error is not None:
                        errors[everyone.index(m)] = m.error
                members = [members[k] for k in keep]
                if members:
                    stack = stack.select(keep)
                    opt = opt.select(keep, list(stack.parameters()))
                    step = TrainStep(stack, opt, [m.generator(device) for m in members], bs, cuda_graph)
        return results, errors


def train(
    config: TrainConfig,
    data: SequenceData,
    *,
    out: Union[str, Path, None] = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    deterministic: bool = True,
    command: Optional[list[str]] = None,
    extra: Optional[dict] = None,
    on_epoch: Optional[Callable[[dict], None]] = None,
    cuda_graph: Optional[bool] = None,
    checkpoint_dir: Union[str, Path, None] = None,
) -> dict:
    """Train one model with the paper's protocol; return the result (the JSON's content).

    This is :func:`train_stack` with a stack of one.

    Parameters
    ----------
    config:
        The run's settings (:class:`~gru_lib.config.TrainConfig`).
    data:
        Training and test tensors (:class:`~gru_lib.config.SequenceData`), on any device.
    out:
        ``PATH.json``: write the result there and a checkpoint to ``PATH.ckpt``
        after every epoch (atomically). ``None``: keep everything in memory.
    resume:
        Continue from ``PATH.ckpt`` if it exists (the configuration must match,
        apart from :attr:`~gru_lib.config.TrainConfig.RESUMABLE_CHANGES`); start afresh otherwise.
        A result that is missing or behind its checkpoint is repaired from it.
    overwrite:
        Start afresh and replace whatever files are at ``out`` and its checkpoint,
        once the first epoch (or a stop) has something to put in their place.
        Without ``resume`` or ``overwrite`` a run starts afresh and replaces
        ``gru_lib``'s own files only; a file that is not a ``gru_lib`` result or
        checkpoint is refused (:class:`~gru_lib.files.RunFileError`).
    progress:
        Show a progress bar (where someone watches) and one summary line per epoch on stderr.
    deterministic:
        On the CPU, turn on ``torch.use_deterministic_algorithms`` for the run.
    command:
        The command line recorded in the provenance (default ``sys.argv``).
    extra:
        More top-level entries for the result (e.g. ``{"preset": "quick"}``).
    on_epoch:
        Called with the result after each epoch.
    cuda_graph:
        Replay each training step from a captured CUDA graph (see the module docstring):
        ``None`` (default) does on CUDA, where this torch can replay the models' own random
        generators in a graph; ``True`` asks for it (with a warning where it cannot be);
        ``False`` trains eagerly.
    checkpoint_dir:
        Keep the checkpoint in this directory (``CHECKPOINT_DIR/NAME.ckpt``) instead of
        beside ``out``: for example outside a repository whose results are committed.
        A resumed run must be given the same directory.

    Returns
    -------
    dict
        The result, with the keys ``format``, ``complete``, ``config``, ``data``,
        ``params``, ``params_total``, ``history``, ``provenance`` and ``stopped``
        (``None``, or why a run stopped early). ``history`` has one dict per epoch:
        ``epoch``, ``lr``, ``train_loss``, ``train_acc``, ``test_loss``,
        ``test_acc``, ``seconds``, ``train_seconds`` and ``stack_size``; with
        ``eval_train`` also ``train_eval_loss`` and ``train_eval_acc``, and for GRU
        variants whose gates have a bias ``gate_bias`` (:func:`gate_bias_summary`).

    Raises
    ------
    NonFiniteLossError
        The loss became NaN or infinite (the result file says so; the checkpoint
        keeps the last good epoch).
    ResumeError
        ``resume=True`` found a checkpoint of a different configuration, or a
        partial result whose checkpoint is missing.
    RunFileError
        A file at ``out`` or its checkpoint is not ``gru_lib``'s, is unreadable or
        damaged, or cannot be written (checked before training starts).
    ValueError
        Settings that cannot run here (:func:`preflight`).
    TypeError
        A setting of the wrong type (:func:`preflight`).
    """
    results, errors = _train_members([config], data, [out], resume=resume, overwrite=overwrite, progress=progress,
                                     deterministic=deterministic, command=command, extra=extra,
                                     on_epoch=on_epoch, cuda_graph=cuda_graph, checkpoint_dir=checkpoint_dir)
    if errors[0] is not None:
        raise errors[0]
    return results[0]


def train_stack(
    configs: Sequence[TrainConfig],
    data: SequenceData,
    *,
    outs: Optional[Sequence[Union[str, Path, None]]] = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    deterministic: bool = True,
    command: Optional[list[str]] = None,
    extra: Optional[dict] = None,
    on_epoch: Optional[Callable[[dict], None]] = None,
    cuda_graph: Optional[bool] = None,
    checkpoint_dir: Union[str, Path, None] = None,
) -> list[dict]:
    """Train several models of one architecture together, in one pass; return their results.

    The configurations may differ only in ``lr``, ``seed`` and ``epochs``
    (:func:`~gru_lib.config.stack_key`). Each model is trained as :func:`train` would train it
    alone, with its own result file ``outs[k]`` and checkpoint; models may resume
    from different epochs, and a model that finishes or diverges leaves the stack
    while the others go on. A diverged model's result has ``stopped`` set (no
    exception is raised for it). Other arguments as in :func:`train`.

    >>> cfgs = [TrainConfig(task="toy", model="gru2", lr=lr, epochs=1,
    ...                     hidden_size=8) for lr in (1e-3, 1e-4)]
    >>> x, y = torch.rand(64, 5, 3), torch.randint(0, 10, (64,))
    >>> data = SequenceData(x, y, x[:16], y[:16], num_classes=10)
    >>> results = train_stack(cfgs, data, progress=False)
    >>> [r["history"][-1]["lr"] for r in results]
    [0.001, 0.0001]
    """
    results, _ = _train_members(configs, data, outs, resume=resume, overwrite=overwrite, progress=progress,
                                deterministic=deterministic, command=command, extra=extra,
                                on_epoch=on_epoch, cuda_graph=cuda_graph, checkpoint_dir=checkpoint_dir)
    return results

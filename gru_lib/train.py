"""The paper's training protocol: model, optimiser, learning-rate rule, resumable loop.

Dey & Salem (2017, §3 and Table 0) train one recurrent layer followed by a softmax
(MNIST, 10 classes) or a logistic unit (IMDB) with RMSprop, batch 32, 20% dropout
and the learning-rate rule of their eq. (18). This module implements that protocol
for any tensors; :mod:`gru_lib.experiments` supplies the paper's tasks and data.

The model (:func:`build_model`)
    ``[embedding] → recurrent layer → dropout → linear``. Token inputs (IMDB) go
    through an embedding (128-dimensional: the paper's 98688 parameters for GRU0
    are 3(n² + nm + n) with n = m = 128). The classifier reads the recurrent layer's
    last output (Keras's ``return_sequences=False``). Ten classes use 10 logits and
    ``CrossEntropyLoss`` (softmax + categorical cross-entropy); two classes use one
    logit and ``BCEWithLogitsLoss`` (logistic unit + binary cross-entropy).

Dropout placement (``dropout_at``) — the paper says only "Dropout 20%"
    ``"output"`` (default): a dropout layer on the last state, before the output
    layer, as a Keras ``Dropout`` layer between the recurrent and ``Dense`` layers
    would do. ``"input"``: dropout on the recurrent layer's input features with one
    mask per sequence shared by all time steps, which is what the Keras recurrent
    layer's own ``dropout=`` argument does (the Keras IMDB example the paper follows
    also sets ``recurrent_dropout``, dropout on the state inside the recurrence,
    which is not offered here). Note that with pixel-wise MNIST (one input feature)
    ``"input"`` blanks 20% of whole sequences. ``"none"``: no dropout.

Optimiser
    ``torch.optim.RMSprop`` with Keras's defaults (:data:`KERAS_RMSPROP`): Keras
    ``rho=0.9`` is torch's ``alpha`` (the decay of the running mean of squared
    gradients; torch's own default is 0.99) and Keras's ``epsilon``, ``K.epsilon()``
    = 1e-7, is torch's ``eps`` (torch's default is 1e-8, as was the RMSprop default
    of the Keras 2.0 releases of 2017); no momentum, not centred. Both torch and
    Keras 2.0 add ε outside the square root, ``g / (√v + ε)``; at these rates the
    choice of ε makes no measurable difference.

Learning rate (``lr_schedule``)
    ``"eq18"`` (default) is eq. (18) as written: ``η(e) = η · exp(−cost(e−1))`` where
    ``cost(e−1)`` is the previous epoch's mean training loss (the running mean over
    its batches, with dropout on, which is the ``loss`` Keras reports for an epoch).
    There is no cost before the first epoch; we use ``η(1) = η`` (i.e. cost(0) = 0).
    Because the cost falls as training proceeds, ``exp(−cost)`` *grows* towards 1:
    the rate starts low after epoch 1 and rises towards the base rate η — the
    opposite of a decay, although the paper calls it one. ``"constant"`` keeps η.

Initialisation (``init``)
    ``"keras"`` (default, since the paper ran Keras's defaults): the recurrent layer
    gets Glorot-uniform input kernels, orthogonal recurrent kernels and zero biases
    (:mod:`gru_lib.init`); the embedding U(−0.05, 0.05); the output layer
    Glorot-uniform with a zero bias. ``"torch"``: PyTorch's defaults throughout.

Accuracies and losses per epoch
    ``train_loss``/``train_acc`` are running means over the epoch's batches with
    dropout on, as Keras reports them (so the paper's "Train" columns are most
    likely this number); ``test_loss``/``test_acc`` are computed after the epoch in
    evaluation mode. ``eval_train=True`` adds ``train_eval_loss``/``train_eval_acc``,
    the training set re-evaluated in evaluation mode (one extra forward pass).

Runs that survive
    With ``out=PATH.json`` the result JSON and a checkpoint ``PATH.ckpt`` (model,
    optimiser, random-number-generator states, history, configuration) are written
    after every epoch, each atomically (temporary file, then ``os.replace``). An
    interrupted run keeps its last complete epoch; ``resume=True`` continues it to
    ``epochs`` and, on the CPU, reproduces the uninterrupted run's history exactly.
    A non-finite loss stops the run with :class:`NonFiniteLossError`; the last good
    checkpoint is left as it was and the JSON records why the run stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .baselines import LSTM, MGU, SimpleRNN
from .params import MODELS, count_params
from .rnn import GRU
from .variants import VARIANTS

__all__ = [
    "ACTIVATIONS",
    "ResumeError",
    "DROPOUT_PLACEMENTS",
    "INITS",
    "KERAS_RMSPROP",
    "LR_SCHEDULES",
    "MODELS",
    "NonFiniteLossError",
    "RESULT_FORMAT",
    "SequenceClassifier",
    "SequenceData",
    "TrainConfig",
    "atomic_write_bytes",
    "atomic_write_json",
    "build_model",
    "checkpoint_path",
    "config_differences",
    "device_name",
    "epoch_lr",
    "eq18_lr",
    "evaluate",
    "provenance",
    "recurrent_param_count",
    "resolve_device",
    "train",
]

#: Keras's RMSprop defaults in torch's names (Keras ``rho`` is ``alpha``, ``epsilon`` is ``eps``).
KERAS_RMSPROP = {"alpha": 0.9, "eps": 1e-7}
DROPOUT_PLACEMENTS = ("output", "input", "none")
LR_SCHEDULES = ("eq18", "constant")
INITS = ("keras", "torch")
ACTIVATIONS = ("tanh", "relu")
#: Identifies the layout of result JSON files (and of the checkpoints beside them).
RESULT_FORMAT = "gru_lib.result/1"
CHECKPOINT_FORMAT = "gru_lib.checkpoint/1"


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the run was stopped."""

    def __init__(self, epoch: int, batch: int, value: float) -> None:
        self.epoch, self.batch, self.value = epoch, batch, value
        super().__init__(
            f"the training loss became {value} in epoch {epoch} (by batch {batch}); the run was stopped. "
            "A smaller learning rate usually helps."
        )


class ResumeError(ValueError):
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


# ----------------------------------------------------------------------------- devices
def resolve_device(spec: Union[str, torch.device, None] = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple's MPS, then the CPU; anything else is passed to ``torch.device``."""
    if spec is None or str(spec) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(spec)!r} requested but CUDA is not available; use --device cpu or auto")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {str(spec)!r} requested but MPS is not available; use --device cpu or auto")
    return device


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


# ----------------------------------------------------------------------------- model
def _recurrent_layer(model: str, input_size: int, hidden_size: int, *, activation: str, init: str,
                     reset_after: bool, update_rule: str, implementation: str) -> nn.Module:
    model = model.lower()
    if model in VARIANTS:
        return GRU(input_size, hidden_size, batch_first=True, variant=model, activation=activation,
                   reset_after=reset_after, update_rule=update_rule, init=init, implementation=implementation)
    if reset_after:
        raise ValueError(f"reset_after applies to GRUs only, not to {model!r}")
    cls = {"lstm": LSTM, "rnn": SimpleRNN, "mgu": MGU}.get(model)
    if cls is None:
        raise ValueError(f"unknown model {model!r}; expected one of {list(MODELS)}")
    return cls(input_size, hidden_size, batch_first=True, activation=activation, init=init)


class SequenceClassifier(nn.Module):
    """``[embedding] → recurrent layer → dropout → linear`` (see the module docstring).

    ``forward(x)`` takes ``(B, T, m)`` floats, or ``(B, T)`` token indices when the
    model has an embedding, and returns logits: ``(B, num_classes)`` for more than
    two classes, ``(B,)`` (one logistic unit) for two.
    """

    def __init__(self, embedding: Optional[nn.Embedding], rnn: nn.Module, num_classes: int,
                 dropout: float, dropout_at: str) -> None:
        super().__init__()
        if dropout_at not in DROPOUT_PLACEMENTS:
            raise ValueError(f"unknown dropout_at {dropout_at!r}; expected one of {list(DROPOUT_PLACEMENTS)}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.embedding = embedding
        self.rnn = rnn
        self.num_classes = int(num_classes)
        self.dropout = float(dropout) if dropout_at != "none" else 0.0
        self.dropout_at = dropout_at
        self.output = nn.Linear(rnn.hidden_size, 1 if num_classes == 2 else num_classes)

    @property
    def binary(self) -> bool:
        return self.num_classes == 2

    def forward(self, x: Tensor) -> Tensor:
        if self.embedding is not None:
            x = self.embedding(x)
        if self.dropout_at == "input" and self.training and self.dropout > 0:
            # one mask per sequence and feature, shared by all steps (Keras's layer `dropout=`)
            keep = 1.0 - self.dropout
            mask = torch.empty(x.shape[0], 1, x.shape[2], device=x.device, dtype=x.dtype).bernoulli_(keep)
            x = x * mask / keep
        out, _ = self.rnn(x)
        last = out[:, -1]
        if self.dropout_at == "output" and self.dropout > 0:
            last = F.dropout(last, self.dropout, training=self.training)
        logits = self.output(last)
        return logits.squeeze(-1) if self.binary else logits

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """Mean binary or categorical cross-entropy."""
        if self.binary:
            return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype))
        return F.cross_entropy(logits, y)

    def predict(self, logits: Tensor) -> Tensor:
        return (logits > 0).long() if self.binary else logits.argmax(-1)


def build_model(
    model: str,
    *,
    input_size: int,
    hidden_size: int,
    num_classes: int,
    activation: str = "tanh",
    num_embeddings: Optional[int] = None,
    dropout: float = 0.2,
    dropout_at: str = "output",
    init: str = "keras",
    reset_after: bool = False,
    update_rule: str = "paper",
    implementation: str = "fused",
) -> SequenceClassifier:
    """The paper's classifier around any ``gru_lib`` recurrent model.

    Parameters
    ----------
    model:
        ``"gru0"`` … ``"gru3"``, ``"lstm"``, ``"rnn"`` or ``"mgu"``.
    input_size:
        Features per step; with ``num_embeddings`` the embedding's dimension.
    hidden_size, activation:
        ``n`` and the candidate's ``g`` (``"tanh"`` or ``"relu"``).
    num_classes:
        10 for MNIST (softmax), 2 for IMDB (one logistic unit).
    num_embeddings:
        Vocabulary size for token inputs; ``None`` for real-valued sequences.
    dropout, dropout_at, init:
        See the module docstring.
    reset_after, update_rule, implementation:
        Passed to :class:`gru_lib.GRU` (GRUs only).

    Examples
    --------
    >>> m = build_model("gru1", input_size=28, hidden_size=100, num_classes=10)
    >>> recurrent_param_count(m)
    33100
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; expected one of {list(INITS)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {list(ACTIVATIONS)}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    embedding = nn.Embedding(num_embeddings, input_size) if num_embeddings else None
    rnn = _recurrent_layer(model, input_size, hidden_size, activation=activation, init=init,
                           reset_after=reset_after, update_rule=update_rule, implementation=implementation)
    net = SequenceClassifier(embedding, rnn, num_classes, dropout, dropout_at)
    if init == "keras":
        with torch.no_grad():
            if embedding is not None:
                embedding.weight.uniform_(-0.05, 0.05)
            nn.init.xavier_uniform_(net.output.weight)
            net.output.bias.zero_()
    return net


def recurrent_param_count(net: SequenceClassifier) -> int:
    """Trainable parameters of the recurrent layer alone (what the paper's tables count)."""
    return sum(p.numel() for p in net.rnn.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------- data & config
@dataclass
class SequenceData:
    """A classification data set as tensors.

    ``x_*``: ``(N, T, m)`` floats, or ``(N, T)`` int64 token indices (then
    ``num_embeddings`` is the vocabulary size); ``y_*``: ``(N,)`` int64 labels in
    ``[0, num_classes)``. ``info`` is recorded in the result (sizes, source, …).
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int
    num_embeddings: Optional[int] = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, "x_" + split), getattr(self, "y_" + split)
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"x_{split} has {x.shape[0]} rows but y_{split} has {y.shape[0]}")
            if x.shape[0] == 0:
                raise ValueError(f"the {split} set is empty")
            if self.num_embeddings is None and (not x.is_floating_point() or x.dim() != 3):
                raise ValueError(f"x_{split} must be (N, T, m) floats without num_embeddings, "
                                 f"got {tuple(x.shape)} {x.dtype}")
            if self.num_embeddings is not None and (x.is_floating_point() or x.dim() != 2):
                raise ValueError(f"x_{split} must be (N, T) token indices with num_embeddings, "
                                 f"got {tuple(x.shape)} {x.dtype}")

    @property
    def tokens(self) -> bool:
        return self.num_embeddings is not None


@dataclass
class TrainConfig:
    """Everything that defines a run (recorded in the result as ``config``).

    ``task``, ``train_limit`` and ``test_limit`` describe where the data came from
    (see :mod:`gru_lib.experiments`); the loop itself trains on whatever
    :class:`SequenceData` it is given. ``device``, ``threads`` and ``eval_batch_size``
    do not change the model being trained and may differ when a run is resumed.
    """

    task: str
    model: str
    activation: str = "tanh"
    lr: float = 1e-3
    epochs: int = 100
    batch_size: int = 32
    hidden_size: int = 100
    embedding_dim: int = 128
    dropout: float = 0.2
    dropout_at: str = "output"
    lr_schedule: str = "eq18"
    init: str = "keras"
    reset_after: bool = False
    update_rule: str = "paper"
    implementation: str = "fused"
    seed: int = 0
    train_limit: Optional[int] = None
    test_limit: Optional[int] = None
    eval_train: bool = False
    device: str = "auto"
    threads: Optional[int] = None
    eval_batch_size: int = 1000

    #: fields that may change between a run and its resumption
    RESUMABLE_CHANGES = ("epochs", "device", "threads", "eval_batch_size")

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; expected one of {list(MODELS)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; expected one of {list(ACTIVATIONS)}")
        if self.dropout_at not in DROPOUT_PLACEMENTS:
            raise ValueError(f"unknown dropout_at {self.dropout_at!r}; expected one of {list(DROPOUT_PLACEMENTS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; expected one of {list(LR_SCHEDULES)}")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; expected one of {list(INITS)}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        for name in ("epochs", "batch_size", "hidden_size", "embedding_dim", "eval_batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        self.lr = float(self.lr)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# ----------------------------------------------------------------------------- files
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


# ----------------------------------------------------------------------------- provenance
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
        "command": list(command) if command is not None else list(sys.argv),
    }


# ----------------------------------------------------------------------------- progress
class _Progress:
    """A dependency-free progress bar on stderr: one line per epoch, redrawn in place on a terminal."""

    def __init__(self, enabled: bool, stream=None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0

    def update(self, epoch: int, epochs: int, done: int, total: int, loss: float, acc: float, t0: float,
               force: bool = False) -> None:
        if not self.tty:
            return
        now = time.perf_counter()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        width = 24
        fill = int(width * done / max(total, 1))
        bar = "#" * fill + "." * (width - fill)
        elapsed = now - t0
        eta = elapsed / done * (total - done) if done else float("nan")
        self.stream.write(f"\repoch {epoch}/{epochs} [{bar}] {done}/{total} loss {loss:.4f} acc {acc:.3f} "
                          f"{elapsed:.0f}s<{eta:.0f}s ")
        self.stream.flush()

    def end_epoch(self, epochs: int, entry: dict) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(
            f"epoch {entry['epoch']}/{epochs}  lr {entry['lr']:.3g}  train loss {entry['train_loss']:.4f} "
            f"acc {entry['train_acc']:.4f}  test loss {entry['test_loss']:.4f} acc {entry['test_acc']:.4f}  "
            f"{entry['seconds']:.1f}s\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if self.enabled:
            self.stream.write(text + "\n")
            self.stream.flush()


# ----------------------------------------------------------------------------- loop
@torch.no_grad()
def evaluate(net: SequenceClassifier, x: Tensor, y: Tensor, batch_size: int = 1000) -> tuple[float, float]:
    """Mean loss and accuracy of ``net`` on ``(x, y)`` in evaluation mode (no dropout)."""
    was_training = net.training
    net.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for i in range(0, x.shape[0], batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        logits = net(xb)
        loss_sum += net.loss(logits, yb).double() * xb.shape[0]
        correct += (net.predict(logits) == yb).sum()
    net.train(was_training)
    n = x.shape[0]
    return float(loss_sum) / n, int(correct) / n


def _rng_state(generator: torch.Generator, device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    if device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def _set_rng_state(state: dict, generator: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
    if device.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(state["mps"])


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


def _read_result(path: Path) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a torn or foreign file: say which and why
        raise ValueError(f"cannot read checkpoint {path}: {e}") from e


def config_differences(saved: dict, config: TrainConfig) -> list[str]:
    """The settings in which ``config`` differs from a saved configuration, apart from the resumable ones."""
    return [f"{k}: saved {saved.get(k)!r}, now {v!r}" for k, v in config.to_dict().items()
            if k not in TrainConfig.RESUMABLE_CHANGES and saved.get(k) != v]


def _check_resumable(saved: dict, config: TrainConfig, path: Path) -> None:
    diffs = config_differences(saved, config)
    if diffs:
        raise ResumeError(
            f"cannot resume {path}: it was made with a different configuration ("
            + "; ".join(diffs) + "). Use the same settings, or a new --out path.")


def train(
    config: TrainConfig,
    data: SequenceData,
    *,
    out: Union[str, Path, None] = None,
    resume: bool = False,
    progress: bool = True,
    deterministic: bool = True,
    command: Optional[list[str]] = None,
    extra: Optional[dict] = None,
    on_epoch: Optional[Callable[[dict], None]] = None,
) -> dict:
    """Train one model with the paper's protocol; return the result (the JSON's content).

    Parameters
    ----------
    config:
        The run's settings (:class:`TrainConfig`).
    data:
        Training and test tensors (:class:`SequenceData`), on any device.
    out:
        ``PATH.json``: write the result there and a checkpoint to ``PATH.ckpt``
        after every epoch (atomically). ``None``: keep everything in memory.
    resume:
        Continue from ``PATH.ckpt`` if it exists (the configuration must match,
        apart from :attr:`TrainConfig.RESUMABLE_CHANGES`); start afresh otherwise.
    progress:
        Show a progress bar and one summary line per epoch on stderr.
    deterministic:
        On the CPU, turn on ``torch.use_deterministic_algorithms`` for the run.
    command:
        The command line recorded in the provenance (default ``sys.argv``).
    extra:
        More top-level entries for the result (e.g. ``{"preset": "quick"}``).
    on_epoch:
        Called with the result after each epoch.

    Returns
    -------
    dict with ``format``, ``complete``, ``config``, ``data``, ``params``,
    ``params_total``, ``history`` (one dict per epoch: ``epoch``, ``lr``,
    ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``, ``seconds``,
    ``train_seconds``, and with ``eval_train`` ``train_eval_loss``/``train_eval_acc``),
    ``provenance`` and ``stopped`` (``None``, or why a run stopped early).

    Raises
    ------
    NonFiniteLossError
        The loss became NaN or infinite (the result file says so; the checkpoint
        keeps the last good epoch).
    ResumeError
        ``resume=True`` found a checkpoint of a different configuration, or a
        partial result whose checkpoint is missing.
    """
    device = resolve_device(config.device)
    out = Path(out) if out is not None else None
    ckpt = checkpoint_path(out) if out is not None else None
    bar = _Progress(progress)

    with _run_environment(device, config.threads, deterministic):
        prov = provenance(device, command)
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        input_size = config.embedding_dim if data.tokens else data.x_train.shape[-1]
        net = build_model(
            config.model, input_size=input_size, hidden_size=config.hidden_size, num_classes=data.num_classes,
            activation=config.activation, num_embeddings=data.num_embeddings, dropout=config.dropout,
            dropout_at=config.dropout_at, init=config.init, reset_after=config.reset_after,
            update_rule=config.update_rule, implementation=config.implementation,
        ).to(device)
        params = count_params(config.model, config.hidden_size, input_size, reset_after=config.reset_after,
                              double_bias=None if config.model in VARIANTS else False)
        actual = recurrent_param_count(net)
        if params != actual:  # the closed form and the module must agree
            raise AssertionError(f"count_params gives {params} but the recurrent layer has {actual} parameters")
        opt = torch.optim.RMSprop(net.parameters(), lr=config.lr, **KERAS_RMSPROP)

        history: list[dict] = []
        sessions: list[dict] = []
        if resume and ckpt is not None and not ckpt.exists() and out.exists():
            # a result without its checkpoint (e.g. one copied or committed without it)
            previous = _read_result(out)
            if previous is not None and previous.get("history"):
                _check_resumable(previous.get("config", {}), config, out)
                if previous.get("complete") and len(previous["history"]) >= config.epochs:
                    bar.message(f"{out}: already complete ({len(previous['history'])} epochs)")
                    return previous
                raise ResumeError(
                    f"cannot resume {out}: its checkpoint {ckpt.name} is missing, so epoch "
                    f"{len(previous['history']) + 1} cannot continue from epoch {len(previous['history'])}. "
                    "Start the run again (--overwrite) or restore the checkpoint.")
        if resume and ckpt is not None and ckpt.exists():
            state = _load_checkpoint(ckpt)
            if state.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(f"{ckpt} is not a gru_lib checkpoint (format {state.get('format')!r})")
            _check_resumable(state["config"], config, ckpt)
            net.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            _set_rng_state(state["rng"], generator, device)
            history = list(state["history"])
            sessions = list(state.get("sessions", []))
            bar.message(f"resuming {out} after epoch {len(history)} of {config.epochs}")
        if len(history) < config.epochs:
            sessions.append({k: prov[k] for k in ("date", "command", "device", "device_name", "threads",
                                                   "git_commit", "git_dirty", "gru_lib_version", "torch_version")}
                            | {"first_epoch": len(history) + 1})
        prov = prov | {"sessions": sessions}

        x_tr, y_tr = data.x_train.to(device), data.y_train.to(device)
        x_te, y_te = data.x_test.to(device), data.y_test.to(device)
        n = x_tr.shape[0]
        result = {
            "format": RESULT_FORMAT,
            "complete": False,
            "config": config.to_dict(),
            "data": dict(data.info) | {"train_size": n, "test_size": int(x_te.shape[0])},
            "params": params,
            "params_total": sum(p.numel() for p in net.parameters()),
            "history": history,
            "provenance": prov,
            "stopped": None,
        }
        if extra:
            result |= {k: v for k, v in extra.items() if k not in result}

        def save(with_checkpoint: bool) -> None:
            result["complete"] = len(history) >= config.epochs and result["stopped"] is None
            if out is None:
                return
            if with_checkpoint:
                buf = io.BytesIO()
                torch.save({
                    "format": CHECKPOINT_FORMAT, "config": config.to_dict(), "epoch": len(history),
                    "model": net.state_dict(), "optimizer": opt.state_dict(),
                    "rng": _rng_state(generator, device), "history": history, "sessions": sessions,
                }, buf)
                atomic_write_bytes(ckpt, buf.getvalue())
            atomic_write_json(out, result)

        if len(history) >= config.epochs:
            result["complete"] = result["stopped"] is None
            if out is not None and not out.exists():
                save(with_checkpoint=False)
            bar.message(f"{out}: already complete ({len(history)} epochs)")
            return result

        check_every = 1 if device.type == "cpu" else 50
        net.train()
        for epoch in range(len(history) + 1, config.epochs + 1):
            lr = epoch_lr(config.lr_schedule, config.lr, epoch, history)
            for group in opt.param_groups:
                group["lr"] = lr
            t0 = time.perf_counter()
            perm = torch.randperm(n, generator=generator).to(device)
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            seen = 0
            nb = math.ceil(n / config.batch_size)
            for b in range(nb):
                idx = perm[b * config.batch_size:(b + 1) * config.batch_size]
                xb, yb = x_tr[idx], y_tr[idx]
                logits = net(xb)
                loss = net.loss(logits, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.detach().double() * idx.shape[0]
                correct += (net.predict(logits.detach()) == yb).sum()
                seen += idx.shape[0]
                if (b + 1) % check_every == 0 or b == nb - 1:
                    mean_loss = float(loss_sum) / seen
                    if not math.isfinite(mean_loss):
                        if bar.tty:
                            bar.stream.write("\n")
                        err = NonFiniteLossError(epoch, b + 1, mean_loss)
                        result["stopped"] = {"reason": "non-finite loss", "epoch": epoch, "batch": b + 1,
                                             "message": str(err)}
                        save(with_checkpoint=False)  # the checkpoint keeps the last good epoch
                        raise err
                    bar.update(epoch, config.epochs, seen, n, mean_loss, int(correct) / seen, t0)
            train_seconds = time.perf_counter() - t0
            entry = {"epoch": epoch, "lr": lr, "train_loss": float(loss_sum) / n, "train_acc": int(correct) / n}
            entry["test_loss"], entry["test_acc"] = evaluate(net, x_te, y_te, config.eval_batch_size)
            if config.eval_train:
                entry["train_eval_loss"], entry["train_eval_acc"] = evaluate(net, x_tr, y_tr, config.eval_batch_size)
            entry["train_seconds"] = train_seconds
            entry["seconds"] = time.perf_counter() - t0
            history.append(entry)
            save(with_checkpoint=True)
            bar.end_epoch(config.epochs, entry)
            if on_epoch is not None:
                on_epoch(result)
        return result

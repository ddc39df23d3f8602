"""What a run is: its settings (:class:`TrainConfig`), its data (:class:`SequenceData`),
the device it runs on, and the checks that settle, before anything trains, that
it can run.

Every setting is checked for its type and range where it is made, with a message
that says what was expected and what came; :func:`check_runtime` adds what only
the machine can tell (the device, the number of CPU threads, the model's size).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from .functional import UPDATE_RULES
from .model import ACTIVATIONS, DROPOUT_PLACEMENTS, INITS
from .params import MODELS, count_params
from .rnn import IMPLEMENTATIONS
from .variants import VARIANTS

__all__ = [
    "LR_SCHEDULES",
    "MAX_LR",
    "MAX_PARAMS",
    "MAX_SEED",
    "STACK_FREE",
    "SequenceData",
    "TrainConfig",
    "check_device_spec",
    "check_runtime",
    "max_threads",
    "resolve_device",
    "stack_key",
]

LR_SCHEDULES = ("eq18", "constant")

#: The largest seed, ``2**64 - 1``. ``torch.manual_seed`` takes 64-bit seeds and maps a
#: negative one onto ``2**64 + seed``, so a negative seed would be another seed's alias.
MAX_SEED = (1 << 64) - 1

#: The largest learning rate, which is the largest finite float32 (the models' precision).
MAX_LR = float(torch.finfo(torch.float32).max)


# ----------------------------------------------------------------------------- devices
_DEVICE_TYPES = ("cpu", "cuda", "mps")


def check_device_spec(spec: object) -> str:
    """``spec`` if it names a device a run can use (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
    ``"mps"``); ``ValueError``/``TypeError`` otherwise. Whether the device exists is :func:`resolve_device`'s
    question."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    if not isinstance(spec, str):
        raise TypeError(f"device must be a str such as 'auto', 'cpu' or 'cuda:0', got {spec!r} "
                        f"({type(spec).__name__})")
    if spec == "auto":
        return spec
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError) as e:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {spec!r}") from e
    if device.type not in _DEVICE_TYPES:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {spec!r} "
                         f"(type {device.type!r} cannot train)")
    return spec


def resolve_device(spec: Union[str, torch.device, None] = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple's MPS, then the CPU; anything else must name an available device."""
    if spec is None or str(spec) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(check_device_spec(spec))
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(spec)!r} requested but CUDA is not available; use --device cpu or auto")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {str(spec)!r} requested but there {'is' if count == 1 else 'are'} only "
                             f"{count} CUDA device{'s' if count != 1 else ''} (cuda:0 to cuda:{count - 1})")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {str(spec)!r} requested but MPS is not available; use --device cpu or auto")
    return device


def max_threads() -> int:
    """The most CPU threads a run may ask for: the number of CPUs (``os.cpu_count()``)."""
    import os

    return os.cpu_count() or 1


#: The most parameters one model may have, 2^28 (1 GiB of float32). No experiment here
#: comes near, and a larger one is a typo that would exhaust the memory mid-run.
MAX_PARAMS = 1 << 28


def check_runtime(config: "TrainConfig", data: Optional["SequenceData"] = None) -> torch.device:
    """What :class:`TrainConfig` cannot check alone: the device exists, the thread count fits this
    machine, the Triton engine can run there, and (given the data) the model fits
    :data:`MAX_PARAMS`; returns the device."""
    device = resolve_device(config.device)
    if config.implementation == "triton" and config.model in VARIANTS:
        from .rnn import check_triton_engine
        from .triton_gru import check_device

        try:
            check_triton_engine(config.hidden_size)
            check_device(device)
        except (ImportError, RuntimeError) as e:  # a setting this machine cannot run
            raise ValueError(str(e)) from e
    if config.threads is not None and config.threads > max_threads():
        raise ValueError(f"threads must be at most the number of CPUs, {max_threads()}, got {config.threads}")
    if data is not None:
        input_size = config.embedding_dim if data.tokens else data.x_train.shape[-1]
        n = config.hidden_size
        total = count_params(config.model, n, input_size, reset_after=config.reset_after,
                             double_bias=None if config.model in VARIANTS else False)
        total += (data.num_embeddings or 0) * config.embedding_dim + (n + 1) * data.num_classes
        if total > MAX_PARAMS:
            raise ValueError(f"the model would have {total} parameters, more than the {MAX_PARAMS} allowed; "
                             "choose a smaller hidden_size or embedding_dim")
    return device


# ----------------------------------------------------------------------------- data & config
def _is_real(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fail(name: str, expected: str, value: object) -> None:
    kind = TypeError if not _is_real(value) else ValueError
    raise kind(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")


def _check_int(name: str, value: object, low: int, high: Optional[int], expected: Optional[str] = None) -> int:
    if expected is None:
        expected = f"an int in [{low}, {high}]" if high is not None else f"an int >= {low}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return value


def _check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {list(choices)}, got {value!r} ({type(value).__name__})")
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {list(choices)}")
    return value


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
        _check_int("num_classes", self.num_classes, 2, None)
        if self.num_embeddings is not None:
            _check_int("num_embeddings", self.num_embeddings, 1, None, "a positive int or None")
        for split in ("train", "test"):
            x, y = getattr(self, "x_" + split), getattr(self, "y_" + split)
            for name, t in (("x_" + split, x), ("y_" + split, y)):
                if not isinstance(t, Tensor):
                    raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
            if y.dim() != 1 or y.dtype != torch.int64:
                raise ValueError(f"y_{split} must be (N,) int64 labels, got {tuple(y.shape)} {y.dtype}")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise ValueError(f"y_{split} must hold labels in [0, {self.num_classes}) for num_classes="
                                 f"{self.num_classes}, got labels from {int(y.min())} to {int(y.max())}")
            if self.num_embeddings is not None and x.numel() and not x.is_floating_point() and (
                    int(x.min()) < 0 or int(x.max()) >= self.num_embeddings):
                raise ValueError(f"x_{split} must hold token indices in [0, {self.num_embeddings}) for "
                                 f"num_embeddings={self.num_embeddings}, got {int(x.min())} to {int(x.max())}")
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
            if x.is_floating_point() and not bool(torch.isfinite(x).all()):
                # training would report a non-finite loss and blame the learning rate
                bad = ~torch.isfinite(x)
                rows = bad.flatten(1).any(1).nonzero().flatten()
                kinds = [w for w, m in (("NaN", torch.isnan(x)), ("inf", torch.isinf(x))) if bool(m.any())]
                raise ValueError(f"x_{split} holds {' and '.join(kinds)} ({int(bad.sum())} values in {rows.numel()} "
                                 f"examples, the first at row {int(rows[0])}); the data must be finite numbers")

    @property
    def tokens(self) -> bool:
        return self.num_embeddings is not None


@dataclass
class TrainConfig:
    """Everything that defines a run (recorded in the result as ``config``).

    ``task``, ``train_limit`` and ``test_limit`` describe where the data came from
    (see :mod:`gru_lib.experiments`); the loop itself trains on whatever
    :class:`SequenceData` it is given. ``device``, ``threads``, ``eval_batch_size`` and
    ``implementation`` (``"fused"``, ``"autograd"`` or ``"triton"``: see
    :class:`gru_lib.GRU`) do not change the model being trained and may differ when a
    run is resumed.
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

    #: The fields that may change between a run and its resumption (``implementation``
    #: is the engine: the same model, its arithmetic equal to float tolerance).
    RESUMABLE_CHANGES = ("epochs", "device", "threads", "eval_batch_size", "implementation")

    #: Upper bounds of ``epochs``, ``batch_size``, ``eval_batch_size``, ``hidden_size``
    #: and ``embedding_dim``, by name: a larger value is a typo, or a model that cannot
    #: fit in memory. A setting above its bound raises ``ValueError`` naming the bound.
    #:
    #: :meta hide-value:
    LIMITS = {"epochs": 1_000_000, "batch_size": 1 << 20, "eval_batch_size": 1 << 20, "hidden_size": 1 << 16,
              "embedding_dim": 1 << 16}

    def __post_init__(self) -> None:
        for name, choices in (("model", MODELS), ("activation", ACTIVATIONS), ("dropout_at", DROPOUT_PLACEMENTS),
                              ("lr_schedule", LR_SCHEDULES), ("init", INITS), ("update_rule", UPDATE_RULES),
                              ("implementation", IMPLEMENTATIONS)):
            _check_choice(name, getattr(self, name), choices)
        if not isinstance(self.task, str) or not self.task:
            raise TypeError(f"task must be a non-empty str, got {self.task!r}")
        if not _is_real(self.lr) or not (0 < self.lr <= MAX_LR):
            # the model trains in float32: a larger rate would become inf in the optimiser
            _fail("lr", f"a positive number at most {MAX_LR:.7g} (the largest float32)", self.lr)
        for name, top in self.LIMITS.items():
            _check_int(name, getattr(self, name), 1, top)
        _check_int("seed", self.seed, 0, MAX_SEED)
        for name in ("train_limit", "test_limit"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 1, None, "a positive int or None")
        if self.threads is not None:
            _check_int("threads", self.threads, 1, None, "a positive int or None")
        if not _is_real(self.dropout) or not 0 <= self.dropout < 1:
            _fail("dropout", "a number in [0, 1)", self.dropout)
        for name in ("reset_after", "eval_train"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.model not in VARIANTS:
            if self.reset_after:
                raise ValueError(f"reset_after applies to the GRU variants only, not to model {self.model!r}")
            if self.update_rule != "paper":
                raise ValueError(f"update_rule applies to the GRU variants only, not to model {self.model!r}")
        if isinstance(self.device, torch.device):
            self.device = str(self.device)
        check_device_spec(self.device)
        self.lr = float(self.lr)
        self.dropout = float(self.dropout)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def stack_key(config: TrainConfig) -> tuple:
    """What runs must share to train in one stack: every setting but ``lr``, ``seed`` and ``epochs``."""
    return tuple((k, v) for k, v in config.to_dict().items() if k not in STACK_FREE)


#: Settings that may differ between the models of one stack.
STACK_FREE = ("lr", "seed", "epochs")

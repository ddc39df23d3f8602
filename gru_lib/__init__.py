"""gru_lib: the gated recurrent unit and its gate variants GRU1–GRU3 (Dey & Salem, 2017) in PyTorch.

The modules mirror ``torch.nn``:

* :class:`GRUCell`, :class:`GRU` — every variant (``variant="gru0"…"gru3"``), either
  candidate activation, reset before or after ``U_h``, either update rule; the paper's
  conventions by default;
* :class:`gru_lib.nn.GRU`, :class:`gru_lib.nn.GRUCell` — the same modules with
  ``torch.nn.GRU``'s defaults, signature and layout: drop-in replacements;
* :class:`SimpleRNN`, :class:`LSTM`, :class:`MGU` — the baselines;
* :func:`count_params` — closed-form parameter counts;
* :mod:`gru_lib.convert` — PyTorch and Keras weights, update-rule conventions.

The rest is imported on first use, so that ``import gru_lib`` stays light:
:mod:`gru_lib.data` (MNIST, IMDB), :mod:`gru_lib.train` and
:mod:`gru_lib.experiments` (the paper's protocol), :mod:`gru_lib.paper` (its
tables), :mod:`gru_lib.report`, :mod:`gru_lib.plots`, :mod:`gru_lib.widgets`,
:mod:`gru_lib.exercises`, :mod:`gru_lib.notebook` (the chapters' helpers) and
:mod:`gru_lib.cluster` (grids as Ray tasks; Ray itself is imported only when such a
grid runs) and :mod:`gru_lib.triton_gru` (the Triton engine of
``GRU(..., implementation="triton")``; Triton is imported only when it runs).
"""

import importlib as _importlib

from . import convert, nn
from ._checks import DtypeError, InputError, NotATensorError
from .baselines import LSTM, MGU, SimpleRNN
from .cell import GRUCell
from .params import MODELS, count_formula, count_params
from .rnn import GRU
from .variants import VARIANTS, Variant, get_variant

__version__ = "0.1.0"

_LAZY_SUBMODULES = (
    "cluster", "data", "exercises", "experiments", "init", "notebook", "paper", "plots", "report", "train",
    "triton_gru", "widgets",
)


def __getattr__(name: str):
    # PEP 562: ``gru_lib.data`` and friends work after a bare ``import gru_lib``
    # without paying for (or requiring) their dependencies at import time.
    if name in _LAZY_SUBMODULES:
        return _importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'gru_lib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))

__all__ = [
    "DtypeError",
    "GRU",
    "GRUCell",
    "InputError",
    "LSTM",
    "MGU",
    "MODELS",
    "NotATensorError",
    "SimpleRNN",
    "VARIANTS",
    "Variant",
    "__version__",
    "convert",
    "count_formula",
    "count_params",
    "get_variant",
    "nn",
]

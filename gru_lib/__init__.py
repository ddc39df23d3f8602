"""gru_lib: the gated recurrent unit and its gate variants GRU1–GRU3 (Dey & Salem, 2017) in PyTorch.

The modules mirror ``torch.nn``:

* :class:`GRUCell`, :class:`GRU` — every variant (``variant="gru0"…"gru3"``), either
  candidate activation, reset before or after ``U_h``, either update rule;
* :class:`SimpleRNN`, :class:`LSTM`, :class:`MGU` — the baselines;
* :func:`count_params` — closed-form parameter counts;
* :mod:`gru_lib.convert` — PyTorch and Keras weights, update-rule conventions.
"""

from . import convert
from .baselines import LSTM, MGU, SimpleRNN
from .cell import GRUCell
from .params import MODELS, count_formula, count_params
from .rnn import GRU
from .variants import VARIANTS, Variant, get_variant

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "GRUCell",
    "LSTM",
    "MGU",
    "MODELS",
    "SimpleRNN",
    "VARIANTS",
    "Variant",
    "__version__",
    "convert",
    "count_formula",
    "count_params",
    "get_variant",
]

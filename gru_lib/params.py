"""Closed-form parameter counts (Dey & Salem 2017 §2–3), checked against the modules.

With ``n`` hidden units and ``m`` inputs, one gate or candidate driven by input,
state and bias costs ``nm + n² + n``. A GRU has two gates and a candidate, so
GRU0 costs ``3(n² + nm + n)`` in the paper's convention (one bias per gate), and
each variant drops what its gates drop:

==========  =====================================  ==========================
model       paper convention                       reduction from GRU0
==========  =====================================  ==========================
gru0        3(n² + nm + n)
gru1        3(n² + nm + n) − 2nm                   2nm          (§3.1)
gru2        3(n² + nm + n) − 2(nm + n)             2(nm + n)    (§3.2)
gru3        3(n² + nm + n) − 2(nm + n²)            2(nm + n²)   (§3.3)
lstm        4(n² + nm + n)                                      (§2.1)
rnn         n² + nm + n                                         (eq. 1)
mgu         2(n² + nm + n)                         (Zhou et al. 2016)
==========  =====================================  ==========================

PyTorch, cuDNN and Keras ``reset_after=True`` keep two bias vectors (``b_ih`` and
``b_hh``), adding ``n`` for every bias vector of the paper's form: GRU0 then
costs ``3(n² + nm + 2n)``, e.g. 6336 for Keras ``GRU(32)`` on 32 inputs and 480
for ``GRU(5)`` on 25 inputs (seed thread 004); ``torch.nn.LSTM`` costs
``4(n² + nm + 2n)``.
"""

from __future__ import annotations

from typing import Optional

from ._checks import check_positive_int
from .variants import VARIANTS

__all__ = ["CONVENTIONS", "MODELS", "MODEL_LABELS", "convention_kwargs", "count_params", "count_formula"]

MODELS = (*VARIANTS, "lstm", "rnn", "mgu")
#: The name that tables, figures and menus show for each of :data:`gru_lib.MODELS`:
#: ``"GRU0"`` … ``"GRU3"`` (:attr:`gru_lib.Variant.label`), ``"LSTM"``,
#: ``"simple RNN"`` and ``"MGU"``.
#:
#: :meta hide-value:
MODEL_LABELS = {**{k: v.label for k, v in VARIANTS.items()}, "lstm": "LSTM", "rnn": "simple RNN", "mgu": "MGU"}
#: The two bias conventions. ``"paper"`` has one bias vector per gate and candidate
#: (Dey & Salem; Keras ``reset_after=False``), ``"reset_after"`` two (PyTorch,
#: cuDNN, Keras ``reset_after=True``).
CONVENTIONS = ("paper", "reset_after")
_BASELINE_BLOCKS = {"lstm": 4, "rnn": 1, "mgu": 2}


def _layer_count(model: str, n: int, m: int, bias: bool, double_bias: bool) -> int:
    if model in VARIANTS:
        v = VARIANTS[model]
        # two gates with what the variant keeps, plus the candidate with everything
        gates = 2 * (n * m * v.input + n * n * v.hidden + n * (v.bias and bias))
        cand = n * m + n * n + n * bias
        extra = n * (3 if v.bias else 1) if (bias and double_bias) else 0
        return gates + cand + extra
    k = _BASELINE_BLOCKS[model]
    return k * (n * n + n * m + n * bias) + (k * n if (bias and double_bias) else 0)


def count_params(
    model: str,
    hidden_size: int,
    input_size: int,
    *,
    reset_after: bool = False,
    double_bias: Optional[bool] = None,
    bias: bool = True,
    num_layers: int = 1,
    bidirectional: bool = False,
) -> int:
    """Number of trainable parameters of a recurrent layer stack, in closed form.

    Parameters
    ----------
    model:
        ``"gru0"`` … ``"gru3"``, ``"lstm"``, ``"rnn"`` or ``"mgu"``.
    hidden_size:
        The number of hidden units, ``n``.
    input_size:
        The number of input features, ``m``.
    reset_after:
        GRUs only: ``True`` for the PyTorch / cuDNN / Keras ``reset_after=True`` form,
        whose second bias vector adds ``n`` per bias vector.
    double_bias:
        Baselines: count PyTorch's second bias vector (``torch.nn.RNN``/``LSTM``).
        For GRUs it is implied by ``reset_after`` and may be left ``None``.
    bias, num_layers, bidirectional:
        As in the modules. Layer ``l > 0`` takes ``n`` inputs (``2n`` if bidirectional).

    Examples
    --------
    >>> count_params("gru0", 100, 1), count_params("gru3", 128, 128)
    (30600, 33152)
    >>> # Keras GRU(32) on 32 features
    >>> count_params("gru0", 32, 32, reset_after=True)
    6336
    """
    if not isinstance(model, str) or model.lower() not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {list(MODELS)}")
    model = model.lower()
    n = check_positive_int("hidden_size", hidden_size)
    m = check_positive_int("input_size", input_size)
    layers = check_positive_int("num_layers", num_layers)
    for name, value in (("reset_after", reset_after), ("bias", bias), ("bidirectional", bidirectional)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool, got {value!r} ({type(value).__name__})")
    if double_bias is not None and not isinstance(double_bias, bool):
        raise TypeError(f"double_bias must be a bool or None, got {double_bias!r} ({type(double_bias).__name__})")
    if model in VARIANTS:
        if double_bias is not None and bool(double_bias) != bool(reset_after):
            raise ValueError(
                "for GRUs the second bias vector comes with reset_after=True and only then; "
                f"got reset_after={reset_after}, double_bias={double_bias}"
            )
        double = bool(reset_after)
    else:
        if reset_after:
            raise ValueError(f"reset_after applies to GRUs only, not to {model!r}")
        double = bool(double_bias)
    if model == "gru3" and not bias:
        raise ValueError("gru3 drives its gates with the bias alone and needs bias=True")
    D = 2 if bidirectional else 1
    total = 0
    for layer in range(layers):
        total += D * _layer_count(model, n, m if layer == 0 else D * n, bool(bias), double)
    return total


def convention_kwargs(model: str, convention: str) -> dict[str, bool]:
    """The keyword of :func:`gru_lib.count_params` that selects a bias ``convention`` for ``model``.

    ``"reset_after"`` means ``reset_after=True`` for the GRUs and ``double_bias=True``
    for the baselines.

    >>> convention_kwargs("gru1", "reset_after")
    {'reset_after': True}
    >>> convention_kwargs("lstm", "paper")
    {'double_bias': False}
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; expected one of {list(CONVENTIONS)}")
    two = convention == "reset_after"
    return {"reset_after": two} if model in VARIANTS else {"double_bias": two}


def count_formula(model: str, *, reset_after: bool = False, double_bias: Optional[bool] = None) -> str:
    """The single-layer count as a LaTeX formula in ``n`` and ``m`` (paper notation).

    >>> count_formula("gru2")
    '3(n^2 + nm + n) - 2(nm + n)'
    """
    if not isinstance(model, str) or model.lower() not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {list(MODELS)}")
    model = model.lower()
    if model in VARIANTS:
        base = "3(n^2 + nm + 2n)" if reset_after else "3(n^2 + nm + n)"
        cut = {"gru0": "", "gru1": " - 2nm", "gru2": " - 2(nm + n)" if not reset_after else " - 2(nm + 2n)",
               "gru3": " - 2(nm + n^2)"}[model]
        return base + cut
    k = _BASELINE_BLOCKS[model]
    inner = "n^2 + nm + 2n" if double_bias else "n^2 + nm + n"
    return f"{k}({inner})" if k > 1 else inner

"""Weights between conventions: PyTorch, Keras, and the two update rules.

Everything here is an exact reparameterisation: the converted model computes
the same function (up to floating-point rounding).

* **Update rule.** ``σ(-a) = 1 - σ(a)``, so negating the update gate's weights and
  biases turns ``h = (1-z) ⊙ h_prev + z ⊙ h̃`` (paper, Chung et al.) into
  ``h = z ⊙ h_prev + (1-z) ⊙ h̃`` (Cho et al., Keras, PyTorch) and back
  (:func:`flip_update_rule`).
* **PyTorch.** ``torch.nn.GRU`` is GRU0 with ``reset_after=True`` and the ``"cho"``
  rule, rows ``r, z, n`` (:func:`from_torch`, :func:`to_torch`).
* **Keras.** ``keras.layers.GRU`` stores ``kernel`` ``(m, 3n)``, ``recurrent_kernel``
  ``(n, 3n)`` with column blocks ``z, r, h``, and ``bias`` ``(3n,)``
  (``reset_after=False``) or ``(2, 3n)`` (``reset_after=True``: input and recurrent
  biases); its rule is ``"cho"`` (:func:`from_keras`, :func:`to_keras`).
* **The paper's symbols.** A dict keyed ``W_z``, ``U_z``, ``b_z``, … with the
  paper's shapes (``W_*`` ``(n, m)``, ``U_*`` ``(n, n)``, ``b_*`` ``(n,)``), as the
  exercises use it (:func:`param_keys`, :func:`cell_from_params`,
  :func:`params_from_cell`, :func:`mgu_from_params`).

Keras ≥ 2.3 uses ``sigmoid`` gates by default; Keras 2.0 (which the paper used)
defaulted to ``hard_sigmoid``. Only sigmoid gates are representable here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

import numpy as np
import torch
from torch import Tensor, nn

from .functional import UPDATE_RULES
from .baselines import MGU
from .cell import GRUCell
from .rnn import GRU
from .variants import get_variant

__all__ = [
    "flip_update_rule", "from_torch", "to_torch", "from_keras", "to_keras",
    "param_keys", "cell_from_params", "params_from_cell", "mgu_from_params",
]

#: The dtype of the modules built from the paper's symbols.
DTYPE = torch.float64


def _check_gru(gru: object, what: str = "gru") -> GRU:
    if not isinstance(gru, GRU):
        raise TypeError(f"{what} must be a gru_lib.GRU, got {type(gru).__name__}")
    return gru


def flip_update_rule(gru: GRU) -> GRU:
    r"""Return a copy of ``gru`` using the other update rule and computing the same function.

    The update gate's rows ``z`` (the second row block of each gate matrix and bias)
    are negated, since :math:`\sigma(-a) = 1 - \sigma(a)` swaps the roles of
    :math:`z_t` and :math:`1 - z_t` in the paper's eq. (8) and Cho et al.'s rule:

    .. math::

        & (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t \\
        & \quad = z'_t \odot h_{t-1} + (1 - z'_t) \odot \tilde h_t,

        z'_t = \sigma(-a_t) = 1 - z_t.

    See :meth:`gru_lib.GRU.with_update_rule`.
    """
    gru = _check_gru(gru)
    return gru.with_update_rule("cho" if gru.update_rule == "paper" else "paper")


def _check_update_rule(update_rule: object) -> None:
    if not isinstance(update_rule, str):
        raise TypeError(f"update_rule must be one of {list(UPDATE_RULES)}, got {update_rule!r} "
                        f"({type(update_rule).__name__})")
    if update_rule not in UPDATE_RULES:
        raise ValueError(f"unknown update_rule {update_rule!r}; expected one of {list(UPDATE_RULES)}")


def from_torch(module: nn.GRU, *, update_rule: str = "cho", implementation: str = "fused") -> GRU:
    """A :class:`gru_lib.GRU` computing exactly what ``module`` (a ``torch.nn.GRU``) computes.

    The result is GRU0 with ``reset_after=True``; with ``update_rule="cho"`` (default)
    its parameters are copies of ``module``'s, with ``"paper"`` the update gate is
    negated (see :func:`flip_update_rule`). Layers, directions, ``batch_first``,
    ``bias`` and ``dropout`` carry over. The same as :meth:`gru_lib.GRU.from_torch`.
    """
    return GRU.from_torch(module, update_rule=update_rule, implementation=implementation)


def to_torch(gru: GRU) -> nn.GRU:
    """An equivalent ``torch.nn.GRU``; the same as :meth:`gru_lib.GRU.to_torch`.

    Only GRU0 with ``reset_after=True`` and ``tanh`` has a ``torch.nn.GRU`` twin; a
    ``"paper"`` update rule is converted exactly (see :func:`flip_update_rule`).
    ``ValueError`` names what stands in the way otherwise.
    """
    return _check_gru(gru).to_torch()


def _keras_to_ours(a: np.ndarray, n: int) -> np.ndarray:
    """Reorder the last axis from Keras's blocks ``z, r, h`` to ours ``r, z, h``."""
    return np.concatenate([a[..., n : 2 * n], a[..., :n], a[..., 2 * n :]], axis=-1)


_ours_to_keras = _keras_to_ours  # swapping the first two blocks is its own inverse


def _real_array(name: str, a: object) -> np.ndarray:
    """``a`` as a NumPy array of real numbers (a float or integer dtype), or a :class:`TypeError`
    naming it: an object, string, complex or bool array would otherwise fail deep inside torch
    (or lose its imaginary part silently)."""
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as e:  # ragged nested lists
        raise TypeError(f"{name} must be an array of real numbers, got {type(a).__name__} ({e})") from None
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be an array of real numbers (a float dtype such as float32, or an integer "
                        f"dtype), got dtype {arr.dtype}")
    return arr


def from_keras(
    kernel,
    recurrent_kernel,
    bias=None,
    *,
    reset_after: Optional[bool] = None,
    update_rule: str = "cho",
    dtype: torch.dtype = torch.float32,
) -> GRU:
    """Build a single-layer, ``batch_first=True`` GRU0 from a Keras ``GRU`` layer's weights.

    Parameters
    ----------
    kernel:
        The input kernel, ``(m, 3n)``: the first array of ``layer.get_weights()``.
    recurrent_kernel:
        The recurrent kernel, ``(n, 3n)``: the second array.
    bias:
        The third array, ``(3n,)`` or ``(2, 3n)``; ``None`` for ``use_bias=False``.
    reset_after:
        Keras's flag; inferred from the bias shape when ``None`` (a ``(2, 3n)`` bias
        means ``reset_after=True``).
    update_rule:
        ``"cho"`` (Keras's own, the default) or ``"paper"`` (exactly converted).
    """
    _check_update_rule(update_rule)
    kernel = _real_array("kernel", kernel)
    recurrent_kernel = _real_array("recurrent_kernel", recurrent_kernel)
    if kernel.ndim != 2 or kernel.shape[1] % 3:
        raise ValueError(f"kernel must have shape (m, 3n), got {kernel.shape}")
    m, n = kernel.shape[0], kernel.shape[1] // 3
    if recurrent_kernel.shape != (n, 3 * n):
        raise ValueError(f"recurrent_kernel must have shape {(n, 3 * n)}, got {recurrent_kernel.shape}")
    if bias is not None:
        bias = _real_array("bias", bias)
        if bias.shape not in ((3 * n,), (2, 3 * n)):
            raise ValueError(f"bias must have shape {(3 * n,)} or {(2, 3 * n)}, got {bias.shape}")
        inferred = bias.ndim == 2
        if reset_after is None:
            reset_after = inferred
        elif reset_after != inferred:
            raise ValueError(
                f"reset_after={reset_after} needs a bias of shape {(2, 3 * n) if reset_after else (3 * n,)}, "
                f"got {bias.shape}"
            )
    elif reset_after is None:
        reset_after = False
    gru = GRU(m, n, bias=bias is not None, batch_first=True, variant="gru0", reset_after=reset_after,
              update_rule="cho", dtype=dtype)
    state = {
        "weight_ih_l0": _keras_to_ours(kernel, n).T,
        "weight_hh_l0": _keras_to_ours(recurrent_kernel, n).T,
    }
    if bias is not None:
        b = _keras_to_ours(bias, n)
        if reset_after:
            state["bias_ih_l0"], state["bias_hh_l0"] = b[0], b[1]
        else:
            state["bias_ih_l0"] = b
    gru.load_state_dict({k: torch.as_tensor(np.ascontiguousarray(v), dtype=dtype) for k, v in state.items()})
    return gru if update_rule == "cho" else flip_update_rule(gru)


@torch.no_grad()
def to_keras(gru: GRU) -> tuple[np.ndarray, ...]:
    """The Keras ``GRU`` weights ``(kernel, recurrent_kernel, bias)`` of a single-layer GRU0.

    ``bias`` has shape ``(2, 3n)`` when ``gru.reset_after`` and ``(3n,)`` otherwise; a
    model without bias returns only ``(kernel, recurrent_kernel)``, as Keras's
    ``get_weights()`` does with ``use_bias=False``. Set the Keras layer's
    ``reset_after`` to ``gru.reset_after`` and its activation to ``gru.activation``.
    """
    _check_gru(gru)
    if gru.variant != "gru0":
        raise ValueError(f"Keras's GRU layer is gru0; got variant={gru.variant!r}")
    if gru.num_layers != 1 or gru.bidirectional:
        raise ValueError("to_keras converts a single unidirectional layer; got "
                         f"num_layers={gru.num_layers}, bidirectional={gru.bidirectional}")
    src = gru if gru.update_rule == "cho" else flip_update_rule(gru)
    n = gru.hidden_size
    p = {k: v.detach().cpu().numpy() for k, v in src.layer_parameters(0, 0).items()}
    out = [_ours_to_keras(p["weight_ih"].T, n), _ours_to_keras(p["weight_hh"].T, n)]
    if "bias_ih" in p:
        b = np.stack([p["bias_ih"], p["bias_hh"]]) if gru.reset_after else p["bias_ih"]
        out.append(_ours_to_keras(b, n))
    return tuple(np.ascontiguousarray(a) for a in out)


# --------------------------------------------------------- the paper's symbols


def param_keys(variant: str = "gru0", *, reset_after: bool = False) -> tuple[str, ...]:
    """The parameter names of ``variant`` in the paper's notation (``"mgu"`` too).

    >>> param_keys("gru2")
    ('U_z', 'U_r', 'W_h', 'U_h', 'b_h')
    """
    if variant == "mgu":
        if reset_after:
            raise ValueError("the MGU exercises use one bias per gate (reset_after=False)")
        return ("W_f", "U_f", "b_f", "W_h", "U_h", "b_h")
    v = get_variant(variant)
    keys = []
    for gate in ("z", "r"):
        for on, sym in ((v.input, "W"), (v.hidden, "U"), (v.bias, "b")):
            if on:
                keys.append(f"{sym}_{gate}")
    keys += ["W_h", "U_h", "b_h"] + (["b_hU"] if reset_after else [])
    return tuple(keys)



def _paper_tensors(params: object, keys: tuple[str, ...], what: str) -> tuple[dict[str, Tensor], int, int]:
    """``params[k]`` for ``keys`` as float64 tensors, with ``(n, m)``; each must have exactly the paper's
    shape (``W_*`` ``(n, m)``, ``U_*`` ``(n, n)``, ``b_*`` ``(n,)``), which nothing here broadcasts."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict keyed {list(keys)}, got {type(params).__name__}")
    missing = [k for k in keys if k not in params]
    if missing:
        raise KeyError(f"parameters missing for {what}: {missing}")
    P = {}
    for k in keys:
        try:
            P[k] = torch.as_tensor(params[k], dtype=DTYPE)
        except (TypeError, ValueError, RuntimeError) as e:
            raise TypeError(f"params[{k!r}] must be a tensor or array of numbers, got {type(params[k]).__name__} "
                            f"({e})") from None
    if P["W_h"].dim() != 2 or 0 in P["W_h"].shape:
        raise ValueError(f"W_h must have shape (n, m), got {tuple(P['W_h'].shape)}")
    n, m = P["W_h"].shape
    wrong = [f"{k} {tuple(P[k].shape)}, expected {shape}" for k in keys
             if tuple(P[k].shape) != (shape := {"W": (n, m), "U": (n, n), "b": (n,)}[k[0]])]
    if wrong:
        raise ValueError(f"parameters of {what} with n={n} hidden units and m={m} inputs (from W_h) must have the "
                         "paper's shapes: " + "; ".join(wrong))
    return P, n, m


def cell_from_params(
    params: dict[str, Tensor],
    variant: str = "gru0",
    *,
    activation: str = "tanh",
    reset_after: bool = False,
    update_rule: str = "paper",
) -> GRUCell:
    """A float64 :class:`gru_lib.GRUCell` whose parameters are ``params`` (paper notation).

    The row blocks are laid out as :mod:`gru_lib.functional` describes (``r, z, h``).
    """
    v = get_variant(variant)
    P, n, m = _paper_tensors(params, param_keys(v.name, reset_after=reset_after), v.name)
    cell = GRUCell(m, n, variant=v.name, activation=activation, reset_after=reset_after,
                   update_rule=update_rule, dtype=DTYPE)

    def t(k: str) -> Tensor:
        return P[k]

    def blocks(on: bool, sym: str) -> Tensor:
        return torch.cat([t(f"{sym}_r"), t(f"{sym}_z"), t(f"{sym}_h")]) if on else t(f"{sym}_h")

    with torch.no_grad():
        cell.weight_ih.copy_(blocks(v.input, "W"))
        cell.weight_hh.copy_(blocks(v.hidden, "U"))
        cell.bias_ih.copy_(blocks(v.bias, "b"))
        if reset_after:
            second = torch.zeros(cell.bias_hh.shape, dtype=DTYPE)
            second[-n:] = t("b_hU")
            cell.bias_hh.copy_(second)
    return cell


def params_from_cell(cell: GRUCell) -> dict[str, Tensor]:
    """The parameters of a :class:`gru_lib.GRUCell` in paper notation (copies).

    With ``reset_after=True``, the gates' second biases are added to ``b_z`` and
    ``b_r`` (only their sums matter) and the candidate's is returned as ``b_hU``.
    """
    v, n = cell.spec.variant, cell.hidden_size
    out: dict[str, Tensor] = {}

    def split(t: Tensor, on: bool, sym: str) -> None:
        t = t.detach().clone()
        if on:
            out[f"{sym}_r"], out[f"{sym}_z"] = t[:n], t[n : 2 * n]
        out[f"{sym}_h"] = t[-n:]

    split(cell.weight_ih, v.input, "W")
    split(cell.weight_hh, v.hidden, "U")
    if not cell.bias:
        raise ValueError("params_from_cell needs a cell with bias=True")
    b = cell.bias_ih.detach().clone()
    if cell.reset_after:
        b2 = cell.bias_hh.detach().clone()
        if v.bias:
            b[: 2 * n] += b2[: 2 * n]
        out["b_hU"] = b2[-n:]
    split(b, v.bias, "b")
    order = param_keys(v.name, reset_after=cell.reset_after)
    return {k: out[k] for k in order}



def mgu_from_params(params: dict[str, Tensor]) -> MGU:
    """A float64, ``batch_first`` :class:`gru_lib.MGU` whose parameters are ``params``.

    ``params`` is keyed as in :func:`param_keys` ``("mgu")``: the forget gate's
    ``W_f``, ``U_f``, ``b_f`` and the candidate's ``W_h``, ``U_h``, ``b_h``.
    """
    P, n, m = _paper_tensors(params, param_keys("mgu"), "the MGU")
    mgu = MGU(m, n, batch_first=True, dtype=DTYPE)
    with torch.no_grad():
        mgu.weight_ih_l0.copy_(torch.cat([P["W_f"], P["W_h"]]))
        mgu.weight_hh_l0.copy_(torch.cat([P["U_f"], P["U_h"]]))
        mgu.bias_ih_l0.copy_(torch.cat([P["b_f"], P["b_h"]]))
    return mgu

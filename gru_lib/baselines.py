"""The models the paper compares the GRU with: simple RNN, LSTM and MGU.

All three share :class:`gru_lib.rnn.RecurrentStack` with :class:`gru_lib.GRU`, so
they take the same constructor arguments and inputs as ``torch.nn.RNN`` /
``torch.nn.LSTM`` and return ``(output, h_n)`` (``(output, (h_n, c_n))`` for the LSTM).

Biases follow the paper (one per gate, Dey & Salem 2017 §2) unless
``double_bias=True``, which adds PyTorch's second, redundant bias vector
(``bias_hh``) so that the parameters line up one to one with ``torch.nn.RNN`` and
``torch.nn.LSTM``.

Each layer runs as a Python loop over time with autograd
(:func:`gru_lib.functional.scan`), after one matmul for all steps' input
projections; packed sequences work as in :class:`gru_lib.GRU`. :meth:`run_layer` also takes a stack of ``K``
models of one architecture (a leading model dimension on the input, the state
and every parameter; see :func:`gru_lib.functional.gru_sequence`).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .functional import ACTIVATIONS, affine, input_projection, scan
from .rnn import RecurrentStack

__all__ = ["SimpleRNN", "LSTM", "MGU"]


def _activation(name: str):
    if not isinstance(name, str) or name.lower() not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {list(ACTIVATIONS)}")
    return torch.tanh if name.lower() == "tanh" else torch.relu


class _GatedBaseline(RecurrentStack):
    """A baseline whose weights are ``blocks`` stacked row blocks of size ``n``."""

    blocks = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        activation: str = "tanh",
        double_bias: bool = False,
        init: str = "torch",
        device=None,
        dtype=None,
    ) -> None:
        self.g = _activation(activation)
        self.activation = activation.lower()
        self.double_bias = bool(double_bias)
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, init, device, dtype
        )

    def layer_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        k, n = self.blocks, self.hidden_size
        shapes = {"weight_ih": (k * n, input_size), "weight_hh": (k * n, n)}
        if self.bias:
            shapes["bias_ih"] = (k * n,)
            if self.double_bias:
                shapes["bias_hh"] = (k * n,)
        return shapes

    def extra_repr(self) -> str:
        s = super().extra_repr() + f", activation={self.activation!r}"
        return s + (", double_bias=True" if self.double_bias else "")

    def _projections(self, x: Tensor, params: dict[str, Tensor]) -> tuple[Tensor, Optional[Tensor]]:
        """All steps' ``W x_t + b`` at once, and the recurrent bias if any."""
        b_ih, b_hh = params.get("bias_ih"), params.get("bias_hh")
        return input_projection(x, params["weight_ih"], b_ih), b_hh


class SimpleRNN(_GatedBaseline):
    r"""The simple (Elman) RNN of the paper's eq. (1):

    .. math::

        h_t = g(W x_t + U h_{t-1} + b) \tag{1}

    :math:`n^2 + nm + n` parameters per layer and direction (:math:`+ n` with
    ``double_bias``, which equals ``torch.nn.RNN``). Inputs and outputs are those
    of :class:`gru_lib.GRU`.
    """

    blocks = 1

    @property
    def mode(self) -> str:
        return "RNN_" + self.activation.upper()

    def run_layer(self, x, state, params, batch_sizes=None):
        xp, b_hh = self._projections(x, params)
        w = params["weight_hh"]
        return scan(lambda xp_t, s: (self.g(xp_t + affine(s[0], w, b_hh)),), xp, state, batch_sizes)


class LSTM(_GatedBaseline):
    r"""Long short-term memory, the paper's eqs (2)–(7):

    .. math::
        :nowrap:

        \begin{align}
        i_t &= \sigma(W_i x_t + U_i h_{t-1} + b_i) \tag{2} \\
        f_t &= \sigma(W_f x_t + U_f h_{t-1} + b_f) \tag{3} \\
        o_t &= \sigma(W_o x_t + U_o h_{t-1} + b_o) \tag{4} \\
        \tilde c_t &= g(W_c x_t + U_c h_{t-1} + b_c) \tag{5} \\
        c_t &= f_t \odot c_{t-1} + i_t \odot \tilde c_t \tag{6} \\
        h_t &= o_t \odot g(c_t) \tag{7}
        \end{align}

    Row blocks in PyTorch's order ``i, f, c̃ (g), o``; :math:`4(n^2 + nm + n)`
    parameters per layer and direction (:math:`+ 4n` with ``double_bias``, which
    equals ``torch.nn.LSTM``). Inputs and outputs are those of :class:`gru_lib.GRU`,
    except that ``hx`` and the returned state are tuples ``(h, c)`` of two tensors
    of that shape.
    """

    blocks = 4
    state_size = 2
    mode = "LSTM"

    def run_layer(self, x, state, params, batch_sizes=None):
        xp, b_hh = self._projections(x, params)
        n, w = self.hidden_size, params["weight_hh"]

        def step(xp_t, s):
            h, c = s
            a = xp_t + affine(h, w, b_hh)
            i, f, o = (torch.sigmoid(a[..., k * n : (k + 1) * n]) for k in (0, 1, 3))
            c = f * c + i * self.g(a[..., 2 * n : 3 * n])
            return o * self.g(c), c

        return scan(step, xp, state, batch_sizes)


class MGU(_GatedBaseline):
    r"""Minimal gated unit (Zhou et al. 2016), one forget gate doing both GRU gates' jobs:

    .. math::
        :nowrap:

        \begin{align}
        f_t &= \sigma(W_f x_t + U_f h_{t-1} + b_f) \\
        \tilde h_t &= g\bigl(W_h x_t + U_h (f_t \odot h_{t-1}) + b_h\bigr) \\
        h_t &= (1 - f_t) \odot h_{t-1} + f_t \odot \tilde h_t
        \end{align}

    i.e. a GRU (the update rule of eq. 8, reset before :math:`U_h`) with
    :math:`r_t = z_t`. Row blocks ``f, h``; :math:`2(n^2 + nm + n)` parameters per
    layer and direction. Inputs and outputs are those of :class:`gru_lib.GRU`.
    """

    blocks = 2
    mode = "MGU"

    def run_layer(self, x, state, params, batch_sizes=None):
        xp, b_hh = self._projections(x, params)
        n, w = self.hidden_size, params["weight_hh"]
        b_f = b_hh[..., :n] if b_hh is not None else None
        b_h = b_hh[..., n:] if b_hh is not None else None

        def step(xp_t, s):
            h = s[0]
            f = torch.sigmoid(xp_t[..., :n] + affine(h, w[..., :n, :], b_f))
            h_tilde = self.g(xp_t[..., n:] + affine(f * h, w[..., n:, :], b_h))
            return (h + f * (h_tilde - h),)

        return scan(step, xp, state, batch_sizes)

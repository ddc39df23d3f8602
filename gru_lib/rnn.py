"""``GRU``: a multi-layer, optionally bidirectional sequence module shaped like ``torch.nn.GRU``."""

from __future__ import annotations

import copy
import warnings
from typing import Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ._checks import check_hidden, check_input, check_params_match, check_positive_int
from .cell import GRUCell, GRUOptions, check_gate_signals
from .functional import GRUSpec, gru_sequence, gru_sequence_autograd, parameter_shapes
from .init import init_parameters_
from .variants import Variant

__all__ = ["GRU", "RecurrentStack"]

IMPLEMENTATIONS = ("fused", "autograd")


class RecurrentStack(nn.Module):
    """What every recurrent module here shares with ``torch.nn.RNNBase``.

    Subclasses say what one layer's parameters are (:meth:`layer_shapes`) and how
    one layer runs over a time-major sequence in one direction (:meth:`run_layer`);
    this class does the stacking, the directions, inter-layer dropout, layouts,
    state handling and validation. ``state_size`` is 1 for a state ``h`` and 2 for
    LSTM's ``(h, c)``.
    """

    state_size = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        init: str = "torch",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(  # torch.nn.RNNBase's warning, word for word
                "dropout option adds dropout after all but last "
                "recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=3 if type(self).__init__ is not RecurrentStack.__init__ else 2,
            )
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        factory = {"device": device, "dtype": dtype}
        for layer in range(self.num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for d in range(self.num_directions):
                suffix = self._suffix(layer, d)
                for name, shape in self.layer_shapes(layer_in).items():
                    self.register_parameter(name + suffix, nn.Parameter(torch.empty(shape, **factory)))
        self.reset_parameters(init)

    # -- what subclasses provide -------------------------------------------------
    def layer_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        """Parameter shapes of one layer and direction taking ``input_size`` features."""
        raise NotImplementedError

    def run_layer(
        self, x: Tensor, state: tuple[Tensor, ...], params: dict[str, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Run one layer over ``x`` of shape ``(T, B, m)``; return ``(output, final state)``."""
        raise NotImplementedError

    # -- shared machinery --------------------------------------------------------
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def reset_parameters(self, init: str = "torch") -> None:
        """Re-initialise all parameters with scheme ``init`` (``"torch"`` or ``"keras"``)."""
        init_parameters_(self, self.hidden_size, init)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def layer_parameters(self, layer: int = 0, direction: int = 0) -> dict[str, Tensor]:
        """The parameters of one layer and direction, keyed ``weight_ih``, ``weight_hh``, …"""
        if not 0 <= layer < self.num_layers:
            raise ValueError(f"layer must be in [0, {self.num_layers}), got {layer}")
        if direction not in range(self.num_directions):
            raise ValueError(f"direction must be in {list(range(self.num_directions))}, got {direction}")
        suffix = self._suffix(layer, direction)
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return {k: getattr(self, k + suffix) for k in names if hasattr(self, k + suffix)}

    def _initial_state(self, hx, x: Tensor, input: Tensor, batched: bool) -> tuple[Tensor, ...]:
        D, L, B, n = self.num_directions, self.num_layers, x.shape[1], self.hidden_size
        if hx is None:
            return tuple(x.new_zeros(D * L, B, n) for _ in range(self.state_size))
        if self.state_size == 1:
            hx = (hx,)
        elif not (isinstance(hx, (tuple, list)) and len(hx) == self.state_size):
            raise TypeError(f"hx must be a tuple (h_0, c_0) or None, got {type(hx).__name__}")
        shape = (D * L, B, n) if batched else (D * L, n)
        names = ("hx",) if self.state_size == 1 else ("h_0", "c_0")
        states = tuple(check_hidden(h, shape, input, name) for h, name in zip(hx, names))
        return states if batched else tuple(h.unsqueeze(1) for h in states)

    def forward(self, input: Tensor, hx=None):
        """Run the stack over a sequence; see the class docstring for shapes."""
        batched = check_input(input, self.input_size, batched_dims=3)
        check_params_match(input, self.weight_ih_l0)
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[0] == 0:
            raise ValueError(f"input must have at least one time step, got shape {tuple(input.shape)}")
        x = x.contiguous()
        h0 = self._initial_state(hx, x, input, batched)
        D = self.num_directions
        finals = []
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                xd = x if d == 0 else x.flip(0)
                out, last = self.run_layer(xd, tuple(h[k] for h in h0), self.layer_parameters(layer, d))
                outs.append(out if d == 0 else out.flip(0))
                finals.append(last)
            x = outs[0] if D == 1 else torch.cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        h_n = tuple(torch.stack([f[i] for f in finals], 0) for i in range(self.state_size))
        if not batched:
            x, h_n = x.squeeze(1), tuple(h.squeeze(1) for h in h_n)
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, (h_n[0] if self.state_size == 1 else h_n)


class GRU(GRUOptions, RecurrentStack):
    r"""A stack of GRU layers of any variant, with the interface of ``torch.nn.GRU``.

    Each layer applies the recurrence of :class:`gru_lib.GRUCell` (Dey & Salem 2017,
    eqs 8–17; see there for the equations and the ``variant``, ``activation``,
    ``reset_after`` and ``update_rule`` options) for ``t = 1 … T``. A bidirectional
    layer runs a second recurrence over the reversed sequence and concatenates the
    two outputs; layer ``l > 0`` takes the previous layer's output as its input,
    with dropout between layers as in PyTorch.

    Inputs: ``input, hx``
        * **input**: :math:`(L, N, m)`, :math:`(N, L, m)` with ``batch_first=True``,
          or :math:`(L, m)` unbatched.
        * **hx**: :math:`(D \cdot \text{num\_layers}, N, n)`, or
          :math:`(D \cdot \text{num\_layers}, n)` unbatched; zeros when omitted.

    Outputs: ``output, h_n``
        * **output**: :math:`(L, N, D \cdot n)`, :math:`(N, L, D \cdot n)` with
          ``batch_first=True``, or :math:`(L, D \cdot n)` unbatched: the last
          layer's state at every step (both directions concatenated).
        * **h_n**: the final state of every layer and direction, shaped like ``hx``.

    where :math:`L` is the sequence length, :math:`N` the batch size, :math:`m` the
    input size, :math:`n` the hidden size and :math:`D` 2 if bidirectional, else 1.

    .. note::
        ``dropout`` acts between layers, as in PyTorch: with ``num_layers=1`` it
        has no effect, and the constructor warns as ``torch.nn.GRU`` does.

    Parameters
    ----------
    input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional:
        As in ``torch.nn.GRU``.
    variant, activation, reset_after, update_rule, init:
        As in :class:`gru_lib.GRUCell`.
    implementation:
        ``"fused"`` (default): a hand-written backward pass over the whole sequence
        (:func:`gru_lib.functional.gru_sequence`); ``"autograd"``: the step formula
        differentiated by autograd (slower, supports double backward).

    Notes
    -----
    Parameters are named like PyTorch's: ``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (the last only with ``reset_after=True``), and
    ``…_reverse`` for the backward direction.

    Examples
    --------
    >>> gru = GRU(28, 100, batch_first=True, variant="gru1", activation="relu")
    >>> out, h_n = gru(torch.randn(32, 28, 28))
    >>> out.shape, h_n.shape
    (torch.Size([32, 28, 100]), torch.Size([1, 32, 100]))
    """

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
        variant: Union[str, Variant] = "gru0",
        activation: str = "tanh",
        reset_after: bool = False,
        update_rule: str = "paper",
        init: str = "torch",
        implementation: str = "fused",
        device=None,
        dtype=None,
    ) -> None:
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"unknown implementation {implementation!r}; expected one of {list(IMPLEMENTATIONS)}")
        spec = GRUSpec.make(variant, activation, reset_after, update_rule)
        check_gate_signals(spec, bias)
        self.spec = spec  # read by layer_shapes() during the base initialiser
        self.implementation = implementation
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, init, device, dtype
        )

    def layer_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        return parameter_shapes(self.spec, input_size, self.hidden_size, self.bias)

    def run_layer(self, x, state, params):
        run = gru_sequence if self.implementation == "fused" else gru_sequence_autograd
        out, h = run(x, state[0], params["weight_ih"], params["weight_hh"], params.get("bias_ih"),
                     params.get("bias_hh"), self.spec)
        return out, (h,)

    def extra_repr(self) -> str:
        s = super().extra_repr() + f", variant={self.variant!r}, activation={self.activation!r}"
        return s + f", reset_after={self.reset_after}, update_rule={self.update_rule!r}"

    def cell(self, layer: int = 0, direction: int = 0) -> GRUCell:
        """A :class:`GRUCell` that shares (not copies) the parameters of one layer and direction.

        Use it to step through a sequence by hand, e.g. to record the gates with
        ``return_gates=True``.
        """
        params = self.layer_parameters(layer, direction)
        w = params["weight_ih"]
        cell = GRUCell(
            w.shape[1], self.hidden_size, self.bias, variant=self.spec.variant, activation=self.activation,
            reset_after=self.reset_after, update_rule=self.update_rule, device=w.device, dtype=w.dtype,
        )
        for name, p in params.items():
            setattr(cell, name, p)
        return cell

    @torch.no_grad()
    def with_update_rule(self, update_rule: str) -> "GRU":
        """A copy that computes the same function under ``update_rule`` (``"paper"`` or ``"cho"``).

        Since ``σ(-a) = 1 - σ(a)``, negating the update gate's rows ``z`` (the second
        row block of each gate matrix and bias) swaps the roles of ``z`` and ``1 - z``;
        see :func:`gru_lib.convert.flip_update_rule`.
        """
        spec = GRUSpec.make(self.spec.variant, self.activation, self.reset_after, update_rule)
        new = copy.deepcopy(self)
        if spec.update_rule != self.update_rule:
            v, n = spec.variant, self.hidden_size
            for name, p in new.named_parameters():
                kind = name.split("_l")[0]  # weight_ih, weight_hh, bias_ih, bias_hh
                if {"weight_ih": v.input, "weight_hh": v.hidden}.get(kind, v.bias):
                    p[n : 2 * n].neg_()
        new.spec = spec
        return new

    @classmethod
    @torch.no_grad()
    def from_torch(cls, module: nn.GRU, *, update_rule: str = "cho", implementation: str = "fused") -> "GRU":
        """A ``GRU`` that computes exactly what ``module`` (a ``torch.nn.GRU``) computes.

        The result is GRU0 with ``reset_after=True``; with ``update_rule="cho"`` (default)
        its parameters are copies of ``module``'s, with ``"paper"`` the update gate is
        negated (see :meth:`with_update_rule`). Layers, directions, ``batch_first``,
        ``bias`` and ``dropout`` carry over.
        """
        if not isinstance(module, nn.GRU):
            raise TypeError(f"module must be a torch.nn.GRU, got {type(module).__name__}")
        if getattr(module, "proj_size", 0):
            raise ValueError("torch.nn.GRU has no projections; got proj_size != 0")
        w = module.weight_ih_l0
        gru = cls(
            module.input_size, module.hidden_size, module.num_layers, module.bias, module.batch_first,
            module.dropout, module.bidirectional, variant="gru0", reset_after=True, update_rule="cho",
            implementation=implementation, device=w.device, dtype=w.dtype,
        )
        gru.load_state_dict(module.state_dict())
        gru.train(module.training)
        return gru if update_rule == "cho" else gru.with_update_rule(update_rule)

    @torch.no_grad()
    def to_torch(self) -> nn.GRU:
        """An equivalent ``torch.nn.GRU``.

        Only GRU0 with ``reset_after=True`` and ``tanh`` has a ``torch.nn.GRU`` twin; a
        ``"paper"`` update rule is converted exactly (see :meth:`with_update_rule`).
        ``ValueError`` names what stands in the way otherwise.
        """
        problems = []
        if self.variant != "gru0":
            problems.append(f"variant={self.variant!r} (torch.nn.GRU is gru0)")
        if not self.reset_after:
            problems.append("reset_after=False (torch.nn.GRU applies the reset after U_h; the two differ)")
        if self.activation != "tanh":
            problems.append(f"activation={self.activation!r} (torch.nn.GRU uses tanh)")
        if problems:
            raise ValueError("cannot express as torch.nn.GRU: " + "; ".join(problems))
        src = self if self.update_rule == "cho" else self.with_update_rule("cho")
        w = self.weight_ih_l0
        module = nn.GRU(
            self.input_size, self.hidden_size, self.num_layers, self.bias, self.batch_first, self.dropout,
            self.bidirectional, device=w.device, dtype=w.dtype,
        )
        module.load_state_dict(src.state_dict())
        module.train(self.training)
        return module

"""``GRU``: a multi-layer, optionally bidirectional sequence module shaped like ``torch.nn.GRU``."""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ._checks import check_hidden, check_input, check_params_match, check_positive_int
from .cell import GRUCell, register_gru_parameters
from .functional import GRUSpec, gru_sequence, gru_sequence_autograd
from .init import init_parameters_
from .variants import Variant

__all__ = ["GRU"]

IMPLEMENTATIONS = ("fused", "autograd")


class GRU(nn.Module):
    r"""A stack of GRU layers of any variant, with the interface of ``torch.nn.GRU``.

    Each layer applies the recurrence of :class:`gru_lib.GRUCell` (Dey & Salem 2017,
    eqs 8–17; see there for the equations and the ``variant``, ``activation``,
    ``reset_after`` and ``update_rule`` options) for ``t = 1 … T``. A bidirectional
    layer runs a second recurrence over the reversed sequence and concatenates the
    two outputs; layer ``l > 0`` takes the previous layer's output as its input,
    with dropout between layers as in PyTorch.

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

    Inputs: ``input, hx``
        ``input``: ``(L, N, m)``, ``(N, L, m)`` with ``batch_first``, or unbatched ``(L, m)``.
        ``hx``: ``(D·num_layers, N, n)`` or unbatched ``(D·num_layers, n)``; zeros if omitted.

    Outputs: ``output, h_n``
        ``output``: ``(L, N, D·n)`` (or batch-first / unbatched accordingly), the last
        layer's states at every step; ``h_n``: the final state of every layer and
        direction, shaped like ``hx``.

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
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be a number in [0, 1], got {dropout!r}")
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"unknown implementation {implementation!r}; expected one of {list(IMPLEMENTATIONS)}")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.implementation = implementation
        self.spec = GRUSpec.make(variant, activation, reset_after, update_rule)
        factory = {"device": device, "dtype": dtype}
        D = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            layer_in = input_size if layer == 0 else hidden_size * D
            for d in range(D):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                register_gru_parameters(self, self.spec, layer_in, hidden_size, self.bias, suffix, factory)
        self.reset_parameters(init)

    variant = property(lambda self: self.spec.variant.name, doc="The variant's name.")
    activation = property(lambda self: self.spec.activation, doc="The candidate nonlinearity.")
    reset_after = property(lambda self: self.spec.reset_after, doc="Reset placement.")
    update_rule = property(lambda self: self.spec.update_rule, doc="Update rule convention.")

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

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
        s += f", variant={self.variant!r}, activation={self.activation!r}"
        return s + f", reset_after={self.reset_after}, update_rule={self.update_rule!r}"

    def layer_parameters(self, layer: int = 0, direction: int = 0) -> dict[str, Tensor]:
        """The parameters of one layer and direction, keyed ``weight_ih``, ``weight_hh``, …"""
        if not 0 <= layer < self.num_layers:
            raise ValueError(f"layer must be in [0, {self.num_layers}), got {layer}")
        if direction not in range(self.num_directions):
            raise ValueError(f"direction must be in {list(range(self.num_directions))}, got {direction}")
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return {k: getattr(self, k + suffix) for k in names if hasattr(self, k + suffix)}

    def cell(self, layer: int = 0, direction: int = 0) -> GRUCell:
        """A :class:`GRUCell` that shares (not copies) the parameters of one layer and direction.

        Use it to step through a sequence by hand, e.g. to record the gates with
        ``return_gates=True``.
        """
        params = self.layer_parameters(layer, direction)
        in_size = params["weight_ih"].shape[1]
        cell = GRUCell(
            in_size, self.hidden_size, self.bias, variant=self.spec.variant, activation=self.activation,
            reset_after=self.reset_after, update_rule=self.update_rule,
            device=params["weight_ih"].device, dtype=params["weight_ih"].dtype,
        )
        for name, p in params.items():
            setattr(cell, name, p)
        return cell

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        """Run the stack over a sequence; see the class docstring for shapes."""
        batched = check_input(input, self.input_size, batched_dims=3)
        check_params_match(input, self.weight_ih_l0)
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        B = x.shape[1]
        D, L, n = self.num_directions, self.num_layers, self.hidden_size
        if hx is None:
            h0 = x.new_zeros(D * L, B, n)
        else:
            h0 = check_hidden(hx, (D * L, B, n) if batched else (D * L, n), input)
            h0 = h0 if batched else h0.unsqueeze(1)

        run = gru_sequence if self.implementation == "fused" else gru_sequence_autograd
        x = x.contiguous()
        finals = []
        for layer in range(L):
            outs = []
            for d in range(D):
                p = self.layer_parameters(layer, d)
                xd = x if d == 0 else x.flip(0)
                out, h_last = run(
                    xd, h0[layer * D + d], p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh"), self.spec
                )
                outs.append(out if d == 0 else out.flip(0))
                finals.append(h_last)
            x = outs[0] if D == 1 else torch.cat(outs, -1)
            if self.dropout and self.training and layer < L - 1:
                x = F.dropout(x, self.dropout, training=True)
        h_n = torch.stack(finals, 0)
        if not batched:
            return x.squeeze(1), h_n.squeeze(1)
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, h_n

    @classmethod
    def from_torch(cls, module: nn.GRU, **kwargs) -> "GRU":
        """Build a ``GRU`` that computes exactly what ``module`` (a ``torch.nn.GRU``) computes.

        See :func:`gru_lib.convert.from_torch`.
        """
        from .convert import from_torch

        return from_torch(module, **kwargs)

    def to_torch(self) -> nn.GRU:
        """Return an equivalent ``torch.nn.GRU``; see :func:`gru_lib.convert.to_torch`."""
        from .convert import to_torch

        return to_torch(self)

"""``GRUCell``: one step of any GRU variant, shaped like ``torch.nn.GRUCell``."""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor, nn

from ._checks import check_hidden, check_input, check_params_match, check_positive_int
from .functional import GRUSpec, fold_biases, gru_step, input_projection, parameter_shapes
from .init import init_parameters_
from .variants import Variant

__all__ = ["GRUCell", "GRUOptions", "check_gate_signals"]


def check_gate_signals(spec: GRUSpec, bias: bool) -> None:
    """Refuse GRU3 without bias: its gates would have no driving signal at all."""
    if not spec.variant.input and not spec.variant.hidden and not bias:
        raise ValueError(
            f"variant {spec.variant.name!r} drives its gates with the bias alone; "
            "bias=False would fix both gates at σ(0) = 0.5. Use bias=True."
        )


class GRUOptions:
    """Read-only views of a module's :class:`~gru_lib.functional.GRUSpec` (``self.spec``)."""

    spec: GRUSpec

    @property
    def variant(self) -> str:
        """The variant's name, ``"gru0"`` … ``"gru3"``."""
        return self.spec.variant.name

    @property
    def activation(self) -> str:
        """The candidate's nonlinearity ``g``."""
        return self.spec.activation

    @property
    def reset_after(self) -> bool:
        """Whether the reset gate acts after ``U_h`` (PyTorch) or before it (the paper)."""
        return self.spec.reset_after

    @property
    def update_rule(self) -> str:
        """Which of ``h_{t-1}`` and ``h̃_t`` the update gate weights, ``"paper"`` or ``"cho"``."""
        return self.spec.update_rule


class GRUCell(GRUOptions, nn.Module):
    r"""One step of a gated recurrent unit, for every variant of Dey & Salem (2017).

    With :math:`n` = ``hidden_size`` and :math:`m` = ``input_size`` (the paper's
    column vectors; the code works on batches of row vectors), for GRU0:

    .. math::
        :nowrap:

        \begin{align}
        z_t &= \sigma(W_z x_t + U_z h_{t-1} + b_z) \tag{10} \\
        r_t &= \sigma(W_r x_t + U_r h_{t-1} + b_r) \tag{11} \\
        \tilde h_t &= g\bigl(W_h x_t + U_h (r_t \odot h_{t-1}) + b_h\bigr) \tag{9} \\
        h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t \tag{8}
        \end{align}

    The variants keep only some terms of the gates (eqs 12–17): the input term only
    for ``gru0``, the state term for ``gru0``–``gru2`` and the bias for ``gru0``,
    ``gru1`` and ``gru3`` (:data:`gru_lib.VARIANTS`). ``reset_after=True`` moves the
    reset after the matrix product and adds a second bias :math:`b'_h` there, and
    ``update_rule="cho"`` swaps the roles of :math:`z_t` and :math:`1 - z_t`:

    .. math::

        \tilde h_t = g\bigl(W_h x_t + b_h + r_t \odot (U_h h_{t-1} + b'_h)\bigr),

        h_t = z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t.

    Inputs: ``input, hx``
        * **input**: :math:`(N, m)`, or :math:`(m)` unbatched.
        * **hx**: :math:`(N, n)`, or :math:`(n)` unbatched; zeros when omitted.

    Outputs: ``h_t`` (or ``h_t, gates`` with ``return_gates=True``)
        * **h_t**: :math:`(N, n)`, or :math:`(n)` unbatched.
        * **gates**: ``{"z": z_t, "r": r_t, "h_tilde": h̃_t}``, each shaped like ``h_t``.

    where :math:`N` is the batch size, :math:`m` the input size and :math:`n` the
    hidden size.

    Parameters
    ----------
    input_size:
        The number of input features, :math:`m`.
    hidden_size:
        The number of hidden units, :math:`n`.
    bias:
        Whether to use biases at all (``False`` removes every bias, the candidate's too).
    variant:
        ``"gru0"`` (the standard GRU), ``"gru1"``, ``"gru2"`` or ``"gru3"``.
    activation:
        The candidate's ``g``: ``"tanh"`` (default) or ``"relu"``.
    reset_after:
        Where the reset gate acts, see above. Default ``False`` as in the paper.
    update_rule:
        ``"paper"`` (default) or ``"cho"``; the two are the same family of models
        (see :func:`gru_lib.convert.flip_update_rule`).
    init:
        ``"torch"`` (default: U(-1/√n, 1/√n)) or ``"keras"`` (Glorot, orthogonal, zero bias).

    Attributes
    ----------
    weight_ih, weight_hh, bias_ih, bias_hh:
        Row blocks ``r, z, h`` as in ``torch.nn.GRUCell`` when the gates use that
        signal, otherwise only the candidate's block; see :mod:`gru_lib.functional`.

    Examples
    --------
    >>> cell = GRUCell(3, 5, variant="gru2")
    >>> h, gates = cell(torch.randn(4, 3), return_gates=True)
    >>> h.shape, sorted(gates)
    (torch.Size([4, 5]), ['h_tilde', 'r', 'z'])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        variant: Union[str, Variant] = "gru0",
        activation: str = "tanh",
        reset_after: bool = False,
        update_rule: str = "paper",
        init: str = "torch",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.bias = bool(bias)
        self.spec = GRUSpec.make(variant, activation, reset_after, update_rule)
        check_gate_signals(self.spec, self.bias)
        for name, shape in parameter_shapes(self.spec, input_size, hidden_size, self.bias).items():
            self.register_parameter(name, nn.Parameter(torch.empty(shape, device=device, dtype=dtype)))
        self.reset_parameters(init)

    def reset_parameters(self, init: str = "torch") -> None:
        """Re-initialise all parameters with scheme ``init`` (``"torch"`` or ``"keras"``)."""
        init_parameters_(self, self.hidden_size, init)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, variant={self.variant!r}, activation={self.activation!r}"
        s += f", reset_after={self.reset_after}, update_rule={self.update_rule!r}"
        return s + ("" if self.bias else ", bias=False")

    def forward(
        self, input: Tensor, hx: Optional[Tensor] = None, return_gates: bool = False
    ) -> Union[Tensor, tuple[Tensor, dict[str, Tensor]]]:
        """Advance one step.

        Parameters
        ----------
        input:
            ``(batch, input_size)`` or unbatched ``(input_size,)``.
        hx:
            ``(batch, hidden_size)`` or ``(hidden_size,)``; zeros when ``None``.
        return_gates:
            Also return ``{"z": z_t, "r": r_t, "h_tilde": h̃_t}``, each shaped like ``h_t``.

        Returns
        -------
        Tensor or tuple
            ``h_t``, or ``(h_t, gates)`` when ``return_gates``.
        """
        batched = check_input(input, self.input_size, batched_dims=2)
        check_params_match(input, self.weight_ih)
        x = input if batched else input.unsqueeze(0)
        shape = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        if hx is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)
        else:
            h = check_hidden(hx, shape, input)
            h = h if batched else h.unsqueeze(0)
        bias_x, bias_rec, gate_const = fold_biases(
            getattr(self, "bias_ih", None), getattr(self, "bias_hh", None), self.spec, self.hidden_size
        )
        xp = input_projection(x, self.weight_ih, bias_x)
        h_new, z, r, h_tilde, _ = gru_step(xp, h, self.weight_hh, bias_rec, gate_const, self.spec)
        if not batched:
            h_new, z, r, h_tilde = (a.squeeze(0) for a in (h_new, z, r, h_tilde))
        if return_gates:
            return h_new, {"z": z, "r": r, "h_tilde": h_tilde}
        return h_new

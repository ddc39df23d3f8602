"""Drop-in replacements for ``torch.nn.GRU`` and ``torch.nn.GRUCell``.

:class:`gru_lib.GRU` and :class:`gru_lib.GRUCell` follow the paper (Dey & Salem 2017):
by default the reset gate acts before ``U_h``, the update rule is eq. (8) and each gate
has one bias. The classes here are the same modules with PyTorch's defaults instead:
``reset_after=True``, ``update_rule="cho"``, two bias vectors ``bias_ih`` and
``bias_hh``, PyTorch's positional arguments, parameter names and initialisation. So

* ``torch.nn.GRU(…)`` → ``gru_lib.nn.GRU(…)`` computes the same function, loads the
  same ``state_dict`` and, seeded alike, starts from the same weights;
* ``gru_lib.nn.GRU(…, variant="gru2")`` then changes only what drives the gates.

Every ``gru_lib`` option (``variant``, ``activation``, ``reset_after``,
``update_rule``, ``init``, ``implementation``) is a keyword here. Errors are
instances of what PyTorch raises in the same case (:class:`~gru_lib.InputError` is
also a ``RuntimeError``, :class:`~gru_lib.DtypeError` also a ``ValueError``). Double
backward, batched gradients and ``torch.func`` transforms work as with PyTorch's
modules (:func:`gru_lib.functional.gru_sequence`).

>>> import torch
>>> ref = torch.nn.GRU(3, 5, num_layers=2)
>>> gru = GRU(3, 5, num_layers=2)
>>> gru.load_state_dict(ref.state_dict())
<All keys matched successfully>
>>> x = torch.randn(7, 4, 3)
>>> torch.allclose(gru(x)[0], ref(x)[0], atol=1e-6)
True
"""

from __future__ import annotations

from typing import Union

from . import cell as _cell
from . import rnn as _rnn
from ._checks import DtypeError, InputError, NotATensorError
from .variants import Variant

__all__ = ["GRU", "GRUCell", "InputError", "DtypeError", "NotATensorError"]


class GRU(_rnn.GRU):
    r"""``torch.nn.GRU`` with every ``gru_lib`` variant: PyTorch's arguments, defaults and layout.

    For each step, with GRU0 (the default) and PyTorch's notation:

    .. math::

        \begin{array}{ll}
        r_t = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}
        \end{array}

    which is :class:`gru_lib.GRU` with ``reset_after=True, update_rule="cho"``
    (the paper's :math:`\tilde h_t` is PyTorch's :math:`n_t`). ``variant="gru1"`` …
    ``"gru3"`` drop terms from :math:`r_t` and :math:`z_t` as in the paper's eqs 12–17;
    ``reset_after=False`` and ``update_rule="paper"`` give the paper's own form.

    Inputs, outputs and attributes are those of ``torch.nn.GRU`` (see
    :class:`gru_lib.GRU` for shapes, packed sequences and the rest of the interface).

    Parameters
    ----------
    input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype:
        As in ``torch.nn.GRU``, in the same positions.
    proj_size:
        Where ``torch.nn.RNNBase`` takes it positionally; only ``0``: a GRU has no
        projections, and anything else raises ``ValueError`` as in PyTorch.
    variant, activation, reset_after, update_rule, init, implementation:
        Keywords, as in :class:`gru_lib.GRU`; the defaults give ``torch.nn.GRU``.

    Examples
    --------
    >>> import torch
    >>> gru = GRU(28, 100, batch_first=True, variant="gru2")
    >>> sorted(name for name, _ in gru.named_parameters())
    ['bias_hh_l0', 'bias_ih_l0', 'weight_hh_l0', 'weight_ih_l0']
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
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        variant: Union[str, Variant] = "gru0",
        activation: str = "tanh",
        reset_after: bool = True,
        update_rule: str = "cho",
        init: str = "torch",
        implementation: str = "fused",
    ) -> None:
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            variant=variant, activation=activation, reset_after=reset_after, update_rule=update_rule, init=init,
            implementation=implementation, proj_size=proj_size, device=device, dtype=dtype,
        )


class GRUCell(_cell.GRUCell):
    r"""``torch.nn.GRUCell`` with every ``gru_lib`` variant: PyTorch's arguments, defaults and layout.

    One step of :class:`GRU` (the same equations) for a batch :math:`(N, m)` or one
    sample :math:`(m)`. Parameters ``weight_ih``, ``weight_hh``, ``bias_ih`` and
    ``bias_hh`` are named, shaped and initialised as in ``torch.nn.GRUCell``; a bias
    that does not exist (``bias=False``, or ``bias_hh`` with ``reset_after=False``) is
    ``None``, as there.

    Parameters
    ----------
    input_size, hidden_size, bias, device, dtype:
        As in ``torch.nn.GRUCell``, in the same positions.
    variant, activation, reset_after, update_rule, init:
        Keywords, as in :class:`gru_lib.GRUCell`; the defaults give ``torch.nn.GRUCell``.

    Examples
    --------
    >>> import torch
    >>> ref = torch.nn.GRUCell(3, 5)
    >>> cell = GRUCell(3, 5)
    >>> cell.load_state_dict(ref.state_dict())
    <All keys matched successfully>
    >>> x, h = torch.randn(2, 3), torch.randn(2, 5)
    >>> torch.allclose(cell(x, h), ref(x, h), atol=1e-6)
    True
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        variant: Union[str, Variant] = "gru0",
        activation: str = "tanh",
        reset_after: bool = True,
        update_rule: str = "cho",
        init: str = "torch",
    ) -> None:
        super().__init__(
            input_size, hidden_size, bias, variant=variant, activation=activation, reset_after=reset_after,
            update_rule=update_rule, init=init, device=device, dtype=dtype,
        )
        for name in ("bias_ih", "bias_hh"):
            if name not in self._parameters:
                self.register_parameter(name, None)

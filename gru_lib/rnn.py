"""``GRU``: a multi-layer, optionally bidirectional sequence module shaped like ``torch.nn.GRU``."""

from __future__ import annotations

import copy
import warnings
from typing import Optional, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence

from ._checks import (
    DtypeError, InputError, check_bool, check_hidden, check_input, check_layer_size, check_no_projections,
    check_params_match,
)
from .cell import GRUCell, GRUOptions, check_gate_signals
from .functional import GRUSpec, gru_sequence, gru_sequence_autograd, parameter_shapes
from .init import init_parameters_
from .variants import Variant

__all__ = ["GRU", "RecurrentStack"]

IMPLEMENTATIONS = ("fused", "autograd", "triton")


def check_triton_engine(hidden_size: int) -> None:
    """Raise ``ImportError`` without Triton, ``ValueError`` for a hidden size the kernels do not hold."""
    import importlib.util

    if importlib.util.find_spec("triton") is None:
        raise ImportError("implementation='triton' needs the triton package: pip install triton "
                          "(PyTorch's CUDA wheels bring it)")
    from .triton_gru import MAX_HIDDEN

    if hidden_size > MAX_HIDDEN:
        raise ValueError(f"implementation='triton' holds hidden sizes up to {MAX_HIDDEN}, got {hidden_size}; "
                         "use implementation='fused'")


def _reverse_index(batch_sizes: list[int], device) -> Tensor:
    """The permutation of packed rows that reverses every sequence within its own length.

    Packed row ``(t, i)`` (step ``t`` of sequence ``i``) sits at ``offset[t] + i``; it
    goes to ``offset[ℓ_i - 1 - t] + i``, where ``ℓ_i`` is sequence ``i``'s length. The
    reversed sequences have the same lengths, so the same ``batch_sizes`` describe
    them, and the permutation is its own inverse.
    """
    bs = torch.tensor(batch_sizes, dtype=torch.long)
    T, B = len(batch_sizes), batch_sizes[0]
    offsets = torch.cumsum(bs, 0) - bs
    lengths = (bs.unsqueeze(1) > torch.arange(B)).sum(0)
    t = torch.repeat_interleave(torch.arange(T), bs)
    i = torch.arange(len(t)) - offsets[t]
    return (offsets[lengths[i] - 1 - t] + i).to(device)


def _check_batch_sizes(batch_sizes: object, rows: int) -> list[int]:
    """A packed sequence's ``batch_sizes`` as a list, checked: a 1-D integer tensor of positive,
    non-increasing counts (sequences sorted by decreasing length) that add up to the ``rows``
    of packed data. ``torch.nn.GRU`` refuses increasing counts too, with a broadcast error."""
    if not isinstance(batch_sizes, Tensor) or batch_sizes.dim() != 1 or batch_sizes.is_floating_point() \
            or batch_sizes.dtype == torch.bool or batch_sizes.is_complex():
        raise TypeError("a PackedSequence's batch_sizes must be a 1-D integer tensor, got "
                        f"{getattr(batch_sizes, 'dtype', type(batch_sizes).__name__)} of shape "
                        f"{tuple(getattr(batch_sizes, 'shape', ()))}")
    bs = batch_sizes.tolist()
    if not bs:
        raise ValueError("a PackedSequence's batch_sizes is empty; a packed sequence has at least one step")
    if min(bs) < 1:
        raise ValueError(f"a PackedSequence's batch_sizes must be positive at every step, got {bs}")
    if any(b > a for a, b in zip(bs, bs[1:])):
        raise ValueError("a PackedSequence's batch_sizes must not increase (sequences sorted by decreasing "
                         f"length, as pack_padded_sequence makes them), got {bs}")
    if sum(bs) != rows:
        raise ValueError(f"a PackedSequence's batch_sizes add up to {sum(bs)} steps, but its data has {rows} rows")
    return bs


class RecurrentStack(nn.Module):
    """What every recurrent module here shares with ``torch.nn.RNNBase``.

    Subclasses say what one layer's parameters are (``layer_shapes``) and how
    one layer runs over a time-major sequence in one direction (``run_layer``);
    this class does the stacking, the directions, inter-layer dropout, layouts,
    packed sequences, state handling and validation. ``state_size`` is 1 for a
    state ``h`` and 2 for LSTM's ``(h, c)``.

    Besides ``forward``, it offers the rest of ``torch.nn.RNNBase``'s public
    interface with the same names and arguments (``all_weights``,
    ``flatten_parameters``, ``check_input``, ``get_expected_hidden_size``,
    ``check_hidden_size``, ``check_forward_args``, ``permute_hidden``, ``mode``,
    ``proj_size``), so that code written for ``torch.nn.GRU`` runs unchanged. The
    checks raise what PyTorch raises, with PyTorch's wording (:class:`~gru_lib.InputError`
    is also a ``RuntimeError``, :class:`~gru_lib.DtypeError` also a ``ValueError``).
    """

    state_size = 1
    #: What ``torch.nn.RNNBase.mode`` names this recurrence (``"GRU"``, ``"LSTM"``, …).
    mode = "RNN"
    #: ``torch.nn.LSTM``'s projection size; these modules have no projections, so 0 (as ``torch.nn.GRU``).
    proj_size = 0

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
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an element "
                f"being zeroed, got {dropout!r}"
            )
        self.input_size = check_layer_size("input_size", input_size)
        self.hidden_size = check_layer_size("hidden_size", hidden_size)
        self.num_layers = check_layer_size("num_layers", num_layers)
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=self._caller_stacklevel(),
            )
        self.bias = check_bool("bias", bias)
        self.batch_first = check_bool("batch_first", batch_first)
        self.dropout = float(dropout)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        factory = {"device": device, "dtype": dtype}
        for layer in range(self.num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for d in range(self.num_directions):
                suffix = self._suffix(layer, d)
                for name, shape in self.layer_shapes(layer_in).items():
                    self.register_parameter(name + suffix, nn.Parameter(torch.empty(shape, **factory)))
        self.reset_parameters(init)

    def _caller_stacklevel(self) -> int:
        """The ``warnings`` stack level of the line that built this module: one frame per
        ``__init__`` in the class hierarchy above this one (each calls ``super().__init__``)."""
        mro = type(self).__mro__
        return 2 + sum("__init__" in vars(c) for c in mro[: mro.index(RecurrentStack)])

    # -- what subclasses provide -------------------------------------------------
    def layer_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        """Parameter shapes of one layer and direction taking ``input_size`` features."""
        raise NotImplementedError

    def run_layer(
        self,
        x: Tensor,
        state: tuple[Tensor, ...],
        params: dict[str, Tensor],
        batch_sizes: Optional[list[int]] = None,
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Run one layer over ``x`` of shape ``(T, B, m)``; return ``(output, final state)``.

        With ``batch_sizes``, ``x`` is packed ``(sum(batch_sizes), m)`` and only the
        first ``batch_sizes[t]`` rows advance at step ``t`` (see
        :func:`gru_lib.functional.scan`); the output is packed alike.
        """
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

    # -- torch.nn.RNNBase's public interface --------------------------------------
    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """The parameters as ``torch.nn.RNNBase.all_weights`` lists them.

        One list per layer and direction (``l0``, ``l0_reverse``, ``l1``, …), each in the order
        ``weight_ih, weight_hh, bias_ih, bias_hh`` (those that exist)."""
        return [
            list(self.layer_parameters(layer, d).values())
            for layer in range(self.num_layers)
            for d in range(self.num_directions)
        ]

    def flatten_parameters(self) -> None:
        """Do nothing: there is nothing to flatten.

        ``torch.nn.GRU`` keeps a flat weight buffer for cuDNN, whose kernels read all
        layers' weights from one contiguous block; after a checkpoint load or a device
        move the parameters may no longer sit in that block, and this method copies
        them back. Here every parameter is its own tensor and the matmuls read it
        where it is (:mod:`gru_lib.functional`), so no layout can go stale and the
        call is correct as a no-op. It exists so that code written for
        ``torch.nn.GRU`` runs unchanged.
        """

    def check_input(self, input: Tensor, batch_sizes: Optional[Tensor]) -> None:
        """``torch.nn.RNNBase.check_input``: dtype, rank (2 if packed else 3) and feature size."""
        w = self.weight_ih_l0
        if input.dtype != w.dtype:
            raise DtypeError(
                f"RNN input dtype ({input.dtype}) does not match weight dtype ({w.dtype}). "
                f"Convert input: input.to({w.dtype}), or convert model: model.to({input.dtype})"
            )
        expected_input_dim = 2 if batch_sizes is not None else 3
        if input.dim() != expected_input_dim:
            raise InputError(f"input must have {expected_input_dim} dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise InputError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {input.size(-1)}"
            )

    def get_expected_hidden_size(self, input: Tensor, batch_sizes: Optional[Tensor]) -> tuple[int, int, int]:
        """``(num_layers · D, batch, hidden_size)``; the batch is ``batch_sizes[0]`` for packed data."""
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.size(0) if self.batch_first else input.size(1)
        return (self.num_layers * self.num_directions, mini_batch, self.hidden_size)

    def check_hidden_size(
        self, hx: Tensor, expected_hidden_size: tuple[int, ...], msg: str = "Expected hidden size {}, got {}"
    ) -> None:
        """Raise :class:`~gru_lib.InputError` (a ``RuntimeError``, as in PyTorch)
        ``(msg.format(expected, actual))`` unless ``hx`` has the expected size."""
        if tuple(hx.size()) != tuple(expected_hidden_size):
            raise InputError(msg.format(tuple(expected_hidden_size), list(hx.size())))

    def check_forward_args(self, input: Tensor, hidden, batch_sizes: Optional[Tensor]) -> None:
        """``check_input``, then every state tensor against ``get_expected_hidden_size``."""
        self.check_input(input, batch_sizes)
        expected = self.get_expected_hidden_size(input, batch_sizes)
        states = (hidden,) if self.state_size == 1 else tuple(hidden)
        for h, name in zip(states, ("h_0", "c_0")[: len(states)]):
            self.check_hidden_size(h, expected, f"Expected hidden{'' if self.state_size == 1 else ' ' + name}"
                                   " size {}, got {}")

    def permute_hidden(self, hx, permutation: Optional[Tensor]):
        """Reorder the batch dimension (dim 1) of a state (or of each in a tuple) by ``permutation``."""
        if permutation is None:
            return hx
        if isinstance(hx, tuple):
            return tuple(h.index_select(1, permutation) for h in hx)
        return hx.index_select(1, permutation)

    # -- forward -------------------------------------------------------------------
    def _initial_state(self, hx, batch: int, like: Tensor, batched: bool) -> tuple[Tensor, ...]:
        D, L, n = self.num_directions, self.num_layers, self.hidden_size
        if hx is None:
            return tuple(like.new_zeros(D * L, batch, n) for _ in range(self.state_size))
        if self.state_size == 1:
            hx = (hx,)
        elif not (isinstance(hx, (tuple, list)) and len(hx) == self.state_size):
            raise TypeError(f"hx must be a tuple (h_0, c_0) or None, got {type(hx).__name__}")
        shape = (D * L, batch, n) if batched else (D * L, n)
        names = ("hx",) if self.state_size == 1 else ("h_0", "c_0")
        states = tuple(check_hidden(h, shape, like, name) for h, name in zip(hx, names))
        return states if batched else tuple(h.unsqueeze(1) for h in states)

    def _run_layers(
        self, x: Tensor, h0: tuple[Tensor, ...], batch_sizes: Optional[list[int]]
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """All layers and directions over time-major ``x`` (or packed data with ``batch_sizes``)."""
        D = self.num_directions
        if D == 2 and batch_sizes is not None:
            rev = _reverse_index(batch_sizes, x.device)
            reverse = lambda a: a.index_select(0, rev)  # noqa: E731
        else:
            reverse = lambda a: a.flip(0)  # noqa: E731
        finals = []
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                xd = x if d == 0 else reverse(x)
                out, last = self.run_layer(xd, tuple(h[k] for h in h0), self.layer_parameters(layer, d),
                                           batch_sizes)
                outs.append(out if d == 0 else reverse(out))
                finals.append(last)
            x = outs[0] if D == 1 else torch.cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        h_n = tuple(torch.stack([f[i] for f in finals], 0) for i in range(self.state_size))
        return x, h_n

    def _forward_packed(self, input: PackedSequence, hx):
        data, batch_sizes, sorted_indices, unsorted_indices = input
        if not isinstance(data, Tensor) or not data.is_floating_point():
            raise DtypeError(f"a PackedSequence's data must be a floating tensor, got {getattr(data, 'dtype', data)!r}")
        if data.dim() != 2 or data.shape[-1] != self.input_size:
            raise InputError(
                f"a PackedSequence's data must have shape (sum of lengths, input_size={self.input_size}), "
                f"got {tuple(data.shape)}"
            )
        check_params_match(data, self.weight_ih_l0)
        bs = _check_batch_sizes(batch_sizes, data.shape[0])
        h0 = self._initial_state(hx, bs[0], data, batched=True)
        h0 = tuple(self.permute_hidden(h, sorted_indices) for h in h0) if hx is not None else h0
        out, h_n = self._run_layers(data, h0, bs)
        h_n = tuple(self.permute_hidden(h, unsorted_indices) for h in h_n)
        packed = PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices)
        return packed, (h_n[0] if self.state_size == 1 else h_n)

    def forward(self, input: Union[Tensor, PackedSequence], hx=None):
        """Run the stack over a sequence, padded or packed; see the class docstring for shapes.

        A :class:`~torch.nn.utils.rnn.PackedSequence` gives a ``PackedSequence`` output
        (same ``batch_sizes`` and indices) and ``h_n`` with each sequence's state after
        its own last step; ``hx`` and ``h_n`` are in the order of the sequences as
        given (``enforce_sorted=False`` included), as in ``torch.nn.GRU``.
        """
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        batched = check_input(input, self.input_size, batched_dims=3)
        check_params_match(input, self.weight_ih_l0)
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[0] == 0:
            raise InputError(f"input must have at least one time step, got shape {tuple(input.shape)}")
        x = x.contiguous()
        h0 = self._initial_state(hx, x.shape[1], x, batched)
        x, h_n = self._run_layers(x, h0, None)
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

    Its defaults are the paper's (reset before ``U_h``, update rule (8), one bias per
    gate). :class:`gru_lib.nn.GRU` is the same module with ``torch.nn.GRU``'s
    defaults and signature: the drop-in replacement for ``torch.nn.GRU``.

    Inputs: ``input, hx``
        * **input**: :math:`(L, N, m)`, :math:`(N, L, m)` with ``batch_first=True``,
          or :math:`(L, m)` unbatched.
        * **hx**: :math:`(D \cdot \mathrm{num\_layers}, N, n)`, or
          :math:`(D \cdot \mathrm{num\_layers}, n)` unbatched; zeros when omitted.

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
        differentiated by autograd (slower); ``"triton"``: the fused pass with its forward
        and backward time loops as persistent Triton kernels, one launch per layer and
        direction (``gru_lib.triton_gru``; CUDA, or the CPU through Triton's
        interpreter with ``TRITON_INTERPRET=1``; hidden sizes up to 256; packed sequences
        take the fused loops). All three give exact higher-order gradients
        (``create_graph=True``), batched gradients and ``torch.func`` transforms: the
        fused and Triton passes recompute through the autograd one for those.
    proj_size:
        Only ``0``, as in ``torch.nn.GRU``; anything else raises ``ValueError`` (no GRU
        has projections).

    Notes
    -----
    ``input`` may also be a :class:`~torch.nn.utils.rnn.PackedSequence` (from
    ``pack_padded_sequence``/``pack_sequence``, ``enforce_sorted`` either way): then
    ``output`` is a ``PackedSequence`` too, each sequence runs for its own length
    only (at step ``t`` only the ``batch_sizes[t]`` sequences still running advance,
    in the fused backward as well), a bidirectional layer's reverse direction starts
    at each sequence's own last step, and ``hx``/``h_n`` are ``(D·num_layers, N, n)``
    in the order the sequences were given, exactly as in ``torch.nn.GRU``.

    The rest of ``torch.nn.GRU``'s public interface is there too (``all_weights``,
    ``flatten_parameters()`` (a no-op here), ``check_forward_args``, ``permute_hidden``, …;
    see ``RecurrentStack``).

    Parameters are named like PyTorch's: ``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (the last only with ``reset_after=True``), and
    ``…_reverse`` for the backward direction.

    Examples
    --------
    >>> gru = GRU(28, 100, batch_first=True, variant="gru1",
    ...           activation="relu")
    >>> out, h_n = gru(torch.randn(32, 28, 28))
    >>> out.shape, h_n.shape
    (torch.Size([32, 28, 100]), torch.Size([1, 32, 100]))
    """

    mode = "GRU"

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
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        check_no_projections(proj_size, type(self).__name__)
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"unknown implementation {implementation!r}; expected one of {list(IMPLEMENTATIONS)}")
        spec = GRUSpec.make(variant, activation, reset_after, update_rule)
        check_gate_signals(spec, bias)
        self.spec = spec  # read by layer_shapes() during the base initialiser
        self.implementation = implementation
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, init, device, dtype
        )
        if implementation == "triton":
            check_triton_engine(self.hidden_size)

    def layer_shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        return parameter_shapes(self.spec, input_size, self.hidden_size, self.bias)

    def run_layer(self, x, state, params, batch_sizes=None):
        args = (x, state[0], params["weight_ih"], params["weight_hh"], params.get("bias_ih"),
                params.get("bias_hh"), self.spec, batch_sizes)
        if self.implementation == "autograd":
            out, h = gru_sequence_autograd(*args)
        else:
            out, h = gru_sequence(*args, triton=self.implementation == "triton")
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
        mine, theirs = gru.state_dict(), module.state_dict()
        wrong = [f"{k}: expected {tuple(mine[k].shape) if k in mine else 'no such weight'}, got "
                 f"{tuple(theirs[k].shape) if k in theirs else 'none'}" for k in sorted(mine.keys() | theirs.keys())
                 if k not in mine or k not in theirs or mine[k].shape != theirs[k].shape]
        if wrong:  # weights replaced by hand: say which, not load_state_dict's size-mismatch error
            raise ValueError(f"module's weights do not fit a torch.nn.GRU({module.input_size}, {module.hidden_size}, "
                             f"num_layers={module.num_layers}, bidirectional={module.bidirectional}): "
                             + "; ".join(wrong))
        gru.load_state_dict(theirs)
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

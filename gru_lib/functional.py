r"""The GRU formula, once: one time step, and a whole sequence with a hand-written backward.

Notation (Dey & Salem 2017, eqs 8–17), for one layer with :math:`n` hidden units and
:math:`m` inputs, time :math:`t`, batch rows as leading dimension. The update gate
(eqs 10, 12, 14, 16) and the reset gate (eqs 11, 13, 15, 17):

.. math::

    z_t = \sigma\bigl([W_z x_t] + [U_z h_{t-1}] + [b_z]\bigr)

    r_t = \sigma\bigl([W_r x_t] + [U_r h_{t-1}] + [b_r]\bigr)

The candidate, with the reset before :math:`U_h` (eq. 9) or after it
(``reset_after=True``):

.. math::

    \tilde h_t = g\bigl(W_h x_t + U_h (r_t \odot h_{t-1}) + b_h\bigr)

    \tilde h_t = g\bigl(W_h x_t + b_h + r_t \odot (U_h h_{t-1} + b'_h)\bigr)

The new state, with the update rule ``"paper"`` (eq. 8) or ``"cho"``:

.. math::

    h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t

    h_t = z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t

The bracketed gate terms are present or absent according to the variant
(:mod:`gru_lib.variants`). Parameters use PyTorch's row-block order ``r, z, h``:

``weight_ih``
    ``(3n, m)`` if the gates see the input, else ``(n, m)`` (candidate only)
``weight_hh``
    ``(3n, n)`` if the gates see the state, else ``(n, n)``
``bias_ih``
    ``(3n,)`` if the gates have a bias, else ``(n,)``; absent when ``bias=False``
``bias_hh``
    same shape as ``bias_ih``, only with ``reset_after=True`` (the PyTorch/cuDNN/
    Keras ``reset_after=True`` layout: a second bias for every gate, and the
    candidate's ``b'_h`` that sits inside ``r ⊙ (…)``)

Gate biases that are simply added collapse: only ``bias_ih + bias_hh`` matters
for ``z`` and ``r``. The candidate's ``b'_h`` does not collapse, because ``r``
multiplies it.

:func:`gru_step` is the formula for one step and is what :class:`gru_lib.GRUCell`
differentiates with autograd. :func:`gru_sequence` runs the same step over a
whole sequence without building an autograd graph and differentiates it with a
hand-derived backward pass: one matmul for all steps' input projections, one
fused recurrent matmul per step, and weight gradients as single matmuls over
all steps at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.autograd.forward_ad as fwAD
from torch import Tensor

from .variants import Variant, get_variant

__all__ = [
    "GRUSpec", "gru_step", "gru_sequence", "gru_sequence_autograd", "fold_biases",
    "affine", "input_projection", "parameter_shapes", "scan", "ACTIVATIONS", "UPDATE_RULES",
]

ACTIVATIONS = ("tanh", "relu")
UPDATE_RULES = ("paper", "cho")


@dataclass(frozen=True)
class GRUSpec:
    """Everything about a GRU layer that is not a tensor.

    Attributes
    ----------
    variant:
        Which signals drive the gates (:class:`~gru_lib.variants.Variant`).
    activation:
        The candidate's nonlinearity ``g``: ``"tanh"`` or ``"relu"``.
    reset_after:
        ``False``: ``U_h (r ⊙ h)`` (the paper, Cho et al. 2014, Keras ``reset_after=False``).
        ``True``: ``r ⊙ (U_h h + b'_h)`` (PyTorch, cuDNN, Keras ``reset_after=True``).
    update_rule:
        ``"paper"``: ``h = (1-z) ⊙ h_prev + z ⊙ h̃`` (Dey & Salem eq. 8, Chung et al. 2014).
        ``"cho"``: ``h = z ⊙ h_prev + (1-z) ⊙ h̃`` (Cho et al. 2014, Keras, PyTorch).
    """

    variant: Variant
    activation: str = "tanh"
    reset_after: bool = False
    update_rule: str = "paper"

    @classmethod
    def make(
        cls,
        variant: str | Variant = "gru0",
        activation: str = "tanh",
        reset_after: bool = False,
        update_rule: str = "paper",
    ) -> "GRUSpec":
        """Validate the options and build a spec (raises ``ValueError`` on unknown names)."""
        v = get_variant(variant)
        if not isinstance(activation, str) or activation.lower() not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {list(ACTIVATIONS)}")
        if not isinstance(update_rule, str) or update_rule.lower() not in UPDATE_RULES:
            raise ValueError(f"unknown update_rule {update_rule!r}; expected one of {list(UPDATE_RULES)}")
        if not isinstance(reset_after, bool):
            raise TypeError(f"reset_after must be a bool, got {type(reset_after).__name__}")
        return cls(v, activation.lower(), reset_after, update_rule.lower())


def parameter_shapes(
    spec: GRUSpec, input_size: int, hidden_size: int, bias: bool = True
) -> dict[str, tuple[int, ...]]:
    """Shapes of one layer's parameters in the layout described in the module docstring."""
    v, n, m = spec.variant, hidden_size, input_size
    shapes: dict[str, tuple[int, ...]] = {
        "weight_ih": ((3 if v.input else 1) * n, m),
        "weight_hh": ((3 if v.hidden else 1) * n, n),
    }
    if bias:
        shapes["bias_ih"] = ((3 if v.bias else 1) * n,)
        if spec.reset_after:
            shapes["bias_hh"] = shapes["bias_ih"]
    return shapes


def _g(a: Tensor, activation: str) -> Tensor:
    return torch.tanh(a) if activation == "tanh" else torch.relu(a)


def fold_biases(
    bias_ih: Optional[Tensor], bias_hh: Optional[Tensor], spec: GRUSpec, hidden_size: int
) -> tuple[Optional[Tensor], Optional[Tensor], Optional[Tensor]]:
    """Group the biases by where the computation adds them.

    Returns ``(bias_x, bias_rec, gate_const)``:

    * ``bias_x`` is added to the input projection ``weight_ih @ x`` (its rows match
      ``weight_ih``'s rows);
    * ``bias_rec`` is added to the recurrent product ``weight_hh @ h`` (gate rows,
      plus the candidate's ``b'_h`` when ``reset_after``);
    * ``gate_const`` is the gates' whole pre-activation when neither ``x`` nor ``h``
      drives them (GRU3), else ``None``.

    The gates' two biases (``bias_ih`` and ``bias_hh`` rows for ``r``, ``z``) enter
    only as their sum, which is placed wherever a matmul already adds a bias.
    """
    v, n = spec.variant, hidden_size
    gate_bias = None
    cand_bias = cand_bias_rec = None
    if bias_ih is not None:
        cand_bias = bias_ih[..., -n:]
        if v.bias:
            gate_bias = bias_ih[..., : 2 * n]
            if bias_hh is not None:
                gate_bias = gate_bias + bias_hh[..., : 2 * n]
        if bias_hh is not None:
            cand_bias_rec = bias_hh[..., -n:]

    if v.input:
        bias_x = cand_bias if gate_bias is None else torch.cat([gate_bias, cand_bias], -1)
    else:
        bias_x = cand_bias

    bias_rec = None
    gate_const = None
    if v.hidden:
        if spec.reset_after:
            if cand_bias_rec is not None:
                g = (gate_bias if (gate_bias is not None and not v.input)
                     else cand_bias_rec.new_zeros(*cand_bias_rec.shape[:-1], 2 * n))
                bias_rec = torch.cat([g, cand_bias_rec], -1)
        elif gate_bias is not None and not v.input:
            bias_rec = gate_bias
    else:
        bias_rec = cand_bias_rec
        if not v.input:
            gate_const = gate_bias
    return bias_x, bias_rec, gate_const


def _const_gates(gate_const: Optional[Tensor], n: int, like: Tensor) -> Tensor:
    if gate_const is None:  # GRU3 without a bias: both gates are σ(0) = 1/2
        return like.new_full((2 * n,), 0.5)
    return torch.sigmoid(gate_const)


def _addmm(c: Optional[Tensor], a: Tensor, b: Tensor) -> Tensor:
    """``c + a @ b`` for one model (2-D ``a``, ``b``) or a stack of models (3-D, batched over dim 0)."""
    if c is None:
        return a @ b
    return torch.addmm(c, a, b) if a.dim() == 2 else torch.baddbmm(c, a, b)


def gru_step(
    xp: Tensor,
    h: Tensor,
    weight_hh: Tensor,
    bias_rec: Optional[Tensor],
    gate_const: Optional[Tensor],
    spec: GRUSpec,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One GRU step from a precomputed input projection.

    The same code serves one model and a stack of ``K`` independent models of one
    architecture: a stack puts a leading model dimension on every tensor, and the
    products become batched matmuls.

    Parameters
    ----------
    xp:
        ``weight_ih @ x_t + bias_x`` with shape ``(batch, 3n)`` or ``(batch, n)``
        (see :func:`fold_biases`); ``(K, batch, ·)`` for a stack.
    h:
        The previous state ``h_{t-1}``, shape ``(batch, n)``; ``(K, batch, n)`` for a stack.
    weight_hh:
        The recurrent weights, ``(rows, n)``; ``(K, rows, n)`` for a stack.
    bias_rec:
        The bias added to the recurrent product (:func:`fold_biases`), ``(rows,)``;
        ``(K, 1, rows)`` for a stack, so that it broadcasts over the batch.
    gate_const:
        The gates' constant pre-activation (GRU3, :func:`fold_biases`), ``(2n,)``;
        ``(K, 1, 2n)`` for a stack.

    Returns
    -------
    tuple of Tensor
        ``(h_t, z_t, r_t, h̃_t, aux)``. ``aux`` is what the backward pass needs besides the gates: ``U_h h + b'_h``
        when ``reset_after``, else ``r ⊙ h_{t-1}``.
    """
    n = h.shape[-1]
    v = spec.variant
    if v.hidden:
        if spec.reset_after:
            rec = _addmm(bias_rec, h, weight_hh.mT)
            a_gates = rec[..., : 2 * n]
            rec_h = rec[..., 2 * n :]
        else:
            a_gates = _addmm(bias_rec, h, weight_hh[..., : 2 * n, :].mT)
        if v.input:
            a_gates = a_gates + xp[..., : 2 * n]
        gates = torch.sigmoid(a_gates)
    elif v.input:  # not among the paper's variants, but the formula allows it
        gates = torch.sigmoid(xp[..., : 2 * n] if gate_const is None else xp[..., : 2 * n] + gate_const)
    else:
        gates = _const_gates(gate_const, n, h).expand(*h.shape[:-1], 2 * n)
        if spec.reset_after:
            rec_h = _addmm(bias_rec, h, weight_hh.mT)
    r, z = gates[..., :n], gates[..., n:]

    xh = xp[..., -n:]
    if spec.reset_after:
        aux = rec_h
        a_h = xh + r * rec_h
    else:
        aux = r * h
        a_h = _addmm(xh, aux, weight_hh[..., -n:, :].mT)
    h_tilde = _g(a_h, spec.activation)
    if spec.update_rule == "paper":
        h_new = h + z * (h_tilde - h)
    else:
        h_new = h_tilde + z * (h - h_tilde)
    return h_new, z, r, h_tilde, aux


def _models_first(a: Tensor, stacked: bool) -> Tensor:
    """Time-major ``(T, [K,] B, d)`` as rows for one matmul: ``(T·B, d)``, or ``(K, T·B, d)`` for a stack."""
    if not stacked:
        return a.reshape(-1, a.shape[-1])
    return a.transpose(0, 1).reshape(a.shape[1], -1, a.shape[-1])


def affine(h: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    """``h @ weightᵀ + bias`` for one model, or per model for a stack (``h`` ``(K, B, cols)``,
    ``weight`` ``(K, rows, cols)``, ``bias`` ``(K, rows)`` or ``(K, 1, rows)``)."""
    if bias is not None and weight.dim() == 3 and bias.dim() == 2:
        bias = bias.unsqueeze(-2)
    return _addmm(bias, h, weight.mT)


def input_projection(x: Tensor, weight_ih: Tensor, bias_x: Optional[Tensor]) -> Tensor:
    """``x @ weight_ihᵀ + bias_x`` for every step at once, as one matmul.

    One model: ``x`` has any leading shape and ``weight_ih`` is 2-D. A stack of
    ``K`` models: ``x`` is ``(T, K, B, m)``, ``weight_ih`` is ``(K, rows, m)`` and
    ``bias_x`` is ``(K, rows)`` or ``(K, 1, rows)``; the result is
    ``(T, K, B, rows)`` (a view of one batched matmul's output).
    """
    if weight_ih.dim() == 2:
        out = _addmm(bias_x, x.reshape(-1, x.shape[-1]), weight_ih.t())
        return out.view(*x.shape[:-1], weight_ih.shape[0])
    T, K, B, _ = x.shape
    out = affine(_models_first(x, True), weight_ih, bias_x)
    return out.view(K, T, B, weight_ih.shape[-2]).transpose(0, 1)  # explicit rows: B may be 0


def _prepare(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Optional[Tensor],
             bias_hh: Optional[Tensor], spec: GRUSpec):
    """Fold the biases and project the inputs; a stack's biases get a batch axis to broadcast over."""
    n = h0.shape[-1]
    folded = fold_biases(bias_ih, bias_hh, spec, n)
    if weight_hh.dim() == 3:
        folded = tuple(b.unsqueeze(-2) if b is not None else None for b in folded)
    bias_x, bias_rec, gate_const = folded
    return input_projection(x, weight_ih, bias_x), bias_rec, gate_const


def _steps(a: Tensor, batch_sizes: Optional[list[int]]) -> tuple[Tensor, ...]:
    """Views of ``a`` one per time step: ``a[t]`` of a time-major ``(T, …)`` tensor, or
    the ``batch_sizes[t]`` rows of step ``t`` of a packed ``(sum(batch_sizes), …)`` tensor."""
    return a.unbind(0) if batch_sizes is None else a.split(batch_sizes)


def _packed_finals(h: Tensor, finished: list[Tensor]) -> Tensor:
    """Each row's last state: rows that stopped early were put aside (``finished``, later
    rows first); ``h`` holds the rows that ran to the last step."""
    return torch.cat([h, *reversed(finished)]) if finished else h


def scan(step, xp: Tensor, state: tuple[Tensor, ...], batch_sizes: Optional[list[int]] = None):
    """Run ``state = step(xp_t, state)`` over time, with autograd; ``state[0]`` is the output.

    ``xp`` is time-major ``(T, [K,] B, ·)``, or packed ``(sum(batch_sizes), ·)`` with
    ``batch_sizes`` non-increasing (a :class:`torch.nn.utils.rnn.PackedSequence`'s): at
    step ``t`` only the first ``batch_sizes[t]`` rows advance, and a row's final state
    is the one after its own last step. Returns ``(output, final state)`` with output
    ``(T, [K,] B, n)`` or packed ``(sum(batch_sizes), n)``. Used by
    :func:`gru_sequence_autograd` and the baselines.
    """
    packed = batch_sizes is not None
    outs: list[Tensor] = []
    finished: list[tuple[Tensor, ...]] = []
    for xp_t in _steps(xp, batch_sizes):
        b = xp_t.shape[0]
        if packed and b < state[0].shape[0]:
            finished.append(tuple(s[b:] for s in state))
            state = tuple(s[:b] for s in state)
        state = step(xp_t, state)
        outs.append(state[0])
    if not outs:
        return xp.new_empty(0, *state[0].shape), state
    if not packed:
        return torch.stack(outs), state
    finals = tuple(_packed_finals(s, [f[i] for f in finished]) for i, s in enumerate(state))
    return torch.cat(outs), finals


def _is_batched(t: Optional[Tensor]) -> bool:
    """Whether ``t`` carries a vmap batch dimension (``torch.func.vmap``, or the older vmap
    that ``torch.autograd.grad(..., is_grads_batched=True)`` runs the backward under)."""
    return t is not None and (torch._C._functorch.is_batchedtensor(t) or torch._C._functorch.is_legacy_batchedtensor(t))


def _reference_backward(ctx, grad_out: Tensor, grad_hn: Tensor) -> tuple[Optional[Tensor], ...]:
    """The vector-Jacobian product of :func:`gru_sequence_autograd` at the saved inputs.

    Used where the hand-written backward cannot serve: with ``create_graph=True`` the
    result stays attached to the graph, through the recomputed steps, to the inputs and
    to ``grad_out``/``grad_hn``, so second-order gradients are exact; under a batched
    backward every operation here has a vmap rule.
    """
    x, h0, weight_ih, weight_hh = ctx.saved_tensors[:4]
    bias_ih, bias_hh = ctx.saved_tensors[9:]
    inputs = (x, h0, weight_ih, weight_hh, bias_ih, bias_hh)
    wanted = [i for i, t in enumerate(inputs) if t is not None and ctx.needs_input_grad[i]]
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        out, h_n = gru_sequence_autograd(*inputs, ctx.spec, ctx.batch_sizes)
        grads = torch.autograd.grad(
            (out, h_n), [inputs[i] for i in wanted], (grad_out, grad_hn),
            create_graph=create_graph, allow_unused=True, materialize_grads=True,
        )
    result: list[Optional[Tensor]] = [None] * len(ctx.needs_input_grad)  # one per input of forward
    for i, g in zip(wanted, grads):
        result[i] = g
    return tuple(result)


def _needs_reference(*tensors: Optional[Tensor]) -> bool:
    """Whether a ``torch.func`` transform (``vmap``, ``grad``, ``jacrev``, ``jvp``, …) is active,
    or a tensor carries a forward-mode tangent (``torch.autograd.forward_ad``)."""
    if torch._C._are_functorch_transforms_active():
        return True
    return any(t is not None and fwAD.unpack_dual(t).tangent is not None for t in tensors)


class _GRUSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, spec, batch_sizes,  # type: ignore[override]
                triton=False):
        packed = batch_sizes is not None
        ctx.triton = triton and not packed
        xp, bias_rec, gate_const = _prepare(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, spec)
        out = x.new_empty(*xp.shape[:-1], h0.shape[-1])
        need_grad = any(ctx.needs_input_grad)
        if need_grad:
            zs, rs, hts, auxs = (torch.empty_like(out) for _ in range(4))
            z_s, r_s, ht_s, aux_s = (_steps(a, batch_sizes) for a in (zs, rs, hts, auxs))
        out_s = _steps(out, batch_sizes)
        h = h0
        if ctx.triton:  # the whole loop below as one kernel launch
            from . import triton_gru
            h = triton_gru.forward(xp, h0, weight_hh, bias_rec, gate_const, spec, out,
                                   (zs, rs, hts, auxs) if need_grad else None)
        finished: list[Tensor] = []
        for t, xp_t in enumerate(() if ctx.triton else _steps(xp, batch_sizes)):
            if packed and batch_sizes[t] < h.shape[0]:  # rows [b:] have ended: keep their state
                finished.append(h[batch_sizes[t] :])
                h = h[: batch_sizes[t]]
            h, z, r, ht, aux = gru_step(xp_t, h, weight_hh, bias_rec, gate_const, spec)
            out_s[t].copy_(h)
            if need_grad:
                z_s[t].copy_(z)
                r_s[t].copy_(r)
                ht_s[t].copy_(ht)
                aux_s[t].copy_(aux)
        if need_grad:
            ctx.save_for_backward(x, h0, weight_ih, weight_hh, out, zs, rs, hts, auxs, bias_ih, bias_hh)
            ctx.spec = spec
            ctx.batch_sizes = batch_sizes
            ctx.has_bias = (bias_ih is not None, bias_hh is not None)
        if packed:
            return out, _packed_finals(h, finished)
        return out, h.clone() if h is h0 else h

    @staticmethod
    def backward(ctx, grad_out, grad_hn):  # type: ignore[override]
        # The hand-written pass below is correct for first-order gradients only: its
        # buffers are constants to autograd, and it writes into them in place. A
        # backward that must itself be differentiable (create_graph=True) or that runs
        # batched (is_grads_batched=True) recomputes through the autograd reference.
        if torch.is_grad_enabled() or _is_batched(grad_out) or _is_batched(grad_hn):
            return _reference_backward(ctx, grad_out, grad_hn)
        return _GRUSequence._fused_backward(ctx, grad_out, grad_hn)

    @staticmethod
    def _fused_backward(ctx, grad_out, grad_hn):
        x, h0, weight_ih, weight_hh, out, zs, rs, hts, auxs = ctx.saved_tensors[:9]
        spec: GRUSpec = ctx.spec
        bs: Optional[list[int]] = ctx.batch_sizes
        packed = bs is not None
        v = spec.variant
        n = out.shape[-1]
        T = len(bs) if packed else out.shape[0]
        stacked = weight_hh.dim() == 3
        paper = spec.update_rule == "paper"
        relu = spec.activation == "relu"

        if grad_out is None:
            grad_out = torch.zeros_like(out)
        if grad_hn is None:
            grad_hn = torch.zeros_like(h0)
        out_s = _steps(out, bs)
        if packed:  # step t's previous state: the first bs[t] rows of step t-1's output
            h_prev_all = torch.cat([h0, *(out_s[t - 1][: bs[t]] for t in range(1, T))])
            dh = grad_hn[: bs[-1]]
        else:
            h_prev_all = torch.cat([h0.unsqueeze(0), out[:-1]], 0)
            dh = grad_hn

        # Pre-activation gradients. Columns: r, z, and with reset_after the
        # candidate's recurrent term U_h h + b'_h, so that one matmul with
        # weight_hh serves both the step's dh and, at the end, grad weight_hh.
        ra = spec.reset_after
        d_rec = out.new_empty(*out.shape[:-1], 3 * n if ra else 2 * n)
        d_cand = torch.empty_like(out)
        w_h = weight_hh[..., -n:, :]
        w_gates = weight_hh[..., : 2 * n, :] if v.hidden else None
        go_s, z_s, r_s, ht_s, aux_s, hp_s, drec_s, dcand_s = (
            _steps(a, bs) for a in (grad_out, zs, rs, hts, auxs, h_prev_all, d_rec, d_cand)
        )

        if ctx.triton:  # the whole loop below as one kernel launch
            from . import triton_gru
            dh = triton_gru.backward(grad_out, dh, (zs, rs, hts, auxs), h_prev_all, weight_hh, d_rec, d_cand, spec)
        for t in (() if ctx.triton else range(T - 1, -1, -1)):
            if packed and bs[t] > dh.shape[0]:  # rows that ended at step t join
                dh = torch.cat([dh, grad_hn[dh.shape[0] : bs[t]]])
            dh = dh + go_s[t]
            z, r, ht, aux, hp = z_s[t], r_s[t], ht_s[t], aux_s[t], hp_s[t]
            if paper:
                dz = dh * (ht - hp)
                dht = dh * z
                dhp = dh - dht
            else:
                dz = dh * (hp - ht)
                dht = dh - dh * z
                dhp = dh * z
            da_h = dht * (ht > 0) if relu else dht * (1 - ht * ht)
            dcand_s[t].copy_(da_h)
            drow = drec_s[t]
            if ra:
                dr = da_h * aux
                torch.mul(da_h, r, out=drow[..., 2 * n :])
            else:
                drh = da_h @ w_h
                dr = drh * hp
                dhp = dhp + drh * r
            torch.mul(dr, r * (1 - r), out=drow[..., :n])
            torch.mul(dz, z * (1 - z), out=drow[..., n : 2 * n])
            if v.hidden:
                dhp = _addmm(dhp, drow, weight_hh if ra else w_gates)
            elif ra:
                dhp = _addmm(dhp, drow[..., 2 * n :], w_h)
            dh = dhp

        rows = lambda a: _models_first(a, stacked)  # noqa: E731
        d_gates = d_rec[..., : 2 * n]
        d_xp = torch.cat([d_gates, d_cand], -1) if v.input else d_cand
        grad_x = grad_wih = grad_whh = grad_bih = grad_bhh = None
        if ctx.needs_input_grad[0]:
            gx = rows(d_xp) @ weight_ih
            grad_x = gx.view(x.shape[1], T, *x.shape[2:]).transpose(0, 1) if stacked else gx.view_as(x)
        if ctx.needs_input_grad[2]:
            grad_wih = rows(d_xp).mT @ rows(x)
        if ctx.needs_input_grad[3]:
            hp_rows = rows(h_prev_all)
            if ra and v.hidden:
                grad_whh = rows(d_rec).mT @ hp_rows
            else:
                cand = rows(d_rec[..., 2 * n :]).mT @ hp_rows if ra else rows(d_cand).mT @ rows(auxs)
                grad_whh = torch.cat([rows(d_gates).mT @ hp_rows, cand], -2) if v.hidden else cand
        has_bih, has_bhh = ctx.has_bias
        if has_bih:
            # sum over time and batch (packed: the rows), keeping a stack's model dimension
            over = (0,) if packed else (0, -2)
            g_cand = d_cand.sum(over)
            g_gates = d_gates.sum(over) if v.bias else None
            grad_bih = torch.cat([g_gates, g_cand], -1) if v.bias else g_cand
            if has_bhh:
                g_rec = d_rec[..., 2 * n :].sum(over)
                grad_bhh = torch.cat([g_gates, g_rec], -1) if v.bias else g_rec
        grad_h0 = dh if ctx.needs_input_grad[1] else None
        return grad_x, grad_h0, grad_wih, grad_whh, grad_bih, grad_bhh, None, None, None


def gru_sequence(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Optional[Tensor],
    bias_hh: Optional[Tensor],
    spec: GRUSpec,
    batch_sizes: Optional[list[int]] = None,
    *,
    triton: bool = False,
) -> tuple[Tensor, Tensor]:
    r"""Run one GRU layer in one direction over a time-major sequence.

    Computes :func:`gru_step` for ``t = 1 … T`` (equations in the module
    docstring) and returns ``(output, h_T)`` with ``output`` of shape
    ``(T, batch, n)``. Gradients come from a hand-derived backward pass
    (backpropagation through time in closed form), verified against autograd
    and ``torch.autograd.gradcheck`` in the test suite.

    **Higher-order gradients and transforms.** A backward with
    ``create_graph=True`` (gradient penalties, ``gradgradcheck``, Hessian-vector
    products) and a batched backward (``torch.autograd.grad(...,
    is_grads_batched=True)``) recompute the sequence through
    :func:`gru_sequence_autograd` and differentiate that, so their gradients are
    exact and stay attached to the graph. Under a ``torch.func`` transform
    (``vmap``, ``grad``, ``jacrev``, ``jvp``, ``functional_call`` inside one of
    them) and with forward-mode tangents (``torch.autograd.forward_ad``) the call
    runs :func:`gru_sequence_autograd` itself, whose operations all have vmap and
    forward-mode rules. Ordinary training keeps the hand-written pass.

    ``x`` is ``(T, batch, m)``, ``h0`` is ``(batch, n)``; no validation happens
    here (the modules validate at their boundary).

    **Packed sequences.** With ``batch_sizes`` (a list of ``T`` non-increasing
    ints, a :class:`~torch.nn.utils.rnn.PackedSequence`'s ``batch_sizes``), ``x`` is
    the packed data ``(sum(batch_sizes), m)``: step ``t``'s rows follow step
    ``t-1``'s, and the batch is sorted by length, so the rows still running at
    step ``t`` are the first ``b_t = batch_sizes[t]``. Only those advance:

    .. math::

        h_t[:b_t] = \mathrm{step}(x_t, h_{t-1}[:b_t]),

        h^{(i)}_{\text{final}} = h^{(i)}_{\ell_i}

    where ``ℓ_i`` is row ``i``'s length. ``output`` is packed like ``x``,
    ``(sum(batch_sizes), n)``, and ``h_T`` holds each row's state after its own
    last step, ``(batch_sizes[0], n)``. The input projection and the weight
    gradients are single matmuls over the packed rows only, so padding costs nothing.

    A stack of ``K`` independent models of one architecture runs in the same
    pass when every tensor gets a model dimension: ``x`` ``(T, K, batch, m)``,
    ``h0`` ``(K, batch, n)``, the weights ``(K, rows, cols)`` and the biases
    ``(K, rows)``. Then ``output`` is ``(T, K, batch, n)``, the recurrent and
    input products are batched matmuls, and each model's gradients are those it
    would get on its own. (Packed input is for one model only.)

    **Triton.** With ``triton=True`` the forward time loop and the backward's
    reverse loop each run as one persistent Triton kernel
    (``gru_lib.triton_gru``); the input projection before and the weight
    gradients after are the same matmuls. It needs a CUDA tensor, or
    ``TRITON_INTERPRET=1`` on the CPU (``RuntimeError`` otherwise). Packed input
    runs the loops above instead, with the same results.
    """
    if _needs_reference(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
        return gru_sequence_autograd(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, spec, batch_sizes)
    if triton and batch_sizes is None:
        from .triton_gru import check_device
        check_device(x.device)
    return _GRUSequence.apply(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, spec, batch_sizes, triton)


def gru_sequence_autograd(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Optional[Tensor],
    bias_hh: Optional[Tensor],
    spec: GRUSpec,
    batch_sizes: Optional[list[int]] = None,
) -> tuple[Tensor, Tensor]:
    """The same computation as :func:`gru_sequence`, differentiated by autograd.

    Slower (autograd records every step), but supports higher-order gradients;
    it also serves as the independent reference for the hand-written backward.
    Packed input (``batch_sizes``) works as in :func:`gru_sequence`.
    """
    xp, bias_rec, gate_const = _prepare(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, spec)

    def step(xp_t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return (gru_step(xp_t, state[0], weight_hh, bias_rec, gate_const, spec)[0],)

    out, (h,) = scan(step, xp, (h0,), batch_sizes)
    return out, h

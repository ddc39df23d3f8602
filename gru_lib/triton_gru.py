r"""Both time loops of a GRU layer as persistent Triton kernels (``GRU(..., implementation="triton")``).

:func:`gru_lib.functional.gru_sequence` runs a layer in three parts, as haste does:
the input projections of all steps as one matmul, the time loop, and the weight
gradients as matmuls over all steps. With ``triton=True`` the time loop of the
forward pass and the reverse loop of the backward pass are each one kernel launch
(per layer and direction) instead of a few small PyTorch operations per step;
what surrounds them is unchanged, and so is the formula
(:func:`gru_lib.functional.gru_step`):

.. math::

    r_t, z_t &= \sigma([W_{r,z} x_t] + [U_{r,z} h_{t-1}] + [b_{r,z}]) \\
    \tilde h_t &= g(W_h x_t + U_h (r_t \odot h_{t-1}) + b_h)
        \quad\text{or}\quad g(W_h x_t + b_h + r_t \odot (U_h h_{t-1} + b'_h)) \\
    h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t
        \quad\text{or}\quad z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t

(bracketed terms per variant; reset before or after ``U_h``; the paper's or Cho's
update rule). The variant, activation, reset convention and update rule reach the
kernels as compile-time flags read from the layer's :class:`~gru_lib.functional.GRUSpec`.

The kernels
    The grid runs over (model of a stack, block of ``BLOCK_B`` batch rows). Each
    program loads its model's recurrent matrices ``U_r, U_z, U_h`` once, before the
    loop over time, and keeps ``h`` on chip. The forward pass stores ``z, r, h̃``
    and ``aux`` (``U_h h + b'_h`` or ``r ⊙ h``) for every step; the backward pass
    reads them back in a reverse loop and writes the gradients of the gates'
    pre-activations, from which the caller forms ``dW_hh``, ``dW_ih``, the bias
    gradients and ``dx`` as matmuls over all steps. Hidden sizes that are not
    powers of two are padded to the next one and masked; padded columns stay 0.

Precision
    ``tl.dot`` follows PyTorch's float32 matmul setting
    (:func:`torch.set_float32_matmul_precision`), as the fused path's matmuls do:
    ``"highest"`` (PyTorch's default) gives strict float32 (``input_precision="ieee"``),
    ``"high"`` three TF32 products (``"tf32x3"``), ``"medium"`` one (``"tf32"``).
    :func:`dot_precision` says which, and training records it in each result's
    provenance. Half-precision tensors are computed in float32 and float64 in float64.

Where it runs
    On CUDA tensors, compiled. On CPU tensors only through Triton's interpreter, when
    ``TRITON_INTERPRET=1`` is set (slow: for testing the kernels' logic); otherwise a
    ``RuntimeError`` says so. Packed sequences run on the fused path (same results).
    Triton is imported with this module, which :mod:`gru_lib` imports only when the
    engine is used.
"""

import contextlib
import os

import triton
import triton.language as tl
import torch
from torch import Tensor

__all__ = ["BLOCK_B", "DOT_PRECISIONS", "FP_FUSION", "MAX_HIDDEN", "check_device", "dot_precision", "forward",
           "backward", "interpreting", "provenance"]

#: Batch rows per program (``tl.dot`` needs at least 16).
BLOCK_B = 16
#: The largest hidden size: a program holds three ``n × n`` matrices on chip.
MAX_HIDDEN = 256
#: Whether the compiler may fuse a multiply and an add into one FMA (one rounding instead
#: of two), as cuBLAS and PyTorch's own kernels do. Set here rather than left to Triton,
#: whose default changes in 3.10.
FP_FUSION = True


def _forward_kernel(
    xp, sx_t, sx_k, sx_b,
    h0, hn, w, b_gates, b_cand,
    out, zs, rs, hts, auxs,
    T, K, B, N,
    HIDDEN: tl.constexpr, INPUT: tl.constexpr, HAS_BG: tl.constexpr, HAS_BC: tl.constexpr,
    RESET_AFTER: tl.constexpr, RELU: tl.constexpr, PAPER: tl.constexpr, STORE: tl.constexpr,
    ACC: tl.constexpr, PRECISION: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr,
):
    # offsets that grow with the model or the step are int64: an evaluation batch of a
    # large stack has more than 2**31 elements per buffer
    k = tl.program_id(0).to(tl.int64)
    rows = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.arange(0, BLOCK_N)
    col_ok = cols < N
    mask = (rows < B)[:, None] & col_ok[None, :]
    # U_x transposed, tile[j, i] = U_x[i, j], so that h @ tile = h U_xᵀ
    tile = cols[None, :] * N + cols[:, None]
    w_mask = col_ok[:, None] & col_ok[None, :]
    w_k = w + k * (3 * N if HIDDEN else N) * N
    w_h = tl.load(w_k + (2 * N * N if HIDDEN else 0) + tile, mask=w_mask, other=0.0).to(ACC)
    if HIDDEN:
        w_r = tl.load(w_k + tile, mask=w_mask, other=0.0).to(ACC)
        w_z = tl.load(w_k + N * N + tile, mask=w_mask, other=0.0).to(ACC)
    if HAS_BG:
        bg_r = tl.load(b_gates + k * 2 * N + cols, mask=col_ok, other=0.0).to(ACC)[None, :]
        bg_z = tl.load(b_gates + k * 2 * N + N + cols, mask=col_ok, other=0.0).to(ACC)[None, :]
    if HAS_BC:
        bc = tl.load(b_cand + k * N + cols, mask=col_ok, other=0.0).to(ACC)[None, :]

    state = k * B * N + rows[:, None] * N + cols[None, :]  # (K, B, N), and step 0 of (T, K, B, N)
    h = tl.load(h0 + state, mask=mask, other=0.0).to(ACC)
    if not HIDDEN and not INPUT:  # GRU3: constant gates
        a_r = tl.full((BLOCK_B, BLOCK_N), 0.0, ACC)
        a_z = tl.full((BLOCK_B, BLOCK_N), 0.0, ACC)
        if HAS_BG:
            a_r += bg_r
            a_z += bg_z
        r = 1.0 / (1.0 + tl.exp(-a_r))
        z = 1.0 / (1.0 + tl.exp(-a_z))
    x_k = xp + k * sx_k + rows[:, None] * sx_b + cols[None, :]
    at_t = tl.full((), 0, tl.int64)  # step t's offset in (T, K, B, N) and in xp
    x_at = tl.full((), 0, tl.int64)
    for t in range(T):
        x_t = x_k + x_at
        if HIDDEN or INPUT:
            a_r = tl.full((BLOCK_B, BLOCK_N), 0.0, ACC)
            a_z = tl.full((BLOCK_B, BLOCK_N), 0.0, ACC)
            if HIDDEN:
                a_r += tl.dot(h, w_r, input_precision=PRECISION, out_dtype=ACC)
                a_z += tl.dot(h, w_z, input_precision=PRECISION, out_dtype=ACC)
            if INPUT:
                a_r += tl.load(x_t, mask=mask, other=0.0).to(ACC)
                a_z += tl.load(x_t + N, mask=mask, other=0.0).to(ACC)
            if HAS_BG:
                a_r += bg_r
                a_z += bg_z
            r = 1.0 / (1.0 + tl.exp(-a_r))
            z = 1.0 / (1.0 + tl.exp(-a_z))
        x_h = tl.load(x_t + (2 * N if INPUT else 0), mask=mask, other=0.0).to(ACC)
        if RESET_AFTER:
            aux = tl.dot(h, w_h, input_precision=PRECISION, out_dtype=ACC)
            if HAS_BC:
                aux += bc
            a_h = x_h + r * aux
        else:
            aux = r * h
            a_h = x_h + tl.dot(aux, w_h, input_precision=PRECISION, out_dtype=ACC)
        if RELU:
            ht = tl.maximum(a_h, 0.0)
        else:  # tanh from exp(-2|a|), accurate near 0 and without overflow
            e = tl.exp(-2.0 * tl.abs(a_h))
            ht = (1.0 - e) / (1.0 + e)
            ht = tl.where(a_h < 0, -ht, ht)
        if PAPER:
            h = h + z * (ht - h)
        else:
            h = ht + z * (h - ht)
        at = state + at_t
        at_t += K * B * N
        x_at += sx_t
        tl.store(out + at, h.to(out.dtype.element_ty), mask=mask)
        if STORE:
            tl.store(zs + at, z.to(zs.dtype.element_ty), mask=mask)
            tl.store(rs + at, r.to(rs.dtype.element_ty), mask=mask)
            tl.store(hts + at, ht.to(hts.dtype.element_ty), mask=mask)
            tl.store(auxs + at, aux.to(auxs.dtype.element_ty), mask=mask)
    tl.store(hn + state, h.to(hn.dtype.element_ty), mask=mask)


def _backward_kernel(
    go, sg_t, sg_k, sg_b,
    dh_in, dh_out, w,
    zs, rs, hts, auxs, hps,
    d_rec, d_cand,
    T, K, B, N, NR,
    HIDDEN: tl.constexpr, RESET_AFTER: tl.constexpr, RELU: tl.constexpr, PAPER: tl.constexpr,
    ACC: tl.constexpr, PRECISION: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr,
):
    k = tl.program_id(0).to(tl.int64)  # int64 offsets, as in the forward kernel
    rows = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.arange(0, BLOCK_N)
    col_ok = cols < N
    mask = (rows < B)[:, None] & col_ok[None, :]
    # U_x as it is, tile[i, j] = U_x[i, j], so that d @ tile = d U_x
    tile = cols[:, None] * N + cols[None, :]
    w_mask = col_ok[:, None] & col_ok[None, :]
    w_k = w + k * (3 * N if HIDDEN else N) * N
    w_h = tl.load(w_k + (2 * N * N if HIDDEN else 0) + tile, mask=w_mask, other=0.0).to(ACC)
    if HIDDEN:
        w_r = tl.load(w_k + tile, mask=w_mask, other=0.0).to(ACC)
        w_z = tl.load(w_k + N * N + tile, mask=w_mask, other=0.0).to(ACC)

    state = k * B * N + rows[:, None] * N + cols[None, :]
    rec = k * B * NR + rows[:, None] * NR + cols[None, :]  # d_rec's NR columns: r, z [and U_h h + b'_h]
    g_k = go + k * sg_k + rows[:, None] * sg_b + cols[None, :]
    dh = tl.load(dh_in + state, mask=mask, other=0.0).to(ACC)
    last = tl.full((), 0, tl.int64) + (T - 1)  # the loop runs from the last step back
    at_t = last * (K * B * N)
    rec_t0 = last * (K * B * NR)
    g_t = last * sg_t
    for _ in range(T):
        at = state + at_t
        dh += tl.load(g_k + g_t, mask=mask, other=0.0).to(ACC)
        z = tl.load(zs + at, mask=mask, other=0.0).to(ACC)
        r = tl.load(rs + at, mask=mask, other=0.0).to(ACC)
        ht = tl.load(hts + at, mask=mask, other=0.0).to(ACC)
        hp = tl.load(hps + at, mask=mask, other=0.0).to(ACC)
        if PAPER:
            dz = dh * (ht - hp)
            dht = dh * z
            dhp = dh - dht
        else:
            dz = dh * (hp - ht)
            dht = dh - dh * z
            dhp = dh * z
        if RELU:
            da_h = tl.where(ht > 0, dht, 0.0)
        else:
            da_h = dht * (1.0 - ht * ht)
        tl.store(d_cand + at, da_h.to(d_cand.dtype.element_ty), mask=mask)
        rec_t = d_rec + rec + rec_t0
        if RESET_AFTER:
            dr = da_h * tl.load(auxs + at, mask=mask, other=0.0).to(ACC)
            d_rh = da_h * r
            tl.store(rec_t + 2 * N, d_rh.to(d_rec.dtype.element_ty), mask=mask)
            dhp += tl.dot(d_rh, w_h, input_precision=PRECISION, out_dtype=ACC)
        else:
            drh = tl.dot(da_h, w_h, input_precision=PRECISION, out_dtype=ACC)
            dr = drh * hp
            dhp += drh * r
        d_ar = dr * (r * (1.0 - r))
        d_az = dz * (z * (1.0 - z))
        tl.store(rec_t, d_ar.to(d_rec.dtype.element_ty), mask=mask)
        tl.store(rec_t + N, d_az.to(d_rec.dtype.element_ty), mask=mask)
        if HIDDEN:
            dhp += tl.dot(d_ar, w_r, input_precision=PRECISION, out_dtype=ACC)
            dhp += tl.dot(d_az, w_z, input_precision=PRECISION, out_dtype=ACC)
        dh = dhp
        at_t -= K * B * N
        rec_t0 -= K * B * NR
        g_t -= sg_t
    tl.store(dh_out + state, dh.to(dh_out.dtype.element_ty), mask=mask)


_KERNELS: dict = {}
# The kernels call Triton's builtins only, not the functions that triton.language itself
# jits (tl.sigmoid, tl.zeros, …): those were jitted for the mode in force when triton was imported.


def _kernels() -> tuple:
    """The two kernels, jitted for the mode in force now (compiled, or Triton's interpreter).

    ``TRITON_INTERPRET`` is read when a function is jitted, so the kernels are jitted
    on first use, once per mode, rather than when this module is imported.
    """
    mode = interpreting()
    if mode not in _KERNELS:
        # sizes and strides are not specialised on (Triton would compile again for a size of
        # 1 or a multiple of 16): one binary serves every stack size, batch, length and n
        _KERNELS[mode] = (
            triton.jit(_forward_kernel, do_not_specialize=["sx_t", "sx_k", "sx_b", "T", "K", "B", "N"]),
            triton.jit(_backward_kernel, do_not_specialize=["sg_t", "sg_k", "sg_b", "T", "K", "B", "N", "NR"]),
        )
    return _KERNELS[mode]


def interpreting() -> bool:
    """Whether Triton's interpreter runs the kernels (``TRITON_INTERPRET=1``, read now)."""
    knobs = getattr(triton, "knobs", None)  # Triton < 3.4 read the variable itself
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


#: ``tl.dot``'s ``input_precision`` for each :func:`torch.get_float32_matmul_precision`.
DOT_PRECISIONS = {"highest": "ieee", "high": "tf32x3", "medium": "tf32"}


def dot_precision() -> str:
    """What ``tl.dot`` does with float32 now: ``"ieee"``, ``"tf32x3"`` or ``"tf32"``.

    It follows :func:`torch.get_float32_matmul_precision`, as the fused path's
    matmuls do: ``"highest"`` (PyTorch's default) is strict float32 (``"ieee"``, on
    the CUDA cores); ``"high"`` is three TF32 products per product on the tensor
    cores (``"tf32x3"``, about float32's accuracy, as PyTorch's ``"high"`` allows);
    ``"medium"`` is one TF32 product (``"tf32"``, 10 bits of mantissa).
    """
    return DOT_PRECISIONS.get(torch.get_float32_matmul_precision(), "ieee")


def provenance() -> dict:
    """What a result trained with this engine records: Triton's version, the dot precision, the mode."""
    return {"version": triton.__version__, "dot_precision": dot_precision(), "interpreted": interpreting()}


def check_device(device: torch.device) -> None:
    """Raise ``RuntimeError`` unless the kernels can run on ``device`` now."""
    if device.type != "cuda" and not interpreting():
        raise RuntimeError(
            f"implementation='triton' runs on CUDA devices, not on {device}; "
            "set TRITON_INTERPRET=1 to run the kernels on the CPU "
            "through Triton's interpreter (slow, for testing), or use implementation='fused'"
        )


def _flags(spec, like: Tensor) -> dict:
    return dict(
        HIDDEN=spec.variant.hidden, RESET_AFTER=spec.reset_after, RELU=spec.activation == "relu",
        PAPER=spec.update_rule == "paper", ACC=tl.float64 if like.dtype == torch.float64 else tl.float32,
        PRECISION="ieee" if like.dtype == torch.float64 else dot_precision(),
        BLOCK_B=BLOCK_B, BLOCK_N=max(16, triton.next_power_of_2(like.shape[-1])),
    )


def _launch(kernel, grid, device: torch.device, *args, **flags) -> None:
    num_warps = 8 if flags["BLOCK_N"] >= 128 else 4
    # the interpreter (CPU tensors) ignores the compiler's options
    with torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext():
        kernel[grid](*args, **flags, num_warps=num_warps, enable_fp_fusion=FP_FUSION)


def _with_models(a: Tensor, stacked: bool, dim: int) -> Tensor:
    """``a`` with a model dimension of size 1 at ``dim`` for one model; last dimension contiguous."""
    a = a if stacked else a.unsqueeze(dim)
    return a if a.stride(-1) == 1 else a.contiguous()


def _per_model(b, stacked: bool):
    """A bias as ``(K, cols)``, contiguous (a stack's come as ``(K, 1, cols)``)."""
    if b is None:
        return None
    return (b.reshape(b.shape[0], -1) if stacked else b.reshape(1, -1)).contiguous()


def forward(xp: Tensor, h0: Tensor, weight_hh: Tensor, bias_rec, gate_const, spec, out: Tensor,
            stores) -> Tensor:
    """The forward time loop: fills ``out`` (and ``stores`` = ``(z, r, h̃, aux)`` unless ``None``); returns ``h_T``.

    Arguments are those of :func:`gru_lib.functional.gru_step` for all steps at once
    (``xp`` time-major ``(T, [K,] B, ·)``), and ``out`` and the stores are
    ``(T, [K,] B, n)`` contiguous buffers.
    """
    stacked = weight_hh.dim() == 3
    n = h0.shape[-1]
    if spec.variant.hidden:
        b_gates = bias_rec[..., : 2 * n] if bias_rec is not None else None
        b_cand = bias_rec[..., 2 * n :] if bias_rec is not None and spec.reset_after else None
    else:
        b_gates, b_cand = gate_const, bias_rec
    x4 = _with_models(xp, stacked, 1)
    T, K, B = x4.shape[:3]
    h0_3 = _with_models(h0, stacked, 0).contiguous()
    hn = torch.empty_like(h0_3)
    if B == 0:
        return hn.view_as(h0)
    b_gates, b_cand = _per_model(b_gates, stacked), _per_model(b_cand, stacked)
    z, r, ht, aux = stores if stores is not None else (out, out, out, out)
    _launch(_kernels()[0], (K, triton.cdiv(B, BLOCK_B)), out.device,
            x4, x4.stride(0), x4.stride(1), x4.stride(2),
            h0_3, hn, weight_hh.contiguous(),
            b_gates if b_gates is not None else hn, b_cand if b_cand is not None else hn,
            out, z, r, ht, aux, T, K, B, n,
            INPUT=spec.variant.input, HAS_BG=b_gates is not None, HAS_BC=b_cand is not None,
            STORE=stores is not None, **_flags(spec, h0))
    return hn.view_as(h0)


def backward(grad_out: Tensor, grad_hn: Tensor, stores, h_prev: Tensor, weight_hh: Tensor, d_rec: Tensor,
             d_cand: Tensor, spec) -> Tensor:
    """The reverse time loop: fills ``d_rec`` and ``d_cand`` as the fused backward does; returns ``dL/dh_0``.

    ``stores`` are the forward's ``(z, r, h̃, aux)``, ``h_prev`` the states ``h_{t-1}``,
    all ``(T, [K,] B, n)``; ``d_rec`` is ``(T, [K,] B, 2n or 3n)`` and ``d_cand``
    ``(T, [K,] B, n)``, both contiguous.
    """
    stacked = weight_hh.dim() == 3
    n = grad_hn.shape[-1]
    g4 = _with_models(grad_out, stacked, 1)
    T, K, B = g4.shape[:3]
    dh_in = _with_models(grad_hn, stacked, 0).contiguous()
    dh0 = torch.empty_like(dh_in)
    if B == 0:
        return dh0.view_as(grad_hn)
    z, r, ht, aux = (a.contiguous() for a in stores)
    _launch(_kernels()[1], (K, triton.cdiv(B, BLOCK_B)), d_rec.device,
            g4, g4.stride(0), g4.stride(1), g4.stride(2),
            dh_in, dh0, weight_hh.contiguous(), z, r, ht, aux, h_prev.contiguous(), d_rec, d_cand,
            T, K, B, n, d_rec.shape[-1], **_flags(spec, grad_hn))
    return dh0.view_as(grad_hn)

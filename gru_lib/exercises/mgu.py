"""The minimal gated unit: one step, and the MGU written as a GRU0 with tied gates."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ..baselines import MGU
from ..convert import cell_from_params, mgu_from_params, param_keys
from .common import ATOL, CASES, DTYPE, RTOL, CheckResult, _as_tensor, _call, _exception_message, _fail, _fmt
from .common import _ok, _run, example, random_params
from .steps import _diagnose

__all__ = ["check_mgu_as_gru", "check_mgu_step"]

def _mgu_step_ref(mgu: MGU, x: Tensor, h: Tensor) -> Tensor:
    with torch.no_grad():
        _, h_n = mgu(x.unsqueeze(1), h.unsqueeze(0))
    return h_n[0]


def check_mgu_step(fn: Callable[[Tensor, Tensor, dict], Tensor]) -> CheckResult:
    r"""Check your ``fn(x, h, params) -> h_new``: one step of the minimal gated unit.

    ``params`` has ``W_f``, ``U_f``, ``b_f`` (the forget gate) and ``W_h``, ``U_h``,
    ``b_h`` (the candidate), shapes and row-vector convention as in the GRU
    exercises; the MGU of :class:`gru_lib.MGU` (Zhou et al. 2016, with the
    paper's update rule) is the reference:

    .. math::

        f_t = \sigma(W_f x_t + U_f h_{t-1} + b_f)

        \tilde h_t = \tanh\bigl(W_h x_t + U_h (f_t \odot h_{t-1}) + b_h\bigr)

        h_t = (1 - f_t) \odot h_{t-1} + f_t \odot \tilde h_t
    """
    name = "MGU step"
    keys = param_keys("mgu")
    o = {"activation": "tanh", "reset_after": False, "update_rule": "paper"}
    for i, (batch, n, m) in enumerate(CASES):
        x, h, P = example("mgu", n, m, batch, seed=400 + i)
        case = f"batch={batch}, n={n}, m={m}"
        args = {k: p.clone() for k, p in P.items()}
        out, exc = _call(fn, x.clone(), h.clone(), args)
        if exc is not None:
            return _fail(name, _exception_message(exc, keys, "mgu", case))
        got, problem = _as_tensor(out, (batch, n), "your function")
        if problem:
            return _fail(name, problem + f" (on {case}).")
        want = _mgu_step_ref(mgu_from_params(P), x, h)
        if not torch.allclose(got, want, rtol=RTOL, atol=ATOL):
            # an MGU is a GRU0 whose two gates are the same: reuse the GRU diagnosis
            G = {"W_z": P["W_f"], "U_z": P["U_f"], "b_z": P["b_f"], "W_r": P["W_f"], "U_r": P["U_f"],
                 "b_r": P["b_f"], "W_h": P["W_h"], "U_h": P["U_h"], "b_h": P["b_h"]}
            slips = _diagnose(got, x, h, G, "gru0", o)
            slips = [s.replace("z_t", "f_t").replace("r_t", "f_t") for s in slips or [] if "swapped" not in s]
            if slips:
                return _fail(name, "; and ".join(slips) + f" (found on {case}).")
            return _fail(name, f"h_t differs from gru_lib.MGU on {case}: expected h_t[0] = {_fmt(want[0])}, "
                               f"got {_fmt(got[0])}.")
    return _ok(name, f"matches gru_lib.MGU on {len(CASES)} random cases.")


def check_mgu_as_gru(fn: Callable[[dict], dict]) -> CheckResult:
    """Check your ``fn(mgu_params) -> gru_params``: an MGU written as a GRU0 with tied gates.

    ``mgu_params`` is keyed as in :func:`~gru_lib.convert.param_keys` ``("mgu")``; ``fn`` returns a
    GRU0 dict (``W_z U_z b_z W_r U_r b_r W_h U_h b_h``) for which
    :class:`gru_lib.GRUCell` (paper rule, reset before ``U_h``) computes what
    :class:`gru_lib.MGU` computes, on random sequences.
    """
    name = "MGU as a GRU0"
    keys = param_keys("gru0")
    for seed, (batch, n, m) in enumerate(CASES[:3]):
        P = random_params("mgu", n, m, seed=500 + seed)
        arg = {k: p.clone() for k, p in P.items()}
        out, exc = _call(fn, arg)
        if exc is not None:
            return _fail(name, _exception_message(exc, param_keys("mgu"), "mgu", f"n={n}, m={m}"))
        if not isinstance(out, dict) or set(out) != set(keys):
            got_keys = sorted(out) if isinstance(out, dict) else type(out).__name__
            return _fail(name, f"return a dict with exactly the GRU0 keys {list(keys)}; got {got_keys}")
        try:
            cell = cell_from_params(out, "gru0")
        except Exception as exc:
            return _fail(name, f"these parameters do not fit a GRU0 with n={n}, m={m}: {exc}")
        gen = torch.Generator().manual_seed(600 + seed)
        xs = torch.randn(batch, 6, m, generator=gen, dtype=DTYPE)
        h0 = torch.rand(batch, n, generator=gen, dtype=DTYPE) * 2 - 1
        with torch.no_grad():
            want, _ = mgu_from_params(P)(xs, h0.unsqueeze(0))
        got = _run(cell, xs, h0)
        if not torch.allclose(got, want, rtol=RTOL, atol=ATOL):
            msg = "the GRU computes a different function from the MGU."
            for g in ("z", "r"):
                off = [f"{s}_{g}" for s in "WUb" if not torch.allclose(out[f"{s}_{g}"], P[f"{s}_f"])]
                if off:
                    msg += f" Gate {g}: {off} differ from the forget gate's parameters (both gates are f_t)."
            off = [k for k in ("W_h", "U_h", "b_h") if not torch.allclose(out[k], P[k])]
            if off:
                msg += f" The candidate's {off} should be the MGU's own."
            return _fail(name, msg)
    return _ok(name, "GRUCell with your parameters reproduces gru_lib.MGU on random sequences.")

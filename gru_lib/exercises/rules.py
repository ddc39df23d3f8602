"""The two rules that are easy to misread: the update rule (eq. 8 against Cho's) and eq. (18)."""

from __future__ import annotations

import math
from typing import Callable

import torch

from ..convert import cell_from_params, param_keys
from ..variants import get_variant
from .common import ATOL, CASES, DTYPE, RTOL, CheckResult, _call, _changed_keys, _exception_message, _fail, _ok
from .common import _run, random_params

__all__ = ["check_lr_schedule", "check_update_rule_conversion"]

def check_update_rule_conversion(fn: Callable[[dict], dict], variant: str = "gru0") -> CheckResult:
    """Check your ``fn(params) -> new_params``: from Cho's update rule to the paper's.

    ``params`` (keyed as in :func:`~gru_lib.convert.param_keys`) define a GRU with Cho's rule
    ``h_t = z_t ⊙ h_{t−1} + (1 − z_t) ⊙ h̃_t``; ``fn`` returns a new dict, same keys
    and shapes, for which the paper's rule (eq. 8) computes the same function. The
    check runs both on random sequences; ``fn`` must not change ``params``.
    """
    v = get_variant(variant)
    name = f"{v.name}: Cho's rule → paper's rule"
    keys = param_keys(v.name)
    z_keys = [k for k in keys if k.endswith("_z")]
    for seed, (batch, n, m) in enumerate(CASES[:3]):
        P = random_params(v.name, n, m, seed=200 + seed)
        arg = {k: p.clone() for k, p in P.items()}
        out, exc = _call(fn, arg)
        if exc is not None:
            return _fail(name, _exception_message(exc, keys, v.name, f"n={n}, m={m}"))
        if _changed_keys(P, arg):
            return _fail(name, "your function changed the dict it was given; build and return a new one "
                               "(e.g. {k: -p if ... else p.clone() for k, p in params.items()}).")
        if not isinstance(out, dict):
            return _fail(name, f"your function returned a {type(out).__name__}; return a dict of tensors")
        if set(out) != set(keys):
            return _fail(name, f"returned keys {sorted(out)}; expected exactly {sorted(keys)}")
        try:
            out = {k: torch.as_tensor(val, dtype=DTYPE) for k, val in out.items()}
        except Exception:
            return _fail(name, "the returned values must be tensors")
        wrong_shape = [k for k in keys if tuple(out[k].shape) != tuple(P[k].shape)]
        if wrong_shape:
            return _fail(name, f"wrong shapes for {wrong_shape}; each must keep its shape")
        gen = torch.Generator().manual_seed(300 + seed)
        xs = torch.randn(batch, 6, m, generator=gen, dtype=DTYPE)
        h0 = torch.rand(batch, n, generator=gen, dtype=DTYPE) * 2 - 1
        want = _run(cell_from_params(P, v.name, update_rule="cho"), xs, h0)
        got = _run(cell_from_params(out, v.name, update_rule="paper"), xs, h0)
        if torch.allclose(got, want, rtol=RTOL, atol=ATOL):
            continue
        same = [k for k in keys if torch.allclose(out[k], P[k])]
        neg = [k for k in keys if torch.allclose(out[k], -P[k])]
        other = [k for k in keys if k not in same and k not in neg]
        if len(same) == len(keys):
            return _fail(name, "the parameters came back unchanged, but the two rules give different functions "
                               "for the same weights: since σ(−a) = 1 − σ(a), something must change sign.")
        msg = "the paper's rule with your parameters computes a different function."
        if other:
            msg += f" These parameters are neither kept nor negated: {other}."
        not_neg = [k for k in z_keys if k not in neg]
        wrong_neg = [k for k in neg if k not in z_keys]
        if not_neg:
            msg += f" Still to negate: {not_neg} (every term of the update gate's pre-activation)."
        if wrong_neg:
            msg += f" Negated but should be kept: {wrong_neg}."
        if not other and not not_neg and not wrong_neg:  # pragma: no cover - cannot happen for generic values
            msg += " Check the signs."
        return _fail(name, msg)
    return _ok(name, f"the paper's rule with your parameters reproduces Cho's rule on random sequences ({v.name}).")



def check_lr_schedule(fn: Callable[[float, list], list]) -> CheckResult:
    """Check your ``fn(base_lr, costs) -> rates``: the learning rates of eq. (18).

    ``costs[i]`` is the mean training cost of epoch ``i + 1``; ``fn`` returns the
    rates of epochs ``1 … len(costs) + 1`` (a list of floats, one longer than
    ``costs``): ``η(e) = η · exp(−cost(e − 1))``, with ``η(1) = η`` since no cost
    precedes the first epoch (:func:`gru_lib.train.eq18_lr`).
    """
    from ..train import eq18_lr

    name = "eq. 18 learning rates"
    histories = ([2.30, 0.90, 0.45, 0.30], [], [2.3], [0.69, 0.52, 0.61, 0.40, 0.05], [1e-3] * 3)
    for base in (1e-3, 1e-4):
        for costs in histories:
            out, exc = _call(fn, base, list(costs))
            if exc is not None:
                return _fail(name, f"fn({base}, {costs}) raised {type(exc).__name__}: {exc}")
            try:
                got = [float(r) for r in out]
            except Exception:
                return _fail(name, f"fn({base}, {costs}) returned {out!r}; return a list of floats")
            want = [eq18_lr(base, 1)] + [eq18_lr(base, e, costs[e - 2]) for e in range(2, len(costs) + 2)]
            if len(got) != len(want):
                return _fail(name, (
                    f"fn({base}, {costs}) returned {len(got)} rates; expected {len(want)}: one per epoch "
                    f"1 … {len(costs) + 1}, including the epoch after the last cost"))
            if all(math.isclose(g, w, rel_tol=1e-6) for g, w in zip(got, want)):
                continue
            where = f"fn({base}, {costs})"
            if not math.isclose(got[0], base, rel_tol=1e-6):
                return _fail(name, (
                    f"{where}: epoch 1 runs at {got[0]:.4g}; no cost precedes it, so eq. 18 gives the base rate "
                    f"η = {base:g} (cost(0) = 0)"))
            guesses = {
                "the exponent has the wrong sign: eq. 18 is η · exp(−cost(e − 1)), which is at most η":
                    [base] + [base * math.exp(c) for c in costs],
                "epoch e uses the cost of epoch e itself; eq. 18 uses the previous epoch's cost, cost(e − 1)":
                    [base] + [base * math.exp(-c) for c in costs[1:]] + [base * math.exp(-costs[-1])],
                "the factors compound (η · exp(−Σ costs)); eq. 18 multiplies the *base* rate η by "
                "exp(−cost(e − 1)) afresh each epoch":
                    [base] + [base * math.exp(-sum(costs[: e])) for e in range(1, len(costs) + 1)],
                "the rate is η · (1 − cost(e − 1)), a linearisation; eq. 18 uses the exponential":
                    [base] + [base * (1 - c) for c in costs],
            }
            for why, alt in guesses.items():
                if len(alt) == len(got) and all(math.isclose(g, a, rel_tol=1e-6) for g, a in zip(got, alt)):
                    return _fail(name, f"{where}: {why}.")
            e = next(i for i, (g, w) in enumerate(zip(got, want)) if not math.isclose(g, w, rel_tol=1e-6))
            return _fail(name, f"{where}: epoch {e + 1} runs at {got[e]:.6g}, expected {want[e]:.6g}")
    return _ok(name, "matches gru_lib.train.eq18_lr on several cost histories (the rate rises as the cost falls).")

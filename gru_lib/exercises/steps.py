"""One step of a GRU variant, and the usual slips recognised by name."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

from ..convert import cell_from_params, param_keys
from ..variants import get_variant
from .common import ATOL, CASES, RTOL, CheckResult, _as_tensor, _call, _changed_keys, _exception_message, _fail
from .common import _fmt, _ok, example

__all__ = ["check_gru_step"]

@dataclass(frozen=True)
class _Slip:
    name: str
    describe: Callable[[dict], str]


def _formula(x: Tensor, h: Tensor, P: dict[str, Tensor], variant: str, o: dict, slips: frozenset) -> Tensor:
    """The step written out, with some slips made on purpose (to recognise them)."""
    v = get_variant(variant)

    def mm(a: Tensor, w: Tensor, which: str = "gate") -> Tensor:
        square = w.shape[0] == w.shape[1]
        flip = square and ("transpose_U" in slips or f"transpose_U_{which}" in slips)
        return a @ (w if flip else w.T)

    def gate(g: str) -> Tensor:
        pre = torch.zeros_like(h)
        if v.input:
            pre = pre + mm(x, P[f"W_{g}"])
        if v.hidden:
            pre = pre + mm(h, P[f"U_{g}"])
        if v.bias:
            pre = pre + P[f"b_{g}"]
        return torch.tanh(pre) if "gate_tanh" in slips else torch.sigmoid(pre)

    z, r = gate("z"), gate("r")
    if "swap_zr" in slips:
        z, r = r, z
    if "no_reset" in slips:
        r = torch.ones_like(r)
    after = o["reset_after"] != ("placement" in slips)
    b_h = torch.zeros_like(P["b_h"]) if "no_cand_bias" in slips else P["b_h"]
    b_hU = P.get("b_hU")
    if b_hU is not None and "no_second_bias" in slips:
        b_hU = torch.zeros_like(b_hU)
    a = mm(x, P["W_h"]) + b_h
    if after:
        rec = mm(h, P["U_h"], "h")
        if b_hU is not None:
            rec = rec + b_hU
        a = a + r * rec
    else:
        a = a + mm(r * h, P["U_h"], "h")
        if b_hU is not None:
            a = a + b_hU
    act = o["activation"]
    if "activation" in slips:
        act = "relu" if act == "tanh" else "tanh"
    if "cand_sigmoid" in slips:
        h_tilde = torch.sigmoid(a)
    else:
        h_tilde = torch.tanh(a) if act == "tanh" else torch.relu(a)
    rule = o["update_rule"]
    if "update_rule" in slips:
        rule = "cho" if rule == "paper" else "paper"
    if rule == "paper":
        return (1 - z) * h + z * h_tilde
    return z * h + (1 - z) * h_tilde


def _rule_text(rule: str) -> str:
    if rule == "paper":
        return "h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t (eq. 8)"
    return "h_t = z_t ⊙ h_{t−1} + (1 − z_t) ⊙ h̃_t (Cho et al.'s rule)"


def _placement_text(after: bool) -> str:
    if after:
        return "after the matrix product, r_t ⊙ (U_h h_{t−1} + b_hU) (PyTorch, cuDNN, Keras reset_after=True)"
    return "before the matrix product, U_h (r_t ⊙ h_{t−1}) (eq. 9)"


_SLIPS = (
    _Slip("update_rule", lambda o: (
        "the update gate weights the wrong term: you computed "
        f"{_rule_text('cho' if o['update_rule'] == 'paper' else 'paper')}, but this exercise asks for "
        f"{_rule_text(o['update_rule'])}")),
    _Slip("placement", lambda o: (
        f"the reset gate acts on the wrong side of U_h: you applied it {_placement_text(not o['reset_after'])}, "
        f"but this exercise asks for it {_placement_text(o['reset_after'])}")),
    _Slip("swap_zr", lambda o: (
        "the two gates are swapped: z_t (built from the _z parameters) belongs in the update of h_t, "
        "r_t (the _r parameters) in the candidate")),
    _Slip("no_reset", lambda o: "the reset gate r_t has no effect: it must multiply the state in the candidate"),
    _Slip("activation", lambda o: (
        f"the candidate uses the wrong nonlinearity: this exercise uses g = {o['activation']}")),
    _Slip("cand_sigmoid", lambda o: f"the candidate uses σ; it uses g = {o['activation']}, the gates use σ"),
    _Slip("gate_tanh", lambda o: "the gates use tanh; gates use the logistic function σ"),
    _Slip("transpose_U", lambda o: (
        "the recurrent matrices are transposed: with row-vector batches the paper's U h_{t−1} is "
        "h @ U.T, not h @ U")),
    _Slip("transpose_U_h", lambda o: (
        "the candidate's U_h is transposed: with row-vector batches the paper's U_h (r_t ⊙ h_{t−1}) is "
        "(r * h) @ U_h.T, not (r * h) @ U_h")),
    _Slip("transpose_U_gate", lambda o: (
        "the gates' U_z and U_r are transposed: with row-vector batches the paper's U_z h_{t−1} is "
        "h @ U_z.T, not h @ U_z")),
    _Slip("no_cand_bias", lambda o: "the candidate's bias b_h is missing"),
    _Slip("no_second_bias", lambda o: "the candidate's second bias b_hU (inside the reset) is missing"),
)


def _diagnose(got: Tensor, x: Tensor, h: Tensor, P: dict, variant: str, o: dict) -> Optional[list[str]]:
    """The smallest set of known slips (one, else two) that reproduces ``got``."""
    names = [s.name for s in _SLIPS if s.name != "no_second_bias" or o["reset_after"]]
    for size in (1, 2):
        for combo in itertools.combinations(names, size):
            try:
                alt = _formula(x, h, P, variant, o, frozenset(combo))
            except Exception:  # pragma: no cover - a slip that does not apply
                continue
            if torch.allclose(got, alt, rtol=RTOL, atol=ATOL):
                return [next(s for s in _SLIPS if s.name == c).describe(o) for c in combo]
    return None



def check_gru_step(
    fn: Callable[[Tensor, Tensor, dict], Tensor],
    variant: str = "gru0",
    *,
    activation: str = "tanh",
    reset_after: bool = False,
    update_rule: str = "paper",
) -> CheckResult:
    r"""Check your ``fn(x, h, params) -> h_new``: one step of a GRU variant.

    ``x`` is ``(batch, m)``, ``h`` is ``(batch, n)``, ``params`` is keyed as in
    :func:`~gru_lib.convert.param_keys` (paper notation and shapes), all float64; ``fn`` returns
    ``h_t`` with shape ``(batch, n)``. The reference is :class:`gru_lib.GRUCell`
    with the same options; the defaults are the paper's: eqs (8)–(9) with the
    gates of ``variant`` (eqs 10–17), ``g = tanh``, reset before ``U_h``.
    """
    v = get_variant(variant)
    name = f"{v.name} step"
    o = {"activation": activation, "reset_after": reset_after, "update_rule": update_rule}
    keys = param_keys(v.name, reset_after=reset_after)
    for i, (batch, n, m) in enumerate(CASES):
        x, h, P = example(v.name, n, m, batch, reset_after=reset_after, seed=100 + i)
        case = f"batch={batch}, n={n}, m={m}"
        originals = {"x": x.clone(), "h": h.clone(), **{k: p.clone() for k, p in P.items()}}
        args = {k: p.clone() for k, p in P.items()}
        xs, hs = x.clone(), h.clone()
        out, exc = _call(fn, xs, hs, args)
        if exc is not None:
            return _fail(name, _exception_message(exc, keys, v.name, case))
        changed = _changed_keys({k: originals[k] for k in P}, args)
        if not torch.equal(xs, originals["x"]) or not torch.equal(hs, originals["h"]) or changed:
            what = (["x"] if not torch.equal(xs, originals["x"]) else []) + (
                ["h"] if not torch.equal(hs, originals["h"]) else []) + changed
            return _fail(name, f"your function changed its inputs in place ({', '.join(what)}); "
                               "compute new tensors instead (e.g. h * z, not h.mul_(z)).")
        got, problem = _as_tensor(out, (batch, n), "your function")
        if problem:
            return _fail(name, problem + f" (on {case}).")
        cell = cell_from_params(P, v.name, activation=activation, reset_after=reset_after, update_rule=update_rule)
        with torch.no_grad():
            want = cell(x, h)
        if not torch.allclose(got, want, rtol=RTOL, atol=ATOL):
            slips = _diagnose(got, x, h, P, v.name, o)
            if slips:
                return _fail(name, "; and ".join(slips) + f" (found on {case}).")
            err = (got - want).abs()
            row = int(err.max(dim=1).values.argmax())
            return _fail(name, (
                f"h_t differs from gru_lib.GRUCell on {case}: largest error {float(err.max()):.3g} in batch row {row}. "
                f"Expected h_t[{row}] = {_fmt(want[row])}, got {_fmt(got[row])}. "
                "Compare your gates with GRUCell(...)(x, h, return_gates=True) on gru_lib.exercises.example(...)."))
    rule = "eq. 8" if update_rule == "paper" else "Cho's update rule"
    where = "after" if reset_after else "before"
    return _ok(name, f"matches gru_lib.GRUCell(variant={v.name!r}) on {len(CASES)} random cases "
                     f"({rule}, g = {activation}, reset {where} U_h).")

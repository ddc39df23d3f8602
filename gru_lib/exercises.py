r"""Checkers for the book's exercises: call them on your own code.

Each checker runs your function on random cases, compares it with ``gru_lib``
(:class:`gru_lib.GRUCell`, :class:`gru_lib.MGU`, :func:`gru_lib.count_params`,
:func:`gru_lib.train.eq18_lr`) and returns a :class:`CheckResult`. A notebook shows
the result as one line starting with ✓ or ✗; when your code is wrong, the message
says what differs and, for the usual slips, which slip it is (a swapped update
rule, the reset applied on the wrong side of ``U_h``, swapped gates, transposed
matrices, two bias vectors counted where the paper counts one, …).

Conventions shared by all exercises
-----------------------------------
Tensors are ``torch.float64``. A batch is a stack of **row vectors**: ``x`` has
shape ``(batch, m)`` and ``h`` shape ``(batch, n)``. Parameters come in a ``dict``
keyed by the paper's symbols (Dey & Salem 2017, eqs 8–17), with the paper's
shapes: ``W_*`` is ``(n, m)``, ``U_*`` is ``(n, n)`` and ``b_*`` is ``(n,)``. With
row vectors, the paper's ``W_z x_t`` is ``x @ W_z.T``. Only the parameters a
variant has are in the dict (:func:`param_keys`):

==========  ===============================================================
variant     keys
==========  ===============================================================
gru0        ``W_z U_z b_z  W_r U_r b_r  W_h U_h b_h``
gru1        ``U_z b_z  U_r b_r  W_h U_h b_h``
gru2        ``U_z  U_r  W_h U_h b_h``
gru3        ``b_z  b_r  W_h U_h b_h``
mgu         ``W_f U_f b_f  W_h U_h b_h``
==========  ===============================================================

With ``reset_after=True`` the candidate has a second bias ``b_hU`` inside the
reset: ``h̃_t = g(W_h x_t + b_h + r_t ⊙ (U_h h_{t-1} + b_hU))`` (PyTorch's
``b_hn``; the gates' second biases would only add to ``b_z`` and ``b_r``, so they
are left out).

Use :func:`example` to get inputs for trying your function by hand.

Checkers
--------
:func:`check_gru_step`, :func:`check_param_count`,
:func:`check_update_rule_conversion`, :func:`check_lr_schedule`,
:func:`check_mgu_step`, :func:`check_mgu_as_gru` and :func:`check_answer` (for
numeric answers; the questions are listed in :data:`QUESTIONS`).
Instructors who grade automatically can call ``.assert_passed()`` on a result.
"""

from __future__ import annotations

import itertools
import math
import textwrap
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor

from .baselines import MGU
from .cell import GRUCell
from .params import MODELS, count_params
from .variants import VARIANTS, get_variant

__all__ = [
    "CheckResult",
    "QUESTIONS",
    "Question",
    "cell_from_params",
    "check_answer",
    "check_gru_step",
    "check_lr_schedule",
    "check_mgu_as_gru",
    "check_mgu_step",
    "check_param_count",
    "check_update_rule_conversion",
    "example",
    "param_keys",
    "params_from_cell",
    "random_params",
]

DTYPE = torch.float64
#: Tolerances of the comparisons (loose enough for code that computes in float32).
RTOL, ATOL = 1e-4, 1e-6
#: The (batch, n, m) shapes the step checkers try; n ≠ m so that transposes show.
CASES = ((5, 4, 3), (3, 6, 2), (1, 3, 7), (8, 5, 1))


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CheckResult:
    """The verdict of a checker.

    Attributes
    ----------
    passed:
        ``True`` when the code (or answer) is right.
    message:
        What was checked, or what is wrong and how to find it.
    exercise:
        Which checker produced it.

    ``bool(result)`` is ``result.passed``; ``repr(result)`` is the line a notebook shows.
    """

    passed: bool
    message: str
    exercise: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        mark = "✓" if self.passed else "✗"
        head = f"{mark} {self.exercise}: " if self.exercise else f"{mark} "
        return textwrap.fill(head + self.message, width=72, subsequent_indent="  ",
                             break_long_words=False, break_on_hyphens=False)

    __repr__ = __str__

    def assert_passed(self) -> "CheckResult":
        """Raise ``AssertionError`` with the message unless the check passed (for autograders)."""
        if not self.passed:
            raise AssertionError(str(self))
        return self


def _ok(exercise: str, message: str) -> CheckResult:
    return CheckResult(True, message, exercise)


def _fail(exercise: str, message: str) -> CheckResult:
    return CheckResult(False, message, exercise)


# ------------------------------------------------------------------ parameter dicts


def param_keys(variant: str = "gru0", *, reset_after: bool = False) -> tuple[str, ...]:
    """The parameter names of ``variant`` in the paper's notation (``"mgu"`` too).

    >>> param_keys("gru2")
    ('U_z', 'U_r', 'W_h', 'U_h', 'b_h')
    """
    if variant == "mgu":
        if reset_after:
            raise ValueError("the MGU exercises use one bias per gate (reset_after=False)")
        return ("W_f", "U_f", "b_f", "W_h", "U_h", "b_h")
    v = get_variant(variant)
    keys = []
    for gate in ("z", "r"):
        for on, sym in ((v.input, "W"), (v.hidden, "U"), (v.bias, "b")):
            if on:
                keys.append(f"{sym}_{gate}")
    keys += ["W_h", "U_h", "b_h"] + (["b_hU"] if reset_after else [])
    return tuple(keys)


def _shape(key: str, n: int, m: int) -> tuple[int, ...]:
    return {"W": (n, m), "U": (n, n), "b": (n,)}[key[0]]


def random_params(
    variant: str = "gru0", n: int = 4, m: int = 3, *, reset_after: bool = False, seed: int = 0
) -> dict[str, Tensor]:
    """Random float64 parameters for ``variant`` (or ``"mgu"``), uniform in (−1, 1), keyed as in :func:`param_keys`."""
    gen = torch.Generator().manual_seed(seed)
    return {
        k: torch.rand(_shape(k, n, m), generator=gen, dtype=DTYPE) * 2 - 1
        for k in param_keys(variant, reset_after=reset_after)
    }


def example(
    variant: str = "gru0", n: int = 4, m: int = 3, batch: int = 2, *, reset_after: bool = False, seed: int = 0
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """Inputs for trying a step function by hand: ``x`` ``(batch, m)``, ``h`` ``(batch, n)`` and a parameter dict."""
    gen = torch.Generator().manual_seed(seed + 10_000)
    x = torch.randn(batch, m, generator=gen, dtype=DTYPE)
    h = torch.rand(batch, n, generator=gen, dtype=DTYPE) * 2 - 1
    return x, h, random_params(variant, n, m, reset_after=reset_after, seed=seed)


def cell_from_params(
    params: dict[str, Tensor],
    variant: str = "gru0",
    *,
    activation: str = "tanh",
    reset_after: bool = False,
    update_rule: str = "paper",
) -> GRUCell:
    """A float64 :class:`gru_lib.GRUCell` whose parameters are ``params`` (paper notation).

    The row blocks are laid out as :mod:`gru_lib.functional` describes (``r, z, h``).
    """
    v = get_variant(variant)
    missing = [k for k in param_keys(v.name, reset_after=reset_after) if k not in params]
    if missing:
        raise KeyError(f"parameters missing for {v.name}: {missing}")
    n, m = params["W_h"].shape
    cell = GRUCell(m, n, variant=v.name, activation=activation, reset_after=reset_after,
                   update_rule=update_rule, dtype=DTYPE)

    def t(k: str) -> Tensor:
        return torch.as_tensor(params[k], dtype=DTYPE)

    def blocks(on: bool, sym: str) -> Tensor:
        return torch.cat([t(f"{sym}_r"), t(f"{sym}_z"), t(f"{sym}_h")]) if on else t(f"{sym}_h")

    with torch.no_grad():
        cell.weight_ih.copy_(blocks(v.input, "W"))
        cell.weight_hh.copy_(blocks(v.hidden, "U"))
        cell.bias_ih.copy_(blocks(v.bias, "b"))
        if reset_after:
            second = torch.zeros(cell.bias_hh.shape, dtype=DTYPE)
            second[-n:] = t("b_hU")
            cell.bias_hh.copy_(second)
    return cell


def params_from_cell(cell: GRUCell) -> dict[str, Tensor]:
    """The parameters of a :class:`gru_lib.GRUCell` in paper notation (copies).

    With ``reset_after=True``, the gates' second biases are added to ``b_z`` and
    ``b_r`` (only their sums matter) and the candidate's is returned as ``b_hU``.
    """
    v, n = cell.spec.variant, cell.hidden_size
    out: dict[str, Tensor] = {}

    def split(t: Tensor, on: bool, sym: str) -> None:
        t = t.detach().clone()
        if on:
            out[f"{sym}_r"], out[f"{sym}_z"] = t[:n], t[n : 2 * n]
        out[f"{sym}_h"] = t[-n:]

    split(cell.weight_ih, v.input, "W")
    split(cell.weight_hh, v.hidden, "U")
    if not cell.bias:
        raise ValueError("params_from_cell needs a cell with bias=True")
    b = cell.bias_ih.detach().clone()
    if cell.reset_after:
        b2 = cell.bias_hh.detach().clone()
        if v.bias:
            b[: 2 * n] += b2[: 2 * n]
        out["b_hU"] = b2[-n:]
    split(b, v.bias, "b")
    order = param_keys(v.name, reset_after=cell.reset_after)
    return {k: out[k] for k in order}


# ----------------------------------------------------------- one step, with slips


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


def _fmt(t: Tensor) -> str:
    return "[" + ", ".join(f"{float(v): .4f}" for v in t.flatten()[:6]) + (", …]" if t.numel() > 6 else "]")


def _call(fn: Callable, *args: Any) -> tuple[Any, Optional[BaseException]]:
    try:
        return fn(*args), None
    except Exception as exc:  # the student's code may raise anything
        return None, exc


def _as_tensor(out: Any, shape: tuple[int, ...], what: str) -> tuple[Optional[Tensor], Optional[str]]:
    if isinstance(out, tuple):
        return None, f"{what} returned a tuple of {len(out)}; return the tensor h_t alone"
    if out is None:
        return None, f"{what} returned None; did you forget `return`?"
    try:
        t = torch.as_tensor(out)
    except Exception:
        return None, f"{what} returned a {type(out).__name__}, not a tensor"
    if tuple(t.shape) != shape:
        return None, f"{what} returned shape {tuple(t.shape)}; expected {shape} (batch, n)"
    if not t.is_floating_point():
        return None, f"{what} returned dtype {t.dtype}; expected a floating-point tensor"
    return t.to(DTYPE), None


def _exception_message(exc: BaseException, keys: Sequence[str], variant: str, case: str) -> str:
    msg = f"your function raised {type(exc).__name__}: {exc} (on {case})."
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else None
        all_keys = set(param_keys("gru0", reset_after=True)) | set(param_keys("mgu"))
        if key in all_keys:
            msg += f" {variant} has no parameter {key!r}: its dict holds only {list(keys)}"
            if variant in VARIANTS:
                v = VARIANTS[variant]
                msg += f" (its gates are driven by {', '.join(v.signals)} alone, eqs {v.equations[0]}–{v.equations[1]})"
            msg += "."
        else:
            msg += f" The parameter dict holds {list(keys)}."
    elif isinstance(exc, RuntimeError) and ("shape" in str(exc) or "size" in str(exc)):
        msg += (" Shapes: x is (batch, m), h is (batch, n), W_* is (n, m), U_* is (n, n), b_* is (n,); "
                "with row vectors the paper's W x is x @ W.T.")
    return msg


def _changed_keys(before: dict[str, Tensor], after: dict[str, Any]) -> list[str]:
    return [k for k, v in before.items() if not (isinstance(after.get(k), Tensor) and torch.equal(after[k], v))]


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
    :func:`param_keys` (paper notation and shapes), all float64; ``fn`` returns
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


# -------------------------------------------------------------------- counting


_COUNT_GRID = tuple(itertools.product((1, 2, 3, 5, 8, 13, 100), (1, 2, 4, 7, 128)))


def _describe_poly(coef: dict[str, int]) -> str:
    names = {"n2": "n²", "nm": "nm", "n": "n", "m": "m", "m2": "m²", "1": ""}
    parts = []
    for key in ("n2", "nm", "n", "m2", "m", "1"):
        c = coef.get(key, 0)
        if c == 0:
            continue
        mono = names[key]
        mag = abs(c)
        body = (str(mag) if (mag != 1 or not mono) else "") + mono
        parts.append(("−" if c < 0 else "+") + " " + body)
    if not parts:
        return "0"
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else "−" + text[2:]


def _fit_difference(diffs: dict[tuple[int, int], float]) -> Optional[dict[str, int]]:
    """Fit got − want = α n² + β nm + γ n + δ m² + ε m + ζ exactly over the grid, if possible."""
    pts = list(diffs)
    A = torch.tensor([[n * n, n * m, n, m * m, m, 1] for n, m in pts], dtype=DTYPE)
    y = torch.tensor([diffs[p] for p in pts], dtype=DTYPE)
    sol = torch.linalg.lstsq(A, y.unsqueeze(1)).solution.squeeze(1)
    coef = [round(float(c)) for c in sol]
    if all(abs(float((A[i] * torch.tensor(coef, dtype=DTYPE)).sum()) - float(y[i])) < 1e-6 for i in range(len(pts))):
        return dict(zip(("n2", "nm", "n", "m2", "m", "1"), coef))
    return None


def _count_hint(model: str, coef: dict[str, int], convention: str) -> str:
    """Name the likely causes of a count that is off by the polynomial ``coef``."""
    c = {k: v for k, v in coef.items() if v}
    # bias vectors of the paper's form in one layer: the difference between the conventions
    vectors = count_params(model, 1, 1, **_count_kwargs(model, True)) - count_params(model, 1, 1)
    hints = []
    if c.get("m2") or c.get("m"):
        hints.append("terms in m² or m alone cannot occur: U is n × n and W is n × m — n and m mixed up?")
    nm, n2, n1 = c.get("nm", 0), c.get("n2", 0), c.get("n", 0)
    if model in ("gru1", "gru2", "gru3") and nm == 2:
        hints.append(f"{model.upper()}'s gates do not see the input: W_z and W_r (2nm) are dropped")
        nm = 0
    if model == "gru3" and n2 == 2:
        hints.append("GRU3's gates do not see the state either: U_z and U_r (2n²) are dropped")
        n2 = 0
    gate_biases = 4 if convention == "reset_after" else 2
    if model == "gru2" and n1 == gate_biases:
        hints.append("GRU2's gates have no bias: b_z and b_r are dropped (eqs 14–15)"
                     + (", both of their bias vectors" if convention == "reset_after" else ""))
        n1 = 0
    only_n = not (nm or n2 or c.get("m2") or c.get("m"))
    k = "n" if abs(n1) == 1 else f"{abs(n1)}n"
    if not only_n:
        pass
    elif n1 and convention == "paper" and n1 == vectors:
        hints.append(f"{k} extra: bias vectors counted twice? The paper counts one bias per gate; "
                     "PyTorch and Keras reset_after=True count two")
    elif n1 and convention == "reset_after" and n1 == -vectors:
        hints.append(f"{k} missing: with two bias vectors (PyTorch, Keras reset_after=True) every bias "
                     "of the paper's form comes twice")
    elif n1 < 0:
        hints.append(f"{k} missing: a bias vector or more left out?")
    if (nm or n2) and model in ("lstm", "rnn", "mgu"):
        blocks = {"lstm": 4, "rnn": 1, "mgu": 2}[model]
        hints.append(f"{model.upper()} has {blocks} block{'s' if blocks > 1 else ''} of weights W, U and bias b")
    return "".join(f" {h[0].upper()}{h[1:]}" + ("" if h.endswith("?") else ".") for h in hints)


def _count_kwargs(model: str, two: bool) -> dict[str, bool]:
    return {"reset_after": two} if model in VARIANTS else {"double_bias": two}


def check_param_count(
    fn: Callable[[str, int, int], int],
    *,
    models: Optional[Sequence[str]] = None,
    convention: str = "paper",
) -> CheckResult:
    """Check your ``fn(model, n, m) -> int``: parameters of one recurrent layer.

    ``model`` is one of ``"gru0"``, ``"gru1"``, ``"gru2"``, ``"gru3"``, ``"lstm"``,
    ``"rnn"``, ``"mgu"`` (``models`` picks which are tried; default: all), ``n`` the
    hidden units, ``m`` the input size. ``convention="paper"``: one bias vector per
    gate and candidate (Dey & Salem; Keras ``reset_after=False``);
    ``"reset_after"``: two (PyTorch, cuDNN, Keras ``reset_after=True``). The
    reference is :func:`gru_lib.count_params`; a wrong count is described by how
    far off it is, as a polynomial in ``n`` and ``m``.
    """
    name = f"parameter count ({convention})"
    if convention not in ("paper", "reset_after"):
        raise ValueError("convention must be 'paper' or 'reset_after'")
    models = tuple(MODELS if models is None else models)
    for model in models:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; expected some of {list(MODELS)}")
        kw = _count_kwargs(model, convention == "reset_after")
        diffs: dict[tuple[int, int], float] = {}
        for n, m in _COUNT_GRID:
            got, exc = _call(fn, model, n, m)
            if exc is not None:
                return _fail(name, f"fn({model!r}, n={n}, m={m}) raised {type(exc).__name__}: {exc}")
            if isinstance(got, bool) or not isinstance(got, (int, float)) and not hasattr(got, "__index__"):
                try:
                    got = got.item()  # a 0-d tensor or numpy scalar
                except Exception:
                    return _fail(name, f"fn({model!r}, n={n}, m={m}) returned {got!r}; return an int")
            if isinstance(got, float) and not got.is_integer():
                return _fail(name, f"fn({model!r}, n={n}, m={m}) returned {got}, not a whole number")
            want = count_params(model, n, m, **kw)
            diffs[(n, m)] = float(got) - want
        if any(diffs.values()):
            bad = next(p for p, d in diffs.items() if d)
            n, m = bad
            want = count_params(model, n, m, **kw)
            msg = f"{model}: for n={n}, m={m} you count {int(want + diffs[bad]):,}, expected {want:,}."
            swapped = all(
                count_params(model, m_, n_, **kw) == count_params(model, n_, m_, **kw) + diffs[(n_, m_)]
                for n_, m_ in _COUNT_GRID
            )
            coef = _fit_difference(diffs)
            if swapped:
                msg += " Your counts are those of the expected formula with n and m swapped."
            elif coef is not None:
                msg += f" Over all sizes tried, yours minus the expected count is {_describe_poly(coef)}."
                msg += _count_hint(model, coef, convention)
            else:
                msg += " The difference is not a polynomial of degree 2 in n and m."
            return _fail(name, msg)
    return _ok(name, f"matches gru_lib.count_params for {', '.join(models)} on {len(_COUNT_GRID)} sizes each.")


# -------------------------------------------------------------- update rule


def _run(cell: GRUCell, xs: Tensor, h: Tensor) -> Tensor:
    outs = []
    with torch.no_grad():
        for x in xs.unbind(1):
            h = cell(x, h)
            outs.append(h)
    return torch.stack(outs, 1)


def check_update_rule_conversion(fn: Callable[[dict], dict], variant: str = "gru0") -> CheckResult:
    """Check your ``fn(params) -> new_params``: from Cho's update rule to the paper's.

    ``params`` (keyed as in :func:`param_keys`) define a GRU with Cho's rule
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


# -------------------------------------------------------------- eq. 18


def check_lr_schedule(fn: Callable[[float, list], list]) -> CheckResult:
    """Check your ``fn(base_lr, costs) -> rates``: the learning rates of eq. (18).

    ``costs[i]`` is the mean training cost of epoch ``i + 1``; ``fn`` returns the
    rates of epochs ``1 … len(costs) + 1`` (a list of floats, one longer than
    ``costs``): ``η(e) = η · exp(−cost(e − 1))``, with ``η(1) = η`` since no cost
    precedes the first epoch (:func:`gru_lib.train.eq18_lr`).
    """
    from .train import eq18_lr

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


# -------------------------------------------------------------- MGU


def _mgu_module(P: dict[str, Tensor]) -> MGU:
    n, m = P["W_h"].shape
    mgu = MGU(m, n, batch_first=True, dtype=DTYPE)
    with torch.no_grad():
        mgu.weight_ih_l0.copy_(torch.cat([P["W_f"], P["W_h"]]))
        mgu.weight_hh_l0.copy_(torch.cat([P["U_f"], P["U_h"]]))
        mgu.bias_ih_l0.copy_(torch.cat([P["b_f"], P["b_h"]]))
    return mgu


def _mgu_step_ref(mgu: MGU, x: Tensor, h: Tensor) -> Tensor:
    with torch.no_grad():
        _, h_n = mgu(x.unsqueeze(1), h.unsqueeze(0))
    return h_n[0]


def check_mgu_step(fn: Callable[[Tensor, Tensor, dict], Tensor]) -> CheckResult:
    """Check your ``fn(x, h, params) -> h_new``: one step of the minimal gated unit.

    ``params`` has ``W_f``, ``U_f``, ``b_f`` (the forget gate) and ``W_h``, ``U_h``,
    ``b_h`` (the candidate), shapes and row-vector convention as in the GRU
    exercises; the MGU of :class:`gru_lib.MGU` (Zhou et al. 2016, with the
    paper's update rule) is the reference::

        f_t  = σ(W_f x_t + U_f h_{t-1} + b_f)
        h̃_t = tanh(W_h x_t + U_h (f_t ⊙ h_{t-1}) + b_h)
        h_t  = (1 − f_t) ⊙ h_{t-1} + f_t ⊙ h̃_t
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
        want = _mgu_step_ref(_mgu_module(P), x, h)
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

    ``mgu_params`` is keyed as in :func:`param_keys` ``("mgu")``; ``fn`` returns a
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
            want, _ = _mgu_module(P)(xs, h0.unsqueeze(0))
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


# -------------------------------------------------------------- numeric answers


@dataclass(frozen=True)
class Question:
    """A question with a numeric answer, for :func:`check_answer`.

    Attributes
    ----------
    text:
        The question as the book asks it.
    answer:
        Computes the answer with ``gru_lib`` (so it follows the library).
    integer:
        Whether the answer must match exactly; otherwise 0.5% is allowed.
    hint:
        ``hint(given, expected)``, a hint for a wrong answer that does not give it away.
    """

    text: str
    answer: Callable[[], float]
    integer: bool
    hint: Callable[[float, float], str]


def _imdb_input_size() -> int:
    target = 65920  # Table 2, GRU1, n = 128
    found = [m for m in range(1, 4097) if count_params("gru1", 128, m) == target]
    return found[0]


def _gru3_decay() -> float:
    n = 3
    P = {"b_z": torch.full((n,), math.log(3.0), dtype=DTYPE), "b_r": torch.zeros(n, dtype=DTYPE),
         "W_h": torch.zeros(n, 1, dtype=DTYPE), "U_h": torch.zeros(n, n, dtype=DTYPE),
         "b_h": torch.zeros(n, dtype=DTYPE)}
    cell = cell_from_params(P, "gru3")
    h = torch.ones(1, n, dtype=DTYPE)
    h = _run(cell, torch.zeros(1, 10, 1, dtype=DTYPE), h)[:, -1]
    return float(h[0, 0])


def _eq18_rate() -> float:
    from .train import eq18_lr

    return eq18_lr(1e-3, 5, previous_cost=0.30)


def _count_hint_numeric(got: float, want: float) -> str:
    if want and math.isclose(got / want, 2, rel_tol=0.05):
        return "about twice the answer: directions or layers counted twice?"
    if got > want:
        return "too large"
    return "too small"


#: The questions of :func:`check_answer`, by id; ``QUESTIONS[id].text`` is the question.
QUESTIONS: dict[str, Question] = {
    "imdb-input-size": Question(
        "Table 2 lists 65920 parameters for GRU1 with n = 128 hidden units. What input size m does that imply?",
        _imdb_input_size, True,
        lambda g, w: "solve GRU1's closed form 3(n² + nm + n) − 2nm = 65920 for m" if g != w else ""),
    "count-stack": Question(
        "How many parameters has a two-layer bidirectional GRU2 with n = 64 hidden units on m = 300 inputs, "
        "with two bias vectors (PyTorch convention, reset_after=True)?",
        lambda: count_params("gru2", 64, 300, reset_after=True, num_layers=2, bidirectional=True), True,
        lambda g, w: _count_hint_numeric(g, w) + "; layer 2 reads both directions' outputs, 2n = 128 inputs"),
    "mgu-count": Question(
        "How many parameters has an MGU layer with n = 100 hidden units on row-wise MNIST (m = 28), one bias "
        "per gate?",
        lambda: count_params("mgu", 100, 28), True,
        lambda g, w: _count_hint_numeric(g, w) + "; an MGU has one gate and a candidate"),
    "gru1-saving-mnist": Question(
        "What fraction of GRU0's parameters does GRU1 save on pixel-wise MNIST (n = 100, m = 1)? "
        "Give a fraction, e.g. 0.5 for half.",
        lambda: 1 - count_params("gru1", 100, 1) / count_params("gru0", 100, 1), False,
        lambda g, w: ("that looks like a percentage; give a fraction" if math.isclose(g, 100 * w, rel_tol=1e-2)
                      else "GRU1 saves 2nm; divide by GRU0's 3(n² + nm + n)")),
    "gru3-decay": Question(
        "A GRU3 unit has b_z = ln 3 and W_h, U_h, b_h all zero, so h̃_t = 0. Starting from h_0 = 1, "
        "what is h_10 under the paper's update rule (eq. 8)?",
        _gru3_decay, False,
        lambda g, w: ("that is 0.75¹⁰: under eq. 8 the old state is kept with weight 1 − z_t"
                      if math.isclose(g, 0.75 ** 10, rel_tol=1e-3) else "z_t = σ(ln 3) = 3/4 at every step")),
    "eq18-rate": Question(
        "With base rate η = 1e-3 and training costs 2.30, 0.90, 0.45, 0.30 in epochs 1–4, at what rate does "
        "epoch 5 run under eq. 18?",
        _eq18_rate, False,
        lambda g, w: ("the rate of epoch e uses the cost of epoch e − 1 only" if g < w
                      else "eq. 18 never exceeds η; check the sign of the exponent" if g > 1e-3
                      else "η(5) = η · exp(−cost(4))")),
}


def check_answer(exercise_id: str, value: float) -> CheckResult:
    """Check a numeric answer to one of :data:`QUESTIONS` (``exercise_id`` is its key).

    Integers must be exact; other answers may be rounded to 3 significant digits.
    A wrong answer gets a hint, not the answer.
    """
    if exercise_id not in QUESTIONS:
        raise ValueError(f"unknown exercise {exercise_id!r}; expected one of {sorted(QUESTIONS)}")
    q = QUESTIONS[exercise_id]
    try:
        got = float(value)
    except (TypeError, ValueError):
        return _fail(exercise_id, f"give a number, not {value!r}")
    want = float(q.answer())
    if q.integer:
        right = got == want
    else:
        right = math.isclose(got, want, rel_tol=5e-3, abs_tol=0.0)
    if right:
        return _ok(exercise_id, "correct.")
    hint = q.hint(got, want)
    return _fail(exercise_id, f"not {value}" + (f" — {hint}." if hint else "."))

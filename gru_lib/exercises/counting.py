"""Parameter counts of one recurrent layer, with the difference described as a polynomial."""

from __future__ import annotations

import itertools
from typing import Callable, Optional, Sequence

import torch

from ..params import CONVENTIONS, MODELS, convention_kwargs, count_params
from .common import DTYPE, CheckResult, _call, _fail, _ok

__all__ = ["check_param_count"]

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
    vectors = count_params(model, 1, 1, **convention_kwargs(model, "reset_after")) - count_params(model, 1, 1)
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
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {list(CONVENTIONS)}, got {convention!r}")
    models = tuple(MODELS if models is None else models)
    for model in models:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; expected some of {list(MODELS)}")
        kw = convention_kwargs(model, convention)
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

"""Questions with numeric answers, checked against what gru_lib computes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..convert import cell_from_params
from ..params import count_params
from .common import DTYPE, CheckResult, _fail, _ok, _run

__all__ = ["QUESTIONS", "Question", "check_answer"]

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
    from ..train import eq18_lr

    return eq18_lr(1e-3, 5, previous_cost=0.30)


def _count_hint_numeric(got: float, want: float) -> str:
    if want and math.isclose(got / want, 2, rel_tol=0.05):
        return "about twice the answer: directions or layers counted twice?"
    if got > want:
        return "too large"
    return "too small"


#: The questions of :func:`check_answer`, by id. ``sorted(QUESTIONS)`` lists the ids,
#: ``QUESTIONS[id].text`` is the question and ``QUESTIONS[id].answer()`` computes its
#: answer with ``gru_lib``.
#:
#: :meta hide-value:
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

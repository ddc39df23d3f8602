r"""Checkers for the book's exercises: call them on your own code.

Each checker runs your function on random cases, compares it with ``gru_lib``
(:class:`gru_lib.GRUCell`, :class:`gru_lib.MGU`, :func:`gru_lib.count_params`,
:func:`gru_lib.train.eq18_lr`) and returns a
:class:`~gru_lib.exercises.common.CheckResult`. A notebook shows
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
variant has are in the dict (:func:`gru_lib.convert.param_keys`):

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

Use :func:`~gru_lib.exercises.common.example` to get inputs for trying your function by hand.

Checkers
--------
:mod:`~gru_lib.exercises.steps`
    :func:`~gru_lib.exercises.steps.check_gru_step`: one step of a GRU variant.
:mod:`~gru_lib.exercises.counting`
    :func:`~gru_lib.exercises.counting.check_param_count`: parameters of one layer.
:mod:`~gru_lib.exercises.rules`
    :func:`~gru_lib.exercises.rules.check_update_rule_conversion` (Cho's update rule
    to the paper's) and :func:`~gru_lib.exercises.rules.check_lr_schedule` (eq. 18).
:mod:`~gru_lib.exercises.mgu`
    :func:`~gru_lib.exercises.mgu.check_mgu_step` and
    :func:`~gru_lib.exercises.mgu.check_mgu_as_gru`: the minimal gated unit.
:mod:`~gru_lib.exercises.questions`
    :func:`~gru_lib.exercises.questions.check_answer`, for numeric answers to the
    questions of :data:`~gru_lib.exercises.questions.QUESTIONS`.

Every name is importable from ``gru_lib.exercises`` itself. Instructors who grade
automatically can call ``.assert_passed()`` on a result
(:class:`~gru_lib.exercises.common.CheckResult`).
"""

from ..convert import cell_from_params, param_keys, params_from_cell
from .common import CheckResult, example, random_params
from .counting import check_param_count
from .mgu import check_mgu_as_gru, check_mgu_step
from .questions import QUESTIONS, Question, check_answer
from .rules import check_lr_schedule, check_update_rule_conversion
from .steps import check_gru_step

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

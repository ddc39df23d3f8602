"""The exercise checkers accept correct student code and reject typical mistakes with a useful message."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import gru_lib
from gru_lib import count_params
from gru_lib import exercises as ex
from gru_lib.exercises.steps import _formula
from gru_lib.train import eq18_lr

σ = torch.sigmoid


# ------------------------------------------------------------- students' step functions


def gate(x, h, P, g, variant, transpose=False):
    v = gru_lib.VARIANTS[variant]
    pre = torch.zeros_like(h)
    if v.input:
        pre = pre + x @ P[f"W_{g}"].T
    if v.hidden:
        pre = pre + h @ (P[f"U_{g}"] if transpose else P[f"U_{g}"].T)
    if v.bias:
        pre = pre + P[f"b_{g}"]
    return σ(pre)


def make_step(variant, *, rule="paper", after=False, act=torch.tanh, swap=False, transpose=False,
              transpose_gates=False):
    """A student's step function, right by default, with one or more slips on request."""

    def step(x, h, P):
        z, r = gate(x, h, P, "z", variant, transpose_gates), gate(x, h, P, "r", variant, transpose_gates)
        if swap:
            z, r = r, z
        U_h = P["U_h"] if transpose else P["U_h"].T
        if after:
            c = act(x @ P["W_h"].T + P["b_h"] + r * (h @ U_h + P.get("b_hU", 0)))
        else:
            c = act(x @ P["W_h"].T + (r * h) @ U_h + P["b_h"] + P.get("b_hU", 0))
        return (1 - z) * h + z * c if rule == "paper" else z * h + (1 - z) * c

    return step


def gru2_step(x, h, P):  # the exercise's solution, written out
    z = σ(h @ P["U_z"].T)
    r = σ(h @ P["U_r"].T)
    h_tilde = torch.tanh(x @ P["W_h"].T + (r * h) @ P["U_h"].T + P["b_h"])
    return (1 - z) * h + z * h_tilde


def fails(result, *fragments):
    assert not result.passed, result
    assert not result
    for f in fragments:
        assert f in result.message, (f, result.message)
    assert str(result).startswith("✗")
    with pytest.raises(AssertionError):
        result.assert_passed()


def passes(result):
    assert result.passed, result
    assert str(result).startswith("✓")
    assert result.assert_passed() is result


# ----------------------------------------------------------------------- helpers


@pytest.mark.parametrize("variant", list(gru_lib.VARIANTS))
@pytest.mark.parametrize("reset_after", [False, True])
def test_cell_from_params_round_trip(variant, reset_after):
    P = ex.random_params(variant, 5, 3, reset_after=reset_after, seed=1)
    assert tuple(P) == ex.param_keys(variant, reset_after=reset_after)
    cell = ex.cell_from_params(P, variant, reset_after=reset_after)
    assert sum(p.numel() for p in cell.parameters()) == count_params(variant, 5, 3, reset_after=reset_after)
    back = ex.params_from_cell(cell)
    assert tuple(back) == tuple(P)
    for k in P:
        assert torch.equal(back[k], P[k]), k


def test_params_from_cell_adds_the_gates_second_biases():
    cell = gru_lib.GRUCell(3, 4, reset_after=True).double()
    P = ex.params_from_cell(cell)
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    again = ex.cell_from_params(P, "gru0", reset_after=True)
    with torch.no_grad():
        assert torch.allclose(cell(x, h), again(x, h))


@pytest.mark.parametrize(
    "variant,activation,reset_after,update_rule",
    list(itertools.product(gru_lib.VARIANTS, ["tanh", "relu"], [False, True], ["paper", "cho"])),
)
def test_the_diagnostic_formula_without_slips_is_grucell(variant, activation, reset_after, update_rule):
    x, h, P = ex.example(variant, 4, 3, 5, reset_after=reset_after, seed=3)
    o = {"activation": activation, "reset_after": reset_after, "update_rule": update_rule}
    cell = ex.cell_from_params(P, variant, activation=activation, reset_after=reset_after, update_rule=update_rule)
    with torch.no_grad():
        assert torch.allclose(_formula(x, h, P, variant, o, frozenset()), cell(x, h))


def test_param_keys():
    assert ex.param_keys("gru0") == ("W_z", "U_z", "b_z", "W_r", "U_r", "b_r", "W_h", "U_h", "b_h")
    assert ex.param_keys("gru3") == ("b_z", "b_r", "W_h", "U_h", "b_h")
    assert ex.param_keys("gru1", reset_after=True)[-1] == "b_hU"
    assert ex.param_keys("mgu") == ("W_f", "U_f", "b_f", "W_h", "U_h", "b_h")
    with pytest.raises(ValueError):
        ex.param_keys("gru9")


# ----------------------------------------------------------------- check_gru_step


@pytest.mark.parametrize("variant", list(gru_lib.VARIANTS))
def test_gru_step_accepts_correct_code(variant):
    passes(ex.check_gru_step(make_step(variant), variant))
    passes(ex.check_gru_step(make_step(variant, after=True), variant, reset_after=True))
    passes(ex.check_gru_step(make_step(variant, rule="cho"), variant, update_rule="cho"))
    passes(ex.check_gru_step(make_step(variant, act=torch.relu), variant, activation="relu"))


def test_gru_step_accepts_the_written_solution_and_float32_code():
    passes(ex.check_gru_step(gru2_step, "gru2"))
    passes(ex.check_gru_step(lambda x, h, P: gru2_step(x.float(), h.float(), {k: v.float() for k, v in P.items()}),
                             "gru2"))


def test_gru_step_names_a_swapped_update_rule():
    fails(ex.check_gru_step(make_step("gru2", rule="cho"), "gru2"), "update gate weights the wrong term",
          "Cho et al.'s rule", "eq. 8")
    fails(ex.check_gru_step(make_step("gru0"), "gru0", update_rule="cho"), "update gate weights the wrong term")


def test_gru_step_names_the_reset_placement():
    fails(ex.check_gru_step(make_step("gru2", after=True), "gru2"), "reset gate acts on the wrong side of U_h",
          "asks for it before the matrix product")
    fails(ex.check_gru_step(make_step("gru0"), "gru0", reset_after=True), "wrong side of U_h",
          "asks for it after the matrix product")


def test_gru_step_names_two_slips_at_once():
    r = ex.check_gru_step(make_step("gru1", rule="cho", after=True), "gru1")
    fails(r, "update gate weights the wrong term", "wrong side of U_h")


def test_gru_step_names_other_slips():
    fails(ex.check_gru_step(make_step("gru0", swap=True), "gru0"), "gates are swapped")
    fails(ex.check_gru_step(make_step("gru1", transpose=True, transpose_gates=True), "gru1"),
          "recurrent matrices are transposed", "h @ U.T")
    fails(ex.check_gru_step(make_step("gru1", transpose=True), "gru1"), "candidate's U_h is transposed")
    fails(ex.check_gru_step(make_step("gru2", transpose_gates=True), "gru2"), "U_z and U_r are transposed")
    fails(ex.check_gru_step(make_step("gru3", act=torch.relu), "gru3"), "wrong nonlinearity", "tanh")

    def no_reset(x, h, P):
        z = gate(x, h, P, "z", "gru2")
        return (1 - z) * h + z * torch.tanh(x @ P["W_h"].T + h @ P["U_h"].T + P["b_h"])

    fails(ex.check_gru_step(no_reset, "gru2"), "reset gate r_t has no effect")


def test_gru_step_explains_missing_keys_and_shapes():
    def with_gate_bias(x, h, P):
        return σ(h @ P["U_z"].T + P["b_z"])

    fails(ex.check_gru_step(with_gate_bias, "gru2"), "KeyError", "gru2 has no parameter 'b_z'", "eqs 14–15")

    def untransposed_input(x, h, P):
        return x @ P["W_h"]

    fails(ex.check_gru_step(untransposed_input, "gru2"), "RuntimeError", "x @ W.T")


def test_gru_step_rejects_wrong_returns_and_in_place_updates():
    fails(ex.check_gru_step(lambda x, h, P: (gru2_step(x, h, P), None), "gru2"), "tuple", "h_t alone")
    fails(ex.check_gru_step(lambda x, h, P: None, "gru2"), "None", "return")
    fails(ex.check_gru_step(lambda x, h, P: gru2_step(x, h, P)[:1], "gru2"), "shape")

    def in_place(x, h, P):
        new = gru2_step(x, h, P)
        return h.copy_(new)

    fails(ex.check_gru_step(in_place, "gru2"), "in place")


def test_gru_step_unknown_mistake_shows_expected_values():
    fails(ex.check_gru_step(lambda x, h, P: 0.5 * h, "gru0"), "differs from gru_lib.GRUCell", "Expected h_t[")


# ----------------------------------------------------------------- check_param_count


def paper_count(model, n, m):
    k = {"gru0": 3, "gru1": 3, "gru2": 3, "gru3": 3, "lstm": 4, "rnn": 1, "mgu": 2}[model]
    c = k * (n * n + n * m + n)
    return c - {"gru1": 2 * n * m, "gru2": 2 * (n * m + n), "gru3": 2 * (n * m + n * n)}.get(model, 0)


def two_bias_count(model, n, m):
    vectors = {"gru0": 3, "gru1": 3, "gru2": 1, "gru3": 3, "lstm": 4, "rnn": 1, "mgu": 2}[model]
    return paper_count(model, n, m) + vectors * n


def test_param_count_accepts_correct_code():
    passes(ex.check_param_count(paper_count))
    passes(ex.check_param_count(two_bias_count, convention="reset_after"))
    passes(ex.check_param_count(lambda model, n, m: torch.tensor(paper_count(model, n, m)), models=["gru2"]))
    passes(ex.check_param_count(lambda model, n, m: float(paper_count(model, n, m)), models=["gru1"]))


def test_param_count_names_the_convention_mix_up():
    fails(ex.check_param_count(two_bias_count), "3n extra", "bias vectors counted twice")
    fails(ex.check_param_count(paper_count, convention="reset_after"), "3n missing", "two bias vectors")


def test_param_count_names_dropped_gate_signals():
    gru0 = lambda model, n, m: 3 * (n * n + n * m + n)  # noqa: E731
    fails(ex.check_param_count(gru0, models=["gru1"]), "yours minus the expected count is 2nm", "W_z and W_r")
    fails(ex.check_param_count(gru0, models=["gru2"]), "2nm + 2n", "W_z and W_r", "b_z and b_r")
    fails(ex.check_param_count(gru0, models=["gru3"]), "2n² + 2nm", "U_z and U_r")


def test_param_count_names_swapped_sizes_and_other_errors():
    fails(ex.check_param_count(lambda model, n, m: paper_count(model, m, n), models=["gru0"]), "n and m")
    fails(ex.check_param_count(lambda model, n, m: 3 * (n * n + n * m + n), models=["lstm"]),
          "−n² − nm − n", "LSTM has 4 blocks")
    fails(ex.check_param_count(lambda model, n, m: n / 3, models=["rnn"]), "not a whole number")
    fails(ex.check_param_count(lambda model, n, m: {"gru0": 1}[model], models=["rnn"]), "raised KeyError")
    fails(ex.check_param_count(lambda model, n, m: "many", models=["rnn"]), "return an int")
    with pytest.raises(ValueError):
        ex.check_param_count(paper_count, models=["gru9"])
    with pytest.raises(ValueError):
        ex.check_param_count(paper_count, convention="keras")


# ------------------------------------------------------ check_update_rule_conversion


def cho_to_paper(params):
    return {k: (-p if k.endswith("_z") else p.clone()) for k, p in params.items()}


@pytest.mark.parametrize("variant", list(gru_lib.VARIANTS))
def test_conversion_accepts_correct_code(variant):
    passes(ex.check_update_rule_conversion(cho_to_paper, variant))


def test_conversion_agrees_with_gru_lib_convert():
    """The exercise's answer is what gru_lib.convert.flip_update_rule does to a module."""
    gru = gru_lib.GRU(3, 4, variant="gru0", update_rule="cho").double()
    flipped = gru_lib.convert.flip_update_rule(gru)
    P = ex.params_from_cell(gru.cell())
    Q = ex.params_from_cell(flipped.cell())
    for k, v in cho_to_paper(P).items():
        assert torch.equal(v, Q[k]), k


def test_conversion_rejects_typical_mistakes():
    fails(ex.check_update_rule_conversion(lambda P: {k: v.clone() for k, v in P.items()}), "unchanged",
          "σ(−a) = 1 − σ(a)")
    fails(ex.check_update_rule_conversion(lambda P: {k: (-v if k.endswith("_r") else v) for k, v in P.items()}),
          "Still to negate: ['W_z', 'U_z', 'b_z']", "Negated but should be kept: ['W_r', 'U_r', 'b_r']")
    fails(ex.check_update_rule_conversion(lambda P: {k: (-v if k in ("W_z", "U_z") else v) for k, v in P.items()}),
          "Still to negate: ['b_z']")
    fails(ex.check_update_rule_conversion(lambda P: {k: (1 - v if k.endswith("_z") else v) for k, v in P.items()}),
          "neither kept nor negated")

    def in_place(P):
        for k in P:
            if k.endswith("_z"):
                P[k].neg_()
        return P

    fails(ex.check_update_rule_conversion(in_place), "changed the dict")
    fails(ex.check_update_rule_conversion(lambda P: {k: v for k, v in P.items() if k != "b_h"}), "returned keys")
    fails(ex.check_update_rule_conversion(lambda P: list(P.values())), "return a dict")


# --------------------------------------------------------------- check_lr_schedule


def rates(base_lr, costs):
    return [base_lr] + [base_lr * math.exp(-c) for c in costs]


def test_lr_schedule_accepts_correct_code():
    passes(ex.check_lr_schedule(rates))
    passes(ex.check_lr_schedule(lambda b, c: [eq18_lr(b, 1)] + [eq18_lr(b, e + 2, c[e]) for e in range(len(c))]))


def test_lr_schedule_rejects_typical_mistakes():
    fails(ex.check_lr_schedule(lambda b, c: [b] + [b * math.exp(x) for x in c]), "wrong sign")

    def same_epoch(b, c):
        return [b] + [b * math.exp(-x) for x in c[1:]] + [b * math.exp(-c[-1])] if c else [b]

    fails(ex.check_lr_schedule(same_epoch), "cost of epoch e itself", "cost(e − 1)")

    def compounding(b, c):
        out = [b]
        for x in c:
            out.append(out[-1] * math.exp(-x))
        return out

    fails(ex.check_lr_schedule(compounding), "compound")
    fails(ex.check_lr_schedule(lambda b, c: [b * math.exp(-x) for x in c]), "returned 4 rates; expected 5")
    fails(ex.check_lr_schedule(lambda b, c: [b * math.exp(-1)] + [b * math.exp(-x) for x in c]), "epoch 1 runs at")
    fails(ex.check_lr_schedule(lambda b, c: [b] + [b * (1 - x) for x in c]), "linearisation")
    fails(ex.check_lr_schedule(lambda b, c: 1e-3), "return a list")


# -------------------------------------------------------------------- MGU


def mgu_step(x, h, P):
    f = σ(x @ P["W_f"].T + h @ P["U_f"].T + P["b_f"])
    h_tilde = torch.tanh(x @ P["W_h"].T + (f * h) @ P["U_h"].T + P["b_h"])
    return (1 - f) * h + f * h_tilde


def tie(P):
    return {"W_z": P["W_f"], "U_z": P["U_f"], "b_z": P["b_f"], "W_r": P["W_f"], "U_r": P["U_f"], "b_r": P["b_f"],
            "W_h": P["W_h"], "U_h": P["U_h"], "b_h": P["b_h"]}


def test_mgu_checkers_accept_correct_code():
    passes(ex.check_mgu_step(mgu_step))
    passes(ex.check_mgu_as_gru(tie))


def test_mgu_step_rejects_typical_mistakes():
    def cho(x, h, P):
        f = σ(x @ P["W_f"].T + h @ P["U_f"].T + P["b_f"])
        return f * h + (1 - f) * torch.tanh(x @ P["W_h"].T + (f * h) @ P["U_h"].T + P["b_h"])

    fails(ex.check_mgu_step(cho), "update gate weights the wrong term", "f_t")

    def no_reset(x, h, P):
        f = σ(x @ P["W_f"].T + h @ P["U_f"].T + P["b_f"])
        return (1 - f) * h + f * torch.tanh(x @ P["W_h"].T + h @ P["U_h"].T + P["b_h"])

    fails(ex.check_mgu_step(no_reset), "f_t has no effect")
    fails(ex.check_mgu_step(lambda x, h, P: h @ P["U_z"]), "KeyError", "mgu has no parameter 'U_z'")


def test_mgu_as_gru_rejects_untied_gates():
    def untied(P):
        d = tie(P)
        d["b_r"] = torch.zeros_like(P["b_f"])
        return d

    fails(ex.check_mgu_as_gru(untied), "Gate r: ['b_r']", "both gates are f_t")
    fails(ex.check_mgu_as_gru(lambda P: {k: v for k, v in tie(P).items() if k != "W_r"}), "exactly the GRU0 keys")

    def wrong_candidate(P):
        d = tie(P)
        d["U_h"] = P["U_f"]
        return d

    fails(ex.check_mgu_as_gru(wrong_candidate), "The candidate's ['U_h']")


# ---------------------------------------------------------------- check_answer


def test_answers_are_the_books_numbers():
    answers = {k: q.answer() for k, q in ex.QUESTIONS.items()}
    assert answers["imdb-input-size"] == 128
    assert answers["count-stack"] == count_params("gru2", 64, 300, reset_after=True, num_layers=2,
                                                  bidirectional=True)
    assert answers["mgu-count"] == 2 * (100 * 100 + 100 * 28 + 100)
    assert math.isclose(answers["gru1-saving-mnist"], 200 / 30600)
    assert math.isclose(answers["gru3-decay"], 0.25 ** 10)
    assert math.isclose(answers["eq18-rate"], 1e-3 * math.exp(-0.30))


@pytest.mark.parametrize("qid", list(ex.QUESTIONS))
def test_check_answer_accepts_the_answer_and_hides_it(qid):
    q = ex.QUESTIONS[qid]
    want = q.answer()
    passes(ex.check_answer(qid, want))
    if not q.integer:
        passes(ex.check_answer(qid, float(f"{want:.3g}")))  # rounded to three digits
    wrong = ex.check_answer(qid, want * 1.5 + 1)
    fails(wrong)
    assert f"{want}" not in wrong.message and f"{want:,}" not in wrong.message


def test_check_answer_hints():
    fails(ex.check_answer("gru1-saving-mnist", 100 * 200 / 30600), "percentage")
    fails(ex.check_answer("gru3-decay", 0.75 ** 10), "1 − z_t")
    fails(ex.check_answer("eq18-rate", 1e-3 * math.exp(0.3)), "sign of the exponent")
    fails(ex.check_answer("count-stack", 2 * ex.QUESTIONS["count-stack"].answer()), "twice")
    fails(ex.check_answer("mgu-count", "lots"), "give a number")
    with pytest.raises(ValueError, match="unknown exercise"):
        ex.check_answer("no-such-question", 1)

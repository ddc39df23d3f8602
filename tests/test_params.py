"""Closed-form parameter counts: the paper's tables, the seeds' numbers, and the modules."""

import itertools

import pytest

import gru_lib
from gru_lib import GRU, LSTM, MGU, SimpleRNN, count_formula, count_params


def n_params(module):
    return sum(p.numel() for p in module.parameters())


# Dey & Salem (2017), Table 1 (n=100, m=1) and Tables 2–3 (n=128, m=128).
PAPER_TABLES = {
    (100, 1): {"gru0": 30600, "gru1": 30400, "gru2": 30200, "gru3": 10400},
    (128, 128): {"gru0": 98688, "gru1": 65920, "gru2": 65664, "gru3": 33152},
}


@pytest.mark.parametrize("n,m", list(PAPER_TABLES))
def test_paper_table_counts(n, m):
    for variant, expected in PAPER_TABLES[(n, m)].items():
        assert count_params(variant, n, m) == expected
        assert n_params(GRU(m, n, variant=variant)) == expected


def test_framework_counts_from_the_seeds():
    # Keras GRU(32) on 32 features and GRU(5) on 25 features, reset_after=True (seed 004)
    assert count_params("gru0", 32, 32, reset_after=True) == 6336
    assert count_params("gru0", 5, 25, reset_after=True) == 480
    # ... and with reset_after=False the bias is counted once
    assert count_params("gru0", 5, 25, reset_after=False) == 465
    # torch.nn.GRU: 3(n² + nm + 2n) (seed 000, with n=7, m=5)
    import torch

    assert count_params("gru0", 7, 5, reset_after=True) == n_params(torch.nn.GRU(5, 7)) == 3 * (49 + 35 + 14)
    assert count_params("lstm", 7, 5, double_bias=True) == n_params(torch.nn.LSTM(5, 7))
    assert count_params("rnn", 7, 5, double_bias=True) == n_params(torch.nn.RNN(5, 7))


@pytest.mark.parametrize("n,m", [(1, 1), (3, 2), (17, 5), (64, 300)])
def test_closed_forms(n, m):
    base = 3 * (n * n + n * m + n)
    assert count_params("gru0", n, m) == base
    assert count_params("gru1", n, m) == base - 2 * n * m
    assert count_params("gru2", n, m) == base - 2 * (n * m + n)
    assert count_params("gru3", n, m) == base - 2 * (n * m + n * n)
    assert count_params("gru0", n, m, reset_after=True) == 3 * (n * n + n * m + 2 * n)
    assert count_params("lstm", n, m) == 4 * (n * n + n * m + n)
    assert count_params("rnn", n, m) == n * n + n * m + n
    assert count_params("mgu", n, m) == 2 * (n * n + n * m + n)


GRID = [
    combo for combo in itertools.product(
        ["gru0", "gru1", "gru2", "gru3"], [False, True], [True, False], [1, 2], [False, True], [(4, 3), (2, 9)]
    )
    if not (combo[0] == "gru3" and not combo[2])  # gru3 needs its bias (see test_errors)
]


@pytest.mark.parametrize("variant,reset_after,bias,layers,bidir,nm", GRID)
def test_gru_modules_match_closed_form(variant, reset_after, bias, layers, bidir, nm):
    n, m = nm
    module = GRU(m, n, num_layers=layers, bias=bias, bidirectional=bidir, variant=variant, reset_after=reset_after)
    expected = count_params(variant, n, m, reset_after=reset_after, bias=bias, num_layers=layers, bidirectional=bidir)
    assert n_params(module) == expected


@pytest.mark.parametrize(
    "cls,name,double_bias,bias,layers,bidir",
    [(c, nm, d, b, l, bi) for (c, nm) in [(SimpleRNN, "rnn"), (LSTM, "lstm"), (MGU, "mgu")]
     for d, b, l, bi in itertools.product([False, True], [True, False], [1, 3], [False, True])],
)
def test_baseline_modules_match_closed_form(cls, name, double_bias, bias, layers, bidir):
    module = cls(5, 4, num_layers=layers, bias=bias, bidirectional=bidir, double_bias=double_bias)
    assert n_params(module) == count_params(
        name, 4, 5, double_bias=double_bias, bias=bias, num_layers=layers, bidirectional=bidir
    )


def test_cell_matches_single_layer_count():
    for v in gru_lib.VARIANTS:
        assert n_params(gru_lib.GRUCell(7, 6, variant=v)) == count_params(v, 6, 7)


@pytest.mark.parametrize("model", list(gru_lib.MODELS))
def test_formula_strings_evaluate_to_counts(model):
    ra = model.startswith("gru")
    for reset_after in ([False, True] if ra else [False]):
        formula = count_formula(model, reset_after=reset_after)
        expr = formula.replace("^2", "**2").replace("nm", "n*m").replace("2n", "2*n")
        for k in "234":
            expr = expr.replace(f"{k}(", f"{k}*(")
        for n, m in [(3, 5), (10, 1)]:
            assert eval(expr, {"n": n, "m": m}) == count_params(model, n, m, reset_after=reset_after), formula


def test_count_params_errors():
    with pytest.raises(ValueError, match="expected one of"):
        count_params("gru4", 3, 3)
    with pytest.raises(ValueError, match="reset_after applies to GRUs only"):
        count_params("lstm", 3, 3, reset_after=True)
    with pytest.raises(ValueError, match="second bias"):
        count_params("gru0", 3, 3, reset_after=False, double_bias=True)
    with pytest.raises(ValueError, match="must be positive"):
        count_params("gru0", 0, 3)
    with pytest.raises(TypeError, match="must be an int"):
        count_params("gru0", 3.5, 3)
    with pytest.raises(ValueError, match="bias alone"):
        count_params("gru3", 3, 3, bias=False)

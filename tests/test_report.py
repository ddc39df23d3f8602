"""The renderers the experiment chapters use (gru_lib.report)."""

import math

import pytest
import torch

from gru_lib import paper
from gru_lib.report import (after_peak, chance_levels, format_lr, paper_table_markdown, provenance_markdown,
                            rate_stalls, cost_jump, variant_gaps)
from gru_lib.train import eq18_lr


def test_format_lr():
    assert format_lr(1e-3) == "10⁻³"
    assert format_lr(1e-5) == "10⁻⁵"
    assert format_lr(1.0) == "10⁰"
    assert format_lr(10.0) == "10¹"
    assert format_lr(3e-4) == "0.0003"
    for bad in (0, -1e-3, float("nan"), float("inf"), "1e-3"):
        with pytest.raises(ValueError):
            format_lr(bad)


@pytest.mark.parametrize("number", sorted(paper.TABLES))
def test_paper_table_has_every_printed_cell(number):
    t = paper.TABLES[number]
    text = paper_table_markdown(number)
    rows = [line for line in text.splitlines() if line.startswith("| GRU")]
    assert len(rows) == len(t.variants)
    for v, line in zip(t.variants, rows):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == v.upper()
        assert cells[-1] == str(t.params[v])
        values = [float(c.rstrip("†‡§¶")) for c in cells[1:-1]]
        expected = [t.accuracy(v, lr, s) for lr in t.lrs for s in ("train", "test")]
        assert values == expected
    assert f"Table {number}" in text
    assert f"Table {number}" not in paper_table_markdown(number, caption=False)


def test_paper_table_marks_chance_cells():
    text = paper_table_markdown(3)
    gru1 = next(line for line in text.splitlines() if line.startswith("| GRU1"))
    assert "50.0†" in gru1
    assert "chance for two classes" in text
    with pytest.raises(ValueError):
        paper_table_markdown(4)


def _result(task, model, commit, date, command=("python", "-m", "gru_lib", "grid")):
    return {
        "config": {"task": task, "model": model},
        "preset": "quick",
        "provenance": {"command": list(command), "git_commit": commit, "git_dirty": False,
                       "device_name": "Some CPU", "threads": 2, "torch_version": "2.x", "date": date},
    }


def test_provenance_groups_identical_origins():
    rs = [_result("imdb", "gru0", "a" * 40, "2026-01-01T10:00:00+00:00"),
          _result("imdb", "gru1", "a" * 40, "2026-01-01T11:30:00+00:00"),
          _result("mnist-row", "gru0", "b" * 40, "2026-01-02T09:00:00+00:00")]
    text = provenance_markdown(rs, folded=False)
    rows = [line for line in text.splitlines()[2:] if line.startswith("|")]
    assert len(rows) == 2
    assert "| imdb | 2 | quick |" in rows[0]
    assert "aaaaaaaaaa" in rows[0] and rows[0].endswith("| 2026-01-01 |")
    assert "bbbbbbbbbb" in rows[1]
    # one command made all three files: it is listed once
    assert text.count("`python -m gru_lib grid`") == 1
    assert "* `python -m gru_lib grid` (imdb 2 files, mnist-row 1 file)" in text
    assert provenance_markdown([]) == "No result files.\n"


def test_provenance_is_folded_and_dates_are_days():
    rs = [_result("imdb", "gru0", "a" * 40, "2026-11-30T10:00:00+00:00"),
          _result("imdb", "gru1", "a" * 40, "2026-12-02T11:30:00+00:00", command=("python", "x.py"))]
    text = provenance_markdown(rs)
    assert text.startswith("<details>\n<summary>Where these results come from: 2 result files, 1 origin</summary>")
    assert text.rstrip().endswith("</details>")
    assert "| 2026-11-30 – 12-02 |" in text and "10:00" not in text
    assert "* `python x.py` (imdb 1 file)" in text


def test_chance_levels():
    c = chance_levels(torch.tensor([3, 3, 1, 0, 3, 1]), num_classes=4)
    assert c["counts"] == [1, 2, 0, 3]
    assert c["uniform"] == 0.25
    assert c["majority_class"] == 3 and c["majority"] == 0.5
    assert sum(c["freqs"]) == pytest.approx(1.0)
    assert chance_levels([0, 1])["majority_class"] == 0  # ties: smallest label
    with pytest.raises(ValueError):
        chance_levels([])
    with pytest.raises(ValueError):
        chance_levels([0, 5], num_classes=3)
    with pytest.raises(ValueError):
        chance_levels([-1, 0])


def _eq18_run(losses, base=1e-3):
    """A result whose rates follow eq. (18) from the given per-epoch mean losses."""
    history, prev = [], None
    for epoch, loss in enumerate(losses, start=1):
        history.append({"epoch": epoch, "lr": eq18_lr(base, epoch, prev), "train_loss": loss})
        prev = loss
    return {"config": {"lr": base}, "history": history}


def test_rate_stalls_groups_consecutive_epochs():
    # losses of epochs 3, 4 and 7 exceed ln 1000 = 6.9: epochs 4, 5 and 8 stall
    run = _eq18_run([2.3, 0.5, 16.0, 40.0, 0.2, 0.1, 8.0, 0.1, 0.1])
    spans = rate_stalls(run)
    assert [(s["first"], s["last"], s["epochs"]) for s in spans] == [(4, 5, 2), (8, 8, 1)]
    assert spans[0]["min_cost"] == 16.0 and spans[0]["max_cost"] == 40.0
    assert spans[0]["min_lr"] == pytest.approx(1e-3 * math.exp(-40.0))
    assert spans[0]["max_lr"] == pytest.approx(1e-3 * math.exp(-16.0))
    assert not any(s["zero"] for s in spans)
    # at factor 0.1 the threshold is a loss of ln 10 = 2.3026: epoch 1's 2.3 stays just below it
    assert [s["first"] for s in rate_stalls(run, factor=0.1)] == [4, 8]


def test_rate_stalls_sees_a_rate_that_underflows_to_zero():
    run = _eq18_run([0.1, 2.4e7, 1.9e7, 1.9e7])
    (span,) = rate_stalls(run)
    assert (span["first"], span["last"], span["zero"], span["max_lr"]) == (3, 4, True, 0.0)
    assert rate_stalls(_eq18_run([0.3, 0.2, 0.1])) == []
    assert rate_stalls({"config": {"lr": 1e-3}, "history": []}) == []


@pytest.mark.parametrize("factor", [0, 1, -0.5, True, "0.001"])
def test_rate_stalls_rejects_bad_factor(factor):
    with pytest.raises(ValueError, match="factor"):
        rate_stalls(_eq18_run([0.1, 0.1]), factor=factor)


def test_rate_stalls_rejects_a_non_result():
    with pytest.raises(TypeError, match="result dict"):
        rate_stalls([1, 2, 3])


def _final(model, act, lr, accs, seed=0, epochs=3):
    """A complete result whose test accuracy goes through ``accs`` (one per epoch)."""
    return {"config": {"task": "mnist-row", "model": model, "activation": act, "lr": lr, "seed": seed, "epochs": epochs},
            "data": {"train_size": 100, "test_size": 50}, "preset": "paper", "complete": True, "params": 1,
            "history": [{"epoch": e, "train_acc": a, "test_acc": a, "seconds": 1.0} for e, a in enumerate(accs, 1)]}


def test_variant_gaps_by_hand():
    runs = [_final("gru0", "tanh", 1e-3, [0.9, 0.98, 0.99]), _final("gru1", "tanh", 1e-3, [0.9, 0.98, 0.985]),
            _final("gru2", "tanh", 1e-3, [0.9, 0.99, 0.995]), _final("gru3", "tanh", 1e-3, [0.8, 0.9, 0.95]),
            # a collapsed column: GRU0 peaked at 98% in epoch 2 and ended at chance
            _final("gru0", "relu", 1e-3, [0.9, 0.98, 0.1]), _final("gru1", "relu", 1e-3, [0.9, 0.97, 0.97]),
            _final("gru2", "relu", 1e-3, [0.9, 0.97, 0.97]), _final("gru3", "relu", 1e-3, [0.9, 0.96, 0.96]),
            # a column without GRU2 and GRU3 counts with the variants it has
            _final("gru0", "tanh", 1e-4, [0.5, 0.6, 0.7]), _final("gru1", "tanh", 1e-4, [0.5, 0.6, 0.72]),
            # a column without the reference does not
            _final("gru1", "relu", 1e-4, [0.5, 0.6, 0.7])]
    g = variant_gaps(runs, "mnist-row")
    assert list(g["columns"]) == [("tanh", 1e-3), ("tanh", 1e-4), ("relu", 1e-3)]
    assert list(g["columns"]["tanh", 1e-4]) == ["gru0", "gru1"]
    assert g["healthy"] == [("tanh", 1e-3), ("tanh", 1e-4)]
    assert g["gaps"]["gru1"] == {("tanh", 1e-3): pytest.approx(0.5), ("tanh", 1e-4): pytest.approx(-2.0)}
    assert g["gaps"]["gru2"] == {("tanh", 1e-3): pytest.approx(-0.5)}
    assert g["gaps"]["gru3"] == {("tanh", 1e-3): pytest.approx(4.0)}
    ((act, lr, model, final, best),) = g["collapsed"]
    assert (act, lr, model, final["test_acc_mean"]) == ("relu", 1e-3, "gru0", 0.1)
    assert best["epochs"] == [2] and best["test_acc_mean"] == 0.98
    assert g["gap_seeds"]["gru1"] == {("tanh", 1e-3): [0], ("tanh", 1e-4): [0]}
    # seeds are paired: the gap averages the seeds both have, and a seed only one of them has leaves it alone
    two = runs[:4] + [_final("gru3", "tanh", 1e-3, [0.8, 0.9, 0.97], seed=1),
                      _final("gru0", "tanh", 1e-3, [0.9, 0.98, 0.99], seed=1),
                      _final("gru0", "tanh", 1e-3, [0.9, 0.98, 0.93], seed=2)]
    g = variant_gaps(two, "mnist-row")
    assert g["gaps"]["gru3"] == {("tanh", 1e-3): pytest.approx((4.0 + 2.0) / 2)}
    assert g["gaps"]["gru1"] == {("tanh", 1e-3): pytest.approx(0.5)}  # seed 0 only, though GRU0's mean fell
    assert g["gap_seeds"]["gru3"] == {("tanh", 1e-3): [0, 1]} and g["gap_seeds"]["gru1"] == {("tanh", 1e-3): [0]}
    assert g["columns"]["tanh", 1e-3]["gru0"]["n"] == 3
    # a model with no seed in common with the reference has no gap
    apart = runs[:1] + [_final("gru1", "tanh", 1e-3, [0.9, 0.98, 0.985], seed=7)]
    assert variant_gaps(apart, "mnist-row")["gaps"]["gru1"] == {}
    assert variant_gaps([], "mnist-row") == {"columns": {}, "collapsed": [], "healthy": [],
                                             "gaps": {m: {} for m in ("gru1", "gru2", "gru3")},
                                             "gap_seeds": {m: {} for m in ("gru1", "gru2", "gru3")}}


def test_variant_gaps_refuses_mixed_settings_and_bad_arguments():
    runs = [_final("gru0", "tanh", 1e-3, [0.9, 0.99]), _final("gru0", "tanh", 1e-3, [0.9, 0.99, 0.99], epochs=4)]
    with pytest.raises(ValueError, match="more than one experiment setting"):
        variant_gaps(runs, "mnist-row")
    with pytest.raises(ValueError, match="reference"):
        variant_gaps(runs[:1], "mnist-row", reference="lstm")
    with pytest.raises(ValueError, match="collapsed_below"):
        variant_gaps(runs[:1], "mnist-row", collapsed_below=20)


def test_format_gap_words_one_gap_or_a_range():
    from gru_lib.report import format_gap

    assert format_gap(0.5) == "0.50 points below"
    assert format_gap(-2.0) == "2.00 points above"
    assert format_gap(0) == "0.00 points below"
    assert format_gap([0.54, 1.04, 0.8]) == "0.54 to 1.04 points below"
    assert format_gap((-0.3, -0.1)) == "0.10 to 0.30 points above"
    assert format_gap([-0.2, 0.1]) == "from 0.10 points below to 0.20 above"
    for bad in ([], [float("nan")], "0.5", [True], None):
        with pytest.raises(ValueError, match="points must be"):
            format_gap(bad)


def test_format_range_prints_one_number_where_both_ends_print_alike():
    from gru_lib.report import format_range

    assert format_range([0.25, 0.5, 0.125]) == "0.12–0.50"
    assert format_range((v for v in [2.0, 2.004])) == "2.00"  # one number, also from a generator
    assert format_range({"a": 0.8471, "b": 0.8493}.values(), ".1f", scale=100, unit="%") == "84.7–84.9%"
    assert format_range([0.84, 0.84], ".1f", scale=100, unit="%") == "84.0%"
    assert format_range([4e-7, 1e-22], ".0e", sep=" to ") == "1e-22 to 4e-07"
    assert format_range([-3, 2], "d") == "-3–2"
    for bad in ([], [float("inf")], [0.1, None], "0.5", 0.5, [False]):
        with pytest.raises(ValueError, match="values must be"):
            format_range(bad)
    with pytest.raises(ValueError, match="scale must be"):
        format_range([0.5], scale=0)


def test_seeds_text_says_how_many_seeds_in_words():
    from gru_lib.report import seeds_text

    assert seeds_text([3]) == "mean ± sd over 3 seeds"
    assert seeds_text([1, 1]) == "1 seed (no spread)"
    assert seeds_text([3, 2]) == "mean ± sd over 2 to 3 seeds"
    assert seeds_text([1, 3]) == "mean ± sd over 1 to 3 seeds (no sd for a cell of 1 seed)"
    for bad in ([], [0], [1.5], [True]):
        with pytest.raises(ValueError, match="positive numbers of seeds"):
            seeds_text(bad)


def test_results_table_writes_rates_and_seeds_as_the_book_does():
    from gru_lib.report import results_table

    one = [_final(m, "tanh", lr, [0.9, 0.95, 0.97]) for m in ("gru0", "gru1") for lr in (1e-3, 1e-4)]
    caption, _, head = results_table(one, "mnist-row", timing=True).splitlines()[:3]
    assert "| η=10⁻³ Train | η=10⁻³ Test | η=10⁻³ s/epoch | η=10⁻⁴ Train |" in head and "^" not in head
    assert "1 seed (no spread)" in caption and "seed(s)" not in caption and "/" not in caption.split(";")[0]
    three = [_final("gru0", "tanh", 1e-3, [0.9, 0.95, a], seed=s) for s, a in enumerate((0.97, 0.98, 0.99))]
    caption = results_table(three, "mnist-row").splitlines()[0]
    assert "mean ± sd over 3 seeds;" in caption


def _with_accuracies(run, task="imdb"):
    run["config"]["task"] = task
    for e in run["history"]:  # accuracy rises by a point an epoch; the test cost follows the training cost
        e.update(train_acc=0.6 + 0.01 * e["epoch"], test_acc=0.55 + 0.01 * e["epoch"], test_loss=e["train_loss"])
    return run


def test_cost_jump_reads_the_rise_and_the_cut_that_follows():
    # the cost falls to 0.4 (epoch 3), jumps to 3.0 in epoch 5 and stays high: epochs 6-8 run below 0.1 eta
    run = _with_accuracies(_eq18_run([0.69, 0.5, 0.4, 0.45, 3.0, 4.0, 3.5, 2.5]))
    j = cost_jump(run)
    assert (j["jump_epoch"], j["jump_cost"], j["low_epoch"], j["low_cost"]) == (5, 3.0, 3, 0.4)
    assert (j["first"], j["last"], j["to_end"]) == (6, 8, True)
    assert j["min_rate"] == pytest.approx(math.exp(-4.0)) and j["max_rate"] == pytest.approx(math.exp(-3.0))
    assert j["train_acc"] == pytest.approx((0.65, 0.68)) and j["test_acc"] == pytest.approx((0.60, 0.63))
    # the loss of epoch 8 is 2.5 > ln 10, but no epoch 9 was recorded: the span ends at 8, the last epoch
    assert cost_jump(_with_accuracies(_eq18_run([0.69, 0.5, 0.4]))) is None


@pytest.mark.parametrize("task, classes", [("imdb", 2), ("mnist-row", 10)])
def test_cost_jump_bounds_the_cost_of_the_wrong_examples(task, classes):
    # 75% right at the largest cost a right example can have (ln K), 25% wrong at 10 nats each:
    # the bound is then exact; with right examples that cost less, it is below the true 10
    acc, right, wrong = 0.75, math.log(classes), 10.0
    for right_cost, exact in ((right, True), (0.05, False)):
        run = _with_accuracies(_eq18_run([0.69, 0.3, 5.0, 5.0]), task)
        last = run["history"][-1]
        last.update(test_acc=acc, test_loss=acc * right_cost + (1 - acc) * wrong)
        bound = cost_jump(run)["wrong_cost"]
        assert bound == pytest.approx(wrong) if exact else 0 < bound < wrong


def test_cost_jump_rejects_bad_factor():
    with pytest.raises(ValueError, match="factor"):
        cost_jump(_with_accuracies(_eq18_run([0.1, 0.1])), factor=2)


def _accuracies(pairs):
    return {"history": [{"epoch": e, "train_acc": tr, "test_acc": te} for e, (tr, te) in enumerate(pairs, 1)]}


def test_after_peak_finds_the_first_best_epoch_and_the_fall_since():
    p = after_peak(_accuracies([(0.7, 0.80), (0.9, 0.85), (0.95, 0.85), (0.99, 0.78)]))
    assert (p["best_epoch"], p["best_test"], p["epochs"], p["last_test"], p["last_train"]) == (2, 0.85, 4, 0.78, 0.99)
    assert p["fall"] == pytest.approx(0.07)
    rising = after_peak(_accuracies([(0.7, 0.80), (0.8, 0.82)]))  # still learning: the latest epoch is the best
    assert (rising["best_epoch"], rising["fall"]) == (2, 0.0)


@pytest.mark.parametrize("bad, expected", [({"history": []}, "an empty history"), ([0.8, 0.7], "got list")])
def test_after_peak_rejects_a_result_without_epochs(bad, expected):
    with pytest.raises(ValueError, match=expected):
        after_peak(bad)

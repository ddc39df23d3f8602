"""The renderers the experiment chapters use (gru_lib.report)."""

import pytest
import torch

from gru_lib import paper
from gru_lib.report import chance_levels, format_lr, paper_table_markdown, provenance_markdown


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
    text = provenance_markdown(rs)
    rows = [line for line in text.splitlines()[2:] if line.startswith("|")]
    assert len(rows) == 2
    assert "| imdb | 2 | quick |" in rows[0]
    assert "aaaaaaaaaa" in rows[0] and "2026-01-01 10:00 to 2026-01-01 11:30" in rows[0]
    assert "bbbbbbbbbb" in rows[1]
    assert "* imdb, 2 file(s): `python -m gru_lib grid`" in text
    assert "* mnist-row, 1 file(s): `python -m gru_lib grid`" in text
    assert provenance_markdown([]) == "No result files.\n"


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

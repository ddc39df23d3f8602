"""The helpers the chapters share (gru_lib.notebook)."""

from __future__ import annotations

import json

import pytest
import torch

from gru_lib import GRU, count_params
from gru_lib.notebook import committed, integer_epochs, listing, max_diff, numel, results_dir, show


def test_numel_counts_trainable_parameters():
    gru = GRU(1, 100)
    assert numel(gru) == count_params("gru0", 100, 1)
    gru.weight_hh_l0.requires_grad_(False)
    assert numel(gru) == count_params("gru0", 100, 1) - 300 * 100


def test_max_diff_takes_tensors_and_lists():
    a = torch.tensor([1.0, -2.0], requires_grad=True)
    assert max_diff(a, torch.tensor([1.0, 1.0])) == 3.0
    assert max_diff([0.0, 0.25], [0.0, 0.0]) == 0.25


def test_show_displays_markdown():
    IPython = pytest.importorskip("IPython")
    shown = []
    original = IPython.display.display
    IPython.display.display = shown.append
    try:
        show("**bold**")
    finally:
        IPython.display.display = original
    assert isinstance(shown[0], IPython.display.Markdown) and shown[0].data == "**bold**"


def test_integer_epochs_sets_every_axis():
    plt = pytest.importorskip("matplotlib.pyplot")
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2)
    integer_epochs(fig)
    assert all(isinstance(ax.xaxis.get_major_locator(), MaxNLocator) for ax in axes)
    plt.close(fig)


def test_results_dir_and_committed(tmp_path, monkeypatch):
    results = tmp_path / "book" / ".." / "results"
    (tmp_path / "book").mkdir()
    results.mkdir()
    monkeypatch.chdir(tmp_path / "book")
    assert results_dir().resolve() == results.resolve()
    assert committed(results_dir(), "imdb") == []
    (results / "not-a-result.json").write_text(json.dumps({"something": "else"}))
    assert committed(results_dir(), "imdb", "quick") == []


def test_listing_joins_names_as_prose():
    assert listing(["GRU0"]) == "GRU0"
    assert listing(["GRU0", "GRU3"]) == "GRU0 and GRU3"
    assert listing(("a", "b", "c", "d")) == "a, b, c and d"
    assert listing([63, 80]) == "63 and 80"
    for bad in ([], "GRU0", ""):
        with pytest.raises(ValueError, match="non-empty list"):
            listing(bad)

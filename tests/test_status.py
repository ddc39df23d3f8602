"""The status box of the experiment chapters (gru_lib.status): complete, in-progress and absent grids."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from gru_lib.experiments import PAPER_GRIDS, result_filename
from gru_lib.status import grid_status, rerun_command, status_markdown

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = json.loads((REPO / "results" / "paper" / "mnist-row_gru0_tanh_lr0.001_seed0.json").read_text())
TABLE3 = next(g for g in PAPER_GRIDS if g["name"] == "Table 3")


def write_run(folder: Path, *, model: str, activation: str, lr: float, seed: int, epochs_done: int,
              preset: str = "paper", task: str = "imdb", stopped: dict | None = None) -> Path:
    """A result file shaped like a committed one, with ``epochs_done`` of 100 epochs."""
    r = copy.deepcopy(TEMPLATE)
    r["config"].update(task=task, model=model, activation=activation, lr=lr, seed=seed)
    r["data"]["task"] = task
    r["preset"] = preset
    r["history"] = [dict(TEMPLATE["history"][0], epoch=e) for e in range(1, epochs_done + 1)]
    r["complete"] = epochs_done == r["config"]["epochs"] and stopped is None
    r["stopped"] = stopped
    # the file names of the lead's runs, e.g. imdb_gru1_tanh_lr1e-05_seed0.json
    path = folder / result_filename(task, model, activation, lr, seed)
    path.write_text(json.dumps(r))
    return path


def test_absent_grid_says_quick_only(tmp_path):
    write_run(tmp_path, model="gru0", activation="tanh", lr=1e-3, seed=0, epochs_done=3, preset="quick")
    s = grid_status(tmp_path, TABLE3)
    assert (s.state, s.expected, s.ended, s.running) == ("not rerun", 36, 0, 0)
    assert "shown only at the quick preset" in s.sentence()
    text = status_markdown(tmp_path, ["imdb"])
    assert "**Table 2** (IMDB, relu): not rerun, not even at the quick preset" in text
    assert text.rstrip().endswith(f"`{rerun_command(['imdb'])}`")
    assert all(line.startswith(">") for line in text.splitlines())


def test_in_progress_grid_gives_the_epochs_reached(tmp_path):
    assert result_filename("imdb", "gru1", "tanh", 1e-5, 0) == "imdb_gru1_tanh_lr1e-05_seed0.json"
    write_run(tmp_path, model="gru1", activation="tanh", lr=1e-5, seed=0, epochs_done=100)
    write_run(tmp_path, model="gru3", activation="tanh", lr=1e-5, seed=0, epochs_done=37)
    write_run(tmp_path, model="gru3", activation="tanh", lr=1e-5, seed=1, epochs_done=12)
    write_run(tmp_path, model="gru0", activation="tanh", lr=1e-3, seed=0, epochs_done=5,
              stopped={"reason": "non-finite loss", "epoch": 5, "batch": 3})
    s = grid_status(tmp_path, TABLE3)
    assert (s.state, s.ended, s.running, s.epochs) == ("in progress", 2, 2, (12, 37))
    assert ("rerun at the paper's protocol, in progress: 2 of 36 runs complete; 2 in progress, "
            "at epochs 12–37 of 100; 32 not started.") in s.sentence()
    assert "**Table 3 and Figure 1**" in status_markdown(tmp_path, ["imdb"])


def test_grid_with_ended_runs_and_none_in_progress(tmp_path):
    """Between runs (the first ones complete, the next not started) the box names no epoch."""
    for model in ("gru0", "gru1"):
        write_run(tmp_path, model=model, activation="tanh", lr=1e-5, seed=0, epochs_done=100)
    s = grid_status(tmp_path, TABLE3, seeds=[0])
    assert (s.state, s.ended, s.running, s.epochs) == ("in progress", 2, 0, ())
    assert s.sentence().endswith("in progress: 2 of 12 runs complete; 10 not started.")
    assert "in progress, at" not in status_markdown(tmp_path, ["imdb"], seeds=[0])


def test_complete_grid(tmp_path):
    for model in ("gru0", "gru1", "gru2", "gru3"):
        for lr in TABLE3["lrs"]:
            write_run(tmp_path, model=model, activation="tanh", lr=lr, seed=0, epochs_done=100)
    s = grid_status(tmp_path, TABLE3, seeds=[0])
    assert (s.state, s.expected, s.ended) == ("complete", 12, 12)
    assert s.sentence() == "**Table 3 and Figure 1** (IMDB, tanh): rerun at the paper's protocol, complete (12 runs)."
    text = status_markdown(tmp_path, ["imdb"], seeds=[0])
    assert "Table 2" in text and "The rest" in text  # Table 2 (ReLU) is still missing


def test_status_of_the_committed_results_matches_the_files():
    """The MNIST chapter's box counts the committed row-wise runs at the paper's protocol."""
    runs = [json.loads(p.read_text()) for p in (REPO / "results" / "paper").glob("mnist-row_*.json")]
    s = grid_status(REPO / "results", next(g for g in PAPER_GRIDS if g["task"] == "mnist-row"))
    assert s.ended == sum(bool(r["complete"] or r["stopped"]) for r in runs)
    assert s.ended + s.running == len(runs)


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="unknown task 'cifar'"):
        status_markdown([], ["cifar"])

"""scripts/paper_grid.py: the paper's whole grid in resumable, time-limited chunks."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gru_lib import experiments

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "paper_grid.py"
DATA = Path(os.environ.get("GRU_LIB_DATA_DIR", ROOT.parent / "shared" / "data"))
TINY = ["--preset", "quick", "--epochs", "2", "--train-limit", "64", "--test-limit", "32", "--device", "cpu",
        "--threads", "1", "--quiet"]


def run(*args, timeout=600):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def test_dry_run_lists_the_paper_grids(tmp_path):
    r = run("--dry-run", "--out-dir", str(tmp_path), "--device", "cpu", "--stack", "1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # 16 row-wise cells, Tables 2 and 3 (12 IMDB cells each), Table 1 (8 pixel-wise cells); three seeds each
    assert [ln.split(":")[0] for ln in lines] == ["row-wise MNIST", "Table 2", "Table 3", "Table 1"]
    assert [ln.split(": ")[1].split(" ")[0] for ln in lines] == ["0/48", "0/36", "0/36", "0/24"]
    assert "48 stacks" in lines[0]


def test_lrs_and_checkpoint_dir_select_the_runs_and_where_their_checkpoints_are(tmp_path):
    ckpts = tmp_path / "ckpts"
    ckpts.mkdir()
    name = experiments.result_filename("imdb", "gru1", "tanh", 1e-5, 0)
    (ckpts / name).with_suffix(".ckpt").write_bytes(b"")  # only its presence is read by a dry run
    r = run("--dry-run", "--grids", "imdb", "--lrs", "1e-5", "--seeds", "0", "--out-dir", str(tmp_path / "out"),
            "--checkpoint-dir", str(ckpts), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    # one rate of each IMDB table: 4 variants, each a stack of one
    assert r.stdout.splitlines() == ["Table 2: 0/4 complete; 4 stacks to train (1, 1, 1, 1 models)",
                                     "Table 3: 0/4 complete; 4 stacks to train (1, 1, 1, 1 models)"]
    statuses, jobs = experiments.plan_grid("imdb", ["gru1"], ["tanh"], [1e-5], [0], tmp_path / "out",
                                           preset="paper", checkpoint_dir=ckpts)
    assert jobs[0].checkpoint_dir == ckpts and jobs[0].statuses[0]["resumed"] is True


def test_a_partial_run_without_its_checkpoint_is_reported_or_restarted(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    name = experiments.result_filename("imdb", "gru1", "tanh", 1e-5, 0)
    partial = json.loads((ROOT / "results" / "paper" / name).read_text())
    partial |= {"complete": False, "history": partial["history"][:3]}  # its checkpoint went with another machine
    (out / name).write_text(json.dumps(partial))
    args = ["--dry-run", "--grids", "imdb", "--lrs", "1e-5", "--seeds", "0", "--out-dir", str(out), "--device", "cpu"]
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1:] == [
        "Table 3: 0/4 complete; 3 stacks to train (1, 1, 1 models)",
        f"  {name}: mismatch: {out / name} has 3 epochs, but its checkpoint {out / name[:-5]}.ckpt is missing, so "
        "it cannot continue. If the checkpoint is kept in another directory, pass that directory "
        "(--checkpoint-dir); to train the run again from epoch 1, pass --restart-lost."]
    r = run(*args, "--restart-lost")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1:] == ["Table 3: 0/4 complete; 4 stacks to train (1, 1, 1, 1 models)"]


def _script():
    spec = importlib.util.spec_from_file_location("_paper_grid", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.realdata
@pytest.mark.slow
def test_chunks_that_run_out_of_time_add_up_to_the_whole_grid(tmp_path, monkeypatch, capsys):
    if not (DATA / "mnist").is_dir():
        pytest.skip(f"the real MNIST files are not in {DATA}")
    script = _script()
    common = ["--grids", "mnist-row", "--seeds", "0", "--data-dir", str(DATA), *TINY]
    chunked, whole = tmp_path / "chunked", tmp_path / "whole"
    # the chunk's time runs out while the third stack trains (as the timer would end it)
    original, calls = experiments.run_grid_job, {"n": 0}

    def run_job(job, data, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            kw["progress"] = False
            train_stack = experiments.train_stack

            def stop_after_first_epoch(*a, **k):
                def on_epoch(result):
                    script._on_alarm(None, None)
                return train_stack(*a, **(k | {"on_epoch": on_epoch}))

            monkeypatch.setattr(experiments, "train_stack", stop_after_first_epoch)
        return original(job, data, **kw)

    monkeypatch.setattr(experiments, "run_grid_job", run_job)
    assert script.main([*common, "--out-dir", str(chunked)]) == script.EXIT_MORE
    assert "run the same command again" in capsys.readouterr().err
    monkeypatch.undo()
    assert script.main([*common, "--out-dir", str(chunked)]) == 0
    assert script.main([*common, "--out-dir", str(whole)]) == 0
    names = sorted(p.name for p in whole.glob("*.json"))
    assert len(names) == 16 and sorted(p.name for p in chunked.glob("*.json")) == names
    for name in names:
        a, b = json.loads((chunked / name).read_text()), json.loads((whole / name).read_text())
        assert a["complete"] and b["complete"]
        for x, y in zip(a["history"], b["history"]):
            assert x["test_acc"] == y["test_acc"] and abs(x["train_loss"] - y["train_loss"]) < 1e-6
    resumed = [json.loads((chunked / n).read_text()) for n in names]
    assert any(len(r["provenance"]["sessions"]) == 2 for r in resumed)  # a run continued in the second chunk
    capsys.readouterr()
    assert script.main([*common, "--out-dir", str(chunked), "--dry-run"]) == 0
    assert "16/16 complete; 0 stacks" in capsys.readouterr().out


@pytest.mark.realdata
def test_the_timer_ends_a_chunk(tmp_path):
    if not (DATA / "mnist").is_dir():
        pytest.skip(f"the real MNIST files are not in {DATA}")
    # 60 ms: the timer fires while the data loads
    r = run("--grids", "mnist-row", "--seeds", "0", "--out-dir", str(tmp_path), "--minutes", "0.001",
            "--data-dir", str(DATA), *TINY)
    assert r.returncode == 75 and "time is up" in r.stderr, r.stderr

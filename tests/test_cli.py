"""The command line ``python -m gru_lib {run,grid,table}``.

Most tests call :func:`gru_lib.__main__.main` in-process with the MNIST reader
replaced by tiny synthetic arrays; the error-path tests run the real command in a
subprocess (data missing, network blocked, unknown variant).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gru_lib import count_params, experiments
from gru_lib.__main__ import main
from gru_lib.model import StackedClassifier

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SMALL = ["--hidden-size", "8", "--quiet"]


def fake_mnist(split, data_dir, download):
    n = 96 if split == "train" else 40
    rng = np.random.default_rng(0 if split == "train" else 1)
    labels = rng.integers(0, 10, n).astype(np.int64)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    images[np.arange(n), labels * 2, :] = 255  # a learnable hint: the label's row is bright
    return images, labels


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(experiments, "_mnist_arrays", fake_mnist)


def run_args(out, *extra, epochs=2):
    return ["run", "--task", "mnist-row", "--variant", "gru1", "--epochs", str(epochs), "--out", str(out),
            *SMALL, *extra]


def no_timing(history):
    return [{k: v for k, v in h.items() if k not in ("seconds", "train_seconds")} for h in history]


def cli(*args, env_extra=None, timeout=120):
    env = dict(os.environ) | {"PYTHONPATH": str(ROOT)} | (env_extra or {})
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "gru_lib", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=timeout)
    return proc, time.perf_counter() - t0


# ----------------------------------------------------------------------------- run
def test_run_writes_the_result_schema(tiny, tmp_path):
    out = tmp_path / "r.json"
    assert main(run_args(out, "--lr", "2e-3", "--seed", "5")) == 0
    r = json.loads(out.read_text())
    assert set(r) >= {"config", "params", "history", "provenance", "complete", "preset", "data"}
    assert r["complete"] is True and r["preset"] == "paper"
    c = r["config"]
    assert (c["task"], c["model"], c["activation"], c["lr"], c["epochs"], c["seed"]) == (
        "mnist-row", "gru1", "tanh", 2e-3, 2, 5)
    assert (c["batch_size"], c["dropout"], c["dropout_at"], c["lr_schedule"], c["init"]) == (
        32, 0.2, "output", "eq18", "keras")
    assert r["params"] == count_params("gru1", 8, 28)
    assert len(r["history"]) == 2
    for h in r["history"]:
        assert set(h) >= {"epoch", "train_acc", "test_acc", "train_loss", "test_loss", "lr", "seconds"}
        assert 0 <= h["train_acc"] <= 1 and 0 <= h["test_acc"] <= 1
    assert r["provenance"]["command"][:3] == ["python", "-m", "gru_lib"]
    assert out.with_suffix(".ckpt").exists()


def test_preset_fills_defaults_and_flags_override(tiny, tmp_path):
    out = tmp_path / "q.json"
    assert main(["run", "--task", "mnist-row", "--variant", "gru3", "--preset", "quick", "--out", str(out),
                 "--epochs", "1", "--train-limit", "50", "--test-limit", "all", "--dropout-at", "none",
                 "--lr-schedule", "constant", "--init", "torch", *SMALL]) == 0
    r = json.loads(out.read_text())
    c = r["config"]
    assert r["preset"] == "quick" and c["epochs"] == 1 and c["train_limit"] == 50 and c["test_limit"] is None
    assert (c["dropout_at"], c["lr_schedule"], c["init"]) == ("none", "constant", "torch")
    assert r["data"]["train_size"] == 50 and r["data"]["test_size"] == 40


def test_existing_result_needs_resume_or_overwrite(tiny, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(run_args(out, epochs=1)) == 0
    capsys.readouterr()
    assert main(run_args(out, epochs=2)) == 2
    assert "--resume" in capsys.readouterr().err
    assert len(json.loads(out.read_text())["history"]) == 1  # untouched
    assert main(run_args(out, "--resume", epochs=2)) == 0
    assert len(json.loads(out.read_text())["history"]) == 2
    assert main(run_args(out, "--overwrite", epochs=1)) == 0
    assert len(json.loads(out.read_text())["history"]) == 1


def test_resume_equals_uninterrupted_run(tiny, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(run_args(a, epochs=2)) == 0
    assert main(run_args(b, epochs=1)) == 0
    assert main(run_args(b, "--resume", epochs=2)) == 0
    ha, hb = json.loads(a.read_text())["history"], json.loads(b.read_text())["history"]
    assert no_timing(ha) == no_timing(hb)


def test_resume_with_other_settings_is_refused(tiny, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(run_args(out, epochs=1)) == 0
    capsys.readouterr()
    assert main(run_args(out, "--resume", "--lr", "0.5", epochs=2)) == 2
    err = capsys.readouterr().err
    assert "different configuration" in err and "lr" in err


def test_ctrl_c_keeps_the_last_complete_epoch(tiny, tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.json"
    calls = {"n": 0}
    orig = StackedClassifier.loss

    def loss(self, logits, y):
        calls["n"] += 1
        if calls["n"] == 6:  # epoch 1 = 3 training batches + 1 test batch; this is inside epoch 2
            raise KeyboardInterrupt
        return orig(self, logits, y)

    monkeypatch.setattr(StackedClassifier, "loss", loss)
    assert main(run_args(out, epochs=3)) == 130
    assert "--resume" in capsys.readouterr().err
    saved = json.loads(out.read_text())
    assert len(saved["history"]) == 1 and saved["complete"] is False
    monkeypatch.setattr(StackedClassifier, "loss", orig)
    assert main(run_args(out, "--resume", epochs=3)) == 0
    done = json.loads(out.read_text())
    assert done["complete"] and [h["epoch"] for h in done["history"]] == [1, 2, 3]


def test_nan_loss_exits_3_and_keeps_the_checkpoint(tiny, tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.json"
    assert main(run_args(out, epochs=1)) == 0
    ckpt_bytes = out.with_suffix(".ckpt").read_bytes()
    orig = StackedClassifier.loss
    monkeypatch.setattr(StackedClassifier, "loss", lambda self, lg, y: orig(self, lg, y) * float("inf"))
    assert main(run_args(out, "--resume", epochs=3)) == 3
    err = capsys.readouterr().err
    assert "became" in err and "epoch 2" in err and "Traceback" not in err
    assert out.with_suffix(".ckpt").read_bytes() == ckpt_bytes
    saved = json.loads(out.read_text())
    assert len(saved["history"]) == 1 and saved["stopped"]["epoch"] == 2


def test_huge_learning_rate_exits_3(tiny, tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["run", "--task", "mnist-row", "--variant", "rnn", "--activation", "relu", "--lr", "1e30",
                 "--init", "torch", "--epochs", "3", "--out", str(out), *SMALL])
    assert code == 3
    assert "learning rate" in capsys.readouterr().err


# ----------------------------------------------------------------------------- grid
def test_grid_runs_skips_and_resumes(tiny, tmp_path, capsys):
    d = tmp_path / "grid"
    args = ["grid", "--task", "mnist-row", "--variants", "gru0", "gru3", "--seeds", "0", "1", "--lrs", "1e-3",
            "--out-dir", str(d), "--epochs", "1", *SMALL]
    assert main(args) == 0
    names = sorted(p.name for p in d.glob("*.json"))
    assert names == [f"mnist-row_{v}_tanh_lr0.001_seed{s}.json" for v in ("gru0", "gru3") for s in (0, 1)]
    stamps = {p: p.stat().st_mtime_ns for p in d.glob("*.json")}
    capsys.readouterr()
    assert main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in d.glob("*.json")} == stamps  # finished runs untouched
    statuses = experiments.run_grid("mnist-row", ["gru0", "gru3"], seeds=[0, 1], out_dir=d, preset="paper",
                                    epochs=1, hidden_size=8, progress=False)
    assert [s["status"] for s in statuses] == ["skipped"] * 4
    # asking for more epochs resumes each run from its checkpoint
    statuses = experiments.run_grid("mnist-row", ["gru0"], seeds=[0], out_dir=d, preset="paper", epochs=2,
                                    hidden_size=8, progress=False)
    assert [s["status"] for s in statuses] == ["resumed"]
    extended = json.loads((d / "mnist-row_gru0_tanh_lr0.001_seed0.json").read_text())
    assert [h["epoch"] for h in extended["history"]] == [1, 2] and extended["complete"]


def test_grid_reports_results_made_with_other_settings(tiny, tmp_path, capsys):
    d = tmp_path / "grid"
    base = ["grid", "--task", "mnist-row", "--variants", "gru0", "--out-dir", str(d), "--epochs", "1", *SMALL]
    assert main(base) == 0
    path = d / "mnist-row_gru0_tanh_lr0.001_seed0.json"
    before = path.read_bytes()
    capsys.readouterr()
    assert main(base + ["--dropout-at", "input"]) == 2
    err = capsys.readouterr().err
    assert "mismatch" in err and "dropout_at: saved 'output', now 'input'" in err
    assert path.read_bytes() == before


def test_grid_resumes_a_partial_run(tiny, tmp_path, monkeypatch):
    d = tmp_path / "grid"
    d.mkdir()
    out = d / experiments.result_filename("mnist-row", "gru2", "tanh", 1e-3, 0)

    def stop(result):
        raise KeyboardInterrupt

    from gru_lib import train as train_mod

    orig_train = train_mod.train_stack
    monkeypatch.setattr(experiments, "train_stack", lambda *a, **k: orig_train(*a, **(k | {"on_epoch": stop})))
    with pytest.raises(KeyboardInterrupt):
        experiments.run_grid("mnist-row", ["gru2"], out_dir=d, preset="paper", epochs=2, hidden_size=8,
                             progress=False)
    assert len(json.loads(out.read_text())["history"]) == 1
    monkeypatch.setattr(experiments, "train_stack", orig_train)
    statuses = experiments.run_grid("mnist-row", ["gru2"], out_dir=d, preset="paper", epochs=2, hidden_size=8,
                                    progress=False)
    assert statuses[0]["status"] == "resumed"
    assert json.loads(out.read_text())["complete"]


def test_grid_restarts_a_partial_run_whose_checkpoint_is_lost_only_when_asked(tiny, tmp_path, monkeypatch, capsys):
    d = tmp_path / "grid"
    d.mkdir()
    outs = [d / experiments.result_filename("mnist-row", v, "tanh", 1e-3, 0) for v in ("gru2", "gru3")]

    def stop(result):
        raise KeyboardInterrupt

    from gru_lib import train as train_mod
    from gru_lib.files import checkpoint_path

    orig_train = train_mod.train_stack
    monkeypatch.setattr(experiments, "train_stack", lambda *a, **k: orig_train(*a, **(k | {"on_epoch": stop})))
    for v in ("gru2", "gru3"):
        with pytest.raises(KeyboardInterrupt):
            experiments.run_grid("mnist-row", [v], out_dir=d, preset="paper", epochs=2, hidden_size=8,
                                 progress=False)
    monkeypatch.setattr(experiments, "train_stack", orig_train)
    checkpoint_path(outs[0]).unlink()  # gru2's checkpoint is lost; gru3's is still there
    lost = outs[0].read_bytes()
    first_epoch = json.loads(lost)["history"][0]

    args = ["grid", "--task", "mnist-row", "--variants", "gru2", "gru3", "--out-dir", str(d), "--epochs", "2",
            *SMALL]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{outs[0].name}: mismatch: {outs[0]} has 1 epoch, but its checkpoint" in err
    assert "pass --restart-lost" in err and "1 mismatch, 1 resumed" in err
    assert outs[0].read_bytes() == lost  # reported, never replaced
    assert json.loads(outs[1].read_text())["complete"]

    statuses, jobs = experiments.plan_grid("mnist-row", ["gru2"], out_dir=d, preset="paper", epochs=2,
                                           hidden_size=8, restart_lost=True)
    assert [j.restart for j in jobs] == [True]
    assert jobs[0].describe() == f"restarting {outs[0].name} (1 epoch lost with its checkpoint)"
    assert main(args + ["--restart-lost"]) == 0
    err = capsys.readouterr().err
    assert err == (f"{outs[0].name}: restarted: its checkpoint was missing, so it trained again from epoch 1 "
                   "(redoing the 1 epoch of its earlier result)\n")
    result = json.loads(outs[0].read_text())
    assert result["complete"] and [h["epoch"] for h in result["history"]] == [1, 2]
    # the lost epoch, trained again
    assert result["history"][0]["train_loss"] == pytest.approx(first_epoch["train_loss"], rel=1e-6)
    assert checkpoint_path(outs[0]).exists()

    # a complete run is never trained again, even to extend it: that needs its checkpoint
    checkpoint_path(outs[1]).unlink()
    complete = outs[1].read_bytes()
    assert main(["grid", "--task", "mnist-row", "--variants", "gru3", "--out-dir", str(d), "--epochs", "3",
                 "--restart-lost", *SMALL]) == 2
    assert (f"{outs[1]} is complete with 2 epochs, fewer than the 3 asked, and a longer run continues from its "
            f"checkpoint {checkpoint_path(outs[1])}, which is missing.") in capsys.readouterr().err
    assert outs[1].read_bytes() == complete


# ----------------------------------------------------------------------------- table
def test_table_command(tmp_path, capsys):
    from test_train import hand_result, write_results

    write_results(tmp_path, [
        hand_result("imdb", "gru1", "relu", 1e-4, 0, 0.86, 0.84),
        hand_result("imdb", "gru1", "relu", 1e-4, 1, 0.88, 0.85),
        hand_result("mnist-pixel", "gru3", "relu", 1e-3, 0, 0.11, 0.10, params=count_params("gru3", 100, 1)),
    ])
    assert main(["table", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| GRU1 | 87.0 ± 1.4 [87] | 84.5 ± 0.7 [84.8] | 65920 |" in out
    assert "| GRU3 | 11.0 [10.4] | 10.0 [10.3] | 10400 |" in out
    assert out.index("MNIST, pixel-wise") < out.index("IMDB")
    assert main(["table", "--results", str(tmp_path), "--task", "imdb", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("task,") and lines[1].startswith("imdb,relu,gru1,0.0001,2,0 1,")
    assert main(["table", "--results", str(tmp_path / "nothing")]) == 2


# ----------------------------------------------------------------------------- errors (subprocess)
NO_NETWORK = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
              "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "",
              "NO_PROXY": ""}


@pytest.mark.parametrize("task", ["mnist-row", "imdb"])
@pytest.mark.parametrize("no_download", [True, False], ids=["no-download", "download-blocked"])
def test_missing_data_is_a_clear_message(tmp_path, task, no_download):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "r.json"
    args = ["run", "--task", task, "--variant", "gru0", "--epochs", "1", "--out", str(out), "--quiet"]
    if no_download:
        args.append("--no-download")
    env = NO_NETWORK | {"GRU_LIB_DATA_DIR": str(empty), "XDG_CACHE_HOME": str(tmp_path / "cache"),
                        "HOME": str(tmp_path / "home")}
    proc, seconds = cli(*args, env_extra=env)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert seconds < 30
    err = proc.stderr
    assert str(empty) in err
    assert ("train-images-idx3-ubyte.gz" in err) if task == "mnist-row" else ("aclImdb" in err)
    assert not out.exists()


def test_unknown_variant_and_task_list_the_choices():
    proc, _ = cli("run", "--task", "mnist-row", "--variant", "gru7", "--out", "x.json")
    assert proc.returncode == 2
    assert "invalid choice: 'gru7'" in proc.stderr
    for v in ("gru0", "gru1", "gru2", "gru3", "lstm", "rnn", "mgu"):
        assert v in proc.stderr
    proc, _ = cli("run", "--task", "cifar", "--variant", "gru0", "--out", "x.json")
    assert proc.returncode == 2 and "mnist-pixel" in proc.stderr and "imdb" in proc.stderr


def test_help_mentions_the_options():
    proc, _ = cli("run", "--help")
    assert proc.returncode == 0
    for flag in ("--preset", "--resume", "--dropout-at", "--lr-schedule", "--no-download", "--device", "--init"):
        assert flag in proc.stdout


@pytest.mark.realdata
@pytest.mark.skipif(not (DATA / "mnist").is_dir(), reason=f"the real MNIST files are not in {DATA}")
def test_corrupt_file_is_refused(tmp_path):
    bad = tmp_path / "data"
    shutil.copytree(DATA / "mnist", bad / "mnist")
    for f in (bad / "mnist").iterdir():
        f.chmod(0o644)
    labels = bad / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(labels.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    labels.write_bytes(bytes(raw))
    out = tmp_path / "r.json"
    proc, seconds = cli("run", "--task", "mnist-row", "--variant", "gru0", "--epochs", "1", "--train-limit", "64",
                        "--out", str(out), "--data-dir", str(bad), "--no-download", "--quiet",
                        env_extra=NO_NETWORK)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "t10k-labels-idx1-ubyte.gz" in proc.stderr
    assert not out.exists()


@pytest.mark.realdata
@pytest.mark.skipif(not (DATA / "mnist").is_dir(), reason=f"the real MNIST files are not in {DATA}")
def test_real_data_run_through_the_command_line(tmp_path):
    out = tmp_path / "r.json"
    proc, _ = cli("run", "--task", "mnist-row", "--variant", "gru2", "--epochs", "1", "--train-limit", "500",
                  "--test-limit", "200", "--out", str(out), "--data-dir", str(DATA), "--no-download", "--quiet",
                  env_extra=NO_NETWORK)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(out.read_text())
    assert r["complete"] and r["data"]["train_size"] == 500 and r["params"] == 32900

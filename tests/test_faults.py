"""Result files, checkpoints, grid and table under faults and bad input.

Each section is one rule: a file the run did not write is never replaced; result
and checkpoint never disagree for good (kills at every point of the write
sequence); command-line failures are one message and exit status 2; one bad file
never stops the rest; ``table`` never averages different experiments; the Python
API validates like the command line; files respect the umask.
"""

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_cli import ROOT, fake_mnist, no_timing, run_args
from test_train import config, hand_result, toy_data, write_results

from gru_lib import GRU, count_params, experiments, files
from gru_lib.__main__ import main
from gru_lib.convert import from_keras, from_torch
from gru_lib.data import DataNotFoundError, _download
from gru_lib.data._files import RemoteFile
from gru_lib.files import RunFileError, checkpoint_path, remove_stale_temps
from gru_lib.model import StackedClassifier, build_model
from gru_lib.train import SequenceData, train, train_stack


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(experiments, "_mnist_arrays", fake_mnist)


@pytest.fixture
def no_data(monkeypatch):
    """Fails the test if the data is loaded: the command had to stop before."""
    def refuse(*a, **k):
        raise AssertionError("the data was loaded although the command could have failed before")

    monkeypatch.setattr(experiments, "_mnist_arrays", refuse)


def snapshot(*paths):
    return {p: p.read_bytes() for p in paths}


def temps(directory):
    return sorted(p.name for p in Path(directory).iterdir() if p.name.endswith((".tmp", ".part")))


# ----------------------------------------------------------------------------- 1. foreign files are never replaced
NOTES = '{"my": "notes"}\n'


def test_resume_onto_a_foreign_json_is_refused(tiny, tmp_path, capsys):
    out = tmp_path / "x.json"
    out.write_text(NOTES)
    assert main(run_args(out, "--resume")) == 2
    err = capsys.readouterr().err
    assert "not a gru_lib result" in err and "Traceback" not in err
    assert out.read_text() == NOTES and not checkpoint_path(out).exists()


@pytest.mark.parametrize("flag", [[], ["--resume"]])
def test_a_foreign_checkpoint_beside_out_is_never_replaced(tiny, tmp_path, capsys, flag):
    out = tmp_path / "x.json"
    ckpt = checkpoint_path(out)
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 7}, ckpt)  # another tool's .ckpt
    before = ckpt.read_bytes()
    assert main(run_args(out, *flag, epochs=1)) == 2
    err = capsys.readouterr().err
    assert str(ckpt) in err and "--overwrite" in err
    assert ckpt.read_bytes() == before and not out.exists()


def test_the_api_refuses_a_foreign_file_unless_asked_to_overwrite(tmp_path):
    out = tmp_path / "x.json"
    out.write_text(NOTES)
    with pytest.raises(RunFileError, match="not a gru_lib result"):
        train(config(epochs=1), toy_data(), out=out, progress=False)
    with pytest.raises(RunFileError, match="not a gru_lib result"):
        train_stack([config(epochs=1)], toy_data(), outs=[out], resume=True, progress=False)
    assert out.read_text() == NOTES
    r = train(config(epochs=1), toy_data(), out=out, overwrite=True, progress=False)
    assert json.loads(out.read_text())["history"] == json.loads(json.dumps(r["history"]))
    with pytest.raises(ValueError, match="one of them"):
        train(config(epochs=1), toy_data(), out=out, resume=True, overwrite=True, progress=False)


@pytest.mark.parametrize("failure", ["data", "device", "first epoch"])
def test_overwrite_keeps_the_old_files_until_the_new_run_has_an_epoch(tiny, tmp_path, monkeypatch, failure):
    out = tmp_path / "r.json"
    assert main(run_args(out, epochs=1)) == 0
    old = snapshot(out, checkpoint_path(out))
    extra = []
    if failure == "data":
        def missing(*a, **k):
            raise DataNotFoundError("MNIST files missing from /nowhere")

        monkeypatch.setattr(experiments, "_mnist_arrays", missing)
    elif failure == "device":
        extra = ["--device", "meta"]
    else:
        def interrupted(self, logits, y):
            raise KeyboardInterrupt

        monkeypatch.setattr(StackedClassifier, "loss", interrupted)
    code = main(run_args(out, "--overwrite", *extra, epochs=2))
    assert code == (130 if failure == "first epoch" else 2)
    assert snapshot(out, checkpoint_path(out)) == old
    assert temps(tmp_path) == []


def test_overwrite_that_diverges_in_its_first_epoch_leaves_no_old_checkpoint(tiny, tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    assert main(run_args(out, epochs=2)) == 0
    orig = StackedClassifier.loss
    monkeypatch.setattr(StackedClassifier, "loss", lambda self, lg, y: orig(self, lg, y) * float("nan"))
    assert main(run_args(out, "--overwrite", epochs=2)) == 3
    r = json.loads(out.read_text())
    assert r["history"] == [] and r["stopped"]["epoch"] == 1
    assert not checkpoint_path(out).exists()  # the old run's checkpoint does not outlive its result


# ----------------------------------------------------------------------------- 2. kills at every point of the write sequence
class Killer:
    """``os.replace`` that raises at its ``n``-th call onto a result or checkpoint; with ``hard``
    the temporary file stays behind, as after SIGKILL."""

    def __init__(self, monkeypatch, n, hard):
        self.n, self.hard, self.calls = n, hard, 0
        self.replace, self.unlink = os.replace, os.unlink
        monkeypatch.setattr(os, "replace", self)
        if hard:
            monkeypatch.setattr(os, "unlink", self.keep)

    def __call__(self, src, dst, *a, **k):
        if str(dst).endswith((".json", ".ckpt")):
            self.calls += 1
            if self.calls == self.n:
                raise KeyboardInterrupt
        return self.replace(src, dst, *a, **k)

    def keep(self, path, *a, **k):
        if str(path).endswith(".tmp"):
            return None
        return self.unlink(path, *a, **k)


# The writes of a 2-epoch run: 1 = epoch 1's checkpoint, 2 = its result, 3 = epoch 2's
# checkpoint, 4 = its result (the run is complete by its checkpoint from there on).
@pytest.mark.parametrize("hard", [False, True], ids=["exception", "sigkill"])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_resume_repairs_a_kill_at_any_point_of_the_write_sequence(tiny, tmp_path, monkeypatch, n, hard):
    ref = tmp_path / "ref" / "r.json"
    assert main(run_args(ref, epochs=2)) == 0
    out = tmp_path / "run" / "r.json"
    with monkeypatch.context() as m:
        Killer(m, n, hard)
        assert main(run_args(out, epochs=2)) == 130
    if hard:
        assert temps(out.parent)  # a killed writer left its temporary file
    if n == 4:
        stale = json.loads(out.read_text())
        assert len(stale["history"]) == 1 and not stale["complete"]  # the checkpoint is one epoch ahead
    code = main(run_args(out, "--resume", epochs=2))
    assert code == 0
    r = json.loads(out.read_text())
    state = torch.load(checkpoint_path(out), weights_only=True)
    assert r["complete"] and no_timing(r["history"]) == no_timing(json.loads(ref.read_text())["history"])
    assert json.loads(json.dumps(state["history"])) == r["history"]
    assert temps(out.parent) == []


def test_grid_repairs_a_result_behind_its_complete_checkpoint(tiny, tmp_path, monkeypatch):
    d = tmp_path / "grid"
    args = ["grid", "--task", "mnist-row", "--variants", "gru2", "--out-dir", str(d), "--epochs", "1",
            "--hidden-size", "8", "--quiet"]
    with monkeypatch.context() as m:
        Killer(m, 2, hard=False)  # epoch 1's checkpoint is written, its result is not
        assert main(args) == 130
    path = d / experiments.result_filename("mnist-row", "gru2", "tanh", 1e-3, 0)
    assert not path.exists() and checkpoint_path(path).exists()
    assert main(args) == 0
    r = json.loads(path.read_text())
    assert r["complete"] and len(r["history"]) == 1
    assert [s["status"] for s in experiments.run_grid("mnist-row", ["gru2"], out_dir=d, preset="paper", epochs=1,
                                                      hidden_size=8, progress=False)] == ["skipped"]


def test_stale_temporaries_are_removed_but_a_live_writers_is_kept(tmp_path):
    target = tmp_path / "r.json"
    stale = tmp_path / ".r.json.abc123.tmp"
    stale.write_bytes(b"half")
    fd, live = files.new_temp_file(target, ".tmp")  # locked, as while a writer writes
    try:
        files.atomic_write_json(target, {"a": 1})
        assert not stale.exists() and Path(live).exists()
    finally:
        os.close(fd)
    assert remove_stale_temps(target) == [Path(live)]
    assert temps(tmp_path) == []


# ----------------------------------------------------------------------------- 3. command-line failures: one message, exit 2
@pytest.mark.parametrize("extra, words", [
    (["--device", "gpu"], "device must be"),
    (["--device", "cuda:abc"], "device must be"),
    (["--device", "meta"], "cannot train"),
    (["--device", "cuda:99"], "cuda"),
    (["--variant", "lstm", "--reset-after"], "reset_after applies to the GRU variants only"),
    (["--variant", "mgu", "--update-rule", "cho"], "update_rule applies to the GRU variants only"),
    (["--threads", "100000"], "threads must be at most"),
    (["--hidden-size", "10000000"], "hidden_size must be"),
    (["--batch-size", "100000000"], "batch_size must be"),
    (["--seed", str(2 ** 70)], "seed must be"),
])
def test_bad_settings_fail_before_the_data_is_loaded(no_data, tmp_path, capsys, extra, words):
    out = tmp_path / "r.json"
    assert main(run_args(out, *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_out_must_be_a_writable_file_path(no_data, tmp_path, capsys):
    folder = tmp_path / "r.json"
    folder.mkdir()
    assert main(run_args(folder)) == 2
    assert "is a directory" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(run_args(blocker / "r.json")) == 2
    assert "not a directory" in capsys.readouterr().err
    folder.rmdir()
    checkpoint_path(folder).mkdir()
    assert main(run_args(folder, "--overwrite")) == 2
    assert "is a directory" in capsys.readouterr().err


def damaged_checkpoints(good: bytes):
    foreign = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, foreign)
    partial = io.BytesIO()
    state = torch.load(io.BytesIO(good), weights_only=True)
    del state["optimizer"]
    torch.save(state, partial)
    wrong_shape = io.BytesIO()
    state = torch.load(io.BytesIO(good), weights_only=True)
    state["model"] = {k: torch.zeros(1) for k in state["model"]}
    torch.save(state, wrong_shape)
    return {"truncated": good[: len(good) // 2], "garbage": b"\x00not a checkpoint" * 10,
            "empty": b"", "foreign": foreign.getvalue(), "missing optimizer": partial.getvalue(),
            "wrong shapes": wrong_shape.getvalue()}


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty", "foreign", "missing optimizer", "wrong shapes"])
def test_a_bad_checkpoint_under_resume_says_to_overwrite(tiny, tmp_path, capsys, kind):
    out = tmp_path / "r.json"
    assert main(run_args(out, epochs=1)) == 0
    ckpt = checkpoint_path(out)
    bad = damaged_checkpoints(ckpt.read_bytes())[kind]
    ckpt.write_bytes(bad)
    result = out.read_bytes()
    capsys.readouterr()
    assert main(run_args(out, "--resume", epochs=2)) == 2
    err = capsys.readouterr().err
    assert str(ckpt) in err and "--overwrite" in err and "Traceback" not in err
    assert ckpt.read_bytes() == bad and out.read_bytes() == result
    assert main(run_args(out, "--overwrite", epochs=1)) == 0
    assert json.loads(out.read_text())["complete"]


@pytest.mark.parametrize("args", [
    ["--threads", "100000"],
    ["--device", "gpu"],
    ["--variant", "lstm", "--reset-after"],
])
def test_the_real_command_ends_with_a_message_not_a_crash(tmp_path, args):
    argv = ["run", "--task", "mnist-row", "--variant", "gru0", "--epochs", "1", "--out", str(tmp_path / "r.json"),
            "--no-download", "--quiet", *args]
    env = dict(os.environ) | {"PYTHONPATH": str(ROOT), "GRU_LIB_DATA_DIR": str(tmp_path / "none")}
    proc = subprocess.run([sys.executable, "-m", "gru_lib", *argv], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- 4. one bad file never stops the rest
GRID = ["grid", "--task", "mnist-row", "--variants", "gru1", "--seeds", "0", "1", "2", "--out-dir"]


def grid_path(d, seed):
    return d / experiments.result_filename("mnist-row", "gru1", "tanh", 1e-3, seed)


@pytest.mark.parametrize("stack", ["1", "3"])
def test_grid_reports_a_corrupt_checkpoint_and_trains_the_others(tiny, tmp_path, capsys, stack):
    d = tmp_path / "grid"
    args = [*GRID, str(d), "--hidden-size", "8", "--quiet", "--stack", stack]
    assert main(args + ["--epochs", "1"]) == 0
    bad = checkpoint_path(grid_path(d, 1))
    bad.write_bytes(bad.read_bytes()[:100])
    foreign = grid_path(d, 2)
    foreign.write_text(NOTES)
    capsys.readouterr()
    assert main(args + ["--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert grid_path(d, 1).name in err and grid_path(d, 2).name in err and "2 failed" in err
    assert len(json.loads(grid_path(d, 0).read_text())["history"]) == 2
    assert len(bad.read_bytes()) == 100 and foreign.read_text() == NOTES


def test_table_reports_malformed_files_and_prints_the_others(tmp_path, capsys):
    write_results(tmp_path, [hand_result("imdb", "gru1", "tanh", 1e-3, s, 0.8, 0.7) for s in (0, 1)])
    no_config = hand_result("imdb", "gru2", "tanh", 1e-3, 0, 0.8, 0.7)
    del no_config["config"]
    text_number = hand_result("imdb", "gru3", "tanh", 1e-3, 0, 0.8, 0.7)
    text_number["history"][-1]["test_acc"] = "0.9"
    text_lr = hand_result("imdb", "gru0", "tanh", 1e-3, 0, 0.8, 0.7)
    text_lr["config"]["lr"] = "1e-3"
    for name, r in (("a.json", no_config), ("b.json", text_number), ("c.json", text_lr)):
        (tmp_path / name).write_text(json.dumps(r))
    (tmp_path / "torn.json").write_text('{"format": "gru_lib.result/1", "conf')
    assert main(["table", "--results", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    for name in ("a.json", "b.json", "c.json", "torn.json"):
        assert str(tmp_path / name) in captured.err
    assert "config must be an object" in captured.err and "'0.9'" in captured.err
    assert "| GRU1 | 80.0 ± 0.0 [96.2] | 70.0 ± 0.0 [83.2] | 65920 |" in captured.out
    assert "GRU0" not in captured.out and "Traceback" not in captured.err


# ----------------------------------------------------------------------------- 5. table never averages different experiments
def test_table_keeps_different_settings_apart(tmp_path):
    small = [hand_result("imdb", "gru1", "tanh", 1e-3, s, 0.8, 0.7) for s in (0, 1)]
    big = [hand_result("imdb", "gru1", "tanh", 1e-3, s, 0.9, 0.9) for s in (0, 1)]
    for r in big:
        r["data"]["train_size"] = 25000
    other_epochs = hand_result("imdb", "gru1", "tanh", 1e-3, 0, 0.6, 0.6, epochs=3)
    other_batch = hand_result("imdb", "gru1", "tanh", 1e-3, 0, 0.5, 0.5)
    other_batch["config"]["batch_size"] = 64
    other_preset = hand_result("imdb", "gru1", "tanh", 1e-3, 0, 0.4, 0.4)
    other_preset["preset"] = "paper"
    for i, r in enumerate([*small, *big, other_epochs, other_batch, other_preset]):
        (tmp_path / f"{i}.json").write_text(json.dumps(r))
    results = experiments.load_results(tmp_path)
    rows = experiments.summarize(results, task="imdb")
    assert sorted((r["n"], round(r["test_acc_mean"], 3)) for r in rows) == [
        (1, 0.4), (1, 0.5), (1, 0.6), (2, 0.7), (2, 0.9)]
    md = experiments.results_table(results, "imdb")
    assert md.count("| Variant |") == 5
    assert "train_size=25000" in md and "epochs=3" in md and "batch_size=64" in md and "preset=paper" in md
    assert "80.0" not in md.replace("80.0 ± 0.0", "")  # never a mean across settings


def test_a_copy_of_a_result_is_not_a_second_seed(tmp_path, capsys):
    r = hand_result("imdb", "gru1", "tanh", 1e-3, 0, 0.8, 0.7)
    r["provenance"] = {"date": "2024-01-01T00:00:00+00:00", "sessions": [{"date": "2024-01-01T00:00:00+00:00"}]}
    write_results(tmp_path / "results", [r])
    write_results(tmp_path / "results" / "backup", [r])
    problems = []
    results = experiments.load_results(tmp_path / "results", problems=problems)
    assert len(results) == 1 and len(problems) == 1 and "a copy of" in problems[0][1]
    assert main(["table", "--results", str(tmp_path / "results")]) == 2
    captured = capsys.readouterr()
    assert "| GRU1 | 80.0 [96.2] | 70.0 [83.2] | 65920 |" in captured.out  # one seed: no sd
    assert "backup" in captured.err


def test_results_of_an_unknown_task_are_reported(tmp_path, capsys):
    write_results(tmp_path, [hand_result("imdb", "gru1", "tanh", 1e-3, 0, 0.8, 0.7),
                             hand_result("cifar", "gru1", "tanh", 1e-3, 0, 0.8, 0.7)])
    assert main(["table", "--results", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "unknown task 'cifar'" in captured.err and "cifar" in captured.err and "IMDB" in captured.out
    with pytest.warns(RuntimeWarning, match="unknown task 'cifar'"):
        assert len(experiments.load_results(tmp_path)) == 1


# ----------------------------------------------------------------------------- 6. the API validates like the command line
@pytest.mark.parametrize("kw, error, words", [
    ({"seed": "0"}, TypeError, "seed must be"),
    ({"seed": 1.0}, TypeError, "seed must be"),
    ({"threads": 0}, ValueError, "threads must be"),
    ({"threads": "2"}, TypeError, "threads must be"),
    ({"train_limit": 100.0}, TypeError, "train_limit must be"),
    ({"train_limit": "100"}, TypeError, "train_limit must be"),
    ({"test_limit": 0}, ValueError, "test_limit must be"),
    ({"implementation": "cuda"}, ValueError, "unknown implementation 'cuda'"),
    ({"update_rule": "keras"}, ValueError, "unknown update_rule"),
    ({"lr": "1e-3"}, TypeError, "lr must be"),
    ({"dropout": "0.2"}, TypeError, "dropout must be"),
    ({"epochs": True}, TypeError, "epochs must be"),
    ({"reset_after": 1}, TypeError, "reset_after must be a bool"),
    ({"eval_train": "yes"}, TypeError, "eval_train must be a bool"),
    ({"device": "gpu"}, ValueError, "device must be"),
    ({"device": 0}, TypeError, "device must be"),
    ({"model": "lstm", "reset_after": True}, ValueError, "GRU variants only"),
])
def test_train_config_rejects_wrong_types_and_values(kw, error, words):
    with pytest.raises(error, match=words):
        config(**kw)


@pytest.mark.parametrize("kw", [{"seed": "0"}, {"threads": 0}, {"train_limit": 2.5}, {"implementation": "x"},
                                {"hidden_sise": 8}])
def test_run_experiment_rejects_before_loading_data(no_data, kw):
    with pytest.raises((TypeError, ValueError)):
        experiments.run_experiment("mnist-row", "gru1", epochs=1, progress=False, **kw)


def test_threads_beyond_the_machine_are_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match="threads must be at most"):
        train(config(threads=100000), toy_data(), out=tmp_path / "r.json", progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("convert", ["torch", "keras"])
def test_convert_rejects_an_unknown_update_rule(convert):
    with pytest.raises(ValueError, match="unknown update_rule 'keras'.*'paper', 'cho'"):
        if convert == "torch":
            from_torch(torch.nn.GRU(3, 4), update_rule="keras")
        else:
            from_keras(torch.zeros(3, 12).numpy(), torch.zeros(4, 12).numpy(), update_rule="keras")


@pytest.mark.parametrize("kw", [{"reset_after": "yes"}, {"reset_after": 1}, {"bidirectional": "no"},
                                {"bidirectional": 0}, {"bias": None}])
def test_count_params_refuses_non_bool_flags(kw):
    with pytest.raises(TypeError, match="must be a bool"):
        count_params("gru0", 4, 3, **kw)


def test_sequence_data_checks_labels_against_the_classes():
    x = torch.rand(8, 3, 2)
    with pytest.raises(ValueError, match=r"labels in \[0, 2\).*from 0 to 5"):
        SequenceData(x, torch.arange(8) % 6, x, torch.zeros(8, dtype=torch.long), num_classes=2)
    with pytest.raises(ValueError, match=r"labels in \[0, 10\).*from -1"):
        SequenceData(x, torch.zeros(8, dtype=torch.long), x, torch.full((8,), -1), num_classes=10)
    with pytest.raises(ValueError, match="int64"):
        SequenceData(x, torch.zeros(8), x, torch.zeros(8, dtype=torch.long), num_classes=10)
    tokens = torch.randint(0, 30, (8, 5))
    with pytest.raises(ValueError, match="token indices"):
        SequenceData(tokens, torch.zeros(8, dtype=torch.long), tokens + 30, torch.zeros(8, dtype=torch.long),
                     num_classes=2, num_embeddings=30)


@pytest.mark.parametrize("variant", ["gru0", "gru1", "gru2", "gru3"])
@pytest.mark.parametrize("reset_after", [False, True])
def test_batch_of_size_zero_like_torch(variant, reset_after):
    ref = torch.nn.GRU(3, 4, batch_first=True)
    x = torch.rand(0, 5, 3, requires_grad=True)
    ref_out, _ = ref(x)
    ref_out.sum().backward()
    for impl in ("fused", "autograd"):
        gru = GRU(3, 4, batch_first=True, variant=variant, reset_after=reset_after, implementation=impl)
        x = torch.rand(0, 5, 3, requires_grad=True)
        out, h = gru(x)
        (out.sum() + h.sum()).backward()
        assert out.shape == ref_out.shape and x.grad.shape == x.shape
        nets = [build_model(variant, input_size=3, hidden_size=4, num_classes=10, reset_after=reset_after,
                            implementation=impl) for _ in range(2)]
        stack = StackedClassifier(nets)
        stack.train()
        logits = stack(torch.rand(2, 0, 5, 3), [torch.Generator(), torch.Generator()])
        logits.sum().backward()
        assert logits.shape == (2, 0, 10)
        assert all(p.grad is not None and not p.grad.any() for p in stack.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------- 7. files respect the umask
@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path):
    return path.stat().st_mode & 0o777


def test_result_and_checkpoint_respect_the_umask(tmp_path, umask):
    out = tmp_path / "r.json"
    train(config(epochs=1), toy_data(), out=out, progress=False)
    assert mode(out) == mode(checkpoint_path(out)) == 0o666 & ~umask


def test_downloads_and_the_imdb_cache_respect_the_umask(tmp_path, monkeypatch, umask):
    payload = b"canonical bytes"
    remote = RemoteFile("f.gz", hashlib.sha256(payload).hexdigest(), len(payload), ("https://example.org/f.gz",))
    monkeypatch.setattr(_download, "_urlopen", lambda url, timeout: io.BytesIO(payload))
    (tmp_path / ".f.gz.dead.part").write_bytes(b"a killed download")
    _download.fetch(remote, tmp_path / "f.gz")
    assert (tmp_path / "f.gz").read_bytes() == payload and mode(tmp_path / "f.gz") == 0o666 & ~umask
    assert temps(tmp_path) == []
    from gru_lib.data import imdb

    imdb._write_cache(tmp_path / "cache.pt", {"x": torch.zeros(2)})
    assert mode(tmp_path / "cache.pt") == 0o666 & ~umask


# ----------------------------------------------------------------------------- 8. one writer per run
HOLD = """
import sys
from gru_lib.files import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def held_elsewhere():
    """Hold a run's lock in another process until the test lets go of it."""
    procs = []

    def hold(out):
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, env=dict(os.environ) | {"PYTHONPATH": str(ROOT)})
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield hold
    for proc in procs:
        proc.communicate("", timeout=60)


def test_a_run_another_process_is_writing_is_refused_before_the_data_loads(no_data, tmp_path, capsys, held_elsewhere):
    out = tmp_path / "x.json"
    proc = held_elsewhere(out)
    for flags in ([], ["--resume"], ["--overwrite"]):
        assert main(run_args(out, *flags)) == 2
        err = capsys.readouterr().err
        assert f"being written by another run (process {proc.pid} on" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".x.json.lock"]


def test_a_run_starts_once_the_other_process_lets_go(tiny, tmp_path, held_elsewhere):
    out = tmp_path / "x.json"
    proc = held_elsewhere(out)
    proc.communicate("", timeout=60)
    assert main(run_args(out, "--quiet", epochs=1)) == 0
    assert json.loads(out.read_text())["complete"]
    assert not files.lock_path(out).exists()


def test_the_api_refuses_a_second_writer_and_lets_go_however_a_run_ends(tmp_path):
    out, data = tmp_path / "x.json", toy_data()
    with files.run_lock(out):
        with pytest.raises(RunFileError, match="being written by another run"):
            train(config(), data, out=out, progress=False)
        with pytest.raises(RunFileError, match="being written by another run"):
            train_stack([config(seed=1), config(seed=2)], data, outs=[tmp_path / "y.json", out], progress=False)
    assert not out.exists() and not (tmp_path / "y.json").exists()

    def interrupt(result):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config(), data, out=out, progress=False, on_epoch=interrupt)
    assert not files.lock_path(out).exists()
    assert len(train(config(), data, out=out, resume=True, progress=False)["history"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.ckpt", "x.json"]


def test_the_lock_file_of_a_killed_run_is_taken_over(tmp_path):
    out = tmp_path / "x.json"
    files.lock_path(out).write_text("4242 elsewhere\n")  # left by a process that no longer holds it
    files.check_not_running(out)
    train(config(epochs=1), toy_data(), out=out, progress=False)
    assert not files.lock_path(out).exists()


def test_checking_for_a_writer_creates_nothing(tmp_path):
    files.check_not_running(tmp_path / "x.json")
    assert list(tmp_path.iterdir()) == []


def test_grid_reports_a_run_another_process_is_writing_and_trains_the_others(tiny, tmp_path, capsys, held_elsewhere):
    d = tmp_path / "grid"
    d.mkdir()
    held_elsewhere(grid_path(d, 1))
    assert main([*GRID, str(d), "--hidden-size", "8", "--quiet", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert grid_path(d, 1).name in err and "being written by another run" in err and "1 failed" in err
    assert json.loads(grid_path(d, 0).read_text())["complete"] and json.loads(grid_path(d, 2).read_text())["complete"]
    assert not grid_path(d, 1).exists()

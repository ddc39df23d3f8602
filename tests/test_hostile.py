"""Hostile input, second round: files that are not what they seem, resumes that would
shorten a run, ``table`` under bad files, the GPU grid script's arguments and deadline,
bounded waits, and the API's boundary.

Each section is one class of fault; each test failed before the class was fixed.
"""

import contextlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from test_cli import fake_mnist, run_args
from test_faults import no_data, tiny  # noqa: F401 - fixtures
from test_train import config, hand_result, toy_data, write_results

from gru_lib import experiments, files
from gru_lib.__main__ import main
from gru_lib.files import RunFileError, checkpoint_path, lock_path
from gru_lib.train import TrainConfig, train, train_stack


# ----------------------------------------------------------------------------- 1. files that are not what they seem
@pytest.mark.parametrize("which", ["lock", "result", "checkpoint"])
def test_a_run_never_writes_through_a_symbolic_link(tiny, tmp_path, capsys, which):
    out = tmp_path / "r.json"
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    link = {"lock": lock_path(out), "result": out, "checkpoint": checkpoint_path(out)}[which]
    link.symlink_to(victim)
    assert main(run_args(out, "--overwrite", epochs=1)) == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err and str(link) in err and "Traceback" not in err
    assert victim.read_text() == "keep me\n" and link.is_symlink()


def test_checking_a_lock_that_is_a_link_is_refused(tmp_path):
    out = tmp_path / "r.json"
    lock_path(out).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunFileError, match="symbolic link"):
        files.check_not_running(out)
    with pytest.raises(RunFileError, match="symbolic link"):
        with files.run_lock(out):
            pass
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("names", [("a.json", "a"), ("b.json", "b.ckpt"), ("c.json", "sub/../c.json")])
def test_a_stack_whose_files_collide_is_refused_before_training(tmp_path, names):
    outs = [tmp_path / n for n in names]
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match="two runs would write the same"):
        train_stack([config(epochs=1), config(epochs=1, seed=4)], toy_data(), outs=outs, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]


@pytest.mark.parametrize("flag, values", [("--lrs", ["0.001", "1e-3"]), ("--seeds", ["0", "0"]),
                                          ("--variants", ["gru1", "gru1"])])
def test_grid_refuses_a_value_given_twice(no_data, tmp_path, capsys, flag, values):
    args = ["grid", "--task", "mnist-row", "--variants", "gru1", "--out-dir", str(tmp_path / "g"), "--epochs", "1"]
    i = args.index(flag) if flag in args else len(args)
    args = args[:i] + [flag, *values] + args[i + 2:] if flag in args else args + [flag, *values]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "more than once" in err and "Traceback" not in err
    assert not (tmp_path / "g").exists() or not any((tmp_path / "g").iterdir())


def test_rates_that_round_alike_get_files_of_their_own(tiny, tmp_path, capsys):
    d = tmp_path / "g"
    args = ["grid", "--task", "mnist-row", "--variants", "gru1", "--lrs", "0.001", "0.0010000001", "--out-dir",
            str(d), "--epochs", "1", "--train-limit", "40", "--test-limit", "20", "--hidden-size", "4", "--quiet"]
    assert main(args) == 0
    names = sorted(p.name for p in d.glob("*.json"))
    assert names == ["mnist-row_gru1_tanh_lr0.0010000001_seed0.json", "mnist-row_gru1_tanh_lr0.001_seed0.json"]
    assert [json.loads((d / n).read_text())["config"]["lr"] for n in names] == [0.0010000001, 0.001]
    capsys.readouterr()
    assert main(["table", "--results", str(d)]) == 0
    head = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| Variant"))
    assert "η=10⁻³ Train" in head and "η=0.0010000001 Train" in head  # two columns, told apart
    assert experiments.result_filename("imdb", "gru0", "tanh", 1e-4, 2) == "imdb_gru0_tanh_lr0.0001_seed2.json"


@pytest.mark.parametrize("seed", ["-1", str(1 << 64)])
def test_seeds_outside_torchs_range_are_refused(no_data, tmp_path, capsys, seed):
    assert main(run_args(tmp_path / "r.json", "--seed", seed)) == 2
    grid = ["grid", "--task", "mnist-row", "--variants", "gru1", "--seeds", "0", seed, "--out-dir", str(tmp_path)]
    assert main(grid) == 2
    err = capsys.readouterr().err
    assert err.count("seed must be an int in [0, 18446744073709551615]") == 2 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    assert TrainConfig(task="toy", model="gru1", seed=(1 << 64) - 1).seed == (1 << 64) - 1


# ----------------------------------------------------------------------------- 2. resume says what it does
def test_resume_never_shortens_or_relabels_a_run(no_data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "r.json"
    monkeypatch.setattr(experiments, "_mnist_arrays", fake_mnist)
    assert main(run_args(out, epochs=2)) == 0
    before = {p: p.read_bytes() for p in (out, checkpoint_path(out))}
    capsys.readouterr()
    for gone in (False, True):  # with its checkpoint, and a complete result alone
        if gone:
            checkpoint_path(out).unlink()
        assert main(run_args(out, "--resume", epochs=1)) == 2
        err = capsys.readouterr().err
        assert "already has 2" in err and "--epochs 2 or more" in err and "Traceback" not in err
        assert out.read_bytes() == before[out]
    with pytest.raises(RunFileError, match="never shortens"):
        train(config(epochs=1, task="mnist-row"), toy_data(), out=out, resume=True, progress=False)


def test_a_grid_says_it_leaves_a_longer_run_as_it_is(tiny, tmp_path, capsys):
    d = tmp_path / "g"
    args = ["grid", "--task", "mnist-row", "--variants", "gru1", "--out-dir", str(d), "--quiet",
            "--hidden-size", "4", "--train-limit", "64", "--test-limit", "32", "--batch-size", "32"]
    assert main([*args, "--epochs", "2"]) == 0
    before = {p: p.read_bytes() for p in d.iterdir()}
    capsys.readouterr()
    assert main([*args, "--epochs", "1"]) == 0
    err = capsys.readouterr().err
    assert "mnist-row_gru1_tanh_lr0.001_seed0.json: skipped: complete with 2 epochs, more than the 1 asked; " \
           "left as it is" in err
    assert {p: p.read_bytes() for p in d.iterdir()} == before
    again = experiments.run_grid("mnist-row", ["gru1"], out_dir=d, epochs=2, hidden_size=4, train_limit=64,
                                 test_limit=32, batch_size=32, progress=False)
    assert [(s["status"], s.get("message")) for s in again] == [("skipped", None)]  # as many as asked: silent


def test_messages_promise_only_files_that_exist(tiny, tmp_path, capsys, monkeypatch):
    from gru_lib.model import StackedClassifier

    out = tmp_path / "r.json"
    real_loss = StackedClassifier.loss

    def fail(self, logits, y):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(StackedClassifier, "loss", fail)
    assert main(run_args(out, epochs=2)) == 2  # fails before any epoch
    err = capsys.readouterr().err
    assert "No epoch was completed" in err and "kept in" not in err and not out.exists()

    def nan(self, logits, y):
        return real_loss(self, logits, y) * float("nan")

    monkeypatch.setattr(StackedClassifier, "loss", nan)
    assert main(run_args(out, epochs=2)) == 3  # diverges in the first epoch: no checkpoint
    err = capsys.readouterr().err
    assert "No epoch was completed" in err and str(checkpoint_path(out)) not in err
    assert out.exists() and not checkpoint_path(out).exists()
    monkeypatch.setattr(StackedClassifier, "loss", real_loss)
    assert main(run_args(out, "--overwrite", epochs=1)) == 0
    monkeypatch.setattr(StackedClassifier, "loss", nan)
    assert main(run_args(out, "--resume", epochs=2)) == 3  # diverges in epoch 2: epoch 1 is kept
    err = capsys.readouterr().err
    assert f"The last good epoch (1) is kept in {out} and {checkpoint_path(out)}" in err


def test_grid_advice_names_only_grid_options(tiny, tmp_path, capsys):
    d = tmp_path / "g"
    d.mkdir()
    name = experiments.result_filename("mnist-row", "gru1", "tanh", 1e-3, 0)
    (d / name).write_text('{"my": "notes"}')
    checkpoint_path(d / experiments.result_filename("mnist-row", "gru1", "tanh", 1e-3, 1)).write_bytes(b"junk")
    args = ["grid", "--task", "mnist-row", "--variants", "gru1", "--seeds", "0", "1", "--out-dir", str(d),
            "--epochs", "1", "--train-limit", "40", "--test-limit", "20", "--hidden-size", "4", "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("move them away") == 2
    for option in ("--out ", "--out,", "--overwrite", "--resume", "overwrite=True"):
        assert option not in err


# ----------------------------------------------------------------------------- 3. table tells the truth about each file
def table(d, capsys, *extra):
    code = main(["table", "--results", str(d), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def good_results(d):
    write_results(d, [hand_result("imdb", "gru0", "tanh", 1e-3, s, 0.9, 0.8 + 0.02 * s) for s in (0, 1)])


@pytest.mark.parametrize("kind, fault", [
    ("nan", "history[1].test_acc is NaN"), ("null", "history[0].train_acc is null"),
    ("deep", "nested too deeply"), ("fifo", "FIFO"), ("unreadable", "cannot be read (Permission denied)"),
    ("version", "format 'gru_lib.result/2'"), ("no sizes", "data.train_size is null"), ("directory", "directory"),
])
def test_table_names_each_bad_file_and_prints_the_rest(tmp_path, capsys, monkeypatch, kind, fault):
    good_results(tmp_path)
    bad = tmp_path / "bad.json"
    r = hand_result("imdb", "gru1", "tanh", 1e-3, 0, 0.9, 0.8)
    if kind == "nan":
        bad.write_text(json.dumps(r).replace('"test_acc": 0.8', '"test_acc": NaN'))
    elif kind == "null":
        r["history"][0]["train_acc"] = None
        bad.write_text(json.dumps(r))
    elif kind == "deep":
        bad.write_text("[" * 100000 + "]" * 100000)
    elif kind == "fifo":
        os.mkfifo(bad)
    elif kind == "unreadable":
        bad.write_text(json.dumps(r))
        real_open = os.open

        def refuse(path, *a, **k):  # as chmod 000 does, even for root
            if Path(path) == bad:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *a, **k)

        monkeypatch.setattr(os, "open", refuse)
    elif kind == "version":
        bad.write_text(json.dumps(r | {"format": "gru_lib.result/2"}))
    elif kind == "no sizes":
        bad.write_text(json.dumps(r | {"data": {}}))
    else:
        bad.mkdir()
    code, out, err = table(tmp_path, capsys)
    assert code == 2
    assert f"skipped {bad}: " in err and fault in err and "Traceback" not in err
    assert "| GRU0 |" in out and "GRU1" not in out  # the table of the others


def test_the_same_seed_on_other_threads_is_one_seed(tmp_path, capsys):
    a = hand_result("imdb", "gru0", "tanh", 1e-3, 0, 0.9, 0.8)
    b = json.loads(json.dumps(a))
    a["config"] |= {"threads": 1, "device": "cpu"}
    b["config"] |= {"threads": 2, "device": "cuda"}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    code, out, err = table(tmp_path, capsys, "--format", "csv")
    assert code == 2 and "counted once" in err
    row = out.splitlines()[1].split(",")
    assert row[4] == "1"  # n: one seed, and no sd of 0.0


def test_runs_cut_short_are_marked(tmp_path, capsys):
    good_results(tmp_path)
    short = hand_result("imdb", "gru0", "tanh", 1e-4, 0, 0.9, 0.8, epochs=3)
    short["history"] = short["history"][:2]  # says complete, holds 2 of 3 epochs
    cut = hand_result("imdb", "gru0", "tanh", 1e-4, 1, 0.9, 0.8, epochs=3)
    cut["history"], cut["complete"] = cut["history"][:1], False  # an interrupted grid
    write_results(tmp_path, [short, cut])
    code, out, err = table(tmp_path, capsys)
    assert code == 0
    assert "(2 incomplete)" in out and "“incomplete”" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("| GRU0")]
    assert [ln.count("(2 incomplete)") for ln in lines] == [0, 2]  # the 3-epoch runs' train and test cells
    from gru_lib.report import load_results

    assert len(load_results(tmp_path, complete_only=True)) == 2


def test_the_caption_says_what_ran(tmp_path, capsys):
    r = hand_result("imdb", "gru0", "tanh", 1e-3, 0, 0.9, 0.8, epochs=1)
    r["preset"] = "paper"
    r["config"] |= {"train_limit": 200, "test_limit": None, "batch_size": 32}
    write_results(tmp_path, [r])
    code, out, err = table(tmp_path, capsys)
    assert code == 0
    assert "preset paper with epochs=1, train_limit=200" in out


# ----------------------------------------------------------------------------- 4. scripts/paper_grid.py
def paper_grid():
    from test_paper_grid import _script

    return _script()


@pytest.mark.parametrize("bad", [["--stack", "0"], ["--stack", "abc"], ["--threads", "0"], ["--epochs", "0"],
                                 ["--train-limit", "-3"], ["--minutes", "0"], ["--minutes", "-1"],
                                 ["--minutes", "nan"], ["--data-dir", "/no/such/dir"]])
def test_paper_grid_refuses_bad_arguments_like_the_cli(tmp_path, capsys, bad):
    with pytest.raises(SystemExit) as e:
        paper_grid().main(["--out-dir", str(tmp_path), "--dry-run", *bad])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert bad[0] in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_paper_grid_reports_bad_settings_in_one_line(no_data, tmp_path, capsys):
    script = paper_grid()
    assert script.main(["--out-dir", str(tmp_path), "--grids", "mnist-row", "--device", "cuda:99"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "cuda:99" in err and "Traceback" not in err


def test_paper_grid_says_which_runs_it_leaves_longer(tmp_path, capsys, monkeypatch):
    longer = {"path": str(tmp_path / "mnist-row_gru1_tanh_lr0.001_seed0.json"), "status": "skipped",
              "message": "complete with 3 epochs, more than the 2 asked; left as it is"}
    monkeypatch.setattr(experiments, "plan_grid", lambda *a, **k: ([longer], []))
    monkeypatch.setattr(experiments, "run_grid", lambda *a, **k: [longer])
    args = ["--grids", "mnist-row", "--out-dir", str(tmp_path), "--data-dir", str(tmp_path), "--epochs", "2"]
    line = "mnist-row_gru1_tanh_lr0.001_seed0.json: skipped: complete with 3 epochs, more than the 2 asked"
    assert paper_grid().main([*args, "--dry-run"]) == 0
    assert line in capsys.readouterr().out
    assert paper_grid().main(args) == 0
    assert line in capsys.readouterr().err


def test_the_deadline_is_no_ordinary_error_and_never_blames_a_checkpoint(tiny, tmp_path, capsys, monkeypatch):
    script = paper_grid()
    assert issubclass(script.TimeUp, BaseException) and not issubclass(script.TimeUp, Exception)
    monkeypatch.setattr(experiments, "PAPER_VARIANTS", ("gru2",))  # 4 runs, not 16
    common = ["--grids", "mnist-row", "--seeds", "0", "--out-dir", str(tmp_path), "--preset", "quick",
              "--train-limit", "40", "--test-limit", "20", "--device", "cpu", "--quiet"]
    assert script.main([*common, "--epochs", "1"]) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def time_up_while_reading(*a, **k):  # the timer fires while a checkpoint is read
        script._on_alarm(None, None)

    monkeypatch.setattr(files.torch, "load", time_up_while_reading)
    assert script.main([*common, "--epochs", "2"]) == script.EXIT_MORE
    err = capsys.readouterr().err
    assert "time is up" in err and "unreadable" not in err and "--overwrite" not in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# ----------------------------------------------------------------------------- 5. waits that end
class Trickle:
    """A response that sends ``step`` bytes every ``pause`` seconds, ``total`` bytes in all."""

    def __init__(self, total, step, pause):
        import io
        import time

        self.data, self.step, self.pause, self.sleep = io.BytesIO(b"x" * total), step, pause, time.sleep

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read1(self, n):
        self.sleep(self.pause)
        return self.data.read(min(n, self.step))


@pytest.mark.parametrize("limit, served, words", [
    ("stall", (10 ** 6, 1, 0.02), "stalled: "),  # one byte at a time: a trickle
    ("deadline", (10 ** 6, 5000, 0.02), "gave up after 0.3 s"),  # steady, but slower than the deadline allows
])
def test_a_download_that_trickles_ends_with_a_message(tmp_path, monkeypatch, limit, served, words):
    import hashlib
    import time

    from gru_lib.data import DataNotFoundError, _download
    from gru_lib.data._files import DataDir, RemoteFile

    monkeypatch.setattr(_download, "STALL_S", 0.2)
    monkeypatch.setattr(_download, "STALL_BYTES", 1000)
    monkeypatch.setattr(_download, "DEADLINE_S", 0.3)
    monkeypatch.setattr(_download, "_urlopen", lambda url, timeout: Trickle(*served))
    remotes = [RemoteFile(name, hashlib.sha256(b"x" * 10 ** 6).hexdigest(), 10 ** 6, (f"https://example.org/{name}",))
               for name in ("a.gz", "b.gz")]
    t0 = time.monotonic()
    with pytest.raises(DataNotFoundError) as e:
        _download.ensure_files("test files", DataDir(tmp_path, "given as data_dir"), "sub", remotes, download=True)
    assert time.monotonic() - t0 < 5
    message = str(e.value)
    assert words in message and "a.gz" in message and "b.gz" in message and "GRU_LIB_DATA_DIR" in message
    assert list((tmp_path / "sub").iterdir()) == []  # no partial file is left


@pytest.mark.parametrize("address, words", [("127.0.0.1:1", "Connection refused"), ("nonsense.invalid:1", "unknown"),
                                            ("ray://127.0.0.1:1", "Connection refused"), ("nonsense", "no HOST:PORT")])
def test_a_ray_address_that_does_not_answer_is_refused_at_once(tiny, tmp_path, capsys, address, words):
    import time

    pytest.importorskip("ray", reason='the Ray tests need Ray: pip install -e ".[cluster]"')
    t0 = time.monotonic()
    code = main(["grid", "--task", "mnist-row", "--variants", "gru1", "--out-dir", str(tmp_path / "g"),
                 "--epochs", "1", "--ray", address])
    assert time.monotonic() - t0 < 30  # Ray alone retries for minutes
    err = capsys.readouterr().err
    assert code == 2 and address in err and words in err and "ray start --head" in err
    assert not (tmp_path / "g").exists()


def ray_grid(out, address):
    return main(["grid", "--task", "mnist-row", "--variants", "gru1", "--out-dir", str(out), "--epochs", "1",
                 "--ray", address])


def test_ray_auto_is_bounded_like_an_address(tiny, tmp_path, capsys, monkeypatch):
    import time

    pytest.importorskip("ray", reason='the Ray tests need Ray: pip install -e ".[cluster]"')
    from ray._private import services

    def no_other_ray():  # a Ray that someone else runs on this machine would count for "auto"
        return frozenset()

    no_other_ray.cache_clear = lambda: None
    monkeypatch.setattr(services, "find_gcs_addresses", no_other_ray)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    t0 = time.monotonic()
    assert ray_grid(tmp_path / "g", "auto") == 2
    err = capsys.readouterr().err
    assert "'127.0.0.1:1' (from the RAY_ADDRESS environment variable)" in err and "Connection refused" in err
    monkeypatch.delenv("RAY_ADDRESS")
    assert ray_grid(tmp_path / "g", "auto") == 2
    assert "found no Ray on this machine" in capsys.readouterr().err
    stale = tmp_path / "tmp" / "ray" / "ray_current_cluster"  # left by a cluster stopped without `ray stop`
    stale.parent.mkdir(parents=True)
    stale.write_text("127.0.0.1:1\n")
    assert ray_grid(tmp_path / "g", "auto") == 2
    err = capsys.readouterr().err
    assert f"'127.0.0.1:1' (from Ray's address file {stale}" in err and "`ray stop` removes the file" in err
    assert "Connection refused" in err and "Traceback" not in err
    assert time.monotonic() - t0 < 30  # Ray alone retries a stale address for minutes
    assert not (tmp_path / "g").exists()


def test_a_port_that_is_not_ray_is_refused_in_bounded_time(tiny, tmp_path, capsys, monkeypatch):
    import socket
    import threading
    import time

    from gru_lib import cluster

    pytest.importorskip("ray", reason='the Ray tests need Ray: pip install -e ".[cluster]"')
    # accepts connections and never answers, as a wrong port can; on every interface, since Ray connects to this
    # machine's own address rather than to 127.0.0.1
    server = socket.create_server(("", 0))
    accepted = []

    def accept():
        with contextlib.suppress(OSError):  # closed at the end
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    address = f"127.0.0.1:{server.getsockname()[1]}"
    monkeypatch.setattr(cluster, "RAY_ANSWER_TIMEOUT_S", 2.0)
    t0 = time.monotonic()
    assert ray_grid(tmp_path / "g", address) == 2
    assert time.monotonic() - t0 < 60  # importing Ray in a new process, then 2 s; Ray alone retries for minutes
    err = capsys.readouterr().err
    assert f"{address!r}: something accepts connections there, but no Ray answered within 2 s" in err
    assert "ray start --head" in err and "Traceback" not in err
    assert len(accepted) >= 2  # the TCP probe's connection and the check process's ray.init
    for conn in accepted:  # the check process is gone: each of its connections ends (after what it sent)
        conn.settimeout(10)
        while conn.recv(1 << 16):
            pass
    server.close()
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("script, words", ids=["answers", "refuses", "import-hangs"], argvalues=[
    ("print('imported', flush=True)", None),
    ("print('imported', flush=True); raise ConnectionError('GCS has another version')",
     "could not connect to the Ray cluster at 'h:1': ConnectionError: GCS has another version."),
    ("import time; time.sleep(60)", "importing Ray took more than 1 s"),
])
def test_the_connection_check_reports_what_its_process_says(monkeypatch, script, words):
    import time

    from gru_lib import cluster

    monkeypatch.setattr(cluster, "_ANSWER_CHECK", script)  # the check's process, without Ray
    monkeypatch.setattr(cluster, "RAY_IMPORT_TIMEOUT_S", 1.0)
    t0 = time.monotonic()
    if words is None:
        cluster._check_answers("h:1", "'h:1'")
    else:
        with pytest.raises(cluster.ClusterError, match=re.escape(words)):
            cluster._check_answers("h:1", "'h:1'")
    assert time.monotonic() - t0 < 20


class FakeRay:
    """Ray as far as run_grid_ray uses it; Ctrl-C arrives while it waits and again while it cancels."""

    def __init__(self):
        self.calls = []

    def is_initialized(self):
        return False

    def init(self, **kw):
        self.calls.append("init")

    def nodes(self):
        return [{"Alive": True, "Resources": {"CPU": 2}}]

    def cluster_resources(self):
        return {"CPU": 2}

    def put(self, obj):
        return "data"

    def remote(self, fn):
        fake = self

        class Remote:
            def options(self, **kw):
                return self

            def remote(self, *a):
                return f"task{len(fake.calls)}"

        return Remote()

    def wait(self, refs, num_returns):
        raise KeyboardInterrupt  # the first Ctrl-C

    def cancel(self, ref, force):
        self.calls.append("cancel")
        raise KeyboardInterrupt  # the second Ctrl-C, during the cleanup

    def shutdown(self):
        self.calls.append("shutdown")


def test_a_local_ray_is_shut_down_even_on_a_second_ctrl_c(tiny, tmp_path, monkeypatch):
    from gru_lib import cluster

    fake = FakeRay()
    monkeypatch.setattr(cluster, "_import_ray", lambda: fake)
    with pytest.raises(KeyboardInterrupt):
        experiments.run_grid("mnist-row", ["gru1"], seeds=[0], out_dir=tmp_path, epochs=1, ray="local",
                             progress=False)
    assert fake.calls == ["init", "cancel", "shutdown"]



# ----------------------------------------------------------------------------- 6. the API at its boundary
def test_gru_flags_must_be_bools():
    from gru_lib import GRU

    for bad in ("no", 1, None):
        with pytest.raises(TypeError, match="bidirectional should be of type bool"):
            GRU(3, 4, bidirectional=bad)
    assert GRU(3, 4, bidirectional=True).bidirectional is True


@pytest.mark.parametrize("batch_sizes, error, words", [
    ([1, 2], ValueError, "must not increase"), ([2, 0], ValueError, "positive"), ([4, -1], ValueError, "positive"),
    ([2, 2], ValueError, "add up to 4 steps, but its data has 3 rows"), ([], ValueError, "empty"),
    ([[3]], TypeError, "1-D integer tensor"), ([2.0, 1.0], TypeError, "1-D integer tensor"),
])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_impossible_batch_sizes_are_refused_like_nn_gru(batch_sizes, error, words, bidirectional):
    from torch.nn.utils.rnn import PackedSequence

    from gru_lib import GRU

    packed = PackedSequence(torch.randn(3, 3), torch.tensor(batch_sizes, dtype=None if batch_sizes else torch.long))
    with pytest.raises(error, match=words):
        GRU(3, 4, bidirectional=bidirectional)(packed)


def test_cell_from_params_never_broadcasts():
    from gru_lib import GRUCell
    from gru_lib.convert import cell_from_params, mgu_from_params, params_from_cell

    good = params_from_cell(GRUCell(3, 4, dtype=torch.float64))
    for key, shape in (("b_z", (1,)), ("U_h", (1, 4)), ("W_r", (4, 1)), ("b_h", (4, 1))):
        with pytest.raises(ValueError, match=re.escape(f"{key} {shape}, expected")):
            cell_from_params(good | {key: torch.zeros(shape)})
    mgu = {k: torch.zeros(s) for k, s in (("W_f", (4, 3)), ("U_f", (4, 4)), ("b_f", (1,)), ("W_h", (4, 3)),
                                           ("U_h", (4, 4)), ("b_h", (4,)))}
    with pytest.raises(ValueError, match="b_f"):
        mgu_from_params(mgu)


def test_converters_say_which_weight_is_wrong():
    from torch import nn

    from gru_lib.convert import from_torch

    module = nn.GRU(3, 4)
    module.weight_hh_l0 = nn.Parameter(torch.zeros(12, 5))
    with pytest.raises(ValueError, match=r"weight_hh_l0: expected \(12, 4\), got \(12, 5\)"):
        from_torch(module)


@pytest.mark.parametrize("which", ["kernel", "recurrent_kernel", "bias"])
@pytest.mark.parametrize("bad", [np.object_, np.str_, np.complex128, np.bool_])
def test_from_keras_names_the_array_whose_dtype_is_wrong(which, bad):
    from gru_lib.convert import from_keras

    m, n = 3, 4
    weights = {"kernel": np.zeros((m, 3 * n)), "recurrent_kernel": np.zeros((n, 3 * n)), "bias": np.zeros(3 * n)}
    weights[which] = weights[which].astype(bad)
    dtype = re.escape(str(weights[which].dtype))
    with pytest.raises(TypeError, match=rf"^{which} must be an array of real numbers.*got dtype {dtype}$"):
        from_keras(**weights)
    with pytest.raises(TypeError, match="^kernel must be an array of real numbers, got list"):
        from_keras([[0.0, 1.0], [0.0]], weights["recurrent_kernel"])
    ints = {k: np.zeros_like(v, dtype=np.int64) for k, v in weights.items()}
    assert from_keras(**ints).weight_hh_l0.dtype == torch.float32  # integers are numbers


def test_run_experiment_refuses_data_of_another_task(tmp_path):
    out = tmp_path / "r.json"
    mnist_like = toy_data(steps=28, features=28)
    with pytest.raises(ValueError, match="does not fit task 'imdb'"):
        experiments.run_experiment("imdb", "gru1", data=mnist_like, out=out, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"does not fit task 'mnist-row'.*\(N, 28, 28\)"):
        experiments.run_experiment("mnist-row", "gru1", data=toy_data(), out=out, epochs=1, progress=False)
    assert not out.exists()


def test_nan_in_the_data_is_reported_as_such(tiny, tmp_path, capsys, monkeypatch):
    from gru_lib.train import SequenceData

    d = toy_data()
    x = d.x_train.clone()
    x[5, 2, 1] = float("nan")
    with pytest.raises(ValueError, match=r"x_train holds NaN \(1 values in 1 examples, the first at row 5\)"):
        SequenceData(x, d.y_train, d.x_test, d.y_test, num_classes=10)
    real = experiments._mnist_to_sequences

    def poisoned(images, mode):
        x = real(images, mode)
        x[0, 0, 0] = float("nan")
        return x

    monkeypatch.setattr(experiments, "_mnist_to_sequences", poisoned)
    assert main(run_args(tmp_path / "r.json", epochs=1)) == 2
    err = capsys.readouterr().err
    assert "holds NaN" in err and "learning rate" not in err


def test_a_rate_beyond_float32_is_refused_before_training(no_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(run_args(tmp_path / "r.json", "--lr", "4e38"))
    assert e.value.code == 2 and "largest float32" in capsys.readouterr().err
    with pytest.raises(ValueError, match="largest float32"):
        TrainConfig(task="toy", model="gru1", lr=4e38)
    assert list(tmp_path.iterdir()) == []

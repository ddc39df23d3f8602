"""The training protocol (gru_lib.train) and the experiment helpers (gru_lib.experiments).

Everything here runs on tiny synthetic tensors in a second or two; the real
MNIST/IMDB files are only read by the tests marked ``realdata``.
"""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from gru_lib import count_params, experiments, paper
from gru_lib.train import (
    KERAS_RMSPROP,
    ResumeError,
    NonFiniteLossError,
    StackedClassifier,
    SequenceData,
    TrainConfig,
    atomic_write_json,
    build_model,
    checkpoint_path,
    epoch_lr,
    eq18_lr,
    recurrent_param_count,
    resolve_device,
    train,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TIMING_KEYS = ("seconds", "train_seconds")


def toy_data(n_train=96, n_test=40, steps=6, features=5, classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n_train + n_test, steps, features, generator=g)
    y = (x.sum((1, 2)) * 7).long() % classes
    return SequenceData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], num_classes=classes)


def toy_tokens(n_train=64, n_test=32, steps=7, vocab=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab, (n_train + n_test, steps), generator=g)
    y = (x[:, -1] >= vocab // 2).long()
    return SequenceData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], num_classes=2, num_embeddings=vocab)


def config(**kw):
    base = dict(task="toy", model="gru1", epochs=2, hidden_size=8, embedding_dim=6, seed=3)
    return TrainConfig(**(base | kw))


def strip_timing(history):
    return [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in history]


# ----------------------------------------------------------------------------- eq. 18
def test_eq18_by_hand():
    assert eq18_lr(1e-3, 1) == 1e-3  # no cost(0): the first epoch runs at the base rate
    assert eq18_lr(1e-3, 2, previous_cost=0.0) == 1e-3
    assert eq18_lr(2e-3, 3, previous_cost=0.5) == pytest.approx(2e-3 * 0.6065306597126334, rel=1e-12)
    assert eq18_lr(1e-4, 7, previous_cost=math.log(4)) == pytest.approx(2.5e-5, rel=1e-12)
    # as the cost falls the rate rises towards the base rate
    rates = [eq18_lr(1e-3, 2, c) for c in (2.0, 1.0, 0.5, 0.1, 0.0)]
    assert rates == sorted(rates) and rates[-1] == 1e-3
    with pytest.raises(ValueError, match="needs the cost of epoch 1"):
        eq18_lr(1e-3, 2)
    with pytest.raises(ValueError, match="epoch must be an int >= 1"):
        eq18_lr(1e-3, 0)
    with pytest.raises(ValueError, match="no previous cost"):
        eq18_lr(1e-3, 1, previous_cost=0.7)


def test_epoch_lr_reads_the_previous_epochs_training_loss():
    history = [{"train_loss": 2.0}, {"train_loss": 0.25}]
    assert epoch_lr("eq18", 1e-3, 1, []) == 1e-3
    assert epoch_lr("eq18", 1e-3, 2, history) == pytest.approx(1e-3 * math.exp(-2.0))
    assert epoch_lr("eq18", 1e-3, 3, history) == pytest.approx(1e-3 * math.exp(-0.25))
    assert epoch_lr("constant", 1e-3, 3, history) == 1e-3
    with pytest.raises(ValueError, match="unknown lr_schedule"):
        epoch_lr("cosine", 1e-3, 1, [])


@pytest.mark.parametrize("schedule", ["eq18", "constant"])
def test_training_follows_the_schedule(schedule):
    result = train(config(epochs=3, lr_schedule=schedule), toy_data(), progress=False)
    h = result["history"]
    assert h[0]["lr"] == 1e-3
    for prev, cur in zip(h, h[1:]):
        expected = 1e-3 * math.exp(-prev["train_loss"]) if schedule == "eq18" else 1e-3
        assert cur["lr"] == pytest.approx(expected, rel=1e-12)


# ----------------------------------------------------------------------------- model
@pytest.mark.parametrize("model", ["gru0", "gru1", "gru2", "gru3", "lstm", "rnn", "mgu"])
@pytest.mark.parametrize("m,n", [(1, 100), (28, 100), (128, 128)])
def test_recurrent_params_equal_count_params(model, m, n):
    net = build_model(model, input_size=m, hidden_size=n, num_classes=10)
    assert recurrent_param_count(net) == count_params(model, n, m)


def test_paper_param_counts_through_the_builder():
    for task, m, n in (("mnist-pixel", 1, 100), ("imdb", 128, 128)):
        for v in ("gru0", "gru1", "gru2", "gru3"):
            net = build_model(v, input_size=m, hidden_size=n, num_classes=10 if task != "imdb" else 2,
                              num_embeddings=50 if task == "imdb" else None)
            assert recurrent_param_count(net) == paper.paper_params(task, v)


def test_output_heads_and_losses():
    net = build_model("gru0", input_size=5, hidden_size=8, num_classes=10)
    assert net(torch.rand(3, 4, 5)).shape == (3, 10)
    net2 = build_model("gru0", input_size=6, hidden_size=8, num_classes=2, num_embeddings=30)
    logits = net2(torch.randint(0, 30, (3, 4)))
    assert logits.shape == (3,)  # one logistic unit
    y = torch.tensor([0, 1, 1])
    assert net2.loss(logits, y).item() == pytest.approx(
        torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), y.float()).item(), rel=1e-5)
    assert net2.predict(torch.tensor([-0.1, 0.2, 0.0])).tolist() == [0, 1, 0]


def test_keras_init_of_the_whole_model():
    net = build_model("gru0", input_size=6, hidden_size=8, num_classes=2, num_embeddings=30, init="keras")
    assert net.embedding.weight.abs().max() <= 0.05
    assert torch.all(net.output.bias == 0)
    assert torch.all(net.rnn.bias_ih_l0 == 0)
    w = net.rnn.weight_hh_l0  # orthogonal (3n, n): columns orthonormal
    assert torch.allclose(w.t() @ w, torch.eye(8), atol=1e-5)
    torch_init = build_model("gru0", input_size=6, hidden_size=8, num_classes=2, num_embeddings=30, init="torch")
    assert torch_init.embedding.weight.abs().max() > 0.05


@pytest.mark.parametrize("where", ["output", "input", "none"])
def test_dropout_placements(where):
    torch.manual_seed(0)
    net = build_model("gru2", input_size=5, hidden_size=8, num_classes=10, dropout=0.5, dropout_at=where)
    x = torch.rand(16, 4, 5)
    net.train()
    a, b = net(x), net(x)
    assert torch.equal(a, b) == (where == "none")
    net.eval()
    assert torch.equal(net(x), net(x))


def test_input_dropout_uses_one_mask_per_sequence(monkeypatch):
    net = build_model("gru0", input_size=5, hidden_size=4, num_classes=10, dropout=0.5, dropout_at="input")
    seen = {}
    orig = net.rnn.forward

    def spy(x, hx=None):
        seen["x"] = x
        return orig(x, hx)

    monkeypatch.setattr(net.rnn, "forward", spy)
    net.train()
    net(torch.ones(8, 6, 5))
    x = seen["x"]
    assert torch.all(x == x[:, :1])  # the same mask at every step
    assert set(x.unique().tolist()) <= {0.0, 2.0}


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="dropout_at"):
        config(dropout_at="recurrent")
    with pytest.raises(ValueError, match="unknown model 'gru7'"):
        config(model="gru7")
    with pytest.raises(ValueError, match="lr must be a positive"):
        config(lr=-1.0)
    with pytest.raises(ValueError, match="reset_after applies to GRUs only"):
        build_model("lstm", input_size=3, hidden_size=4, num_classes=10, reset_after=True)
    with pytest.raises(ValueError, match="rows"):
        SequenceData(torch.rand(3, 2, 1), torch.zeros(2, dtype=torch.long), torch.rand(1, 2, 1),
                     torch.zeros(1, dtype=torch.long), num_classes=10)


def test_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    dev = resolve_device("auto")
    assert dev.type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


# ----------------------------------------------------------------------------- loop & files
def test_result_schema(tmp_path):
    out = tmp_path / "r.json"
    result = train(config(epochs=2, eval_train=True), toy_data(), out=out, progress=False)
    on_disk = json.loads(out.read_text())
    assert on_disk["complete"] is True and on_disk["stopped"] is None
    assert on_disk["format"] == "gru_lib.result/1"
    assert on_disk["params"] == count_params("gru1", 8, 5) == result["params"]
    assert on_disk["config"]["model"] == "gru1" and on_disk["config"]["init"] == "keras"
    assert TrainConfig.from_dict(on_disk["config"]) == config(epochs=2, eval_train=True)
    assert on_disk["data"]["train_size"] == 96 and on_disk["data"]["test_size"] == 40
    assert [h["epoch"] for h in on_disk["history"]] == [1, 2]
    for h in on_disk["history"]:
        for key in ("train_acc", "test_acc", "train_eval_acc"):
            assert 0.0 <= h[key] <= 1.0
        for key in ("train_loss", "test_loss", "lr", "seconds", "train_seconds"):
            assert isinstance(h[key], float) and h[key] >= 0
    prov = on_disk["provenance"]
    for key in ("gru_lib_version", "git_commit", "git_dirty", "torch_version", "device", "device_name",
                "threads", "date", "command", "sessions"):
        assert key in prov
    assert prov["date"].endswith("+00:00")
    assert "hostname" not in json.dumps(prov).lower()
    host = os.uname().nodename
    assert len(host) < 4 or host not in json.dumps(prov)
    ckpt = torch.load(checkpoint_path(out), weights_only=True)
    assert ckpt["epoch"] == 2
    group = ckpt["optimizer"]["param_groups"][0]
    assert group["alpha"] == KERAS_RMSPROP["alpha"] == 0.9 and group["eps"] == KERAS_RMSPROP["eps"] == 1e-7
    assert group["momentum"] == 0 and group["centered"] is False


def test_json_after_each_epoch_is_marked_incomplete(tmp_path):
    out = tmp_path / "r.json"
    seen = []

    def look(_):
        seen.append(json.loads(out.read_text()))

    train(config(epochs=3), toy_data(), out=out, progress=False, on_epoch=look)
    assert [len(s["history"]) for s in seen] == [1, 2, 3]
    assert [s["complete"] for s in seen] == [False, False, True]


def test_same_seed_same_history_and_seeds_differ():
    a = train(config(), toy_data(), progress=False)
    b = train(config(), toy_data(), progress=False)
    c = train(config(seed=4), toy_data(), progress=False)
    assert strip_timing(a["history"]) == strip_timing(b["history"])
    assert strip_timing(a["history"]) != strip_timing(c["history"])


def test_train_leaves_the_callers_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(config(epochs=1), toy_data(), progress=False)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("data", [toy_data, toy_tokens], ids=["floats", "tokens"])
@pytest.mark.parametrize("dropout_at", ["output", "input"])
def test_resume_reproduces_the_uninterrupted_run(tmp_path, data, dropout_at):
    straight = train(config(epochs=3, dropout_at=dropout_at), data(), out=tmp_path / "a.json", progress=False)
    train(config(epochs=1, dropout_at=dropout_at), data(), out=tmp_path / "b.json", progress=False)
    first = json.loads((tmp_path / "b.json").read_text())
    assert first["complete"] is True and len(first["history"]) == 1
    resumed = train(config(epochs=3, dropout_at=dropout_at), data(), out=tmp_path / "b.json", resume=True,
                    progress=False)
    assert strip_timing(resumed["history"]) == strip_timing(straight["history"])
    sa = torch.load(tmp_path / "a.ckpt", weights_only=True)["model"]
    sb = torch.load(tmp_path / "b.ckpt", weights_only=True)["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [s["first_epoch"] for s in resumed["provenance"]["sessions"]] == [1, 2]


def test_resume_of_a_complete_run_does_nothing(tmp_path):
    out = tmp_path / "r.json"
    first = train(config(), toy_data(), out=out, progress=False)
    again = train(config(), toy_data(), out=out, resume=True, progress=False)
    assert again["history"] == first["history"]


def test_resume_refuses_another_configuration(tmp_path):
    out = tmp_path / "r.json"
    train(config(epochs=1), toy_data(), out=out, progress=False)
    with pytest.raises(ResumeError, match=r"lr: saved 0\.001, now 0\.01"):
        train(config(epochs=2, lr=1e-2), toy_data(), out=out, resume=True, progress=False)
    # what may change: epochs, device, threads, evaluation batch size
    train(config(epochs=2, threads=1, eval_batch_size=7), toy_data(), out=out, resume=True, progress=False)


def test_resume_without_the_checkpoint(tmp_path):
    out = tmp_path / "r.json"
    train(config(epochs=2), toy_data(), out=out, progress=False)
    checkpoint_path(out).unlink()
    before = out.read_bytes()
    again = train(config(epochs=2), toy_data(), out=out, resume=True, progress=False)
    assert again["complete"] and len(again["history"]) == 2 and out.read_bytes() == before
    with pytest.raises(ResumeError, match=r"checkpoint \S*r\.ckpt is missing"):
        train(config(epochs=3), toy_data(), out=out, resume=True, progress=False)
    assert out.read_bytes() == before


def test_interrupt_after_epoch_1_keeps_a_valid_result_then_resumes(tmp_path):
    out = tmp_path / "r.json"
    straight = train(config(epochs=2), toy_data(), progress=False)

    def stop(result):
        if len(result["history"]) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config(epochs=2), toy_data(), out=out, progress=False, on_epoch=stop)
    saved = json.loads(out.read_text())
    assert len(saved["history"]) == 1 and saved["complete"] is False
    resumed = train(config(epochs=2), toy_data(), out=out, resume=True, progress=False)
    assert resumed["complete"] and strip_timing(resumed["history"]) == strip_timing(straight["history"])


def test_interrupt_in_the_middle_of_an_epoch_keeps_the_last_complete_one(tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    calls = {"n": 0}
    orig = StackedClassifier.loss

    def loss(self, logits, y):
        calls["n"] += 1
        if calls["n"] == 6:  # epoch 1: 3 training batches (96 at batch 32) + 1 test batch; then epoch 2
            raise KeyboardInterrupt
        return orig(self, logits, y)

    monkeypatch.setattr(StackedClassifier, "loss", loss)
    with pytest.raises(KeyboardInterrupt):
        train(config(epochs=3), toy_data(), out=out, progress=False)
    saved = json.loads(out.read_text())
    assert len(saved["history"]) == 1
    assert torch.load(checkpoint_path(out), weights_only=True)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.ckpt", "r.json"]  # no temporary files left


def test_non_finite_loss_stops_and_keeps_the_last_good_epoch(tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    train(config(epochs=1), toy_data(), out=out, progress=False)
    good = torch.load(checkpoint_path(out), weights_only=True)
    orig = StackedClassifier.loss

    def loss(self, logits, y):
        return orig(self, logits, y) * float("nan")

    monkeypatch.setattr(StackedClassifier, "loss", loss)
    with pytest.raises(NonFiniteLossError, match="epoch 2") as err:
        train(config(epochs=3), toy_data(), out=out, resume=True, progress=False)
    assert err.value.epoch == 2 and err.value.batch == 1
    saved = json.loads(out.read_text())
    assert len(saved["history"]) == 1 and saved["complete"] is False
    assert saved["stopped"]["reason"] == "non-finite loss" and saved["stopped"]["epoch"] == 2
    after = torch.load(checkpoint_path(out), weights_only=True)
    assert after["epoch"] == 1
    assert all(torch.equal(good["model"][k], after["model"][k]) for k in good["model"])


def test_huge_learning_rate_is_caught():
    data = toy_data()
    data.x_train *= 1e4
    with pytest.raises(NonFiniteLossError):
        train(config(epochs=3, lr=1e12, model="rnn", activation="relu", init="torch"), data, progress=False)


def test_atomic_write_leaves_the_old_file_when_it_fails(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    atomic_write_json(target, {"a": 1})

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_atomic_json_writes_nan_as_null(tmp_path):
    atomic_write_json(tmp_path / "n.json", {"v": float("nan"), "w": [float("inf"), 1.5]})
    assert json.loads((tmp_path / "n.json").read_text()) == {"v": None, "w": [None, 1.5]}


def test_checkpoint_path():
    assert checkpoint_path("a/b.json") == Path("a/b.ckpt")
    assert checkpoint_path("a/b") == Path("a/b.ckpt")


def test_progress_output(capsys):
    train(config(epochs=2), toy_data(), progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "test_loss=" in err
    train(config(epochs=1), toy_data(), progress=False)
    assert capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- experiments
def test_presets_and_overrides():
    c = experiments.make_config("mnist-row", "gru2", preset="quick")
    q = experiments.PRESETS["quick"]["mnist-row"]
    assert (c.epochs, c.train_limit, c.test_limit, c.hidden_size) == (q["epochs"], q["train_limit"],
                                                                      q["test_limit"], 100)
    p = experiments.make_config("imdb", "gru0", preset="paper")
    assert (p.epochs, p.batch_size, p.train_limit, p.hidden_size, p.dropout) == (100, 32, None, 128, 0.2)
    o = experiments.make_config("imdb", "gru0", preset="quick", epochs=9, train_limit=None, dropout_at="none")
    assert (o.epochs, o.train_limit, o.dropout_at) == (9, None, "none")
    for task, settings in paper.TABLE0.items():
        c = experiments.make_config(task, "gru0", preset="paper")
        assert (c.hidden_size, c.epochs, c.batch_size, c.dropout) == (
            settings["hidden_units"], settings["epochs"], settings["batch_size"], settings["dropout"])
    with pytest.raises(ValueError, match="unknown task"):
        experiments.make_config("cifar", "gru0")
    with pytest.raises(ValueError, match="unknown preset"):
        experiments.make_config("imdb", "gru0", preset="fast")


def fake_mnist(split, data_dir, download):
    n = 120 if split == "train" else 50
    rng = np.random.default_rng(0 if split == "train" else 1)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)


def test_load_task_data_shapes_and_fixed_subsets(monkeypatch):
    monkeypatch.setattr(experiments, "_mnist_arrays", fake_mnist)
    row = experiments.load_task_data("mnist-row", train_limit=30, test_limit=20)
    assert row.x_train.shape == (30, 28, 28) and row.x_test.shape == (20, 28, 28)
    assert row.x_train.dtype == torch.float32 and 0 <= row.x_train.min() and row.x_train.max() <= 1
    pix = experiments.load_task_data("mnist-pixel", train_limit=30)
    assert pix.x_train.shape == (30, 784, 1) and pix.x_test.shape == (50, 784, 1)
    assert torch.equal(pix.x_train.reshape(30, 28, 28), row.x_train)  # the same subset, whatever the run
    assert torch.equal(pix.y_train, row.y_train)
    full = experiments.load_task_data("mnist-row")
    assert full.x_train.shape[0] == 120


def test_load_imdb_through_the_data_package_dict(monkeypatch):
    def fake_imdb(data_dir, download, num_words, maxlen):
        rng = np.random.default_rng(0)
        return {"x_train": rng.integers(0, num_words, (40, maxlen)), "y_train": rng.integers(0, 2, 40),
                "x_test": rng.integers(0, num_words, (30, maxlen)), "y_test": rng.integers(0, 2, 30)}

    monkeypatch.setattr(experiments, "_imdb_arrays", fake_imdb)
    d = experiments.load_task_data("imdb", train_limit=25)
    assert d.tokens and d.num_embeddings == 20000 and d.x_train.shape == (25, 80) and d.x_test.shape == (30, 80)
    r = experiments.run_experiment("imdb", "gru3", preset="quick", data=d, epochs=1, hidden_size=4,
                                   embedding_dim=3, progress=False)
    assert r["params"] == count_params("gru3", 4, 3) and r["preset"] == "quick"


def hand_result(task, model, activation, lr, seed, train_acc, test_acc, *, epochs=2, params=None, seconds=1.0):
    history = [{"epoch": e, "lr": lr, "train_loss": 1.0 / e, "train_acc": train_acc - 0.1 * (epochs - e),
                "test_loss": 1.0 / e, "test_acc": test_acc - 0.1 * (epochs - e), "seconds": seconds,
                "train_seconds": seconds * 0.9} for e in range(1, epochs + 1)]
    return {"format": "gru_lib.result/1", "complete": True, "stopped": None, "preset": "quick",
            "config": {"task": task, "model": model, "activation": activation, "lr": lr, "seed": seed,
                       "epochs": epochs},
            "data": {"train_size": 100, "test_size": 50}, "params": params or count_params(model, 128, 128),
            "history": history, "provenance": {}}


def write_results(directory, results):
    directory.mkdir(parents=True, exist_ok=True)
    for r in results:
        c = r["config"]
        name = experiments.result_filename(c["task"], c["model"], c["activation"], c["lr"], c["seed"])
        (directory / name).write_text(json.dumps(r))


def test_summarize_mean_and_sd_over_seeds(tmp_path):
    write_results(tmp_path, [
        hand_result("imdb", "gru0", "tanh", 1e-3, 0, 0.90, 0.80),
        hand_result("imdb", "gru0", "tanh", 1e-3, 1, 0.94, 0.84),
        hand_result("imdb", "gru0", "tanh", 1e-3, 2, 0.92, 0.86),
        hand_result("imdb", "gru3", "tanh", 1e-4, 0, 0.70, 0.60, seconds=3.0),
        hand_result("imdb", "gru3", "relu", 1e-3, 0, 0.5, 0.5),
        hand_result("mnist-row", "gru1", "tanh", 1e-3, 0, 0.5, 0.5, params=count_params("gru1", 100, 28)),
    ])
    (tmp_path / "notes.json").write_text('{"not": "a result"}')
    (tmp_path / "broken.json").write_text("{")
    with pytest.warns(RuntimeWarning, match="broken.json: not valid JSON"):
        results = experiments.load_results(tmp_path)
    assert len(results) == 6 and all("path" in r for r in results)
    with pytest.warns(RuntimeWarning, match="broken.json"):
        assert len(experiments.load_results(tmp_path, task="imdb")) == 5
    rows = experiments.summarize(results, task="imdb")
    assert [(r["activation"], r["model"], r["lr"]) for r in rows] == [
        ("relu", "gru3", 1e-3), ("tanh", "gru0", 1e-3), ("tanh", "gru3", 1e-4)]
    g0 = rows[1]
    assert g0["n"] == 3 and g0["seeds"] == [0, 1, 2]
    assert g0["train_acc_mean"] == pytest.approx(0.92) and g0["train_acc_sd"] == pytest.approx(0.02)
    assert g0["test_acc_mean"] == pytest.approx(0.8333333333) and g0["test_acc_sd"] == pytest.approx(0.0305505, rel=1e-5)
    assert (g0["paper_table"], g0["paper_train"], g0["paper_test"], g0["paper_params"]) == (3, 96.9, 83.4, 98688)
    assert rows[2]["train_acc_sd"] is None and rows[2]["seconds_per_epoch"] == 3.0
    assert rows[0]["paper_table"] == 2 and rows[0]["paper_test"] == 83.2
    best = experiments.summarize(results, task="imdb", which="best")
    assert best[1]["test_acc_mean"] == g0["test_acc_mean"]  # histories rise, so best = final here


def test_results_table_markdown_and_csv(tmp_path):
    write_results(tmp_path, [
        hand_result("imdb", "gru0", "tanh", 1e-3, 0, 0.90, 0.80),
        hand_result("imdb", "gru0", "tanh", 1e-3, 1, 0.94, 0.84),
        hand_result("imdb", "gru2", "tanh", 1e-3, 0, 0.91, 0.83),
        hand_result("imdb", "lstm", "tanh", 1e-3, 0, 0.95, 0.85, params=count_params("lstm", 128, 128)),
    ])
    results = experiments.load_results(tmp_path)
    md = experiments.results_table(results, "imdb")
    lines = md.splitlines()
    assert lines[2] == "| Variant | η=10⁻³ Train | η=10⁻³ Test | # Params |"
    assert "| GRU0 | 92.0 ± 2.8 [96.9] | 82.0 ± 2.8 [83.4] | 98688 |" in lines
    assert "| GRU2 | 91.0 [95.8] | 83.0 [83.6] | 65664 |" in lines
    assert "| LSTM | 95.0 | 85.0 | 131584 |" in lines
    assert "Table 3" in lines[0] and "epoch 2" in lines[0]
    assert "mean ± sd over 1 to 2 seeds (no sd for a cell of 1 seed)" in lines[0]
    assert lines.index("| GRU0 | 92.0 ± 2.8 [96.9] | 82.0 ± 2.8 [83.4] | 98688 |") < lines.index(
        "| LSTM | 95.0 | 85.0 | 131584 |")
    timed = experiments.results_table(results, "imdb", timing=True)
    assert "η=10⁻³ s/epoch" in timed and "| 1.0 |" in timed
    text = experiments.results_table(results, "imdb", format="csv")
    assert text.splitlines()[0].startswith("task,activation,model,lr,n,seeds")
    assert len(text.splitlines()) == 4
    none = experiments.results_table(results, "mnist-row")
    assert none.startswith("No results")
    assert "has no table" in experiments.results_table(
        [hand_result("mnist-row", "gru0", "tanh", 1e-3, 0, 0.9, 0.9)], "mnist-row")


def test_plot_curves_returns_a_figure(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    results = [hand_result("imdb", "gru0", "tanh", 1e-3, s, 0.9, 0.8, epochs=4) for s in (0, 1)]
    results.append(hand_result("imdb", "gru3", "tanh", 1e-3, 0, 0.8, 0.7, epochs=4))
    fig = experiments.plot_curves(results, title="IMDB")
    ax = fig.axes[0]
    assert len(ax.lines) == 4 and ax.get_ylabel() == "accuracy (%)"
    assert ax.lines[0].get_ydata()[-1] == pytest.approx(90.0)
    fig2 = experiments.plot_curves(results, metric="loss", splits=("test",), group_seeds=False)
    assert len(fig2.axes[0].lines) == 3
    import matplotlib.pyplot as plt

    plt.close("all")


def test_paper_tables_as_data():
    assert paper.paper_accuracy("mnist-pixel", "relu", "gru3", 1e-3, "train") == 10.4
    assert paper.paper_accuracy("imdb", "relu", "gru1", 1e-5, "test") == 50.0
    assert paper.TABLES[2].note("gru1", 1e-5).startswith('printed "0.5"')
    assert paper.paper_accuracy("imdb", "tanh", "gru0", 1e-3, "train") == 96.9
    assert paper.paper_accuracy("mnist-row", "tanh", "gru0", 1e-3, "test") is None
    assert paper.paper_table_for("mnist-pixel", "tanh") is None
    for table in paper.TABLES.values():
        m = 1 if table.task == "mnist-pixel" else 128
        n = paper.TABLE0[table.task]["hidden_units"]
        for v, p in table.params.items():
            assert count_params(v, n, m) == p


@pytest.mark.realdata
@pytest.mark.skipif(not (DATA / "mnist").is_dir(), reason=f"the real MNIST files are not in {DATA}")
def test_real_mnist_row_subset_learns():
    d = experiments.load_task_data("mnist-row", data_dir=DATA, download=False, train_limit=2000, test_limit=500)
    assert d.x_train.shape == (2000, 28, 28) and d.y_train.max() == 9
    r = experiments.run_experiment("mnist-row", "gru0", preset="quick", data=d, epochs=2, progress=False)
    assert r["history"][-1]["test_acc"] > 0.4  # chance is 0.1


def test_resuming_on_another_kind_of_device_says_so(tmp_path, recwarn):
    out = tmp_path / "run.json"
    train(config(epochs=1, device="cpu"), toy_data(), out=out, progress=False)
    ckpt = checkpoint_path(out)
    state = torch.load(ckpt, weights_only=True)
    assert [s["device"] for s in state["sessions"]] == ["cpu"]
    train(config(epochs=2, device="cpu"), toy_data(), out=out, resume=True, progress=False)
    assert not [w for w in recwarn if "ran on" in str(w.message)]  # same device: nothing to say
    state = torch.load(ckpt, weights_only=True)
    state["sessions"][-1]["device"] = "cuda:0"  # as if the last epochs had run on a GPU
    torch.save(state, ckpt)
    with pytest.warns(RuntimeWarning, match=r"ran on cuda:0, the next ones run on cpu.*differs"):
        r = train(config(epochs=3, device="cpu"), toy_data(), out=out, resume=True, progress=False)
    assert [(s["device"], s["first_epoch"]) for s in r["provenance"]["sessions"]] == [
        ("cpu", 1), ("cuda:0", 2), ("cpu", 3)]



@pytest.mark.parametrize("model,reset_after", [("gru3", False), ("gru1", True), ("gru2", False), ("lstm", False)])
def test_every_epoch_records_the_gate_biases(tmp_path, model, reset_after):
    out = tmp_path / "g.json"
    result = train(config(model=model, reset_after=reset_after, lr=1e-2), toy_data(), out=out, progress=False)
    if model in ("gru2", "lstm"):  # gates without a bias
        assert all("gate_bias" not in h for h in result["history"])
        return
    assert all(set(h["gate_bias"]) == {"r", "z"} for h in result["history"])
    state = torch.load(checkpoint_path(out), weights_only=True)["model"]
    n = 8
    b = state["rnn.bias_ih_l0"][: 2 * n]
    if reset_after:  # z = σ(W_z x + b_z + U_z h + b'_z): the two biases enter as their sum
        b = b + state["rnn.bias_hh_l0"][: 2 * n]
    for gate, rows in (("r", b[:n]), ("z", b[n:])):
        lo, mean, hi = result["history"][-1]["gate_bias"][gate]
        assert (lo, hi) == (float(rows.min()), float(rows.max())) and mean == pytest.approx(float(rows.mean()))
    assert json.loads(out.read_text())["history"][-1]["gate_bias"] == result["history"][-1]["gate_bias"]
    assert max(map(abs, result["history"][-1]["gate_bias"]["z"])) > 0  # moved from Keras's zero initialisation


def _stop_after_epoch_1(result):
    if len(result["history"]) == 1:
        raise KeyboardInterrupt


def test_an_ordinary_resume_is_not_called_a_repair(tmp_path, capsys):
    """Resuming with other machine settings (threads) rewrites the result's settings, silently."""
    out = tmp_path / "r.json"
    with pytest.raises(KeyboardInterrupt):
        train(config(epochs=2), toy_data(), out=out, progress=False, on_epoch=_stop_after_epoch_1)
    capsys.readouterr()
    train(config(epochs=2, threads=1), toy_data(), out=out, resume=True, progress=True)
    err = capsys.readouterr().err
    assert f"resuming {out} after epoch 1 of 2" in err
    assert "repaired" not in err and "behind its checkpoint" not in err
    assert json.loads(out.read_text())["config"]["threads"] == 1


def test_a_result_behind_its_checkpoint_is_said_to_be_rewritten(tmp_path, capsys):
    out = tmp_path / "r.json"
    kept = {}

    def keep_epoch_1_then_stop(result):
        kept.setdefault(len(result["history"]), out.read_text())
        if len(result["history"]) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config(epochs=3), toy_data(), out=out, progress=False, on_epoch=keep_epoch_1_then_stop)
    out.write_text(kept[1])  # the result of epoch 1 beside the checkpoint of epoch 2
    capsys.readouterr()
    resumed = train(config(epochs=3), toy_data(), out=out, resume=True, progress=True)
    assert "behind its checkpoint" in capsys.readouterr().err and len(resumed["history"]) == 3


def test_the_progress_bar_covers_evaluation(monkeypatch):
    """Each epoch's bar runs over the training examples and the evaluated ones, and reaches its total."""
    import tqdm.auto

    bars = []

    class Bar:
        def __init__(self, total, **kw):
            self.total, self.done, self.descriptions = total, 0, []
            bars.append(self)

        def update(self, n):
            self.done += n

        def set_postfix(self, **kw):
            pass

        def set_description(self, text, refresh=True):
            self.descriptions.append(text)

        def close(self):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    monkeypatch.setattr("gru_lib.progress._watched", lambda stream: True)
    data = toy_data(n_train=96, n_test=40)
    train(config(epochs=2, eval_train=True), data, progress=True)
    assert [b.total for b in bars] == [96 + 40 + 96] * 2
    assert all(b.done == b.total for b in bars)
    assert all(d.endswith("evaluating") for b in bars for d in b.descriptions)


def test_no_live_bar_where_nobody_watches(monkeypatch):
    """GRU_LIB_PROGRESS_BARS=0 (the book's build) turns the bar off even on a terminal; the epoch lines stay."""
    import io

    from gru_lib.progress import BARS_ENV, Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert Progress(True, Terminal()).live
    monkeypatch.setenv(BARS_ENV, "0")
    quiet = Progress(True, Terminal())
    assert not quiet.live and quiet.enabled

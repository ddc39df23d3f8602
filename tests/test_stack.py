"""Training a stack of models in one pass (gru_lib.train.train_stack) against training them one by one.

A model's history in a stack must equal its history alone: losses within 1e-4 and
identical accuracies, for every variant, both activations, the baselines and the
IMDB-shaped embedding model, on toy data and on subsets of the real data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from gru_lib import experiments
from gru_lib.model import StackedClassifier, build_model
from gru_lib.optim import StackedRMSprop
from gru_lib.train import KERAS_RMSPROP, NonFiniteLossError, train, train_stack
from test_train import config, toy_data, toy_tokens

DATA = Path(os.environ.get("GRU_LIB_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
MEMBERS = [(1e-3, 0), (3e-3, 0), (1e-3, 1), (3e-3, 5)]  # (lr, seed): rates and seeds differ across the stack


def assert_same_history(stacked: dict, alone: dict, tol: float = 1e-4) -> None:
    assert len(stacked["history"]) == len(alone["history"]) > 0
    for s, a in zip(stacked["history"], alone["history"]):
        assert s["epoch"] == a["epoch"] and s["lr"] == pytest.approx(a["lr"], rel=1e-6)
        for key in ("train_loss", "test_loss"):
            assert abs(s[key] - a[key]) < tol, (key, s, a)
        for key in ("train_acc", "test_acc"):
            assert s[key] == a[key], (key, s, a)
    assert stacked["config"] == alone["config"] and stacked["params"] == alone["params"]


def stack_vs_alone(data, members=MEMBERS, **kw):
    configs = [config(lr=lr, seed=seed, **kw) for lr, seed in members]
    stacked = train_stack(configs, data, progress=False)
    for c, s in zip(configs, stacked):
        assert_same_history(s, train(c, data, progress=False))
    return stacked


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("model", ["gru0", "gru1", "gru2", "gru3"])
def test_a_stack_trains_each_gru_as_it_trains_alone(model, activation):
    stack_vs_alone(toy_data(), model=model, activation=activation)


@pytest.mark.parametrize("model", ["lstm", "rnn", "mgu"])
def test_the_baselines_stack_too(model):
    stack_vs_alone(toy_data(), members=MEMBERS[:2], model=model)


@pytest.mark.parametrize("options", [dict(dropout_at="input"), dict(dropout_at="none"), dict(reset_after=True),
                                     dict(update_rule="cho", lr_schedule="constant"), dict(init="torch"),
                                     dict(implementation="autograd"), dict(eval_train=True)])
def test_a_stack_honours_every_training_option(options):
    stack_vs_alone(toy_data(), members=MEMBERS[:2], model="gru0", **options)


@pytest.mark.parametrize("model", ["gru0", "gru3"])
def test_the_embedding_model_stacks(model):
    stack_vs_alone(toy_tokens(), model=model, activation="relu")


def test_a_partial_last_batch_and_a_stack_of_one():
    data = toy_data(n_train=83)  # 32 + 32 + 19
    stack_vs_alone(data, members=MEMBERS[:3])
    stack_vs_alone(data, members=MEMBERS[:1])


# ----------------------------------------------------------------------------- the pieces
def test_the_stacks_dropout_masks_are_those_of_F_dropout():
    x = torch.rand(32, 100)
    g = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    expected = F.dropout(x, 0.2, training=True)
    from gru_lib.model import _dropout_mask

    assert torch.equal(x * _dropout_mask((32, 100), 0.8, g, x), expected)


def step_alone_and_stacked(nets, refs, stack, opt, x, y) -> None:
    """One step of each model with its own torch optimiser ``refs[k]``, and one of the stack."""
    for k, (net, ref) in enumerate(zip(nets, refs)):
        ref.zero_grad()
        net.loss(net(x[k]), y[k]).backward()
        ref.step()
    opt.zero_grad()
    stack.loss(stack(x), y).sum().backward()
    opt.step()


def test_stacked_rmsprop_is_torch_rmsprop_per_model():
    torch.manual_seed(0)
    nets = [build_model("gru2", input_size=3, hidden_size=5, num_classes=4, dropout_at="none") for _ in range(2)]
    lrs = [1e-2, 3e-3]
    refs = [torch.optim.RMSprop(n.parameters(), lr=lr, **KERAS_RMSPROP) for n, lr in zip(nets, lrs)]
    stack = StackedClassifier(nets)
    opt = StackedRMSprop(list(stack.parameters()), lrs, **KERAS_RMSPROP)
    x, y = torch.rand(2, 6, 4, 3), torch.randint(0, 4, (2, 6))
    for _ in range(3):
        step_alone_and_stacked(nets, refs, stack, opt, x, y)
    for k, (net, ref) in enumerate(zip(nets, refs)):
        for name, p in net.named_parameters():
            torch.testing.assert_close(stack.param(name)[k], p, rtol=1e-5, atol=1e-6)
        mine, theirs = opt.member_state_dict(k), ref.state_dict()
        assert mine["param_groups"] == theirs["param_groups"]
        for i, entry in theirs["state"].items():
            torch.testing.assert_close(mine["state"][i]["square_avg"], entry["square_avg"], rtol=1e-5, atol=1e-9)
            assert float(mine["state"][i]["step"]) == float(entry["step"]) == 3
    # and back: a model's state loads into another stack's slot
    other = StackedRMSprop(list(StackedClassifier(nets[::-1]).parameters()), lrs[::-1], **KERAS_RMSPROP)
    other.load_member_state_dict(1, refs[0].state_dict())
    torch.testing.assert_close(other.square_avg[0][1], opt.square_avg[0][0])


def test_a_stack_refuses_what_cannot_share_it():
    data = toy_data()
    with pytest.raises(ValueError, match="only lr, seed, epochs may differ.*model"):
        train_stack([config(model="gru1"), config(model="gru2")], data, progress=False)
    with pytest.raises(ValueError, match="activation"):
        train_stack([config(), config(activation="relu")], data, progress=False)
    with pytest.raises(ValueError, match="same result file"):
        train_stack([config(), config(seed=4)], data, outs=["a.json", "a.json"], progress=False)
    with pytest.raises(ValueError, match="expected 2 output paths"):
        train_stack([config(), config(seed=4)], data, outs=["a.json"], progress=False)
    with pytest.raises(TypeError, match="TrainConfig"):
        train_stack([], data, progress=False)
    nets = [build_model("gru1", input_size=5, hidden_size=8, num_classes=10),
            build_model("gru1", input_size=5, hidden_size=9, num_classes=10)]
    with pytest.raises(ValueError, match="another architecture"):
        StackedClassifier(nets)


# ----------------------------------------------------------------------------- files, resume, divergence
def test_each_model_of_a_stack_writes_the_files_it_writes_alone(tmp_path):
    data = toy_data()
    configs = [config(lr=lr, seed=s) for lr, s in MEMBERS[:3]]
    outs = [tmp_path / "stack" / f"r{k}.json" for k in range(3)]
    train_stack(configs, data, outs=outs, progress=False)
    for k, c in enumerate(configs):
        alone = tmp_path / "alone" / f"r{k}.json"
        train(c, data, out=alone, progress=False)
        a, s = json.loads(alone.read_text()), json.loads(outs[k].read_text())
        assert s["complete"] and s.keys() == a.keys()
        assert_same_history(s, a)
        assert s["provenance"]["sessions"][-1]["stack_size"] == 3
        ca = torch.load(alone.with_suffix(".ckpt"), weights_only=True)
        cs = torch.load(outs[k].with_suffix(".ckpt"), weights_only=True)
        assert ca.keys() == cs.keys() and ca["model"].keys() == cs["model"].keys()
        for name in ca["model"]:
            torch.testing.assert_close(cs["model"][name], ca["model"][name], rtol=1e-4, atol=1e-5)
        assert ca["optimizer"]["param_groups"] == cs["optimizer"]["param_groups"]
        assert torch.equal(ca["rng"]["generator"], cs["rng"]["generator"])
        assert torch.equal(ca["rng"]["torch"], cs["rng"]["torch"])


def test_models_resume_from_different_epochs_in_one_stack(tmp_path):
    data = toy_data()
    a, b = config(lr=1e-3, seed=0, epochs=3), config(lr=3e-3, seed=1, epochs=3)
    straight = [train(c, data, progress=False) for c in (a, b)]
    out_a, out_b = tmp_path / "a.json", tmp_path / "b.json"
    train(config(lr=1e-3, seed=0, epochs=1), data, out=out_a, progress=False)  # a stops after epoch 1
    results = train_stack([a, b], data, outs=[out_a, out_b], resume=True, progress=False)
    for r, s in zip(results, straight):
        assert r["complete"]
        assert_same_history(r, s, tol=1e-5)
    # a model that finishes early leaves the stack and the other goes on
    c = config(lr=1e-3, seed=2, epochs=4)
    results = train_stack([a, c], data, outs=[out_a, tmp_path / "c.json"], resume=True, progress=False)
    assert [len(r["history"]) for r in results] == [3, 4]
    assert_same_history(results[1], train(c, data, progress=False))


def test_one_model_diverges_and_the_others_go_on(tmp_path, monkeypatch):
    data = toy_data()
    configs = [config(lr=lr, seed=s, epochs=3) for lr, s in MEMBERS[:3]]
    alone = [train(c, data, progress=False) for c in (configs[0], configs[2])]
    orig = StackedClassifier.loss
    calls = {"n": 0}

    def loss(self, logits, y):
        out = orig(self, logits, y)
        if self.training:
            calls["n"] += 1
            if calls["n"] >= 5 and self.size == 3:  # model 1 diverges in epoch 2 (3 batches an epoch)
                out = out * torch.tensor([1.0, float("nan"), 1.0])
        return out

    monkeypatch.setattr(StackedClassifier, "loss", loss)
    outs = [tmp_path / f"r{k}.json" for k in range(3)]
    results = train_stack(configs, data, outs=outs, progress=False)
    assert results[1]["stopped"]["reason"] == "non-finite loss" and results[1]["stopped"]["epoch"] == 2
    assert len(results[1]["history"]) == 1 and not results[1]["complete"]
    saved = json.loads(outs[1].read_text())
    assert saved["stopped"]["batch"] == 2 and len(saved["history"]) == 1
    assert torch.load(outs[1].with_suffix(".ckpt"), weights_only=True)["epoch"] == 1  # the last good epoch
    for r, a in zip((results[0], results[2]), alone):
        assert r["complete"]
        assert_same_history(r, a)


def test_a_lone_run_still_raises_on_a_non_finite_loss(monkeypatch):
    orig = StackedClassifier.loss
    monkeypatch.setattr(StackedClassifier, "loss", lambda self, lg, y: orig(self, lg, y) * float("inf"))
    with pytest.raises(NonFiniteLossError, match="epoch 1"):
        train(config(), toy_data(), progress=False)


# ----------------------------------------------------------------------------- the grid
def test_a_stacked_grid_writes_the_files_of_a_one_by_one_grid(tmp_path, monkeypatch):
    data = toy_data()
    monkeypatch.setattr(experiments, "load_task_data", lambda *a, **k: data)
    kw = dict(lrs=[1e-3, 3e-3], seeds=[0, 1], preset="quick", epochs=2, hidden_size=8, progress=False)
    one = experiments.run_grid("mnist-row", ["gru1", "gru3"], out_dir=tmp_path / "one", stack=1, **kw)
    many = experiments.run_grid("mnist-row", ["gru1", "gru3"], out_dir=tmp_path / "many", stack=None, **kw)
    assert [s["status"] for s in one] == [s["status"] for s in many] == ["done"] * 8
    assert [Path(s["path"]).name for s in one] == [Path(s["path"]).name for s in many]
    for s in one:
        name = Path(s["path"]).name
        a = json.loads((tmp_path / "one" / name).read_text())
        b = json.loads((tmp_path / "many" / name).read_text())
        assert_same_history(b, a)
        assert a["history"][-1]["stack_size"] == 1 and b["history"][-1]["stack_size"] == 4
    plan = {k: v for k, v in kw.items() if k != "progress"}
    _, jobs = experiments.plan_grid("mnist-row", ["gru1", "gru3"], out_dir=tmp_path / "new", stack=3, **plan)
    assert [len(j.configs) for j in jobs] == [3, 1, 3, 1]
    again = experiments.run_grid("mnist-row", ["gru1", "gru3"], out_dir=tmp_path / "many", **kw)
    assert [s["status"] for s in again] == ["skipped"] * 8


def test_a_corrupt_checkpoint_stops_only_its_own_run(tmp_path, monkeypatch):
    data = toy_data()
    monkeypatch.setattr(experiments, "load_task_data", lambda *a, **k: data)
    kw = dict(lrs=[1e-3], seeds=[0, 1, 2], preset="quick", epochs=2, hidden_size=8, progress=False)
    experiments.run_grid("mnist-row", ["gru2"], out_dir=tmp_path, **(kw | {"epochs": 1}))
    bad = tmp_path / experiments.result_filename("mnist-row", "gru2", "tanh", 1e-3, 1)
    bad.with_suffix(".ckpt").write_bytes(b"not a checkpoint")
    statuses = experiments.run_grid("mnist-row", ["gru2"], out_dir=tmp_path, **kw)
    assert [s["status"] for s in statuses] == ["resumed", "failed", "resumed"]
    assert "cannot read the checkpoint" in statuses[1]["message"]


def test_auto_stack_size():
    assert experiments.auto_stack_size("mnist-row", "cpu") == experiments.CPU_STACK["mnist-row"]
    assert experiments.auto_stack_size("imdb", "cpu") == experiments.CPU_STACK["imdb"]
    with pytest.raises(ValueError, match="unknown task"):
        experiments.auto_stack_size("cifar", "cpu")
    with pytest.raises(ValueError, match="stack must be"):
        experiments.plan_grid("mnist-row", ["gru0"], stack=0)


# ----------------------------------------------------------------------------- real data
@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("task,limit", [("mnist-row", 600), ("imdb", 400)])
def test_stack_equals_one_by_one_on_real_data(task, limit):
    if not DATA.is_dir():
        pytest.skip(f"the real data files are not in {DATA}")
    data = experiments.load_task_data(task, data_dir=DATA, download=False, train_limit=limit, test_limit=200)
    configs = [experiments.make_config(task, "gru1", activation=a, lr=lr, seed=s, preset="quick", epochs=2,
                                       train_limit=limit, test_limit=200)
               for a in ("relu",) for lr, s in ((1e-3, 0), (1e-4, 1))]
    for c, s in zip(configs, train_stack(configs, data, progress=False)):
        assert_same_history(s, train(c, data, progress=False))


def test_cuda_graph_on_the_cpu_warns_and_trains_eagerly():
    data = toy_data()
    with pytest.warns(RuntimeWarning, match="CUDA devices only"):
        graphed = train(config(device="cpu"), data, progress=False, cuda_graph=True)
    assert_same_history(graphed, train(config(device="cpu"), data, progress=False), tol=1e-7)


def test_the_cuda_graph_is_a_cuda_default_that_the_cpu_leaves_alone(recwarn):
    from gru_lib.__main__ import build_parser

    data = toy_data()
    default = train(config(device="cpu"), data, progress=False)  # cuda_graph=None: eager here, and no warning
    assert not [w for w in recwarn if "CUDA" in str(w.message)]
    assert_same_history(default, train(config(device="cpu"), data, progress=False, cuda_graph=False), tol=1e-12)
    with pytest.raises(TypeError, match="cuda_graph must be a bool or None"):
        train(config(device="cpu"), data, progress=False, cuda_graph="yes")
    parse = build_parser().parse_args
    base = ["grid", "--task", "mnist-row", "--variants", "gru0", "--out-dir", "results"]
    assert [parse(base + extra).cuda_graph for extra in ([], ["--cuda-graph"], ["--no-cuda-graph"])] == [
        None, True, False]


# ----------------------------------------------------------------------------- progress
def test_logs_get_one_line_per_model_and_epoch_and_no_bar(capsys):
    train_stack([config(lr=1e-3), config(lr=3e-3)], toy_data(), progress=True)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 4 and "\r" not in err and "it/s" not in err
    assert lines[0].startswith("lr 0.001 seed 3: epoch 1/2") and lines[-1].startswith("lr 0.003 seed 3: epoch 2/2")


def test_a_terminal_gets_a_tqdm_bar(monkeypatch):
    import io

    from gru_lib.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = Progress(True, stream)
    assert bar.live
    bar.start("epoch 1/2", 100)
    bar.update(50, 0.5, 0.9)
    bar.close()
    bar.end_epoch(2, {"epoch": 1, "lr": 1e-3, "train_loss": 0.5, "train_acc": 0.9, "test_loss": 0.6,
                      "test_acc": 0.8, "seconds": 1.0})
    text = stream.getvalue()
    assert "epoch 1/2:" in text and "/100 [" in text and "ex/s" in text  # tqdm's bar (it redraws every 0.2 s)
    assert text.rstrip().endswith("test_loss=0.6000 test_acc=0.8000 1.0s")
    assert not Progress(True, io.StringIO()).live  # a file or a pipe: no bar

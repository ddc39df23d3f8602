"""The embedding's sparse update, and checkpoints kept in a directory of their own.

A batch reads few of an embedding's rows; :class:`gru_lib.optim.StackedRMSprop`
updates only those and applies a row's missed decay when the row is next read.
The reference is ``torch.optim.RMSprop`` on the dense gradient of an ``nn.Embedding``
model, and the stack's own dense path: the numbers must agree to rounding, and a
resumed run must repeat the uninterrupted one exactly.
"""

from __future__ import annotations

import json

import pytest
import torch

from gru_lib import experiments
from gru_lib.__main__ import main
from gru_lib.files import checkpoint_path
from gru_lib.model import StackedClassifier, build_model
from gru_lib.optim import StackedRMSprop
from gru_lib.train import KERAS_RMSPROP, ResumeError, TrainStep, train, train_stack
from test_cli import SMALL, tiny  # noqa: F401  (a fixture)
from test_stack import assert_same_history, step_alone_and_stacked
from test_train import config, strip_timing, toy_tokens

VOCAB = 40


def _nets(n=2):
    nets = []
    for seed in range(n):
        torch.manual_seed(seed)
        nets.append(build_model("gru1", input_size=6, hidden_size=5, num_classes=2, num_embeddings=VOCAB,
                                dropout_at="none"))
    return nets


def _batches(count, k, seed=0):
    """Batches that read only some rows, and some rows only now and then (gaps of several steps)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(count):
        hi = 10 if i % 3 else VOCAB  # rows 10..39 are read every third step only
        out.append((torch.randint(0, hi, (k, 4, 5), generator=g), torch.randint(0, 2, (k, 4), generator=g)))
    return out


def test_the_embedding_gradient_is_sparse_and_equals_the_dense_one():
    stack = StackedClassifier(_nets())
    x, y = _batches(1, 2)[0]
    stack.loss(stack(x), y).sum().backward()
    grad = stack.param("embedding.weight").grad
    assert grad.is_sparse and grad.sparse_dim() == 2 and grad.shape == (2, VOCAB, 6)
    assert grad.coalesce().indices().shape[1] <= 2 * 4 * 5
    dense = StackedClassifier(_nets())
    dense.sparse_embedding_grad = False
    dense.loss(dense(x), y).sum().backward()
    assert not dense.param("embedding.weight").grad.is_sparse
    torch.testing.assert_close(grad.to_dense(), dense.param("embedding.weight").grad, rtol=1e-6, atol=1e-9)


def test_the_sparse_update_is_torch_rmsprop_on_the_dense_gradient():
    nets = _nets()
    lrs = [1e-2, 3e-3]
    refs = [torch.optim.RMSprop(n.parameters(), lr=lr, **KERAS_RMSPROP) for n, lr in zip(nets, lrs)]
    stack = StackedClassifier(nets)
    opt = StackedRMSprop(list(stack.parameters()), lrs, **KERAS_RMSPROP)
    for x, y in _batches(11, 2):
        step_alone_and_stacked(nets, refs, stack, opt, x, y)
    assert opt.row_steps[0] is not None  # rows 10..39 are behind: their decay is still owed
    for k, (net, ref) in enumerate(zip(nets, refs)):
        for name, p in net.named_parameters():
            torch.testing.assert_close(stack.param(name)[k], p, rtol=1e-5, atol=1e-6)
        # the state dict is brought up to date without changing the optimiser
        before = opt.square_avg[0].clone()
        mine = opt.member_state_dict(k)["state"]
        assert torch.equal(opt.square_avg[0], before)
        for i, entry in ref.state_dict()["state"].items():
            torch.testing.assert_close(mine[i]["square_avg"], entry["square_avg"], rtol=1e-5, atol=1e-12)
    opt.catch_up()
    assert opt.row_steps[0] is None
    for k, ref in enumerate(refs):
        torch.testing.assert_close(opt.square_avg[0][k], ref.state_dict()["state"][0]["square_avg"],
                                   rtol=1e-5, atol=1e-12)


def test_a_row_read_again_after_n_steps_decays_by_alpha_to_the_n():
    # one model, a 2-row table, row 1 read at steps 1 and 5 only: by hand,
    # v = α · α³ (1 − α) g₁² + (1 − α) g₅² after step 5: three steps of decay alone, then the update
    weight = torch.nn.Parameter(torch.zeros(1, 2, 1))
    opt = StackedRMSprop([weight], [0.1], **KERAS_RMSPROP)
    alpha = KERAS_RMSPROP["alpha"]
    grads = {1: 2.0, 5: 3.0}
    for step in range(1, 6):
        rows = [0, 1] if step in grads else [0]
        values = [[1.0], [grads.get(step, 0.0)]][:len(rows)]
        weight.grad = torch.sparse_coo_tensor([[0] * len(rows), rows], values, (1, 2, 1), check_invariants=True)
        opt.step()
    opt.catch_up()
    expected = alpha * alpha ** 3 * (1 - alpha) * 4.0 + (1 - alpha) * 9.0
    assert float(opt.square_avg[0][0, 1, 0]) == pytest.approx(expected, rel=1e-6)
    assert float(opt.square_avg[0][0, 0, 0]) == pytest.approx(1 - alpha ** 5, rel=1e-6)  # read every step


def test_a_sparse_gradient_of_another_shape_is_refused():
    weight = torch.nn.Parameter(torch.zeros(1, 3, 2))
    opt = StackedRMSprop([weight], [0.1], **KERAS_RMSPROP)
    weight.grad = torch.sparse_coo_tensor([[0]], [[[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]], (1, 3, 2),
                                          check_invariants=True)
    with pytest.raises(ValueError, match="sparse gradient over \\(model, row\\)"):
        opt.step()


def test_sparse_and_dense_updates_train_the_same(monkeypatch):
    configs = [config(model=m, lr=lr, seed=s, epochs=2) for m, lr, s in [("gru0", 3e-3, 0), ("gru0", 1e-2, 1)]]
    sparse = train_stack(configs, toy_tokens(vocab=VOCAB), progress=False)
    monkeypatch.setattr(StackedClassifier, "sparse_embedding_grad", False)
    dense = train_stack(configs, toy_tokens(vocab=VOCAB), progress=False)
    for s, d in zip(sparse, dense):
        assert_same_history(s, d, tol=1e-5)


def test_a_cuda_graph_asks_for_the_dense_gradient():
    stack = StackedClassifier(_nets(1))
    opt = StackedRMSprop(list(stack.parameters()), [1e-3], **KERAS_RMSPROP)
    TrainStep(stack, opt, [torch.Generator()], 4, cuda_graph=False)
    assert stack.sparse_embedding_grad
    TrainStep(stack, opt, [torch.Generator()], 4, cuda_graph=True)
    assert not stack.sparse_embedding_grad
    assert stack.select([0]).sparse_embedding_grad is False


# ----------------------------------------------------------------------------- checkpoints elsewhere
def test_checkpoints_in_their_own_directory_resume_exactly(tmp_path):
    data, ckpts = toy_tokens(vocab=VOCAB), tmp_path / "checkpoints"
    straight = train(config(epochs=3), data, out=tmp_path / "a.json", progress=False)
    out = tmp_path / "results" / "b.json"
    train(config(epochs=1), data, out=out, checkpoint_dir=ckpts, progress=False)
    assert (ckpts / "b.ckpt").is_file() and not checkpoint_path(out).exists()
    assert checkpoint_path(out, ckpts) == ckpts / "b.ckpt"
    with pytest.raises(ResumeError, match="--checkpoint-dir"):  # the checkpoint is not beside the result
        train(config(epochs=3), data, out=out, resume=True, progress=False)
    resumed = train(config(epochs=3), data, out=out, resume=True, checkpoint_dir=ckpts, progress=False)
    assert strip_timing(resumed["history"]) == strip_timing(straight["history"])
    assert not checkpoint_path(out).exists()


def test_grid_and_run_keep_checkpoints_in_checkpoint_dir(tiny, tmp_path):  # noqa: F811
    d, ckpts = tmp_path / "grid", tmp_path / "ckpts"
    args = ["grid", "--task", "mnist-row", "--variants", "gru0", "--out-dir", str(d), "--epochs", "1",
            "--checkpoint-dir", str(ckpts), *SMALL]
    assert main(args) == 0
    name = experiments.result_filename("mnist-row", "gru0", "tanh", 1e-3, 0)
    assert (d / name).is_file() and not list(d.glob("*.ckpt"))
    assert (ckpts / name).with_suffix(".ckpt").is_file()
    assert main([*args[:-len(SMALL)], "--epochs", "2", *SMALL]) == 0  # resumed from the checkpoint there
    assert [h["epoch"] for h in json.loads((d / name).read_text())["history"]] == [1, 2]
    out = tmp_path / "run.json"
    assert main(["run", "--task", "mnist-row", "--variant", "gru2", "--epochs", "1", "--out", str(out),
                 "--checkpoint-dir", str(ckpts), *SMALL]) == 0
    assert (ckpts / "run.ckpt").is_file() and not (tmp_path / "run.ckpt").exists()

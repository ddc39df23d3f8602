"""The same checks on a CUDA device; skipped where there is none."""

import pytest
import torch

from gru_lib import GRU

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("variant", ["gru0", "gru1", "gru2", "gru3"])
@pytest.mark.parametrize("reset_after", [False, True])
def test_fused_equals_autograd_on_cuda(variant, reset_after):
    torch.manual_seed(0)
    kw = dict(variant=variant, reset_after=reset_after, num_layers=2, bidirectional=True, device="cuda",
              dtype=torch.float64)
    fused, ref = GRU(5, 7, **kw), GRU(5, 7, implementation="autograd", **kw)
    ref.load_state_dict(fused.state_dict())
    x = torch.randn(20, 3, 5, device="cuda", dtype=torch.float64)
    grads = []
    for m in (fused, ref):
        out, h = m(x)
        (out.square().sum() + h.sum()).backward()
        grads.append([p.grad for p in m.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_matches_cudnn_gru():
    torch.manual_seed(0)
    ref = torch.nn.GRU(6, 8, num_layers=2, bidirectional=True, batch_first=True).cuda()
    ours = GRU.from_torch(ref)
    x = torch.randn(4, 30, 6, device="cuda")
    # cuDNN's RNNs use TF32 by default on Ampere and later (errors near 3e-4 on an H200);
    # the comparison is with cuDNN's float32 arithmetic.
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        expected = ref(x)[0]
    torch.testing.assert_close(ours(x)[0], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_runs(dtype):
    gru = GRU(4, 8, device="cuda", dtype=dtype)
    out, _ = gru(torch.randn(10, 2, 4, device="cuda", dtype=dtype))
    out.float().sum().backward()
    assert torch.isfinite(out).all() and out.dtype == dtype


# ----------------------------------------------------------------------------- stacked training on CUDA
def _toy(n_train=200, n_test=64):
    from gru_lib.train import SequenceData

    g = torch.Generator().manual_seed(0)
    x = torch.rand(n_train + n_test, 6, 5, generator=g)
    y = (x.sum((1, 2)) * 7).long() % 10
    return SequenceData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], num_classes=10)


def _configs(**kw):
    from gru_lib.train import TrainConfig

    base = dict(task="toy", model="gru1", epochs=3, hidden_size=16, device="cuda")
    return [TrainConfig(**(base | {"lr": lr, "seed": s} | kw)) for lr, s in ((1e-3, 0), (3e-3, 1), (1e-3, 2))]


def _same(a, b, tol=1e-4):
    for x, y in zip(a["history"], b["history"]):
        assert abs(x["train_loss"] - y["train_loss"]) < tol and abs(x["test_loss"] - y["test_loss"]) < tol
        assert x["test_acc"] == y["test_acc"]


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_a_stack_on_cuda_trains_each_model_as_alone(activation):
    from gru_lib.train import train, train_stack

    data = _toy()
    configs = _configs(activation=activation)
    for c, r in zip(configs, train_stack(configs, data, progress=False)):
        _same(r, train(c, data, progress=False))


@pytest.mark.parametrize("dropout_at", ["output", "input", "none"])
def test_the_cuda_graph_replays_what_eager_mode_computes(dropout_at, recwarn):
    from gru_lib.train import train_stack

    data = _toy(n_train=200)  # 6 full batches and a partial one: capture, replay and the eager tail
    configs = _configs(dropout_at=dropout_at)
    eager = train_stack(configs, data, progress=False, cuda_graph=False)
    graphed = train_stack(configs, data, progress=False, cuda_graph=True)
    assert not [w for w in recwarn if "CUDA graph" in str(w.message)]
    for a, b in zip(eager, graphed):
        _same(a, b)


def test_a_failed_capture_falls_back_to_eager_mode(monkeypatch):
    from gru_lib.train import train_stack

    class Broken:
        def __init__(self, *a, **k):
            raise RuntimeError("no graphs today")

    data = _toy()
    configs = _configs()
    eager = train_stack(configs, data, progress=False, cuda_graph=False)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", Broken)
    with pytest.warns(RuntimeWarning, match="CUDA graph failed"):
        fallback = train_stack(configs, data, progress=False, cuda_graph=True)
    for a, b in zip(eager, fallback):
        _same(a, b)


def test_training_on_cuda_replays_a_graph_unless_told_not_to(monkeypatch):
    from gru_lib.train import train_stack

    real, made = torch.cuda.CUDAGraph, []

    def counting(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    counting.register_generator_state = real.register_generator_state  # what the default looks for
    monkeypatch.setattr(torch.cuda, "CUDAGraph", counting)
    data, configs = _toy(), _configs()
    graphed = train_stack(configs, data, progress=False)
    assert len(made) == 1  # captured once, replayed for every later full batch
    eager = train_stack(configs, data, progress=False, cuda_graph=False)
    assert len(made) == 1
    for a, b in zip(eager, graphed):
        _same(a, b)


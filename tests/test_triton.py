"""The Triton engine (``implementation="triton"``, gru_lib.triton_gru) against the fused one.

On the CPU the kernels run through Triton's interpreter: every test here except
those marked ``cuda`` sets ``TRITON_INTERPRET=1`` for its own duration (the engine
reads it when it launches, so nothing depends on the order in which modules were
imported). The ``cuda`` tests run the compiled kernels and unset it.

The reference is ``gru_sequence`` without the kernels: the same input projection and
weight-gradient matmuls around a time loop of PyTorch operations, itself checked
against autograd and ``torch.nn.GRU`` elsewhere in the suite.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from gru_lib import GRU
from gru_lib.functional import GRUSpec, gru_sequence, parameter_shapes

triton = pytest.importorskip("triton")

ROOT = Path(__file__).resolve().parents[1]
CUDA = torch.cuda.is_available()
F32 = dict(rtol=1e-4, atol=1e-5)  # float32: the kernels sum the products in another order


@pytest.fixture(autouse=True)
def engine_mode(request, monkeypatch):
    """Triton's interpreter for the CPU tests; the compiled kernels for those marked ``cuda``."""
    if request.node.get_closest_marker("cuda"):
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    else:
        monkeypatch.setenv("TRITON_INTERPRET", "1")


def layer(spec: GRUSpec, m: int, n: int, K: int | None, *, bias: bool = True, dtype=torch.float32,
          device="cpu", seed: int = 0) -> dict[str, torch.Tensor]:
    """Random parameters of one layer (a stack of ``K`` when ``K`` is given), large enough to
    drive the gates away from 1/2, and the ReLU candidate both ways."""
    g = torch.Generator().manual_seed(seed)
    lead = () if K is None else (K,)
    shapes = parameter_shapes(spec, m, n, bias)
    return {k: (torch.randn(*lead, *s, generator=g, dtype=dtype) * 0.4).to(device) for k, s in shapes.items()}


def run_both(spec: GRUSpec, *, m=3, n=20, B=5, T=4, K=None, bias=True, dtype=torch.float32, device="cpu"):
    """Outputs, final states and every gradient of the fused and the Triton engine, side by side."""
    p = layer(spec, m, n, K, bias=bias, dtype=dtype, device=device)
    g = torch.Generator().manual_seed(1)
    lead = () if K is None else (K,)
    x = torch.randn(T, *lead, B, m, generator=g, dtype=dtype).to(device)
    h0 = (torch.randn(*lead, B, n, generator=g, dtype=dtype) * 0.5).to(device)
    w_out = torch.randn(T, *lead, B, n, generator=g, dtype=dtype).to(device)
    w_h = torch.randn(*lead, B, n, generator=g, dtype=dtype).to(device)
    results = []
    for use_triton in (False, True):
        leaves = [t.clone().requires_grad_() for t in (x, h0, *p.values())]
        xi, hi, *ps = leaves
        args = dict(zip(p, ps))
        out, h = gru_sequence(xi, hi, args["weight_ih"], args["weight_hh"], args.get("bias_ih"),
                              args.get("bias_hh"), spec, triton=use_triton)
        ((out * w_out).sum() + (h * w_h).sum()).backward()
        results.append([out, h, *(t.grad for t in leaves)])
    return results


def assert_same(results, **tol):
    names = ["output", "h_n", "grad x", "grad h0", "grad weight_ih", "grad weight_hh", "grad bias_ih", "grad bias_hh"]
    fused, kernel = results
    assert len(fused) == len(kernel)
    for name, a, b in zip(names, fused, kernel):
        assert a.shape == b.shape, name
        torch.testing.assert_close(b, a, **(tol or F32), msg=lambda s: f"{name}: {s}")


# ----------------------------------------------------------------------------- the interpreter
@pytest.mark.parametrize("update_rule", ["paper", "cho"])
@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("variant", ["gru0", "gru1", "gru2", "gru3"])
def test_every_convention_equals_fused(variant, activation, reset_after, update_rule):
    spec = GRUSpec.make(variant, activation, reset_after, update_rule)
    assert_same(run_both(spec, n=100, B=33, T=3))  # hidden 100 is masked; 33 rows: a partial block


@pytest.mark.parametrize(("variant", "reset_after", "n", "B", "K"), [
    ("gru0", False, 128, 1, None), ("gru1", True, 128, 33, 3), ("gru2", False, 100, 1, 3),
    ("gru3", True, 100, 33, 1), ("gru0", True, 100, 33, 3), ("gru3", False, 128, 1, 3),
])
def test_sizes_batches_and_stacks(variant, reset_after, n, B, K):
    spec = GRUSpec.make(variant, "relu" if B == 1 else "tanh", reset_after)
    assert_same(run_both(spec, m=4, n=n, B=B, T=3, K=K))


@pytest.mark.parametrize("variant", ["gru0", "gru3"])
def test_float64_to_rounding(variant):
    """In float64 every difference is rounding: the kernels compute the same formula."""
    spec = GRUSpec.make(variant, "tanh", True, "cho")
    assert_same(run_both(spec, n=20, B=18, T=5, K=2, dtype=torch.float64), rtol=1e-12, atol=1e-12)


def test_one_step():
    assert_same(run_both(GRUSpec.make("gru1"), T=1))


def test_without_biases():
    assert_same(run_both(GRUSpec.make("gru0", reset_after=True), bias=False, K=2))


def test_inference_without_gradients():
    gru = GRU(3, 20, variant="gru1", reset_after=True)
    tri = GRU(3, 20, variant="gru1", reset_after=True, implementation="triton")
    tri.load_state_dict(gru.state_dict())
    x = torch.randn(6, 4, 3)
    with torch.no_grad():
        for a, b in zip(gru(x), tri(x)):
            torch.testing.assert_close(b, a, **F32)


def test_layers_and_directions_through_gru():
    torch.manual_seed(0)
    kw = dict(num_layers=2, bidirectional=True, batch_first=True, variant="gru2", activation="relu")
    ref, tri = GRU(3, 12, **kw), GRU(3, 12, implementation="triton", **kw)
    tri.load_state_dict(ref.state_dict())
    x, h0 = torch.randn(5, 4, 3), torch.randn(4, 5, 12)
    grads = []
    for m in (ref, tri):
        out, h = m(x, h0)
        (out.square().sum() + h.sum()).backward()
        grads.append([out, h, *(p.grad for p in m.parameters())])
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, **F32)


def test_packed_sequences_take_the_fused_loops():
    torch.manual_seed(0)
    ref, tri = GRU(3, 8, bidirectional=True), GRU(3, 8, bidirectional=True, implementation="triton")
    tri.load_state_dict(ref.state_dict())
    x = pack_padded_sequence(torch.randn(6, 4, 3), [6, 3, 5, 1], enforce_sorted=False)
    outs = []
    for m in (ref, tri):
        out, h = m(x)
        (out.data.sum() + h.square().sum()).backward()
        outs.append([out.data, h, *(p.grad for p in m.parameters())])
    for a, b in zip(*outs):
        assert torch.equal(a, b)  # the same code ran


# ----------------------------------------------------------------------------- training and the command line
def test_a_stacked_training_run_equals_the_fused_run():
    from test_stack import MEMBERS, assert_same_history
    from test_train import config, toy_data

    from gru_lib.train import train_stack

    data = toy_data(n_train=70, n_test=20)  # 32 + 32 + 6: a partial last batch
    runs = {}
    for impl in ("fused", "triton"):
        configs = [config(lr=lr, seed=s, model="gru0", implementation=impl, reset_after=True)
                   for lr, s in MEMBERS[:3]]
        runs[impl] = train_stack(configs, data, progress=False)
    for a, b in zip(runs["fused"], runs["triton"]):
        b["config"]["implementation"] = "fused"
        assert_same_history(b, a)
        assert b["provenance"]["triton"] == {"version": triton.__version__, "dot_precision": "ieee",
                                             "interpreted": True}
        assert b["provenance"]["sessions"][0]["triton"]["dot_precision"] == "ieee"
        assert "triton" not in a["provenance"]


def test_the_grid_command_runs_the_kernels(monkeypatch, tmp_path):
    import json

    from test_cli import SMALL, fake_mnist

    from gru_lib import experiments
    from gru_lib.__main__ import main

    monkeypatch.setattr(experiments, "_mnist_arrays", fake_mnist)
    args = ["grid", "--task", "mnist-row", "--variants", "gru1", "gru3", "--out-dir", str(tmp_path), "--epochs", "1",
            "--train-limit", "40", "--test-limit", "20", *SMALL]
    assert main([*args, "--implementation", "triton"]) == 0
    results = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*.json"))]
    assert len(results) == 2
    for r in results:
        assert r["complete"] and r["config"]["implementation"] == "triton"
        assert r["provenance"]["triton"]["interpreted"] is True
    # the engine does not change the model: a fused grid finds the runs complete and leaves them
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(args) == 0
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before


# ----------------------------------------------------------------------------- errors
def test_the_cpu_without_the_interpreter_is_refused(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("TRITON_INTERPRET")
    gru = GRU(3, 8, implementation="triton")
    with pytest.raises(RuntimeError, match="CUDA devices, not on cpu.*TRITON_INTERPRET=1"):
        gru(torch.randn(4, 2, 3))
    # a training run says so before it claims its files, and so does the command line
    from test_cli import fake_mnist
    from test_train import config, toy_data

    from gru_lib import experiments
    from gru_lib.__main__ import main
    from gru_lib.train import train

    with pytest.raises(ValueError, match="CUDA devices, not on cpu"):
        train(config(implementation="triton", device="cpu"), toy_data(), progress=False)
    monkeypatch.setattr(experiments, "_mnist_arrays", fake_mnist)
    out = tmp_path / "run.json"
    assert main(["run", "--task", "mnist-row", "--variant", "gru1", "--out", str(out), "--device", "cpu",
                 "--implementation", "triton", "--quiet"]) == 2
    assert "error: implementation='triton' runs on CUDA devices" in capsys.readouterr().err
    assert not out.exists()


def test_hidden_sizes_beyond_the_kernels_are_refused():
    with pytest.raises(ValueError, match="up to 256, got 300"):
        GRU(3, 300, implementation="triton")
    with pytest.raises(ValueError, match="unknown implementation"):
        GRU(3, 8, implementation="cuda")


def test_gru_lib_imports_without_triton():
    code = ("import sys; sys.modules['triton'] = None\n"
            "import gru_lib, torch\n"
            "gru_lib.GRU(3, 4)(torch.randn(2, 1, 3))\n"
            "try:\n    gru_lib.GRU(3, 4, implementation='triton')\n"
            "except ImportError as e:\n    print('refused:', e)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "refused: implementation='triton' needs the triton package" in r.stdout


# ----------------------------------------------------------------------------- compiled, without a GPU
POINTERS = {"xp", "h0", "hn", "w", "b_gates", "b_cand", "out", "zs", "rs", "hts", "auxs", "go", "dh_in", "dh_out",
            "hps", "d_rec", "d_cand"}


@pytest.mark.slow
@pytest.mark.parametrize(("variant", "reset_after"), [("gru0", True), ("gru3", False)])
def test_the_kernels_compile_for_an_h100(variant, reset_after, monkeypatch, tmp_path):
    """Triton's compiler and ptxas need no GPU: what the interpreter cannot see (types in the
    loops, compile-time branches, dot shapes) is checked here for sm_90."""
    pytest.importorskip("triton.backends.nvidia")
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from gru_lib import triton_gru

    monkeypatch.delenv("TRITON_INTERPRET")
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path))  # compiled now, not found in a cache
    spec = GRUSpec.make(variant, "tanh", reset_after)
    flags = triton_gru._flags(spec, torch.empty(1, 100))
    forward, backward = triton_gru._kernels()
    forward_flags = flags | dict(INPUT=spec.variant.input, HAS_BG=True, HAS_BC=reset_after, STORE=True)
    for kernel, constants in ((forward, forward_flags), (backward, flags)):
        signature = {a: "constexpr" if a in constants else "*fp32" if a in POINTERS else "i32"
                     for a in kernel.arg_names}
        compiled = triton.compile(ASTSource(kernel, signature, constants), target=GPUTarget("cuda", 90, 32),
                                  options={"num_warps": 8, "enable_fp_fusion": triton_gru.FP_FUSION})
        assert compiled.asm["cubin"]


@pytest.mark.slow
def test_the_resource_script_reads_registers_and_stack(capsys, monkeypatch):
    import importlib.util

    pytest.importorskip("triton.backends.nvidia")
    spec = importlib.util.spec_from_file_location("_bench_res", ROOT / "benchmarks" / "triton_resources.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.delenv("TRITON_INTERPRET")
    rows = module.main(["--hidden", "32", "--variants", "gru3", "--precisions", "tf32"])
    assert [r["kernel"] for r in rows] == ["forward", "backward"]
    assert all(0 < r["REG"] <= 255 and r["STACK"] >= 0 for r in rows)
    assert "registers" in capsys.readouterr().out


# ----------------------------------------------------------------------------- compiled, on a GPU
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("variant", ["gru0", "gru1", "gru2", "gru3"])
@pytest.mark.parametrize(("activation", "reset_after", "update_rule"), [("tanh", False, "paper"),
                                                                        ("relu", True, "cho")])
@pytest.mark.usefixtures("strict_float32")
def test_compiled_kernels_equal_fused(variant, activation, reset_after, update_rule):
    # each combination is a compilation of its own: the interpreter covers the whole cross product
    spec = GRUSpec.make(variant, activation, reset_after, update_rule)
    assert_same(run_both(spec, m=7, n=100, B=33, T=50, K=3, device="cuda"))


@pytest.fixture
def strict_float32():
    """No TF32 anywhere (PyTorch's default; cuDNN's RNNs use TF32 unless told not to)."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        yield
    torch.set_float32_matmul_precision(before)


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("n", [100, 128])
def test_compiled_kernels_match_cudnn(n, strict_float32):
    torch.manual_seed(0)
    ref = torch.nn.GRU(28, n, batch_first=True).cuda()
    ours = GRU.from_torch(ref, implementation="triton")
    x = torch.randn(32, 784 // 28, 28, device="cuda")
    outs = []
    for m in (ref, ours):
        out, h = m(x)
        (out.square().sum() + h.sum()).backward()
        outs.append([out, h])
    for a, b in zip(*outs):
        torch.testing.assert_close(b, a, atol=2e-5, rtol=0)
    for (name, a), b in zip(ref.named_parameters(), ours.parameters()):
        torch.testing.assert_close(b.grad, a.grad, atol=1e-4, rtol=1e-4, msg=lambda s: f"{name}: {s}")


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("variant", ["gru0", "gru3"])
def test_compiled_kernels_with_three_tf32_products(variant):
    """torch's "high" matmul precision: tl.dot "tf32x3", about float32's accuracy."""
    from gru_lib.triton_gru import dot_precision

    spec = GRUSpec.make(variant, "tanh", False)
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")
        assert dot_precision() == "tf32x3"
        kernel = run_both(spec, m=7, n=128, B=32, T=100, K=2, device="cuda")[1]
    finally:
        torch.set_float32_matmul_precision(before)
    fused = run_both(spec, m=7, n=128, B=32, T=100, K=2, device="cuda")[0]
    assert_same([fused, kernel], rtol=1e-3, atol=1e-4)


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_compiled_kernels_in_other_dtypes(dtype):
    spec = GRUSpec.make("gru0", "tanh", True, "cho")
    if dtype == torch.float64:
        assert_same(run_both(spec, n=40, B=20, T=30, K=2, dtype=dtype, device="cuda"), rtol=1e-10, atol=1e-10)
        return
    gru = GRU(4, 64, device="cuda", dtype=dtype, implementation="triton")
    out, h = gru(torch.randn(10, 20, 4, device="cuda", dtype=dtype))
    out.float().sum().backward()
    assert torch.isfinite(out).all() and out.dtype == dtype


@pytest.mark.cuda
@needs_cuda
def test_compiled_training_in_a_cuda_graph_equals_fused(recwarn):
    from test_cuda import _configs, _same, _toy

    from gru_lib.train import train_stack

    data = _toy(n_train=200)
    runs = {impl: train_stack(_configs(implementation=impl), data, progress=False, cuda_graph=True)
            for impl in ("fused", "triton")}
    assert not [w for w in recwarn if "CUDA graph" in str(w.message)]
    for a, b in zip(runs["fused"], runs["triton"]):
        _same(a, b)
        assert b["provenance"]["triton"]["interpreted"] is False


def test_the_gpu_benchmark_has_a_triton_column(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("_bench_gpu", ROOT / "benchmarks" / "gpu.py")
    gpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu)
    result = gpu.main(["--device", "cpu", "--tasks", "mnist-row", "--variants", "gru3", "--seeds", "1",
                       "--batches", "1", "--repeats", "1", "--triton-stacks", "1", "2"])
    row = result["rows"][0]
    assert set(row["triton"]) == {"gru3 x1", "gru3 x2"} and all(s > 0 for s in row["triton"].values())
    assert row["us_per_step"]["triton gru3 x2"] == pytest.approx(row["triton"]["gru3 x2"] * 32 / 60000 / 28 * 1e6)
    assert result["triton"]["interpreted"] is True
    assert result["total_triton_stacked_h"] > 0 and "in Triton stacks" in capsys.readouterr().out


def test_the_paper_grid_script_takes_the_engine_and_a_subset_of_rates(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "paper_grid.py"), "--dry-run", "--out-dir",
                        str(tmp_path), "--device", "cpu", "--grids", "imdb", "--lrs", "1e-5", "--seeds", "0",
                        "--implementation", "triton"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    # Tables 2 and 3 at the one rate: 4 variants each
    assert [ln.split(": ")[1].split(" ")[0] for ln in r.stdout.splitlines()] == ["0/4", "0/4"]

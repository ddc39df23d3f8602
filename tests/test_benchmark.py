"""The speed benchmark runs and reports what it says; it asserts nothing about speed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _speed():
    spec = importlib.util.spec_from_file_location("_bench_speed", REPO / "benchmarks" / "speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_script_reports_a_ratio_per_model(tmp_path, capsys):
    out = tmp_path / "speed.json"
    result = _speed().main(
        ["--shapes", "mnist-row", "imdb", "--variants", "gru0", "gru3", "--repeats", "1", "--batch", "4",
         "--threads", "1", "--json", str(out)]
    )
    assert json.loads(out.read_text()) == result
    rows = {(r["shape"], r["model"]): r for r in result["rows"]}
    assert set(rows) == {(s, m) for s in ("mnist-row", "imdb") for m in ("nn.GRU", "gru0", "gru3")}
    for (shape, model), r in rows.items():
        assert r["ms"] > 0 and r["ratio"] > 0
        assert r["hidden"] == {"mnist-row": 100, "imdb": 128}[shape]
    assert rows[("imdb", "nn.GRU")]["ratio"] == 1.0
    assert "ratio to nn.GRU" in capsys.readouterr().out


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stack_benchmark_reports_a_speedup_per_stack_size(tmp_path):
    out = tmp_path / "stack.json"
    result = _load("stack").main(["--tasks", "mnist-row", "imdb", "--stacks", "1", "2", "--batches", "2",
                                  "--repeats", "1", "--threads", "1", "--json", str(out)])
    assert json.loads(out.read_text()) == result
    assert [(r["task"], r["k"]) for r in result["rows"]] == [("mnist-row", 1), ("mnist-row", 2), ("imdb", 1),
                                                              ("imdb", 2)]
    for r in result["rows"]:
        assert r["speedup"] == r["single_s_per_model_epoch"] / r["stacked_s_per_model_epoch"] > 0
    assert result["command"][:2] == ["python", "benchmarks/stack.py"] and "--stacks" in result["command"]
    assert result["date"].startswith("20") and "git_commit" in result


def test_embedding_benchmark_times_the_sparse_and_the_dense_update(tmp_path, capsys):
    out = tmp_path / "embedding.json"
    result = _load("embedding").main(["--stacks", "1", "2", "--batches", "2", "--repeats", "1", "--threads", "1",
                                      "--json", str(out)])
    assert json.loads(out.read_text()) == result
    assert [r["k"] for r in result["rows"]] == [1, 2]
    for r in result["rows"]:
        assert r["speedup"] == r["dense_ms_per_batch"] / r["sparse_ms_per_batch"] > 0
    assert result["command"][:2] == ["python", "benchmarks/embedding.py"]
    assert "sparse ms/batch" in capsys.readouterr().out


def test_embedding_benchmark_times_the_matrix_products_alone(tmp_path, capsys):
    result = _load("embedding").main(["--stacks", "1", "--batches", "1", "--repeats", "1", "--threads", "1",
                                      "--floor"])
    assert result["rows"][0]["matmul_ms_per_batch"] > 0
    assert "products alone" in capsys.readouterr().out


@pytest.mark.parametrize("k", [1, 2])
def test_embedding_benchmark_products_are_those_of_the_training_step(k):
    """The products timed alone are the real step's matrix products: the same floating-point
    operations (counted by PyTorch's FlopCounterMode) but for the 128 -> 1 output layer."""
    from torch.utils.flop_counter import FlopCounterMode

    stack = _load("stack")
    step = stack.make_step("imdb", "gru0", list(range(k)), torch.device("cpu"), 32)
    (xb, yb), = stack.make_batches("imdb", k, 32, 1, torch.device("cpu"))
    with FlopCounterMode(display=False) as real:
        step(xb, yb)
    with FlopCounterMode(display=False) as alone:
        _load("embedding").step_products(k)()
    output_layer = 3 * 2 * k * 32 * 128  # forward, grad input, grad weight of (K, B, 128) @ (K, 128, 1)
    assert alone.get_total_flops() == 2 * 6 * k * 80 * 32 * 128 * 384
    assert real.get_total_flops() == alone.get_total_flops() + output_layer


def test_gpu_benchmark_runs_on_the_cpu_and_projects_the_grid(tmp_path, capsys):
    result = _load("gpu").main(["--device", "cpu", "--tasks", "mnist-row", "--variants", "gru2", "--seeds", "1",
                                "--batches", "2", "--repeats", "1", "--json", str(tmp_path / "gpu.json")])
    row = result["rows"][0]
    assert row["k"] == 2 and row["nn.GRU"] > 0 and row["gru2 x1"] > 0 and set(row["stacks"]) == {"gru2 x2"}
    assert result["projection"]["mnist-row"]["models"] == 4  # 2 activations x 2 rates x 1 variant x 1 seed
    assert result["total_stacked_h"] > 0 and "the paper's grid" in capsys.readouterr().out


def test_packed_script_reports_ratios_to_nn_gru(tmp_path, capsys):
    module = _load("packed")
    out = tmp_path / "packed.json"
    result = module.main(["--variants", "gru0", "gru3", "--repeats", "1", "--batch", "4", "--steps", "12",
                          "--min-length", "2", "--features", "8", "--hidden", "8", "--threads", "1",
                          "--json", str(out)])
    assert json.loads(out.read_text()) == result
    rows = {r["model"]: r for r in result["rows"]}
    assert set(rows) == {"nn.GRU", "gru0", "gru3"}
    assert rows["nn.GRU"]["ratio"] == 1.0
    for r in rows.values():
        assert r["padded_ms"] > 0 and r["packed_ms"] > 0 and r["packed_over_padded"] > 0
    assert 2 / 12 <= result["fill"] <= 1
    assert "ratio to nn.GRU" in capsys.readouterr().out

"""The speed benchmark runs and reports what it says; it asserts nothing about speed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

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


def test_packed_script_reports_ratios_to_nn_gru(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("_bench_packed", REPO / "benchmarks" / "packed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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

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

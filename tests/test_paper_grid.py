"""scripts/paper_grid.py: the paper's whole grid in resumable, time-limited chunks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "paper_grid.py"
DATA = Path(os.environ.get("GRU_LIB_DATA_DIR", ROOT.parent / "shared" / "data"))
TINY = ["--preset", "quick", "--epochs", "2", "--train-limit", "64", "--test-limit", "32", "--device", "cpu",
        "--threads", "1", "--quiet"]


def run(*args, timeout=600):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def test_dry_run_lists_the_paper_grids(tmp_path):
    r = run("--dry-run", "--out-dir", str(tmp_path), "--device", "cpu", "--stack", "1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # 16 row-wise cells, Tables 2 and 3 (12 IMDB cells each), Table 1 (8 pixel-wise cells); three seeds each
    assert [ln.split(":")[0] for ln in lines] == ["row-wise MNIST", "Table 2", "Table 3", "Table 1"]
    assert [ln.split(": ")[1].split(" ")[0] for ln in lines] == ["0/48", "0/36", "0/36", "0/24"]
    assert "48 stacks" in lines[0]


@pytest.mark.realdata
@pytest.mark.slow
def test_chunks_that_run_out_of_time_add_up_to_the_whole_grid(tmp_path):
    if not (DATA / "mnist").is_dir():
        pytest.skip(f"the real MNIST files are not in {DATA}")
    common = ["--grids", "mnist-row", "--seeds", "0", "--data-dir", str(DATA), *TINY]
    chunked, whole = tmp_path / "chunked", tmp_path / "whole"
    first = run(*common, "--out-dir", str(chunked), "--minutes", "0.15")
    assert first.returncode == 75, first.stderr
    assert "run the same command again" in first.stderr
    second = run(*common, "--out-dir", str(chunked), "--minutes", "10")
    assert second.returncode == 0, second.stderr
    assert run(*common, "--out-dir", str(whole), "--minutes", "10").returncode == 0
    names = sorted(p.name for p in whole.glob("*.json"))
    assert len(names) == 16 and sorted(p.name for p in chunked.glob("*.json")) == names
    for name in names:
        a, b = json.loads((chunked / name).read_text()), json.loads((whole / name).read_text())
        assert a["complete"] and b["complete"]
        for x, y in zip(a["history"], b["history"]):
            assert x["test_acc"] == y["test_acc"] and abs(x["train_loss"] - y["train_loss"]) < 1e-6
    again = run(*common, "--out-dir", str(chunked), "--dry-run")
    assert "16/16 complete; 0 stacks" in again.stdout

"""Grids as Ray tasks (``python -m gru_lib grid ... --ray``) against a local Ray of 2 CPUs.

The Ray tests start one Ray instance for the module (``ray.init(num_cpus=2)``, no
dashboard, nothing from the network) and shut it down afterwards. They are skipped
with the reason when Ray is not installed (``pip install -e ".[cluster]"``). The
tasks import ``gru_lib`` from the checkout these tests import it from.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gru_lib
from gru_lib import experiments
from gru_lib.__main__ import main

from test_cli import SMALL, fake_mnist

ROOT = Path(__file__).resolve().parents[1]
GRID = ["grid", "--task", "mnist-row", "--variants", "gru0", "gru3", "--seeds", "0", "1", "--lrs", "1e-3", "2e-3"]
TIMING = ("seconds", "train_seconds")


@pytest.fixture
def tiny(monkeypatch):
    # Only the driver reads the data (it puts the tensors in Ray's object store), so
    # replacing the reader here is enough for the tasks too.
    monkeypatch.setattr(experiments, "_mnist_arrays", fake_mnist)


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason='the Ray tests need Ray: pip install -e ".[cluster]"')
    t0 = time.perf_counter()
    source = str(Path(gru_lib.__file__).resolve().parents[1])  # the tasks import this gru_lib
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": source, "OMP_NUM_THREADS": "1"}})
    print(f"ray.init: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    try:
        yield ray
    finally:
        ray.shutdown()


def comparable(path: Path) -> dict:
    """A result without what differs from one execution to the next: timing and provenance."""
    r = json.loads(path.read_text())
    r.pop("provenance")
    r["history"] = [{k: v for k, v in h.items() if k not in TIMING} for h in r["history"]]
    return r


def assert_same_results(local: Path, on_ray: Path) -> None:
    names = sorted(p.name for p in local.glob("*.json"))
    assert names and sorted(p.name for p in on_ray.glob("*.json")) == names
    assert sorted(p.name for p in on_ray.glob("*.ckpt")) == sorted(p.name for p in local.glob("*.ckpt"))
    for name in names:
        a, b = comparable(local / name), comparable(on_ray / name)
        assert a["history"] == b["history"], f"{name}: the Ray grid's history differs from the local grid's"
        assert a == b, name


@pytest.mark.slow
def test_ray_grid_gives_the_local_grids_results(ray_cluster, tiny, tmp_path, capsys):
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    opts = ["--epochs", "1", "--preset", "paper", "--threads", "1", *SMALL]
    assert main([*GRID, "--out-dir", str(local), *opts]) == 0
    t0 = time.perf_counter()
    assert main([*GRID, "--out-dir", str(on_ray), "--ray", *opts]) == 0  # the module's Ray: already connected
    print(f"Ray grid of 8 runs in 4 tasks: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    assert_same_results(local, on_ray)
    assert len(list(on_ray.glob("*.json"))) == 8
    run = json.loads(next(on_ray.glob("*.json")).read_text())
    assert run["provenance"]["sessions"][-1]["threads"] == 1  # the task's one CPU

    # a rerun skips every complete result and touches no file
    stamps = {p: p.stat().st_mtime_ns for p in on_ray.iterdir()}
    statuses = experiments.run_grid("mnist-row", ["gru0", "gru3"], lrs=[1e-3, 2e-3], seeds=[0, 1], out_dir=on_ray,
                                    preset="paper", epochs=1, hidden_size=8, threads=1, progress=False, ray="auto")
    assert [s["status"] for s in statuses] == ["skipped"] * 8
    assert {p: p.stat().st_mtime_ns for p in on_ray.iterdir()} == stamps

    # more epochs: the tasks resume from the checkpoints the driver sends them
    kw = dict(lrs=[1e-3, 2e-3], seeds=[0, 1], preset="paper", epochs=2, hidden_size=8, threads=1, progress=False)
    experiments.run_grid("mnist-row", ["gru0", "gru3"], out_dir=local, **kw)
    statuses = experiments.run_grid("mnist-row", ["gru0", "gru3"], out_dir=on_ray, ray="local", **kw)
    assert [s["status"] for s in statuses] == ["resumed"] * 8
    assert all(s["path"].startswith(str(on_ray)) for s in statuses)
    assert_same_results(local, on_ray)
    assert [h["epoch"] for h in comparable(on_ray / "mnist-row_gru3_tanh_lr0.002_seed1.json")["history"]] == [1, 2]


@pytest.mark.slow
def test_ray_grid_says_what_the_cluster_lacks(ray_cluster, tiny, tmp_path, capsys):
    base = [*GRID, "--out-dir", str(tmp_path), "--epochs", "1", "--ray", "--hidden-size", "8"]
    assert main([*base, "--threads", "3"]) == 2
    err = capsys.readouterr().err
    assert "asks for 3 CPUs" in err and "has 2" in err and "expected --threads 2 or fewer" in err
    assert main([*base, "--device", "cuda"]) == 2
    assert "has no GPU" in capsys.readouterr().err
    assert main([*base, "--device", "cuda:1"]) == 2
    assert "expected --device cuda" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_without_ray_the_grid_says_what_to_install(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    code = main([*GRID, "--out-dir", str(tmp_path / "grid"), "--epochs", "1", "--ray", "ray://head:10001", *SMALL])
    assert code == 2
    assert 'pip install -e ".[cluster]"' in capsys.readouterr().err
    assert not (tmp_path / "grid").exists()


def test_importing_gru_lib_never_imports_ray():
    code = ("import sys, gru_lib, gru_lib.__main__, gru_lib.cluster, gru_lib.experiments\n"
            "assert 'ray' not in sys.modules, 'importing gru_lib imported ray'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)


def test_cli_ray_option():
    from gru_lib.__main__ import build_parser

    grid = ["grid", "--task", "imdb", "--variants", "gru0", "--out-dir", "r"]
    assert build_parser().parse_args(grid).ray is None
    assert build_parser().parse_args([*grid, "--ray"]).ray == "local"
    assert build_parser().parse_args([*grid, "--ray", "--threads", "2"]).ray == "local"
    assert build_parser().parse_args([*grid, "--ray", "auto"]).ray == "auto"
    assert build_parser().parse_args([*grid, "--ray", "ray://head-node:10001"]).ray == "ray://head-node:10001"

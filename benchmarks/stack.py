"""Training speed of a stack of models against the same models one at a time.

For each of the paper's task shapes and each stack size K, this times training
iterations (forward, backward, RMSprop step; batch 32) of

* a stack of K models (:class:`gru_lib.model.StackedClassifier`), and
* the same K models as K stacks of one, one after another (what ``--stack 1`` does),

interleaved in one process so that drift in the machine's load hits both alike,
and reports the seconds per model-epoch of each and their ratio (> 1: the stack is
faster). Data is random with the task's shapes; only the speed is measured.

    python benchmarks/stack.py                          # row-wise MNIST and IMDB, K = 2, 4, 8, 2 threads
    python benchmarks/stack.py --tasks mnist-pixel --stacks 8 --batches 5
    python benchmarks/stack.py --device cuda --cuda-graph --stacks 16 32
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import gru_lib  # noqa: E402
from gru_lib.experiments import TASKS  # noqa: E402
from gru_lib.files import device_name, provenance  # noqa: E402
from gru_lib.model import StackedClassifier, build_model  # noqa: E402
from gru_lib.optim import StackedRMSprop  # noqa: E402
from gru_lib.train import KERAS_RMSPROP, TrainStep  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(task: str, model: str, seeds: list[int], device: torch.device, batch: int,
              cuda_graph: bool = False, activation: str = "tanh", implementation: str = "fused") -> TrainStep:
    """A training step for a stack of the task's model, one member per seed, on the given GRU engine."""
    t = TASKS[task]
    nets = []
    for seed in seeds:
        torch.manual_seed(seed)
        nets.append(build_model(model, input_size=t.input_size or 128, hidden_size=t.hidden_size,
                                num_classes=t.num_classes, activation=activation,
                                num_embeddings=20000 if t.input_size is None else None,
                                implementation=implementation))
    stack = StackedClassifier(nets).to(device)
    opt = StackedRMSprop(list(stack.parameters()), [1e-3] * len(seeds), **KERAS_RMSPROP)
    kind = "cuda" if device.type == "cuda" else "cpu"
    gens = [torch.Generator(device=kind).manual_seed(s) for s in seeds]
    return TrainStep(stack, opt, gens, batch, cuda_graph)


def make_batches(task: str, k: int, batch: int, count: int, device: torch.device) -> list[tuple]:
    """``count`` random batches for ``k`` models with the task's shapes."""
    t = TASKS[task]
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(count):
        if t.input_size is None:
            x = torch.randint(1, 20000, (k, batch, t.steps), generator=g)
        else:
            x = torch.rand(k, batch, t.steps, t.input_size, generator=g)
        y = torch.randint(0, t.num_classes, (k, batch), generator=g)
        out.append((x.to(device), y.to(device)))
    return out


def time_steps(step, batches: list[tuple], device: torch.device) -> float:
    """Seconds for one pass of ``step(xb, yb)`` (e.g. a :class:`TrainStep`) over ``batches``."""
    _sync(device)
    t0 = time.perf_counter()
    for xb, yb in batches:
        step(xb, yb)
    _sync(device)
    return time.perf_counter() - t0


def compare(task: str, k: int, *, model: str = "gru0", device: torch.device, batch: int = 32, batches: int = 20,
            repeats: int = 3, cuda_graph: bool = False) -> dict:
    """Median seconds per model-epoch of a stack of ``k`` and of ``k`` single models, and their ratio."""
    stack = make_step(task, model, list(range(k)), device, batch, cuda_graph)
    singles = [make_step(task, model, [s], device, batch, cuda_graph) for s in range(k)]
    data = make_batches(task, k, batch, batches, device)
    single_data = [[(x[s:s + 1], y[s:s + 1]) for x, y in data] for s in range(k)]
    # warm-up (and, with a graph, the capture) outside the timed passes
    time_steps(stack, data[:4], device)
    for s, step in enumerate(singles):
        time_steps(step, single_data[s][:4], device)
    t_stack, t_single = [], []
    for _ in range(repeats):
        t_stack.append(time_steps(stack, data, device))
        t_single.append(sum(time_steps(step, single_data[s], device) for s, step in enumerate(singles)))
    per_epoch = TASKS[task].train_size / batch / batches  # passes per epoch
    stacked = statistics.median(t_stack) * per_epoch / k
    alone = statistics.median(t_single) * per_epoch / k
    return {"task": task, "model": model, "k": k, "stacked_s_per_model_epoch": stacked,
            "single_s_per_model_epoch": alone, "speedup": alone / stacked}


def environment(device: torch.device, script: str, argv: Optional[list[str]]) -> dict:
    """What a benchmark's numbers depend on, and where they came from (commit, date, command)."""
    prov = provenance(device, ["python", f"benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)])
    return {"torch": torch.__version__, "gru_lib": gru_lib.__version__, "threads": torch.get_num_threads(),
            "device": device_name(device), "python": platform.python_version(),
            "git_commit": prov["git_commit"], "git_dirty": prov["git_dirty"], "date": prov["date"],
            "command": prov["command"]}


def main(argv: Optional[list[str]] = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=["mnist-row", "imdb"], choices=list(TASKS))
    ap.add_argument("--stacks", nargs="+", type=int, default=[2, 4, 8], metavar="K")
    ap.add_argument("--model", default="gru0", choices=list(gru_lib.MODELS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, default=20, help="batches per timed pass")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes of each (median reported)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cuda-graph", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    env = environment(device, "stack.py", argv)
    print(f"torch {env['torch']}, {args.threads} threads, {env['device']}, model {args.model}, batch 32")
    print(f"{'task':<12} {'K':>3} {'stack s/model-epoch':>20} {'one by one':>11} {'speed-up':>9}")
    rows = []
    for task in args.tasks:
        for k in args.stacks:
            r = compare(task, k, model=args.model, device=device, batches=args.batches, repeats=args.repeats,
                        cuda_graph=args.cuda_graph)
            rows.append(r)
            print(f"{task:<12} {k:>3} {r['stacked_s_per_model_epoch']:>20.1f} {r['single_s_per_model_epoch']:>11.1f} "
                  f"{r['speedup']:>8.2f}x", flush=True)
    result = {"rows": rows, **env, "cuda_graph": args.cuda_graph}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()

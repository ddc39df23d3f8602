"""Seconds per epoch of each of the paper's tasks on a GPU, and the paper's whole grid.

For each task (row-wise MNIST, IMDB, pixel-wise MNIST; batch 32, the paper's
sizes) this times training iterations (forward, backward, RMSprop step) and
reports seconds per epoch of

* ``nn.GRU``: one model around ``torch.nn.GRU`` (cuDNN on a GPU), reset gate after
  ``U_h`` as cuDNN computes it;
* ``gru_lib x1``: one model of this package (a stack of one), eager;
* ``stack xK``: the K = rates × seeds models of one variant and activation of the
  task's table, as ``scripts/paper_grid.py`` trains them, eager and replayed from
  a CUDA graph (``--cuda-graph``);
* ``triton xK``: stacks of K models on the Triton engine (``implementation="triton"``,
  :mod:`gru_lib.triton_gru`), replayed from a CUDA graph, for K in ``--triton-stacks``
  (default on CUDA: 1, 6, 48 and the task's K);

each also as microseconds per time step of one batch (forward and backward, the
optimiser step included), then the projected wall time of the paper's whole grid
(every table of :data:`gru_lib.experiments.PAPER_GRIDS`, GRU0–GRU3, the given seeds,
100 epochs) trained one model at a time, in stacks, and in Triton stacks. Data is
random with the tasks' shapes.

    python benchmarks/gpu.py                        # needs CUDA; --device cpu for a dry run
    python benchmarks/gpu.py --seeds 3 --batches 100 --json gpu.json
    TRITON_INTERPRET=1 python benchmarks/gpu.py --device cpu --triton-stacks 1   # the Triton column, interpreted
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Optional

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stack import environment, make_batches, make_step, time_steps  # noqa: E402

from gru_lib.experiments import PAPER_GRIDS, PAPER_VARIANTS, TASKS  # noqa: E402
from gru_lib.train import KERAS_RMSPROP  # noqa: E402

EPOCHS = 100


class TorchGRUClassifier(nn.Module):
    """The paper's classifier around ``torch.nn.GRU``: [embedding] → GRU → dropout → linear."""

    def __init__(self, task: str) -> None:
        super().__init__()
        t = TASKS[task]
        self.embedding = nn.Embedding(20000, 128) if t.input_size is None else None
        self.rnn = nn.GRU(t.input_size or 128, t.hidden_size, batch_first=True)
        self.output = nn.Linear(t.hidden_size, 1 if t.num_classes == 2 else t.num_classes)
        self.binary = t.num_classes == 2

    def forward(self, x):
        if self.embedding is not None:
            x = self.embedding(x)
        _, h = self.rnn(x)
        logits = self.output(nn.functional.dropout(h[-1], 0.2, self.training))
        return logits.squeeze(-1) if self.binary else logits

    def loss(self, logits, y):
        if self.binary:
            return nn.functional.binary_cross_entropy_with_logits(logits, y.float())
        return nn.functional.cross_entropy(logits, y)


def time_torch(task: str, batches: list[tuple], device: torch.device, repeats: int) -> float:
    """Seconds per epoch of one ``torch.nn.GRU`` model."""
    net = TorchGRUClassifier(task).to(device)
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-3, **KERAS_RMSPROP)

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        net.loss(net(xb[0]), yb[0]).backward()
        opt.step()

    for xb, yb in batches[:3]:
        step(xb, yb)
    ts = [time_steps(step, batches, device) for _ in range(repeats)]
    return statistics.median(ts) * TASKS[task].train_size / 32 / len(batches)


def time_stack(task: str, model: str, k: int, batches: list[tuple], device: torch.device, repeats: int,
               cuda_graph: bool, implementation: str = "fused") -> float:
    """Seconds per epoch of a stack of ``k`` models (``k`` = 1: one model)."""
    step = make_step(task, model, list(range(k)), device, 32, cuda_graph, implementation=implementation)
    data = [(x[:k], y[:k]) for x, y in batches]
    time_steps(step, data[:4], device)  # warm-up, and the capture
    ts = [time_steps(step, data, device) for _ in range(repeats)]
    return statistics.median(ts) * TASKS[task].train_size / 32 / len(batches)


def main(argv: Optional[list[str]] = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per cell of the grid (default 3)")
    ap.add_argument("--batches", type=int, default=50, help="batches per timed pass")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tasks", nargs="+", default=["mnist-row", "imdb", "mnist-pixel"], choices=list(TASKS))
    ap.add_argument("--variants", nargs="+", default=list(PAPER_VARIANTS))
    ap.add_argument("--triton-stacks", nargs="*", type=int, metavar="K",
                    help="stack sizes of the Triton column (default on CUDA: 1 6 48 and the task's K; none on "
                         "the CPU, where the kernels need TRITON_INTERPRET=1)")
    ap.add_argument("--matmul-precision", choices=("highest", "high", "medium"), default="highest",
                    help="torch.set_float32_matmul_precision for the run: the fused matmuls' TF32, and the "
                         "Triton kernels' tl.dot (ieee, tf32x3, tf32); default highest (strict float32)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_float32_matmul_precision(args.matmul_precision)
    device = torch.device(args.device)
    graphs = [False, True] if device.type == "cuda" else [False]
    env = environment(device, "gpu.py", argv)
    triton_env = {}
    if (args.triton_stacks is None and device.type == "cuda") or args.triton_stacks:
        from gru_lib.triton_gru import provenance as triton_provenance

        triton_env = {"triton": triton_provenance()}
    print(f"torch {env['torch']}, {env['device']}; seconds per epoch, batch 32")
    rows, per_task = [], {}
    for task in args.tasks:
        grids = [g for g in PAPER_GRIDS if g["task"] == task]
        k = max(len(g["lrs"]) for g in grids) * args.seeds
        triton_ks = sorted({1, 6, 48, k} if args.triton_stacks is None and triton_env
                           else set(args.triton_stacks or ()))
        batches = make_batches(task, max([k, *triton_ks]), 32, args.batches, device)
        row = {"task": task, "k": k, "nn.GRU": time_torch(task, batches, device, args.repeats), "stacks": {},
               "triton": {}}
        for v in args.variants:
            row[f"{v} x1"] = time_stack(task, v, 1, batches, device, args.repeats, False)
            for graph in graphs:
                row["stacks"][f"{v} x{k}" + (" graph" if graph else "")] = time_stack(
                    task, v, k, batches, device, args.repeats, graph)
            for kt in triton_ks:
                row["triton"][f"{v} x{kt}"] = time_stack(task, v, kt, batches, device, args.repeats,
                                                         device.type == "cuda", implementation="triton")
        # one batch's step of time, forward and backward (and the optimiser's share)
        per_step = 32 / TASKS[task].train_size / TASKS[task].steps * 1e6
        row["us_per_step"] = {name: s * per_step for name, s in
                              [("nn.GRU", row["nn.GRU"]), *((f"{v} x1", row[f"{v} x1"]) for v in args.variants),
                               *row["stacks"].items(), *((f"triton {n}", s) for n, s in row["triton"].items())]}
        rows.append(row)
        # the task's cells: per grid, activations x variants stacks of lrs x seeds models
        stacks = sum(len(g["activations"]) for g in grids)
        cells = sum(len(g["activations"]) * len(g["lrs"]) for g in grids) * len(args.variants)
        best = "graph" if device.type == "cuda" else ""
        per_task[task] = {
            "models": cells * args.seeds,
            "one_at_a_time_h": sum(row[f"{v} x1"] for v in args.variants) / len(args.variants)
            * cells * args.seeds * EPOCHS / 3600,
            "stacked_h": sum(row["stacks"][f"{v} x{k}" + (" graph" if best else "")] for v in args.variants)
            * stacks * EPOCHS / 3600,
        }
        if k in triton_ks:
            per_task[task]["triton_stacked_h"] = sum(row["triton"][f"{v} x{k}"] for v in args.variants) \
                * stacks * EPOCHS / 3600
        us = row["us_per_step"]
        print(f"\n{task} (a stack holds {k} models: every rate x {args.seeds} seeds)")
        print(f"  nn.GRU, one model          {row['nn.GRU']:9.1f} s/epoch {us['nn.GRU']:9.1f} us/step")
        for v in args.variants:
            print(f"  {v}, one model            {row[f'{v} x1']:9.1f} s/epoch {us[f'{v} x1']:9.1f} us/step")
        for name, s in row["stacks"].items():
            print(f"  {name:<25} {s:9.1f} s/epoch {us[name]:9.1f} us/step ({s / k:.2f} s per model-epoch)")
        for name, s in row["triton"].items():
            kt = int(name.rsplit("x", 1)[1])
            print(f"  triton {name:<18} {s:9.1f} s/epoch {us['triton ' + name]:9.1f} us/step "
                  f"({s / kt:.2f} s per model-epoch)")
    total_one = sum(t["one_at_a_time_h"] for t in per_task.values())
    total_stacked = sum(t["stacked_h"] for t in per_task.values())
    print(f"\nthe paper's grid ({', '.join(args.tasks)}; {sum(t['models'] for t in per_task.values())} runs "
          f"of {EPOCHS} epochs): {total_one:.1f} h one model at a time, {total_stacked:.1f} h in stacks")
    result = {"rows": rows, "projection": per_task, "total_one_at_a_time_h": total_one,
              "total_stacked_h": total_stacked, **env, **triton_env, "seeds": args.seeds,
              "float32_matmul_precision": args.matmul_precision}
    if all("triton_stacked_h" in t for t in per_task.values()) and per_task:
        result["total_triton_stacked_h"] = sum(t["triton_stacked_h"] for t in per_task.values())
        print(f"  {result['total_triton_stacked_h'] * 60:.1f} min in Triton stacks")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()

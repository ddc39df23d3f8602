"""The IMDB training step with the embedding's sparse update against the dense one.

A batch of 32 reviews of 80 words reads at most 2560 of a model's 20000 embedding
rows. With a dense gradient, every step zeroes, squares and divides all 2.56 M
entries of the embedding and of its RMSprop state; with the sparse gradient
(the default, :attr:`gru_lib.model.StackedClassifier.sparse_embedding_grad`) only
the rows read are touched, and the rows' missed decay is applied when they are
next read (:class:`gru_lib.optim.StackedRMSprop`). This times training iterations
(forward, backward, RMSprop step) of both, interleaved in one process so that
drift in the machine's load hits both alike, and reports milliseconds per batch
and their ratio (> 1: the sparse update is faster).

It also times the step's matrix products alone (``--floor``, GRU0 as the paper
defines it: the reset gate before the recurrent product), at the same shapes and in
the same process: the time that no change to the step's other operations can remove.

    python benchmarks/embedding.py                       # one GRU0 model, 2 threads
    python benchmarks/embedding.py --stacks 1 8 --floor --json results/benchmarks/embedding-cpu.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Callable, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stack import environment, make_batches, make_step, time_steps  # noqa: E402

import gru_lib  # noqa: E402


def compare(k: int, *, model: str = "gru0", batches: int = 50, repeats: int = 5) -> dict:
    """Median milliseconds per batch of a stack of ``k`` IMDB models, sparse and dense."""
    device = torch.device("cpu")
    steps = {}
    for sparse in (True, False):
        step = make_step("imdb", model, list(range(k)), device, 32)
        step.stack.sparse_embedding_grad = sparse
        steps["sparse" if sparse else "dense"] = step
    data = make_batches("imdb", k, 32, batches, device)
    for step in steps.values():
        time_steps(step, data[:5], device)  # warm-up
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(time_steps(step, data, device) / batches * 1e3)
    sparse, dense = statistics.median(times["sparse"]), statistics.median(times["dense"])
    return {"task": "imdb", "model": model, "k": k, "sparse_ms_per_batch": sparse, "dense_ms_per_batch": dense,
            "speedup": dense / sparse}


def step_products(k: int, *, batch: int = 32, steps: int = 80, n: int = 128, embed: int = 128) -> Callable[[], None]:
    """One IMDB batch's matrix products of a stack of ``k`` GRU0 models, and nothing else.

    These are the products of :func:`gru_lib.functional.gru_sequence` and its fused
    backward (the reset gate before the recurrent product, as in the paper), at the
    same shapes, ``2 · 6 · k · T · B · n · 3n`` floating-point operations in all
    (embedding width ``d = n``):

    * outside the recurrence, over all ``T · B`` rows: the input projection ``x W_ih^T``,
      its two gradients (for ``x`` and ``W_ih``) and ``grad W_hh``;
    * at each of the ``T`` steps: ``h U_{r,z}^T`` and ``(r ⊙ h) U_h^T`` forward,
      ``δa_h U_h`` and ``δa_{r,z} U_{r,z}`` backward.

    The values are random: only the time counts.
    """
    g = torch.Generator().manual_seed(0)
    rnd = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    rows = steps * batch
    x, xp, w_ih = rnd(k, rows, embed), rnd(k, rows, 3 * n), rnd(k, 3 * n, embed)
    h, u_gates, u_h = rnd(k, batch, n), rnd(k, 2 * n, n), rnd(k, n, n)
    bias_gates, bias_h, d_gates = rnd(k, batch, 2 * n), rnd(k, batch, n), rnd(k, batch, 2 * n)

    def one_batch() -> None:
        torch.bmm(x, w_ih.mT)  # input projection
        for _ in range(steps):  # forward
            torch.baddbmm(bias_gates, h, u_gates.mT)
            torch.baddbmm(bias_h, h, u_h.mT)
        for _ in range(steps):  # backward
            torch.bmm(h, u_h)
            torch.baddbmm(h, d_gates, u_gates)
        torch.bmm(xp, w_ih)  # grad x
        torch.bmm(xp.mT, x)  # grad W_ih
        torch.bmm(xp.mT, x)  # grad W_hh (gate rows and candidate rows)

    return one_batch


def products_ms_per_batch(k: int, *, batches: int = 50, repeats: int = 5) -> float:
    """Median milliseconds per batch of :func:`step_products` alone: what the training step
    would take if everything but its matrix products cost nothing."""
    one_batch = step_products(k)
    run = lambda _x, _y: one_batch()  # noqa: E731  (time_steps passes a batch; the products need none)
    passes = [(None, None)] * batches
    device = torch.device("cpu")
    time_steps(run, passes[:3], device)  # warm-up
    return statistics.median([time_steps(run, passes, device) / batches * 1e3 for _ in range(repeats)])


def main(argv: Optional[list[str]] = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stacks", nargs="+", type=int, default=[1], metavar="K")
    ap.add_argument("--model", default="gru0", choices=list(gru_lib.MODELS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, default=50, help="batches per timed pass")
    ap.add_argument("--repeats", type=int, default=5, help="timed passes of each (median reported)")
    ap.add_argument("--floor", action="store_true",
                    help="also time the step's matrix products alone (GRU0, see step_products)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    env = environment(torch.device("cpu"), "embedding.py", argv)
    print(f"torch {env['torch']}, {args.threads} threads, {env['device']}, IMDB, model {args.model}, batch 32")
    print(f"{'K':>3} {'sparse ms/batch':>16} {'dense ms/batch':>15} {'speed-up':>9}"
          + (f" {'products alone':>15}" if args.floor else ""))
    rows = []
    for k in args.stacks:
        r = compare(k, model=args.model, batches=args.batches, repeats=args.repeats)
        if args.floor:
            r["matmul_ms_per_batch"] = products_ms_per_batch(k, batches=args.batches, repeats=args.repeats)
        rows.append(r)
        print(f"{k:>3} {r['sparse_ms_per_batch']:>16.1f} {r['dense_ms_per_batch']:>15.1f} {r['speedup']:>8.2f}x"
              + (f" {r['matmul_ms_per_batch']:>15.1f}" if args.floor else ""), flush=True)
    result = {"rows": rows, **env}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()

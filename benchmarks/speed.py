"""Forward+backward time of gru_lib's GRU variants relative to ``torch.nn.GRU``.

Both run in this process on the same data, interleaved, so the ratio is robust
to whatever else the machine is doing; the median over repeats is reported.

    python benchmarks/speed.py                     # the paper's MNIST shapes, 2 threads
    python benchmarks/speed.py --threads 4 --json out.json
    python benchmarks/speed.py --device cuda

Shapes are the paper's, batch 32: row-wise MNIST (28 steps of 28 inputs, 100
hidden units), pixel-wise MNIST (784 steps of 1 input, 100 hidden units) and IMDB
(80 steps of a 128-dimensional embedding, 128 hidden units; the embedding itself is
not timed).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import gru_lib  # noqa: E402

#: (steps, inputs per step, hidden units) of each of the paper's tasks.
SHAPES = {"mnist-row": (28, 28, 100), "mnist-pixel": (784, 1, 100), "imdb": (80, 128, 128)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fwd_bwd(module: torch.nn.Module, x: torch.Tensor, repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` forward+backward passes (after one warm-up)."""
    times = []
    for i in range(repeats + 1):
        module.zero_grad(set_to_none=True)
        _sync(x.device)
        t0 = time.perf_counter()
        out, h = module(x)
        (out.sum() + h.sum()).backward()
        _sync(x.device)
        if i:
            times.append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=None, help="hidden units (default: each shape's, as in the paper)")
    ap.add_argument("--repeats", type=int, default=7, help="timed passes per model and shape (median reported)")
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--variants", nargs="+", default=list(gru_lib.VARIANTS))
    ap.add_argument("--reset-after", action="store_true", help="time the reset-after form (nn.GRU's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    rows = []
    print(f"torch {torch.__version__}, {args.threads} threads, device {device}, batch {args.batch}")
    print(f"{'shape':<12} {'model':<8} {'ms':>9} {'ratio to nn.GRU':>16}")
    for shape in args.shapes:
        steps, feats, hidden = SHAPES[shape]
        hidden = args.hidden or hidden
        x = torch.rand(steps, args.batch, feats, device=device)
        ref = torch.nn.GRU(feats, hidden).to(device)
        models = {
            v: gru_lib.GRU(feats, hidden, variant=v, reset_after=args.reset_after).to(device) for v in args.variants
        }
        reps = max(2, args.repeats // 3) if steps > 100 else args.repeats
        # Interleave: reference, then each variant, repeatedly, so drift hits all alike.
        samples: dict[str, list[float]] = {"nn.GRU": [], **{v: [] for v in models}}
        for _ in range(reps):
            samples["nn.GRU"] += time_fwd_bwd(ref, x, 1)
            for v, m in models.items():
                samples[v] += time_fwd_bwd(m, x, 1)
        base = statistics.median(samples["nn.GRU"])
        for name, ts in samples.items():
            med = statistics.median(ts)
            rows.append({"shape": shape, "hidden": hidden, "model": name, "ms": 1e3 * med, "ratio": med / base})
            print(f"{shape:<12} {name:<8} {1e3 * med:9.1f} {med / base:16.2f}")
    result = {
        "rows": rows,
        "torch": torch.__version__,
        "gru_lib": gru_lib.__version__,
        "threads": args.threads,
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "machine": platform.processor() or platform.machine(),
        "batch": args.batch,
        "reset_after": args.reset_after,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()

"""Forward+backward time on packed (variable-length) input, relative to ``torch.nn.GRU``.

Every model runs on the same batches in this process, interleaved, so the ratios
are robust to whatever else the machine is doing; medians over repeats are
reported.

    python benchmarks/packed.py                    # IMDB shape, 2 threads
    python benchmarks/packed.py --min-length 40 --json out.json
    python benchmarks/packed.py --device cuda

The shape is the paper's IMDB one (at most 80 steps of a 128-dimensional
embedding, 128 hidden units, batch 32); each batch's lengths are drawn uniformly
from ``[--min-length, --steps]``. For every model it times the padded batch (all
``--steps`` steps for every row) and the packed one
(:func:`torch.nn.utils.rnn.pack_padded_sequence`, ``enforce_sorted=False``, the
packing itself included), and reports

* ``ratio``: packed time over ``torch.nn.GRU``'s packed time;
* ``packed/padded``: the model's packed time over its own padded time (what
  packing saves, which the ideal would put at the fraction of real steps,
  printed as ``fill``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.nn.utils.rnn import pack_padded_sequence

import gru_lib
from gru_lib.files import provenance


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_once(module: torch.nn.Module, x: torch.Tensor, lengths: torch.Tensor | None) -> float:
    """Seconds of one forward+backward, padded (``lengths=None``) or packed."""
    module.zero_grad(set_to_none=True)
    _sync(x.device)
    t0 = time.perf_counter()
    inp = x if lengths is None else pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, h = module(inp)
    data = out if lengths is None else out.data
    (data.sum() + h.sum()).backward()
    _sync(x.device)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=80, help="longest sequence (the padded length)")
    ap.add_argument("--min-length", type=int, default=10, help="shortest sequence")
    ap.add_argument("--features", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=7, help="timed passes per model and input (median reported)")
    ap.add_argument("--variants", nargs="+", default=list(gru_lib.VARIANTS))
    ap.add_argument("--reset-after", action="store_true", help="time the reset-after form (nn.GRU's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if not 1 <= args.min_length <= args.steps:
        ap.error(f"--min-length must be in [1, --steps={args.steps}], got {args.min_length}")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    ref = torch.nn.GRU(args.features, args.hidden).to(device)
    models = {"nn.GRU": ref}
    models.update({
        v: gru_lib.GRU(args.features, args.hidden, variant=v, reset_after=args.reset_after).to(device)
        for v in args.variants
    })
    samples: dict[tuple[str, str], list[float]] = {(m, k): [] for m in models for k in ("padded", "packed")}
    fills = []
    for i in range(args.repeats + 1):  # the first round warms up
        x = torch.rand(args.steps, args.batch, args.features, device=device)
        lengths = torch.randint(args.min_length, args.steps + 1, (args.batch,))
        fills.append(lengths.sum().item() / (args.steps * args.batch))
        for name, m in models.items():
            for kind in ("padded", "packed"):
                t = time_once(m, x, lengths if kind == "packed" else None)
                if i:
                    samples[(name, kind)].append(t)
    med = {key: statistics.median(ts) for key, ts in samples.items()}
    base = med[("nn.GRU", "packed")]
    fill = statistics.mean(fills[1:])
    print(f"torch {torch.__version__}, {args.threads} threads, device {device}, batch {args.batch}, "
          f"lengths uniform in [{args.min_length}, {args.steps}] (fill {fill:.2f} of the padded steps)")
    print(f"{'model':<8} {'padded ms':>10} {'packed ms':>10} {'packed/padded':>14} {'ratio to nn.GRU':>16}")
    rows = []
    for name in models:
        padded, packed = med[(name, "padded")], med[(name, "packed")]
        rows.append({"model": name, "padded_ms": 1e3 * padded, "packed_ms": 1e3 * packed,
                     "packed_over_padded": packed / padded, "ratio": packed / base})
        print(f"{name:<8} {1e3 * padded:10.1f} {1e3 * packed:10.1f} {packed / padded:14.2f} {packed / base:16.2f}")
    settings = {k: getattr(args, k) for k in ("batch", "steps", "min_length", "features", "hidden", "reset_after")}
    command = None if argv is None else ["benchmarks/packed.py", *argv]  # None: sys.argv
    result = {"rows": rows, "fill": fill, **settings, "provenance": provenance(device, command)}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()

"""The paper's whole grid in resumable chunks: Tables 1–3 and the row-wise MNIST table.

Every grid of :data:`gru_lib.experiments.PAPER_GRIDS` (GRU0–GRU3, the paper's
activations and rates) is trained at the paper's protocol for each seed, stacked
(on a GPU, every rate × seed of a variant and activation at once). The script
stops by itself after ``--minutes`` (default 9, so that it fits a 10-minute
slot) and says so; run the same command again to continue where it stopped:
finished runs are skipped and partial ones resume from their last complete
epoch, so any number of chunks gives the same result files as one long run.
A partial run whose checkpoint is gone (on a new machine) is reported; with
``--restart-lost`` it trains again from epoch 1.

    python scripts/paper_grid.py --device cuda                       # results/paper/, seeds 0-2
    python scripts/paper_grid.py --dry-run                           # what is done and what is left
    python scripts/paper_grid.py --grids mnist-row --seeds 0 --minutes 600
    python scripts/paper_grid.py --grids imdb --lrs 1e-5 --seeds 0 --checkpoint-dir ~/gru_lib-checkpoints
    python scripts/paper_grid.py --device cuda --implementation triton --grids imdb --lrs 1e-5

Exit status: 0 when every run has ended, 75 when time ran out (run it again), 1
when a run's files belong to other settings, 2 for bad arguments, settings or data
(one message, as with ``python -m gru_lib``). A run that diverges is a result (the
paper reports runs that fail to learn): it is listed, and the others go on.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gru_lib import experiments  # noqa: E402
from gru_lib.__main__ import EXIT_USAGE, _lr, _positive_int, _stack_size  # noqa: E402
from gru_lib.cluster import ClusterError  # noqa: E402
from gru_lib.data import DataError  # noqa: E402

EXIT_MORE = 75  # EX_TEMPFAIL: not finished, run again


class TimeUp(BaseException):
    """The chunk's time is over. Not an ``Exception``: code that catches ordinary errors
    (a reader that reports a file it cannot read) must not swallow the deadline or blame
    a file for it."""


def _on_alarm(signum, frame):
    raise TimeUp


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of minutes such as 9, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive, finite number of minutes, got {text!r}")
    return value


def _directory(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a directory with the data files, got {text!r} (no such "
                                         "directory); leave --data-dir out to use $GRU_LIB_DATA_DIR or download")
    return path


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parents[1] / "results" / "paper")
    ap.add_argument("--grids", nargs="+", choices=sorted({g["task"] for g in experiments.PAPER_GRIDS}),
                    help="only the grids of these tasks (default: all)")
    ap.add_argument("--lrs", nargs="+", type=_lr, metavar="LR",
                    help="only the runs at these of each grid's rates (default: all of them)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--minutes", type=_minutes, default=9.0, help="stop after this long (default 9)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=None,
                    help="replay each training step from a CUDA graph (default: on with CUDA)")
    ap.add_argument("--stack", type=_stack_size, default="auto", help="largest stack: N, or 'auto' (default)")
    ap.add_argument("--implementation", choices=("fused", "autograd", "triton"),
                    help="the GRU engine (default fused; 'triton': persistent kernels, on CUDA); "
                         "runs may continue on another engine")
    ap.add_argument("--threads", type=_positive_int)
    ap.add_argument("--data-dir", type=_directory)
    ap.add_argument("--checkpoint-dir", type=Path,
                    help="keep the checkpoints of runs in progress here instead of beside their results "
                         "(IMDB checkpoints, about 20 MB each, are never committed)")
    ap.add_argument("--restart-lost", action="store_true",
                    help="train a partial run whose checkpoint is missing (e.g. on a new machine) again from "
                         "epoch 1, replacing its result file; without this it is reported and left as it is")
    ap.add_argument("--dry-run", action="store_true", help="list each grid's runs and their state; train nothing")
    ap.add_argument("--quiet", action="store_true")
    # for trying the script out on a subset (the paper's protocol is the default)
    ap.add_argument("--preset", default="paper", choices=list(experiments.PRESETS))
    ap.add_argument("--epochs", type=_positive_int)
    ap.add_argument("--train-limit", type=_positive_int)
    ap.add_argument("--test-limit", type=_positive_int)
    args = ap.parse_args(argv)

    try:
        return _run(args, argv)
    except (ValueError, TypeError, DataError, ClusterError) as e:  # settings, files, data: one message, as the CLI
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace, argv: Optional[list[str]]) -> int:
    stack = args.stack
    overrides = {k: v for k, v in (("device", args.device), ("threads", args.threads), ("epochs", args.epochs),
                                   ("train_limit", args.train_limit), ("test_limit", args.test_limit),
                                   ("implementation", args.implementation))
                 if v is not None}
    grids = [g for g in experiments.PAPER_GRIDS if not args.grids or g["task"] in args.grids]
    if args.lrs:
        grids = [g | {"lrs": tuple(lr for lr in g["lrs"] if lr in args.lrs)} for g in grids]
        grids = [g for g in grids if g["lrs"]]
    if args.dry_run:
        for g in grids:
            statuses, jobs = experiments.plan_grid(g["task"], experiments.PAPER_VARIANTS, g["activations"], g["lrs"],
                                                   args.seeds, args.out_dir, preset=args.preset, stack=stack,
                                                   checkpoint_dir=args.checkpoint_dir,
                                                   restart_lost=args.restart_lost, **overrides)
            done = sum(s.get("status") == "skipped" for s in statuses)
            print(f"{g['name']}: {done}/{len(statuses)} complete; {len(jobs)} stacks to train "
                  f"({', '.join(str(len(j.configs)) for j in jobs) or '-'} models)")
            for s in statuses:
                if s.get("message"):
                    print(f"  {Path(s['path']).name}: {s['status']}: {s['message']}")
        return 0

    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, args.minutes * 60)
    t0 = time.perf_counter()
    reported = []
    try:
        for g in grids:
            statuses = experiments.run_grid(
                g["task"], experiments.PAPER_VARIANTS, g["activations"], g["lrs"], args.seeds, args.out_dir,
                preset=args.preset, data_dir=args.data_dir, download=args.data_dir is None, progress=not args.quiet,
                command=["python", "scripts/paper_grid.py", *(argv if argv is not None else sys.argv[1:])],
                stack=stack, cuda_graph=args.cuda_graph, checkpoint_dir=args.checkpoint_dir,
                restart_lost=args.restart_lost, **overrides)
            reported += [s for s in statuses if s["status"] in ("diverged", "mismatch", "failed", "stopped earlier")
                         or s.get("message")]  # and the runs left longer than asked, said to be so
    except TimeUp:
        print(f"time is up after {(time.perf_counter() - t0) / 60:.1f} min: every completed epoch is saved; "
              "run the same command again to continue", file=sys.stderr)
        return EXIT_MORE
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    for s in reported:
        print(f"{Path(s['path']).name}: {s['status']}: {s.get('message')}", file=sys.stderr)
    print(f"the paper's grid is complete in {args.out_dir} ({(time.perf_counter() - t0) / 60:.1f} min this chunk)",
          file=sys.stderr)
    return 1 if any(s["status"] in ("mismatch", "failed") for s in reported) else 0


if __name__ == "__main__":
    sys.exit(main())

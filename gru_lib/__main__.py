"""Command line: ``python -m gru_lib {run,grid,table} ...`` (also installed as ``gru-lib``).

    python -m gru_lib run --task mnist-row --variant gru2 --preset quick --out results/r.json
    python -m gru_lib run --task imdb --variant gru0 --activation relu --lr 1e-4 --epochs 100 --out r.json
    python -m gru_lib run ... --resume            # continue an interrupted run
    python -m gru_lib grid --task imdb --variants gru0 gru1 gru2 gru3 --seeds 0 1 --preset quick --out-dir results/quick
    python -m gru_lib grid --task imdb --variants gru0 gru1 --seeds 0 1 2 --out-dir /shared/results --ray auto
    python -m gru_lib table --results results/quick --task imdb

Exit status: 0 success; 2 bad usage or data (missing files, checksum mismatch, an
existing result without --resume, a checkpoint from another configuration or that
cannot be read, a device that is not there, a file ``table`` had to skip, a run
``grid`` could not train; every such failure is one message, never a traceback); 3 the
loss became NaN or infinite (the last good epoch is kept); 130 interrupted (Ctrl-C;
the last complete epoch is kept, continue with --resume).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from .cluster import ClusterError
from .experiments import PRESETS, TASKS, load_results, results_table, run_experiment, run_grid
from .params import MODELS
from .rnn import IMPLEMENTATIONS
from .train import (
    ACTIVATIONS,
    DROPOUT_PLACEMENTS,
    INITS,
    LR_SCHEDULES,
    NonFiniteLossError,
    ResumeError,
    checkpoint_path,
)
from .config import MAX_LR
from .files import RunFileError, claim_run_files, read_result

EXIT_USAGE = 2
EXIT_NONFINITE = 3
EXIT_INTERRUPTED = 130


def _at_least_one(text: str, *words: str) -> int:
    what = "a positive integer" + "".join(f" or {w!r}" for w in words)
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def _limit(text: str):
    return "all" if text.lower() in ("all", "none", "full") else _at_least_one(text, "all")


def _positive_int(text: str) -> int:
    return _at_least_one(text)


def _lr(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a learning rate such as 1e-3, got {text!r}") from None
    if not 0 < value <= MAX_LR:
        raise argparse.ArgumentTypeError(f"the learning rate must be positive and at most {MAX_LR:.7g} (the "
                                         f"largest float32), got {text!r}")
    return value


def _stack_size(text: str):
    return "auto" if text.lower() == "auto" else _at_least_one(text, "auto")


def _dropout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1), got {text!r}")
    return value


def _add_training_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``run`` and ``grid``; ``None`` means "from the preset / task"."""
    p.add_argument("--preset", choices=list(PRESETS), default="paper",
                   help="defaults for epochs, data limits and batch size: 'paper' = Table 0 (100 epochs, all "
                        "the data, batch 32); 'quick' = a subset for a few epochs, about a minute per run on "
                        "2 CPU cores (not the paper's protocol). Explicit flags override. Default: paper")
    p.add_argument("--epochs", type=_positive_int, help="number of epochs (default: from the preset)")
    p.add_argument("--train-limit", type=_limit, metavar="N",
                   help="train on a fixed random subset of N examples, or 'all' (default: from the preset)")
    p.add_argument("--test-limit", type=_limit, metavar="N",
                   help="test on a fixed random subset of N examples, or 'all' (default: from the preset)")
    p.add_argument("--batch-size", type=_positive_int, help="minibatch size (default: 32, Table 0)")
    p.add_argument("--hidden-size", type=_positive_int,
                   help="hidden units (default: the task's, 100 for MNIST and 128 for IMDB)")
    p.add_argument("--dropout", type=_dropout, help="dropout rate (default 0.2, Table 0)")
    p.add_argument("--dropout-at", choices=DROPOUT_PLACEMENTS,
                   help="where the dropout acts: 'output' = on the last state before the output layer (a Keras "
                        "Dropout layer; default), 'input' = on the recurrent layer's inputs with one mask per "
                        "sequence (the Keras layer's dropout= argument), 'none'")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                   help="'eq18' (default): lr(e) = lr * exp(-mean training loss of epoch e-1), lr(1) = lr; "
                        "the rate rises towards lr as the loss falls. 'constant': lr throughout")
    p.add_argument("--init", choices=INITS,
                   help="weight initialisation: 'keras' (default; the paper ran Keras's defaults) or 'torch'")
    p.add_argument("--reset-after", action="store_true", default=None,
                   help="GRUs: reset gate after U_h (PyTorch/cuDNN form) instead of before it (the paper's)")
    p.add_argument("--update-rule", choices=("paper", "cho"),
                   help="GRUs: h = (1-z)h_prev + z h~ ('paper', eq. 8; default) or h = z h_prev + (1-z) h~ ('cho', "
                        "Keras's code); the same model family")
    p.add_argument("--implementation", choices=IMPLEMENTATIONS,
                   help="GRUs: 'fused' (default; a hand-written backward over the sequence), 'autograd', or "
                        "'triton' (both time loops as persistent Triton kernels: CUDA, or the CPU with "
                        "TRITON_INTERPRET=1)")
    p.add_argument("--eval-train", action="store_true", default=None,
                   help="also evaluate the whole training set after each epoch without dropout")
    p.add_argument("--data-dir", type=Path, metavar="DIR",
                   help="directory with the data files (default: $GRU_LIB_DATA_DIR, then the per-user cache)")
    p.add_argument("--no-download", action="store_true",
                   help="never download: fail at once if the data files are not there")
    p.add_argument("--device", default=None,
                   help="'auto' (default: CUDA, then MPS, then CPU), 'cpu', 'cuda', 'cuda:1', 'mps'")
    p.add_argument("--threads", type=_positive_int,
                   help="CPU threads for torch, at most the number of CPUs (default: torch's choice)")
    p.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=None,
                   help="capture one training step as a CUDA graph and replay it for every batch (default: on "
                        "with CUDA; falls back to eager mode with a warning if the capture fails); "
                        "--no-cuda-graph trains eagerly")
    p.add_argument("--checkpoint-dir", type=Path, metavar="DIR",
                   help="keep each run's checkpoint NAME.ckpt in DIR instead of beside its result NAME.json "
                        "(e.g. outside a repository whose results are committed); give the same DIR to resume")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gru_lib",
        description="Train the GRU variants of Dey & Salem (2017) on the paper's tasks and tabulate the results.",
        epilog="Exit status: 0 ok; 2 bad usage or data; 3 non-finite loss (last good epoch kept); "
               "130 interrupted (last complete epoch kept; continue with --resume).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,grid,table}")

    run = sub.add_parser("run", help="train one model", description="Train one model and write a result JSON "
                         "(and a checkpoint PATH.ckpt beside it, or in --checkpoint-dir) after every epoch.")
    run.add_argument("--task", required=True, choices=list(TASKS))
    run.add_argument("--variant", required=True, choices=list(MODELS),
                     help="a GRU variant (gru0 = the GRU, gru1-3) or a baseline (lstm, rnn, mgu)")
    run.add_argument("--activation", choices=ACTIVATIONS, default="tanh", help="candidate activation g (default tanh)")
    run.add_argument("--lr", type=_lr, default=1e-3, help="base learning rate eta (default 1e-3)")
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run.add_argument("--out", required=True, type=Path, metavar="PATH.json", help="the result file")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue from PATH.ckpt to --epochs (starts afresh if there is no checkpoint); a "
                      "result behind its checkpoint is repaired from it; files that are not gru_lib's are refused")
    mode.add_argument("--overwrite", action="store_true",
                      help="start again even if PATH.json or PATH.ckpt exists (even if they are not gru_lib's); "
                      "the old files are replaced only when the first epoch has new ones to put there")
    _add_training_options(run)

    grid = sub.add_parser("grid", help="train every combination, skipping finished runs",
                          description="Train every combination of variants, activations, rates and seeds one "
                          "after another into DIR/{task}_{variant}_{activation}_lr{lr}_seed{seed}.json. Finished "
                          "runs are skipped, partial ones resumed.")
    grid.add_argument("--task", required=True, choices=list(TASKS))
    grid.add_argument("--variants", nargs="+", required=True, choices=list(MODELS), metavar="VARIANT",
                      help=f"one or more of {', '.join(MODELS)}")
    grid.add_argument("--activations", nargs="+", choices=ACTIVATIONS, default=["tanh"], metavar="ACT",
                      help="tanh and/or relu (default tanh)")
    grid.add_argument("--lrs", nargs="+", type=_lr, default=[1e-3], metavar="LR", help="base rates (default 1e-3)")
    grid.add_argument("--seeds", nargs="+", type=int, default=[0], metavar="SEED", help="seeds (default 0)")
    grid.add_argument("--out-dir", required=True, type=Path, metavar="DIR")
    grid.add_argument("--stack", type=_stack_size, default="auto", metavar="N",
                      help="train up to N runs of one variant and activation together, as one stack of models "
                      "(every rate x seed at once); 1 = one run at a time; 'auto' (default) = what was measured "
                      "faster: the whole group on a GPU, 8 at a time on a CPU")
    grid.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                      help="run each stack as a Ray task: on the cluster at ADDRESS ('auto' = the one this "
                      "machine joined with `ray start`, HOST:6379, ray://HOST:10001), or on a Ray started on this "
                      "machine when no ADDRESS is given. Each task asks for --threads CPUs (default 1) and, on "
                      "CUDA, one GPU. Needs: pip install -e \".[cluster]\"")
    grid.add_argument("--restart-lost", action="store_true",
                      help="train a partial run whose checkpoint is missing (a new machine, a result copied "
                      "without it) again from epoch 1, replacing its result file; without this it is reported "
                      "and left as it is")
    _add_training_options(grid)

    table = sub.add_parser("table", help="aggregate result files into the paper's table shapes",
                           description="Mean ± sd over seeds per variant and base rate, with the paper's "
                           "numbers in brackets where it has them. Runs short of their last epoch are marked "
                           "'incomplete'; a file that cannot be used is named with its fault, the others are "
                           "tabulated, and the exit status is 2.")
    table.add_argument("--results", required=True, type=Path, metavar="DIR", help="a directory of result JSON files")
    table.add_argument("--task", choices=list(TASKS), help="only this task (default: every task found)")
    table.add_argument("--activation", choices=ACTIVATIONS, help="only this activation")
    table.add_argument("--format", choices=("markdown", "csv"), default="markdown")
    table.add_argument("--which", choices=("final", "best"), default="final",
                       help="each run's final epoch (default) or its epoch of best test accuracy")
    table.add_argument("--timing", action="store_true", help="add seconds per epoch")
    return parser


_OVERRIDES = ("epochs", "train_limit", "test_limit", "batch_size", "hidden_size", "dropout", "dropout_at",
              "lr_schedule", "init", "reset_after", "update_rule", "implementation", "eval_train", "device",
              "threads")


def _overrides(args: argparse.Namespace) -> dict:
    out = {}
    for name in _OVERRIDES:
        value = getattr(args, name)
        if value is not None:
            out[name] = None if value == "all" else value
    return out


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _data_errors() -> tuple[type, ...]:
    try:
        from .data import DataIntegrityError, DataNotFoundError
    except ImportError:  # pragma: no cover - the data package is part of gru_lib
        return ()
    return (DataNotFoundError, DataIntegrityError)


def _cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    out: Path = args.out
    if out.suffix != ".json":
        _error(f"--out must name a .json file, got {out}")
        return EXIT_USAGE
    if not (args.resume or args.overwrite):
        claim_run_files(out, "new", checkpoint_dir=args.checkpoint_dir)  # nothing may be there yet: RunFileError says what to pass
    # --overwrite replaces the old files only when the first epoch has new ones to put there
    run_experiment(
        args.task, args.variant, activation=args.activation, lr=args.lr, seed=args.seed, preset=args.preset,
        out=out, resume=args.resume, overwrite=args.overwrite, data_dir=args.data_dir, download=not args.no_download,
        progress=not args.quiet, command=argv, cuda_graph=args.cuda_graph, checkpoint_dir=args.checkpoint_dir,
        **_overrides(args),
    )
    if not args.quiet:
        print(f"wrote {out}", file=sys.stderr)
    return 0


def _cmd_grid(args: argparse.Namespace, argv: list[str]) -> int:
    statuses = run_grid(
        args.task, args.variants, args.activations, args.lrs, args.seeds, args.out_dir, preset=args.preset,
        data_dir=args.data_dir, download=not args.no_download, progress=not args.quiet, command=argv,
        stack=args.stack, cuda_graph=args.cuda_graph, ray=args.ray, checkpoint_dir=args.checkpoint_dir,
        restart_lost=args.restart_lost, **_overrides(args),
    )
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s["status"]] = counts.get(s["status"], 0) + 1
        if s["status"] in ("diverged", "stopped earlier", "mismatch", "failed") or s.get("message"):
            print(f"{Path(s['path']).name}: {s['status']}: {s.get('message')}", file=sys.stderr)
    if not args.quiet or counts.get("failed") or counts.get("mismatch"):
        print("grid: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), file=sys.stderr)
    if counts.get("mismatch") or counts.get("failed"):
        return EXIT_USAGE
    if counts.get("diverged") or counts.get("stopped earlier"):
        return EXIT_NONFINITE
    return 0


def _cmd_table(args: argparse.Namespace) -> int:
    if not args.results.is_dir():
        _error(f"--results must be a directory of result files, got {args.results}")
        return EXIT_USAGE
    problems: list[tuple[str, str]] = []
    results = load_results(args.results, task=args.task, problems=problems)
    for path, message in problems:
        print(f"warning: skipped {path}: {message}", file=sys.stderr)
    if not results:
        _error(f"no usable gru_lib result files in {args.results}" + (f" for task {args.task}" if args.task else ""))
        return EXIT_USAGE
    tasks = [args.task] if args.task else [t for t in TASKS if any(r["config"]["task"] == t for r in results)]
    parts = []
    for i, task in enumerate(tasks):
        text = results_table(results, task, activation=args.activation, which=args.which, format=args.format,
                             timing=args.timing)
        if args.format == "csv" and i > 0:  # one header for all tasks
            text = text.split("\n", 1)[1]
        parts.append(text)
    sys.stdout.write(("\n" if args.format == "markdown" else "").join(parts))
    if problems:
        _error(f"{len(problems)} file(s) skipped (listed above); the table shows the others")
        return EXIT_USAGE
    return 0


def _kept(out: Path, checkpoint_dir: Optional[Path] = None, nonfinite: bool = False) -> str:
    """What a run that stopped left at ``out`` (and its checkpoint, beside it or in ``checkpoint_dir``),
    read from the files themselves: a message never promises a file that is not there."""
    ckpt = checkpoint_path(out, checkpoint_dir)
    result = read_result(out) if out.is_file() else None
    history = result.get("history") if isinstance(result, dict) else None
    n = len(history) if isinstance(history, list) else 0
    if n and ckpt.is_file():
        what = f"the last good epoch ({n})" if nonfinite else f"{n} completed epoch{'s' if n != 1 else ''}"
        return f"{what[0].upper() + what[1:]} {'is' if nonfinite or n == 1 else 'are'} kept in {out} and {ckpt}" + (
            "." if nonfinite else "; continue with --resume.")
    if nonfinite and result is not None:
        return f"No epoch was completed; {out} records why the run stopped."
    return "No epoch was completed, so no result was saved."


def main(argv: Optional[list[str]] = None) -> int:
    """Run the command line; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = ["python", "-m", "gru_lib", *argv]
    data_errors = _data_errors()
    try:
        if args.command == "run":
            return _cmd_run(args, command)
        if args.command == "grid":
            return _cmd_grid(args, command)
        return _cmd_table(args)
    except NonFiniteLossError as e:
        _error(str(e))
        if args.command == "run":
            print(_kept(args.out, args.checkpoint_dir, nonfinite=True), file=sys.stderr)
        return EXIT_NONFINITE
    except KeyboardInterrupt:
        if getattr(args, "ray", None):
            print("\ninterrupted: the results of the finished Ray tasks are saved; run the same command again.",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
        if args.command == "run":
            print(f"\ninterrupted: {_kept(args.out, args.checkpoint_dir)}", file=sys.stderr)
        elif args.command == "grid":
            print(f"\ninterrupted: every completed epoch is saved in {args.out_dir}; run the same command again "
                  "to continue.", file=sys.stderr)
        else:
            print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ResumeError, ClusterError) as e:
        _error(str(e))
        return EXIT_USAGE
    except data_errors as e:  # type: ignore[misc]
        _error(str(e))
        return EXIT_USAGE
    except (RunFileError, ValueError, TypeError) as e:  # settings, device, files: all checked before training
        _error(str(e))
        return EXIT_USAGE
    except (OSError, RuntimeError) as e:  # e.g. a full disk, or out of memory, while training
        _error(f"{type(e).__name__}: {e}")
        if args.command == "run":
            print(_kept(args.out, args.checkpoint_dir), file=sys.stderr)
        elif args.command == "grid":
            print(f"Every completed epoch is saved in {args.out_dir}; run the same command again to continue.",
                  file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

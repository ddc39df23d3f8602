"""Small renderers for the experiment chapters: the paper's tables, provenance, chance levels.

The experiment chapters show the paper's numbers (:mod:`gru_lib.paper`) beside
results read from files (:func:`load_results`). This module
turns both into Markdown that a notebook can display
(``IPython.display.Markdown(text)``) and computes the reference points that make
a table readable: the accuracy of guessing (:func:`chance_levels`).

* :func:`paper_table_markdown` — one of the paper's Tables 1–3, as printed;
* :func:`provenance_markdown` — where a set of result files came from (command,
  commit, device, threads, dates), one row per distinct origin;
* :func:`chance_levels` — class frequencies of a label vector, the uniform
  guess ``1/K`` and the accuracy of always answering the most frequent class;
* :func:`format_lr` — ``1e-3`` as ``10⁻³``; :func:`format_gap` — gaps in points, in words;
  :func:`format_range` — the smallest and largest of some numbers, ``84.7–84.9%``;
  :func:`seeds_text` — how many seeds a table's cells average, in words;
* :func:`rate_stalls` — the spans of epochs in which eq. (18) all but stopped a
  run, read from its recorded rates;
* :func:`variant_gaps` — how far each variant ends from a reference variant, in
  the columns of a table where every variant has run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
import statistics
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from . import paper
from .files import RESULT_FORMAT, result_problems
from .params import MODEL_LABELS
from .tasks import MODEL_ORDER as _MODEL_ORDER
from .tasks import TASKS
from .tasks import get_task as _task
from .tasks import model_label as _label

__all__ = ["EXPERIMENT_SETTINGS", "chance_levels", "format_gap", "format_lr", "format_range", "load_results", "lr_text",
           "paper_table_markdown", "provenance_markdown", "rate_stalls", "cost_jump", "after_peak", "results_table",
           "seeds_text", "summarize", "variant_gaps"]

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_MARKS = ("†", "‡", "§", "¶")


def format_lr(lr: float) -> str:
    """A learning rate for tables and captions: powers of ten as ``10⁻³``, others as :func:`lr_text`.

    >>> format_lr(1e-3), format_lr(5e-4), format_lr(0.0010000001)
    ('10⁻³', '0.0005', '0.0010000001')
    """
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    exp = _power_of_ten(lr)
    return lr_text(lr) if exp is None else "10" + str(exp).translate(_SUPERSCRIPT)


def lr_text(lr: float) -> str:
    """A rate as ``%g`` where that reads back as the same number, else with every digit it needs
    (``repr``): two rates never share a label or a file name.

    >>> lr_text(1e-3), lr_text(0.0010000001)
    ('0.001', '0.0010000001')
    """
    short = f"{lr:g}"
    return short if float(short) == lr else repr(float(lr))


def _power_of_ten(lr: float) -> Optional[int]:
    """``e`` when ``lr`` is exactly the float ``10**e``, else ``None``."""
    exp = math.floor(math.log10(lr) + 1e-12)
    return exp if float(f"1e{exp}") == lr else None


def format_gap(points: Union[float, Sequence[float]]) -> str:
    """Gaps of :func:`variant_gaps` (percentage points, positive: below the reference) in words.

    One gap, or the range of several (a variant's gaps over the columns):

    >>> format_gap(0.3214)
    '0.32 points below'
    >>> format_gap([0.17, 0.32])
    '0.17 to 0.32 points below'
    >>> format_gap([-0.05, -0.051])
    '0.05 points above'
    >>> format_gap([0.1, -0.2])
    'from 0.10 points below to 0.20 above'
    """
    values = [points] if isinstance(points, (int, float)) else list(points) if (
        isinstance(points, Sequence) and not isinstance(points, str)) else []
    if not values or not all(isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p)
                             for p in values):
        raise ValueError(f"points must be a finite number or a non-empty sequence of them, got {points!r}")
    lo, hi = min(values), max(values)
    if lo >= 0 or hi < 0:
        a, b = sorted((abs(lo), abs(hi)))
        size = f"{a:.2f}" if f"{a:.2f}" == f"{b:.2f}" else f"{a:.2f} to {b:.2f}"
        return f"{size} points {'below' if lo >= 0 else 'above'}"
    return f"from {hi:.2f} points below to {-lo:.2f} above"


def format_range(values: Iterable[float], spec: str = ".2f", *, scale: float = 1.0, unit: str = "",
                 sep: str = "–") -> str:
    """The smallest and largest of ``values`` as ``lo{sep}hi{unit}``, or one number where both print alike.

    Each end is ``format(scale * v, spec)``; ``scale=100, unit="%"`` turns accuracies
    stored as fractions into percent. Where minus signs would read as dashes
    (exponents), pass ``sep=" to "``:

    >>> format_range([0.8471, 0.8493, 0.8480], ".1f", scale=100, unit="%")
    '84.7–84.9%'
    >>> format_range([0.8471, 0.8474], ".1f", scale=100, unit="%")
    '84.7%'
    >>> format_range([1e-22, 4e-07], ".0e", sep=" to ")
    '1e-22 to 4e-07'
    """
    items = list(values) if isinstance(values, Iterable) and not isinstance(values, (str, bytes)) else None
    if not items or not all(_finite(v) for v in items):
        raise ValueError(f"values must be a non-empty sequence of finite numbers, got {values!r}")
    if not (_finite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite positive number, got {scale!r}")
    lo, hi = (format(v if scale == 1 else scale * v, spec) for v in (min(items), max(items)))
    return f"{lo}{unit}" if lo == hi else f"{lo}{sep}{hi}{unit}"


def paper_table_markdown(number: int, *, caption: bool = True) -> str:
    """The paper's Table ``number`` (1, 2 or 3) as a Markdown table, cells as printed.

    Accuracies are percentages; cells the paper printed as "0.5" (50%, chance for two
    classes) and the other cells with a note carry a marker (†, ‡, §, ¶), explained
    below the table. ``caption=False`` leaves out the bold caption line.
    """
    if number not in paper.TABLES:
        raise ValueError(f"the paper has Tables {sorted(paper.TABLES)} with results, not {number!r}")
    t = paper.TABLES[number]
    head = ["Variant"]
    for lr in t.lrs:
        head += [f"η={format_lr(lr)} Train", f"η={format_lr(lr)} Test"]
    head.append("# Params")
    lines = []
    if caption:
        lines += [f"**Table {t.number} of Dey & Salem (2017).** {t.caption[0].upper() + t.caption[1:]}.", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes: list[str] = []
    for v in t.variants:
        row = [MODEL_LABELS.get(v, v)]
        for lr in t.lrs:
            note = t.note(v, lr)
            mark = ""
            if note is not None:
                if note not in notes:
                    notes.append(note)
                mark = _MARKS[notes.index(note) % len(_MARKS)]
            for split in ("train", "test"):
                row.append(f"{t.accuracy(v, lr, split):.1f}{mark}")
        row.append(str(t.params[v]))
        lines.append("| " + " | ".join(row) + " |")
    text = "\n".join(lines) + "\n"
    if notes:
        text += "\n" + "  \n".join(f"{_MARKS[i % len(_MARKS)]} {n}." for i, n in enumerate(notes)) + "\n"
    return text


def _short(commit: Optional[str]) -> str:
    return commit[:10] if commit else "–"


def _day_range(dates: list[str]) -> str:
    """``2026-11-30``, or ``2026-11-30 – 12-02`` for several days (``2026-11-30 – 2027-01-02`` across years)."""
    days = sorted(d[:10] for d in dates if d)
    if not days:
        return "–"
    first, last = days[0], days[-1]
    if first == last:
        return first
    return f"{first} – {last[5:] if last[:4] == first[:4] else last}"


def provenance_markdown(results: Sequence[dict], *, folded: bool = True) -> str:
    """Where result files came from, as Markdown: one row per origin, then the commands, folded away.

    Results that share task, preset, commit (and whether the package had uncommitted
    changes), device, threads and torch version are one origin: one row, with the
    number of files and the days they were written. The commands that made them follow
    the table, each once, with the files it wrote. With ``folded`` the whole is inside
    a ``<details>`` drop-down whose summary counts the files, which both the book and
    a plain notebook show closed. Reads each result's ``provenance``
    (see :func:`gru_lib.files.provenance`).
    """
    groups: dict[tuple, list[dict]] = {}
    commands: dict[str, Counter] = {}
    for r in results:
        p = r.get("provenance", {})
        task = r["config"]["task"]
        key = (task, str(r.get("preset")), p.get("git_commit"), p.get("git_dirty"),
               p.get("device_name") or p.get("device"), p.get("threads"), p.get("torch_version"))
        groups.setdefault(key, []).append(r)
        commands.setdefault(" ".join(p.get("command") or []), Counter())[task] += 1
    if not groups:
        return "No result files.\n"
    lines = [
        "| task | files | preset | commit | device | threads | torch | written (UTC) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(groups, key=lambda k: tuple(str(x) for x in k)):
        task, preset, commit, dirty, device, threads, torch_version = key
        dates = [str(r["provenance"].get("date", "")) for r in groups[key]]
        commit_text = f"`{_short(commit)}`" + (" (uncommitted changes)" if dirty else "")
        lines.append(f"| {task} | {len(groups[key])} | {preset} | {commit_text} | {device} | {threads} "
                     f"| {torch_version} | {_day_range(dates)} |")
    made = []
    for command, tasks in commands.items():
        files = ", ".join(f"{task} {n} file{'s' if n > 1 else ''}" for task, n in sorted(tasks.items()))
        made.append(f"* `{command}` ({files})" if command else f"* command not recorded ({files})")
    text = "\n".join(lines) + "\n\nMade by:\n\n" + "\n".join(made) + "\n"
    if not folded:
        return text
    n = len(results)
    summary = f"Where these results come from: {n} result file{'s' if n > 1 else ''}, {len(groups)} origin" + (
        "s" if len(groups) > 1 else "")
    return f"<details>\n<summary>{summary}</summary>\n\n{text}\n</details>\n"


def chance_levels(labels: Iterable[int], num_classes: Optional[int] = None) -> dict:
    """What guessing scores on a label vector.

    Parameters
    ----------
    labels:
        Class labels (a list, numpy array or tensor of ints in ``[0, K)``).
    num_classes:
        ``K``; default one more than the largest label.

    Returns
    -------
    dict
        ``n`` (number of labels), ``num_classes``, ``counts`` and ``freqs`` (per
        class), ``uniform`` (``1/K``: the expected accuracy of a uniformly random
        guess), ``majority_class`` and ``majority`` (the accuracy of always answering
        the most frequent class; ties go to the smallest label).

    Examples
    --------
    >>> chance_levels([0, 1, 1, 2])["majority"]
    0.5
    """
    values = [int(v) for v in (labels.tolist() if hasattr(labels, "tolist") else labels)]
    if not values:
        raise ValueError("labels is empty")
    if min(values) < 0:
        raise ValueError("labels must be non-negative class indices")
    k = num_classes if num_classes is not None else max(values) + 1
    if max(values) >= k:
        raise ValueError(f"label {max(values)} is outside [0, {k})")
    counts = Counter(values)
    n = len(values)
    per_class = [counts.get(c, 0) for c in range(k)]
    majority_class = max(range(k), key=lambda c: (per_class[c], -c))
    return {
        "n": n,
        "num_classes": k,
        "counts": per_class,
        "freqs": [c / n for c in per_class],
        "uniform": 1.0 / k,
        "majority_class": majority_class,
        "majority": per_class[majority_class] / n,
    }


def rate_stalls(result: dict, factor: float = 1e-3) -> list[dict]:
    """The spans of consecutive epochs that ran at less than ``factor`` times the base rate.

    Under eq. (18), ``η(e) = η · exp(−cost(e−1))`` (the paper's notation; ``cost`` is
    the previous epoch's mean training loss), an epoch whose mean loss exceeds
    ``ln(1/factor)`` (6.9 for the default 10⁻³) sets the next epoch's rate to less
    than ``factor · η``: the model all but stands still for that epoch. Above a
    mean loss of ``ln η + 1075 ln 2`` (738 for η = 10⁻³), ``η · exp(−cost)`` is
    below half the smallest double and rounds to exactly 0: the weights do not
    change at all in the next epoch.

    Parameters
    ----------
    result:
        A result dict (as read by :func:`load_results`); its ``history`` holds the
        rate ``lr`` and the ``train_loss`` of every epoch.
    factor:
        The threshold, a fraction of the base rate ``config["lr"]``, in ``(0, 1)``.

    Returns
    -------
    list of dict
        One dict per span, in order: ``first`` and ``last`` (1-based epochs),
        ``epochs`` (their number), ``min_lr`` and ``max_lr`` (the rates in the span),
        ``min_cost`` and ``max_cost`` (the previous epochs' mean training losses that
        set them) and ``zero`` (whether some epoch of the span ran at a rate of
        exactly 0).

    Examples
    --------
    >>> e = math.exp
    >>> run = {"config": {"lr": 1e-3}, "history": [
    ...     {"epoch": 1, "lr": 1e-3, "train_loss": 20.0},
    ...     {"epoch": 2, "lr": 1e-3 * e(-20), "train_loss": 0.1},
    ...     {"epoch": 3, "lr": 1e-3 * e(-0.1), "train_loss": 0.1}]}
    >>> [(s["first"], s["last"], s["zero"]) for s in rate_stalls(run)]
    [(2, 2, False)]
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < 1:
        raise ValueError(f"factor must be a number in (0, 1), got {factor!r}")
    try:
        base, history = float(result["config"]["lr"]), result["history"]
    except (KeyError, TypeError) as err:
        raise TypeError(f"expected a result dict with config['lr'] and history, got {type(result).__name__}") from err
    spans: list[dict] = []
    for prev, cur in zip(history, history[1:]):
        if cur["lr"] >= factor * base:
            continue
        span = spans[-1] if spans and spans[-1]["last"] == cur["epoch"] - 1 else None
        if span is None:
            span = {"first": cur["epoch"], "last": cur["epoch"], "epochs": 0, "min_lr": cur["lr"], "max_lr": cur["lr"],
                    "min_cost": prev["train_loss"], "max_cost": prev["train_loss"], "zero": False}
            spans.append(span)
        span["last"] = cur["epoch"]
        span["epochs"] += 1
        span["min_lr"], span["max_lr"] = min(span["min_lr"], cur["lr"]), max(span["max_lr"], cur["lr"])
        span["min_cost"] = min(span["min_cost"], prev["train_loss"])
        span["max_cost"] = max(span["max_cost"], prev["train_loss"])
        span["zero"] = span["zero"] or cur["lr"] == 0
    return spans


def cost_jump(result: dict, factor: float = 0.1) -> Optional[dict]:
    """The first time a run's training cost rose far enough that eq. (18) cut its rate below ``factor · η``.

    Eq. (18), ``η(e) = η · exp(−cost(e−1))`` (the paper's notation), answers a mean
    training loss above ``ln(1/factor)`` (2.3 for the default 0.1) with a rate below
    ``factor · η``. A run whose cost *rises* there after it has learned (a few examples
    with very large, wrong outputs can do that while accuracy still climbs) then trains
    on at a sliver of its rate. This reads that episode from the result's history.

    The bound on the wrong examples: a correctly classified example's class has the
    largest probability, at least ``1/K`` for ``K`` classes, so its cross-entropy is at
    most ``ln K`` (``ln 2`` on IMDB). If the test cost is ``c`` at accuracy ``a``, the
    examples it gets wrong therefore cost on average at least ``(c − a · ln K) / (1 − a)``.

    Parameters
    ----------
    result:
        A result dict (:func:`load_results`) whose history has ``lr``, ``train_loss``,
        ``train_acc``, ``test_loss`` and ``test_acc`` per epoch.
    factor:
        The rate, as a fraction of the base rate, below which the run counts as cut (0 < factor < 1).

    Returns
    -------
    dict or None
        ``None`` if no epoch ran below ``factor · η`` after the first. Otherwise:
        ``jump_epoch`` (the epoch whose cost cut the rate) and ``jump_cost``;
        ``low_epoch`` and ``low_cost``, the lowest training cost before it;
        ``first`` and ``last``, the span of cut epochs that follows (:func:`rate_stalls`),
        with ``min_rate`` and ``max_rate`` as fractions of ``η`` and ``to_end`` (whether
        it lasts to the last epoch recorded); ``train_acc`` and ``test_acc``, pairs
        (at the jump, at the end of the span); and ``wrong_cost``, the bound above at
        the span's last epoch (``None`` where every test example was right).

    Examples
    --------
    >>> e = math.exp
    >>> h = [{"epoch": 1, "lr": 1.0, "train_loss": 0.6}, {"epoch": 2, "lr": e(-0.6), "train_loss": 3.0},
    ...      {"epoch": 3, "lr": e(-3.0), "train_loss": 2.9}]
    >>> for x, (tr, te, tl) in zip(h, [(0.7, 0.7, 0.6), (0.8, 0.75, 3.1), (0.8, 0.76, 3.0)]):
    ...     x.update(train_acc=tr, test_acc=te, test_loss=tl)
    >>> j = cost_jump({"config": {"task": "imdb", "lr": 1.0}, "history": h})
    >>> j["jump_epoch"], j["first"], j["to_end"], round(j["wrong_cost"], 2)
    (2, 3, True, 10.31)
    """
    spans = rate_stalls(result, factor)
    if not spans:
        return None
    history = result["history"]
    span = spans[0]
    jump = history[span["first"] - 2]
    before = history[: span["first"] - 2] or [jump]
    low = min(before, key=lambda e: e["train_loss"])
    end = history[span["last"] - 1]
    base = float(result["config"]["lr"])
    classes = _task(result["config"]["task"]).num_classes
    acc = end["test_acc"]
    wrong = None if acc >= 1 else (end["test_loss"] - acc * math.log(classes)) / (1 - acc)
    return {"jump_epoch": jump["epoch"], "jump_cost": jump["train_loss"], "low_epoch": low["epoch"],
            "low_cost": low["train_loss"], "first": span["first"], "last": span["last"],
            "min_rate": span["min_lr"] / base, "max_rate": span["max_lr"] / base,
            "to_end": span["last"] == history[-1]["epoch"],
            "train_acc": (jump["train_acc"], end["train_acc"]), "test_acc": (jump["test_acc"], end["test_acc"]),
            "wrong_cost": wrong}


def after_peak(result: dict) -> dict:
    """Where a run's test accuracy peaked, and where it stood at its latest epoch.

    A run that overfits shows a peak of test accuracy followed by a fall, while its
    training accuracy (the running accuracy over an epoch, dropout on) keeps rising.

    Parameters
    ----------
    result:
        A result dict (:func:`load_results`) with at least one epoch of ``train_acc``
        and ``test_acc`` in its history.

    Returns
    -------
    dict
        ``best_epoch`` and ``best_test`` (the first epoch of highest test accuracy);
        ``epochs``, ``last_test`` and ``last_train`` (the latest epoch recorded); and
        ``fall``, ``best_test − last_test`` (0 when the latest epoch is the best).

    Examples
    --------
    >>> h = [{"epoch": 1, "train_acc": 0.80, "test_acc": 0.84}, {"epoch": 2, "train_acc": 0.95, "test_acc": 0.86},
    ...      {"epoch": 3, "train_acc": 0.99, "test_acc": 0.80}]
    >>> p = after_peak({"history": h})
    >>> p["best_epoch"], p["best_test"], p["epochs"], p["last_train"], round(p["fall"], 6)
    (2, 0.86, 3, 0.99, 0.06)
    """
    history = result.get("history") if isinstance(result, dict) else None
    if not history:
        raise ValueError("after_peak needs a result dict with at least one epoch in its history, got "
                         + (f"{type(result).__name__}" if not isinstance(result, dict) else "an empty history"))
    best = max(history, key=lambda e: e["test_acc"])  # max keeps the first of equal epochs
    last = history[-1]
    return {"best_epoch": best["epoch"], "best_test": best["test_acc"], "epochs": len(history),
            "last_test": last["test_acc"], "last_train": last["train_acc"],
            "fall": best["test_acc"] - last["test_acc"]}


# ----------------------------------------------------------------------------- result files as tables
def load_results(source: Union[str, Path, Iterable[Union[str, Path]]], *, task: Optional[str] = None,
                 complete_only: bool = False, problems: Optional[list] = None) -> list[dict]:
    """Read result JSON files: a directory (its ``*.json``, recursively), one file, or a list of files.

    JSON files that are not ``gru_lib`` results (no ``"format"`` of one) are ignored.
    Each result gains a ``"path"`` key. What cannot be used is reported, never
    dropped in silence, and never stops the rest: a ``gru_lib`` result that is
    malformed (a missing ``config``, a string where a number belongs, an accuracy that
    is NaN or null), a ``.json`` that is not JSON, cannot be read, is nested too deeply
    or is not a regular file (a FIFO is never opened for reading), a result of another
    format version or of a task this version does not know, and a second copy of one
    run (the same settings that change the numbers, ``RUN_ONLY`` aside, and the
    same seed, e.g. a backup found recursively, or one run on two thread counts: the
    copy with more epochs, then the later one, is kept). Each is appended to
    ``problems`` as ``(path, message)`` when a list is given, else issued as a warning.
    ``complete_only`` leaves out runs that did not end as planned (:func:`summarize`
    marks them otherwise).
    """
    import warnings

    if isinstance(source, (str, Path)):
        p = Path(source)
        if not p.exists():
            raise FileNotFoundError(f"no such results file or directory: {p}")
        files = sorted(p.rglob("*.json")) if p.is_dir() else [p]
    else:
        files = [Path(f) for f in source]
    found: list[tuple[str, str]] = []
    kept: dict[str, dict] = {}
    for f in files:
        r, fault = _read_json(f)
        if fault is not None:
            found.append((str(f), fault))
            continue
        form = r.get("format") if isinstance(r, dict) else None
        if isinstance(form, str) and form.startswith(_FORMAT_FAMILY) and form != RESULT_FORMAT:
            found.append((str(f), f"a gru_lib result of format {form!r}; this version reads {RESULT_FORMAT!r}"))
            continue
        if form != RESULT_FORMAT:
            continue
        bad = result_problems(r) or _table_problems(r)
        if bad:
            found.append((str(f), "malformed gru_lib result: " + "; ".join(bad)))
            continue
        t = r["config"]["task"]
        if t not in TASKS:
            found.append((str(f), f"unknown task {t!r} (this version knows {list(TASKS)})"))
            continue
        if task is not None and t != task:
            continue
        if complete_only and not _complete(r):
            continue
        r["path"] = str(f)
        key = _run_key(r)  # one run of one experiment
        other = kept.get(key)
        if other is None:
            kept[key] = r
            continue
        first, second = sorted((other, r), key=_copy_rank, reverse=True)
        kept[key] = first
        what = "a copy of" if _same_run(first, second) else "another run of the same settings and seed as"
        found.append((second["path"], f"{what} {first['path']}; counted once, from {first['path']}"))
    if problems is not None:
        problems.extend(found)
    else:
        for path, message in found:
            warnings.warn(f"skipped {path}: {message}", RuntimeWarning, stacklevel=2)
    return list(kept.values())


_FORMAT_FAMILY = RESULT_FORMAT.rsplit("/", 1)[0] + "/"


def _read_json(path: Path) -> tuple[Any, Optional[str]]:
    """``(content, None)`` of a JSON file, or ``(None, fault)`` saying what is wrong with it.

    Only regular files are read: a FIFO or a device named ``*.json`` would block the
    reader or never end, so it is opened without blocking and refused.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        return None, f"cannot be read ({e.strerror or e})"
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
                    else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                    else "not a regular file")
            return None, f"is {kind}, not a result file; only regular files are read"
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read()
    except OSError as e:
        return None, f"cannot be read ({e.strerror or e})"
    finally:
        os.close(fd)
    try:
        return json.loads(data.decode("utf-8")), None
    except UnicodeDecodeError as e:
        return None, f"not valid JSON: not UTF-8 text ({e.reason} at byte {e.start})"
    except RecursionError:
        return None, "not a result: its JSON is nested too deeply to read"
    except ValueError as e:
        return None, f"not valid JSON ({e}; a torn or hand-edited file?)"


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _table_problems(r: dict) -> list[str]:
    """What keeps a well-formed result out of a table: accuracies and times that are not finite
    numbers (NaN, null, infinite), and data sizes that are missing."""
    problems = []
    for i, h in enumerate(r["history"]):
        for key in ("epoch", "train_acc", "test_acc", "seconds"):
            if not _finite(h.get(key)):
                problems.append(f"history[{i}].{key} is {json.dumps(h.get(key))}, expected a finite number")
        if problems:
            break
    for key in ("train_size", "test_size"):
        v = (r.get("data") or {}).get(key)
        if isinstance(v, bool) or not isinstance(v, int):
            problems.append(f"data.{key} is {json.dumps(v)}, expected an integer")
    return problems


#: Settings that say where and how fast a run ran, not what it computed: two runs that differ
#: only in these are one experiment with one seed (the same numbers, up to rounding).
RUN_ONLY = ("device", "threads", "eval_batch_size", "implementation")


def _run_key(r: dict) -> str:
    """What identifies one run of one experiment: the settings that change its numbers and the seed."""
    config = {k: v for k, v in r["config"].items() if k not in RUN_ONLY}
    return json.dumps([config, _setting(r)], sort_keys=True, default=str)


def _complete(r: dict) -> bool:
    """Whether a run ended as planned: marked complete, not stopped, and with every epoch it asked for
    (a file that says complete but holds a shorter history is not)."""
    epochs = r["config"].get("epochs")
    return (r.get("complete") is True and not r.get("stopped")
            and (not isinstance(epochs, int) or len(r["history"]) >= epochs))


def _preset_label(r: dict) -> str:
    """The preset a run names, with the settings in which the run departed from it."""
    from .experiments import PRESETS  # experiments imports this module

    name = r.get("preset")
    defaults = PRESETS.get(name, {}).get(r["config"]["task"]) if isinstance(name, str) else None
    if defaults is None:
        return str(name)
    changed = [f"{k}={r['config'].get(k)}" for k, v in defaults.items() if r["config"].get(k, v) != v]
    return f"{name} with {', '.join(changed)}" if changed else name


def _first_session(r: dict) -> Any:
    prov = r.get("provenance") or {}
    sessions = prov.get("sessions") if isinstance(prov, dict) else None
    return sessions[0] if isinstance(sessions, list) and sessions else None


def _same_run(a: dict, b: dict) -> bool:
    return _first_session(a) == _first_session(b)


def _copy_rank(r: dict) -> tuple:
    """Which of two results of one configuration to keep: more epochs, then complete, then later."""
    prov = r.get("provenance") or {}
    return (len(r["history"]), bool(r.get("complete")), str(prov.get("date", "")) if isinstance(prov, dict) else "",
            r["path"])


def _pick_epoch(history: list[dict], which: str) -> Optional[dict]:
    if not history:
        return None
    if which == "final":
        return history[-1]
    if which == "best":
        return max(history, key=lambda h: (h["test_acc"], -h["epoch"]))
    raise ValueError(f"which must be 'final' or 'best', got {which!r}")


def _mean_sd(values: list[float]) -> tuple[Optional[float], Optional[float]]:
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def summarize(results: Sequence[dict], *, task: Optional[str] = None, which: str = "final") -> list[dict]:
    """One row per (task, activation, model, η): mean and sample sd over seeds, with the paper's cell.

    ``which="final"`` takes each run's last epoch, ``"best"`` its epoch of highest
    test accuracy (optimistic: it selects on the test set). Accuracies are fractions;
    the paper's (``paper_train``, ``paper_test``) are percentages as printed.
    """
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        c = r["config"]
        if task is not None and c["task"] != task:
            continue
        groups.setdefault((c["task"], c["activation"], c["model"], c["lr"], _setting(r)), []).append(r)
    rows = []
    for (t, act, model, lr, setting), runs in groups.items():
        picked = [(r, _pick_epoch(r["history"], which)) for r in runs]
        picked = [(r, h) for r, h in picked if h is not None]
        tr_m, tr_sd = _mean_sd([h["train_acc"] for _, h in picked])
        te_m, te_sd = _mean_sd([h["test_acc"] for _, h in picked])
        secs = [statistics.fmean(e["seconds"] for e in r["history"]) for r, _ in picked]
        table = paper.paper_table_for(t, act)
        rows.append({
            "task": t, "activation": act, "model": model, "lr": lr,
            "seeds": sorted(r["config"]["seed"] for r in runs), "n": len(picked),
            "epochs": sorted({h["epoch"] for _, h in picked}),
            "complete": all(_complete(r) for r in runs),
            "stopped": sum(1 for r in runs if r.get("stopped")),
            "incomplete": sum(1 for r in runs if not _complete(r) and not r.get("stopped")),
            "train_acc_mean": tr_m, "train_acc_sd": tr_sd, "test_acc_mean": te_m, "test_acc_sd": te_sd,
            "seconds_per_epoch": statistics.fmean(secs) if secs else None,
            "params": runs[0].get("params"),
            "presets": sorted({str(r.get("preset")) for r in runs}),
            "preset_labels": sorted({_preset_label(r) for r in runs}),
            "train_size": sorted({r["data"]["train_size"] for r in runs}),
            "test_size": sorted({r["data"]["test_size"] for r in runs}),
            "paper_table": table.number if table else None,
            "paper_train": paper.paper_accuracy(t, act, model, lr, "train"),
            "paper_test": paper.paper_accuracy(t, act, model, lr, "test"),
            "paper_params": paper.paper_params(t, model),
            "setting": dict(setting),
        })
    rows.sort(key=lambda r: (r["task"], r["activation"], json.dumps(r["setting"], sort_keys=True),
                             _MODEL_ORDER.get(r["model"], 99), -r["lr"]))
    return rows


def variant_gaps(results: Sequence[dict], task: str, *, models: Sequence[str] = ("gru0", "gru1", "gru2", "gru3"),
                 reference: str = "gru0", collapsed_below: float = 0.2) -> dict:
    """Final test accuracy of each variant against ``reference``, column by column.

    ``results`` are of one experiment setting (one preset, say). A column is one
    activation and base rate η of ``task``'s table; it counts when ``reference``
    has a result in it (mean over seeds, by :func:`summarize`), and holds those
    of ``models`` that have one too. A cell whose mean final test accuracy is
    below ``collapsed_below`` is *collapsed*: the run ended at (or near) chance,
    and a gap measured against it would say nothing about the variants.

    Returns a dict with

    * ``columns``: ``{(activation, lr): {model: row}}``, tanh first, larger η first;
    * ``collapsed``: ``[(activation, lr, model, final_row, best_row)]``, with the
      row of the run's best epoch (:func:`summarize` with ``which="best"``);
    * ``healthy``: the columns with no collapsed cell;
    * ``gaps``: ``{model: {(activation, lr): points}}`` over the healthy columns
      where the model and the reference share a seed: the reference's final test
      accuracy minus the model's, in percentage points (positive: the model ends
      below the reference), paired by seed and averaged over the shared seeds,
      so that a seed only one of the two has does not move the gap;
    * ``gap_seeds``: ``{model: {(activation, lr): [seed, ...]}}``, those shared seeds.
    """
    if reference not in models:
        raise ValueError(f"reference {reference!r} is not among models {list(models)}")
    if isinstance(collapsed_below, bool) or not isinstance(collapsed_below, (int, float)) or not 0 < collapsed_below < 1:
        raise ValueError(f"collapsed_below must be a fraction of examples in (0, 1), got {collapsed_below!r}")
    final = summarize(results, task=task)
    best = {(r["activation"], r["lr"], r["model"]): r for r in summarize(results, task=task, which="best")}
    cells: dict[tuple, dict] = {}
    for row in final:
        if row["model"] not in models:
            continue
        cell = cells.setdefault((row["activation"], row["lr"]), {})
        if row["model"] in cell:
            raise ValueError(f"results of {task} hold more than one experiment setting for {row['model']} "
                             f"{row['activation']} lr={row['lr']:g} ({cell[row['model']]['setting']} and "
                             f"{row['setting']}); pass the results of one setting, e.g. of one preset")
        cell[row["model"]] = row
    order = {m: i for i, m in enumerate(models)}
    columns = {k: dict(sorted(v.items(), key=lambda item: order[item[0]]))
               for k, v in sorted(cells.items(), key=lambda item: (item[0][0] != "tanh", item[0][0], -item[0][1]))
               if reference in v}
    collapsed = [(act, lr, m, row, best[act, lr, m]) for (act, lr), v in columns.items() for m, row in v.items()
                 if row["test_acc_mean"] < collapsed_below]
    healthy = [k for k, v in columns.items() if all(r["test_acc_mean"] >= collapsed_below for r in v.values())]
    finals: dict[tuple, dict[int, float]] = {}  # (activation, lr, model) -> {seed: final test accuracy}
    for r in results:
        c = r["config"]
        last = _pick_epoch(r["history"], "final") if c["task"] == task else None
        if last is not None:
            finals.setdefault((c["activation"], c["lr"], c["model"]), {})[c["seed"]] = last["test_acc"]
    gap_seeds = {m: {k: sorted(finals[(*k, m)].keys() & finals[(*k, reference)].keys())
                     for k in healthy if m in columns[k]}
                 for m in models if m != reference}
    gap_seeds = {m: {k: seeds for k, seeds in v.items() if seeds} for m, v in gap_seeds.items()}
    gaps = {m: {k: 100 * statistics.fmean(finals[(*k, reference)][s] - finals[(*k, m)][s] for s in seeds)
                for k, seeds in v.items()}
            for m, v in gap_seeds.items()}
    return {"columns": columns, "collapsed": collapsed, "healthy": healthy, "gaps": gaps, "gap_seeds": gap_seeds}


#: What makes two results different experiments (besides task, activation, model and
#: rate): runs that differ in any of these settings of the run's config (epochs, batch and
#: data sizes, model sizes, dropout, learning-rate rule, initialisation and the GRU's
#: conventions) are never averaged into one cell.
#:
#: :meta hide-value:
EXPERIMENT_SETTINGS = ("epochs", "batch_size", "train_limit", "test_limit", "hidden_size", "embedding_dim",
                       "dropout", "dropout_at", "lr_schedule", "init", "reset_after", "update_rule")


def _setting(r: dict) -> tuple:
    c, data = r["config"], r.get("data") or {}
    return tuple((k, c.get(k)) for k in EXPERIMENT_SETTINGS) + (
        ("preset", r.get("preset")), ("train_size", data.get("train_size")), ("test_size", data.get("test_size")))


def _describe_setting(setting: dict, others: list[dict]) -> str:
    """The settings in which ``setting`` differs from any of ``others``, as ``k=v`` pairs."""
    keys = [k for k in setting if any(o.get(k) != setting[k] for o in others)]
    return ", ".join(f"{k}={setting[k]}" for k in keys)


def _fmt_acc(mean: Optional[float], sd: Optional[float]) -> str:
    if mean is None:
        return "–"
    s = f"{100 * mean:.1f}"
    return s + (f" ± {100 * sd:.1f}" if sd is not None else "")


def seeds_text(counts: Sequence[int]) -> str:
    """How many seeds the cells of a table average, for its caption (``counts``: the seeds of each cell).

    >>> seeds_text([3]), seeds_text([1]), seeds_text([2, 3])
    ('mean ± sd over 3 seeds', '1 seed (no spread)', 'mean ± sd over 2 to 3 seeds')
    >>> seeds_text([1, 3])
    'mean ± sd over 1 to 3 seeds (no sd for a cell of 1 seed)'
    """
    values = sorted(set(counts))
    if not values or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in values):
        raise ValueError(f"counts must be positive numbers of seeds, got {list(counts)!r}")
    lo, hi = values[0], values[-1]
    if hi == 1:
        return "1 seed (no spread)"
    if lo == hi:
        return f"mean ± sd over {lo} seeds"
    return f"mean ± sd over {lo} to {hi} seeds" + (" (no sd for a cell of 1 seed)" if lo == 1 else "")


def results_table(
    results: Sequence[dict],
    task: str,
    *,
    activation: Optional[str] = None,
    which: str = "final",
    format: str = "markdown",
    timing: bool = False,
) -> Union[str, list[dict]]:
    """Our results in the shape of the paper's Tables 1–3, with the paper's numbers alongside.

    Rows are the models (GRU0–GRU3, then any baselines), columns Train and Test
    accuracy (%) per base rate η, then "# Params" (the recurrent layer's count, as
    the paper counts). A cell reads ``ours mean ± sd [paper]``: mean and sample sd
    over seeds (no sd for one seed), the paper's printed number in brackets where
    it has one. ``timing=True`` adds seconds per epoch per η.

    ``format``: ``"markdown"`` (one table per activation, each with a caption),
    ``"csv"`` (the :func:`summarize` rows as CSV text) or ``"rows"`` (those rows).
    """
    _task(task)
    rows = summarize(results, task=task, which=which)
    if activation is not None:
        rows = [r for r in rows if r["activation"] == activation]
    if format == "rows":
        return rows
    if format == "csv":
        buf = io.StringIO()
        fields = ["task", "activation", "model", "lr", "n", "seeds", "epochs", "train_acc_mean", "train_acc_sd",
                  "test_acc_mean", "test_acc_sd", "seconds_per_epoch", "params", "paper_table", "paper_train",
                  "paper_test", "paper_params", "presets", "train_size", "test_size", "complete", "stopped",
                  "setting"]
        w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            r = r | {"setting": " ".join(f"{k}={v}" for k, v in r["setting"].items())}
            w.writerow({k: (" ".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()})
        return buf.getvalue()
    if format != "markdown":
        raise ValueError(f"format must be 'markdown', 'csv' or 'rows', got {format!r}")
    if not rows:
        return f"No results for task {task!r}" + (f" with activation {activation!r}" if activation else "") + ".\n"
    blocks = []
    settings = []
    for r in rows:
        if r["setting"] not in settings:
            settings.append(r["setting"])
    for act in sorted({r["activation"] for r in rows}):
        for setting in settings:  # different experiments get tables of their own, never one average
            block = [r for r in rows if r["activation"] == act and r["setting"] == setting]
            if block:
                label = _describe_setting(setting, [o for o in settings if o != setting])
                blocks.append(_markdown_table(block, task, act, which, timing, label))
    return "\n".join(blocks)


def _markdown_table(rows: list[dict], task: str, activation: str, which: str, timing: bool,
                    setting: str = "") -> str:
    t = TASKS[task]
    lrs = sorted({r["lr"] for r in rows}, reverse=True)
    models = sorted({r["model"] for r in rows}, key=lambda m: _MODEL_ORDER.get(m, 99))
    cell = {(r["model"], r["lr"]): r for r in rows}
    table = paper.paper_table_for(task, activation)
    epochs = sorted({e for r in rows for e in r["epochs"]})
    seeds = sorted({r["n"] for r in rows})
    presets = sorted({p for r in rows for p in r["preset_labels"]})
    sizes = sorted({(a, b) for r in rows for a in r["train_size"] for b in r["test_size"]})
    caption = (f"**{t.description}, {activation}{'; ' + setting if setting else ''}.** Accuracy (%) at the "
               f"{'final' if which == 'final' else 'best (by test accuracy)'} epoch "
               f"(epoch {', '.join(map(str, epochs))}), {seeds_text(seeds)}; "
               f"training on {', '.join(f'{a}' for a, _ in sizes)} and testing on "
               f"{', '.join(f'{b}' for _, b in sizes)} examples; preset {', '.join(presets)}. ")
    if table is not None:
        caption += (f"In brackets: the paper's Table {table.number} ({table.epochs} epochs, all the data). "
                    "Train is the running accuracy over the epoch with dropout on.")
    else:
        caption += "The paper has no table for this task and activation."
    head = ["Variant"]
    for lr in lrs:
        head += [f"η={format_lr(lr)} Train", f"η={format_lr(lr)} Test"] + ([f"η={format_lr(lr)} s/epoch"] if timing else [])
    head.append("# Params")
    lines = [caption, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in models:
        line = [_label(m)]
        params = None
        for lr in lrs:
            r = cell.get((m, lr))
            if r is None:
                line += ["–", "–"] + (["–"] if timing else [])
                continue
            params = r["params"]
            for split in ("train", "test"):
                s = _fmt_acc(r[f"{split}_acc_mean"], r[f"{split}_acc_sd"])
                if r["stopped"]:
                    s += f" ({r['stopped']} diverged)"
                if r["incomplete"]:
                    s += f" ({r['incomplete']} incomplete)"
                p = r[f"paper_{split}"]
                line.append(s + (f" [{p:g}]" if p is not None else ""))
            if timing:
                line.append(f"{r['seconds_per_epoch']:.1f}" if r["seconds_per_epoch"] is not None else "–")
        pp = paper.paper_params(task, m)
        line.append(f"{params}" + (f" [{pp}]" if pp is not None and pp != params else ""))
        lines.append("| " + " | ".join(line) + " |")
    if any(r["incomplete"] for r in rows):
        lines += ["", "“incomplete”: runs short of their last epoch (still running, interrupted, or a file whose "
                  "history is shorter than its epochs); their last recorded epoch is counted."]
    return "\n".join(lines) + "\n"

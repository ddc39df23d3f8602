"""Small renderers for the experiment chapters: the paper's tables, provenance, chance levels.

The experiment chapters show the paper's numbers (:mod:`gru_lib.paper`) beside
results read from files (:func:`gru_lib.experiments.load_results`). This module
turns both into Markdown that a notebook can display
(``IPython.display.Markdown(text)``) and computes the reference points that make
a table readable: the accuracy of guessing (:func:`chance_levels`).

* :func:`paper_table_markdown` — one of the paper's Tables 1–3, as printed;
* :func:`provenance_markdown` — where a set of result files came from (command,
  commit, device, threads, dates), one row per distinct origin;
* :func:`chance_levels` — class frequencies of a label vector, the uniform
  guess ``1/K`` and the accuracy of always answering the most frequent class;
* :func:`format_lr` — ``1e-3`` as ``10⁻³``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Optional, Sequence

from . import paper
from .params import MODEL_LABELS

__all__ = ["chance_levels", "format_lr", "paper_table_markdown", "provenance_markdown"]

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_MARKS = ("†", "‡", "§", "¶")


def format_lr(lr: float) -> str:
    """A learning rate for tables and captions: powers of ten as ``10⁻³``, others as ``%g``.

    >>> format_lr(1e-3), format_lr(5e-4)
    ('10⁻³', '0.0005')
    """
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    exp = math.floor(math.log10(lr) + 1e-12)
    if abs(lr / 10 ** exp - 1) < 1e-9:
        return "10" + str(exp).translate(_SUPERSCRIPT)
    return f"{lr:g}"


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


def provenance_markdown(results: Sequence[dict]) -> str:
    """Where result files came from, as Markdown: a table with one row per distinct origin, then the commands.

    Results that share task, preset, command, commit (and whether the package had
    uncommitted changes), device, threads and torch version form one row, with the
    number of files and the range of dates; the commands that made them follow the
    table as a list. Reads each result's ``provenance`` (see
    :func:`gru_lib.train.provenance`).
    """
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        p = r.get("provenance", {})
        key = (
            r["config"]["task"],
            str(r.get("preset")),
            " ".join(p.get("command") or []),
            p.get("git_commit"),
            p.get("git_dirty"),
            p.get("device_name") or p.get("device"),
            p.get("threads"),
            p.get("torch_version"),
        )
        groups.setdefault(key, []).append(r)
    if not groups:
        return "No result files.\n"
    lines = [
        "| task | files | preset | commit | device | threads | torch | date (UTC) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    commands: list[str] = []
    for key in sorted(groups, key=lambda k: tuple(str(x) for x in k)):
        task, preset, command, commit, dirty, device, threads, torch_version = key
        dates = sorted(str(r["provenance"].get("date", "")) for r in groups[key])
        date = dates[0][:16].replace("T", " ")
        if dates[-1][:16] != dates[0][:16]:
            date += " to " + dates[-1][:16].replace("T", " ")
        commit_text = f"`{_short(commit)}`" + (" (uncommitted changes)" if dirty else "")
        lines.append(
            f"| {task} | {len(groups[key])} | {preset} | {commit_text} | {device} | {threads} | {torch_version} | {date} |"
        )
        entry = f"* {task}, {len(groups[key])} file(s): `{command}`" if command else f"* {task}: command not recorded"
        if entry not in commands:
            commands.append(entry)
    return "\n".join(lines) + "\n\nMade by:\n\n" + "\n".join(commands) + "\n"


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
    dict with ``n`` (number of labels), ``num_classes``, ``counts`` and ``freqs``
    (per class), ``uniform`` (``1/K``: the expected accuracy of a uniformly random
    guess), ``majority_class`` and ``majority`` (the accuracy of always answering the
    most frequent class; ties go to the smallest label).

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

"""What was rerun: the state of the paper's grids, read from the committed result files.

Each experiment chapter opens with a short box that says, for each of the paper's
tables (and the figure drawn from the same runs) that the chapter covers, whether it
was rerun at the paper's protocol (Table 0: all the data, 100 epochs), and how far;
which are shown only at the quick preset; and the one command that trains the rest.
The box is computed from the result files, so it changes when runs are committed:

* a grid is **complete** when every run of it (each cell of the table, for each of
  :data:`PAPER_SEEDS`) has ended: 100 epochs, or stopped because its loss was no
  longer finite (a run that fails to learn is a result);
* **in progress** when some of its runs are committed; the box gives the epochs that
  the unfinished ones have reached;
* **not rerun** when none is, and then says whether the chapter shows the task at the
  quick preset instead.

:func:`grid_status` computes one grid's state; :func:`status_markdown` writes the box
as plain Markdown (a block quote), which the book and a plain Jupyter notebook both show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

from .experiments import PAPER_GRIDS, PAPER_VARIANTS
from .report import format_lr, format_range, load_results
from .tasks import TASKS

__all__ = ["PAPER_SEEDS", "GridStatus", "grid_status", "status_markdown", "rerun_command"]

#: The seeds that a grid at the paper's protocol trains (``scripts/paper_grid.py``'s default).
PAPER_SEEDS = (0, 1, 2)

#: The paper's figures, each drawn from the runs of one of its tables.
FIGURES = {"Table 3": "Figure 1"}

#: How each task is named in the box.
_TASK_WORDS = {"mnist-row": "row-wise MNIST", "mnist-pixel": "pixel-wise MNIST", "imdb": "IMDB"}


@dataclass(frozen=True)
class GridStatus:
    """How far one of the paper's grids has been rerun at the paper's protocol.

    ``expected`` runs (variants × activations × rates × seeds), of which ``ended``
    have ended and ``running`` are committed unfinished, at ``epochs`` (the epoch each
    reached, sorted). ``quick_activations`` lists the activations of the task's
    quick-preset runs, shown instead where nothing was rerun.
    """

    name: str
    task: str
    activations: tuple[str, ...]
    lrs: tuple[float, ...]
    expected: int
    ended: int
    running: int
    epochs: tuple[int, ...]
    total_epochs: int
    quick_activations: tuple[str, ...]
    cells: int = 0
    cells_ended: int = 0

    @property
    def state(self) -> str:
        """``"complete"``, ``"in progress"`` or ``"not rerun"``."""
        if self.ended == self.expected:
            return "complete"
        return "in progress" if self.ended or self.running else "not rerun"

    @property
    def title(self) -> str:
        """The paper's name for the grid, with the figure drawn from it: ``"Table 3 and Figure 1"``."""
        figure = FIGURES.get(self.name)
        return f"{self.name} and {figure}" if figure else self.name

    def sentence(self) -> str:
        """One line of the box: what the grid is, and how far it was rerun."""
        what = f"{_TASK_WORDS.get(self.task, self.task)}, {', '.join(self.activations)}"
        if self.name.startswith("Table"):
            head = f"**{self.title}** ({what})"
        else:
            head = f"**{self.name}** ({', '.join(self.activations)}; no table in the paper)"
        if self.state == "complete":
            return f"{head}: rerun at the paper's protocol, complete ({self.expected} runs)."
        if self.state == "in progress":
            word = "epoch" if len(set(self.epochs)) == 1 else "epochs"
            # runs may have ended with none in progress (the next ones not started yet)
            unfinished = (f"; {self.running} in progress, at {word} {format_range(self.epochs, 'd')} of {self.total_epochs}"
                          if self.running else "")
            missing = self.expected - self.ended - self.running
            every_cell = (f" (every one of its {self.cells} cells has at least one)"
                          if self.cells and self.cells_ended == self.cells else "")
            return (f"{head}: rerun at the paper's protocol, in progress: {self.ended} of {self.expected} "
                    f"runs complete{every_cell}{unfinished}" + (f"; {missing} not started" if missing else "") + ".")
        shown = [a for a in self.quick_activations if a in self.activations]
        if shown:
            return f"{head}: not rerun at the paper's protocol; shown only at the quick preset."
        if self.quick_activations:
            return (f"{head}: not rerun, not even at the quick preset (its runs use "
                    f"{', '.join(self.quick_activations)}); the chapter shows the paper's numbers.")
        return f"{head}: not rerun; the chapter shows the paper's numbers."


def grid_status(results: Union[str, Path, Sequence[dict]], grid: dict,
                seeds: Sequence[int] = PAPER_SEEDS) -> GridStatus:
    """The state of one grid of :data:`gru_lib.experiments.PAPER_GRIDS` in ``results``.

    ``results`` is a results folder (read with :func:`gru_lib.report.load_results`)
    or results already read. Only runs at the paper's preset count, of the grid's
    variants, activations, rates and ``seeds``; a run has ended when it is complete
    or was stopped (e.g. its loss stopped being finite).
    """
    runs = _read(results, grid["task"])
    wanted = {(m, a, float(lr), int(s)) for m in PAPER_VARIANTS for a in grid["activations"]
              for lr in grid["lrs"] for s in seeds}
    found: dict[tuple, dict] = {}
    for r in runs:
        c = r["config"]
        key = (c["model"], c["activation"], float(c["lr"]), int(c["seed"]))
        if r.get("preset") == "paper" and _in(key, wanted):
            found[key] = r
    ended = [r for r in found.values() if r.get("complete") or r.get("stopped")]
    running = [r for r in found.values() if not (r.get("complete") or r.get("stopped"))]
    quick = sorted({r["config"]["activation"] for r in runs if r.get("preset") == "quick"})
    total = max((int(r["config"]["epochs"]) for r in found.values()), default=100)
    cells = {k[:3] for k in wanted}
    cells_ended = {(r["config"]["model"], r["config"]["activation"], float(r["config"]["lr"])) for r in ended}
    return GridStatus(
        name=grid["name"], task=grid["task"], activations=tuple(grid["activations"]),
        lrs=tuple(grid["lrs"]), expected=len(wanted), ended=len(ended), running=len(running),
        epochs=tuple(sorted(r["history"][-1]["epoch"] if r["history"] else 0 for r in running)),
        total_epochs=total, quick_activations=tuple(quick),
        cells=len(cells), cells_ended=sum(any(_in(c + (0,), {w + (0,)}) for c in cells_ended) for w in cells),
    )


def _in(key: tuple, wanted: set) -> bool:
    # rates compare as numbers: 1e-4 read from JSON is the float 0.0001
    return any(key[:2] == w[:2] and key[3] == w[3] and abs(key[2] - w[2]) <= 1e-12 * w[2] for w in wanted)


def _read(results: Union[str, Path, Sequence[dict]], task: str) -> list[dict]:
    if isinstance(results, (str, Path)):
        return load_results(results, task=task) if Path(results).exists() else []
    return [r for r in results if r["config"]["task"] == task]


def rerun_command(tasks: Sequence[str]) -> str:
    """The one command that trains what is missing of the grids of ``tasks`` (and resumes the rest)."""
    return f"python scripts/paper_grid.py --grids {' '.join(tasks)}"


def status_markdown(results: Union[str, Path, Sequence[dict]], tasks: Sequence[str],
                    seeds: Sequence[int] = PAPER_SEEDS) -> str:
    """The status box of a chapter covering ``tasks``, as a Markdown block quote.

    One line per grid of the paper that the tasks cover (Tables 1–3 with Figure 1,
    and the row-wise MNIST grid), and the command that runs the rest.

    >>> print(status_markdown([], ["imdb"]).splitlines()[2])
    > * **Table 2** (IMDB, relu): not rerun; the chapter shows the paper's numbers.
    """
    for task in tasks:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    grids = [g for g in PAPER_GRIDS if g["task"] in tasks]
    grids.sort(key=lambda g: (not g["name"].startswith("Table"), g["name"]))
    states = [grid_status(results, g, seeds) for g in grids]
    rates = sorted({lr for s in states for lr in s.lrs}, reverse=True)
    lines = [
        f"**What was rerun.** The paper's protocol is Table 0: all the data, 100 epochs, rates "
        f"{', '.join(format_lr(lr) for lr in rates)}; we train seeds {_seeds(seeds)} of each cell.",
        "",
        *(f"* {s.sentence()}" for s in states),
        "",
    ]
    if all(s.state == "complete" for s in states):
        lines.append("Every run has ended; the tables below are the paper's protocol throughout.")
    else:
        lines.append(f"The rest, in resumable chunks that skip what has ended: `{rerun_command(tasks)}`")
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def _seeds(seeds: Sequence[int]) -> str:
    seeds = sorted(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))

"""What the chapters share: small helpers for a notebook's cells.

Every executable chapter of the book imports these instead of defining its own,
so that its cells read as prose around calls to ``gru_lib``:

* :func:`show` — Markdown produced by code (tables, sentences with computed numbers);
* :func:`listing` — names joined as prose, "A, B and C";
* :func:`numel` — the number of trainable parameters, as a model summary reports it;
* :func:`max_diff` — the largest absolute difference between two tensors;
* :func:`integer_epochs` — whole-number epoch ticks on a figure's axes;
* :func:`results_dir` and :func:`committed` — the result files committed with the book.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

__all__ = ["REPO_URL", "committed", "integer_epochs", "listing", "max_diff", "numel", "results_dir", "show"]

#: The book's repository; a chapter opened without it (e.g. on Colab) clones its result files from here.
REPO_URL = "https://github.com/gru-variants/gru-variants-book"


def show(text: str) -> None:
    """Display Markdown produced by code (tables, sentences with computed numbers)."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def listing(names: list[str]) -> str:
    """Names joined as prose: ``'A'``, ``'A and B'``, ``'A, B and C'``.

    >>> listing(["GRU1", "GRU2", "GRU3"])
    'GRU1, GRU2 and GRU3'
    """
    if isinstance(names, str) or not names:
        raise ValueError(f"expected a non-empty list of names, got {names!r}")
    names = [str(n) for n in names]
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]


def numel(module: nn.Module) -> int:
    """The number of trainable parameters of a module, as a model summary reports it.

    >>> # 3(n² + nm + 2n): PyTorch keeps two bias vectors
    >>> numel(torch.nn.GRU(1, 100))
    30900
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def max_diff(a: Any, b: Any) -> float:
    """Largest absolute difference between two tensors (or arrays), as a float.

    >>> max_diff(torch.tensor([1.0, 2.0]), [1.0, 2.5])
    0.5
    """
    return float((torch.as_tensor(a) - torch.as_tensor(b)).detach().abs().max())


def integer_epochs(fig: Any) -> None:
    """Epochs are whole numbers: put the x-axis ticks of every panel of ``fig`` on integers."""
    from matplotlib.ticker import MaxNLocator

    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def results_dir(clone_into: str = "gru-variants-book") -> Path:
    """The folder of the result files committed with the book.

    ``../results`` or ``results`` when the chapter runs inside a clone of the
    repository; otherwise (e.g. on Colab) a shallow clone of :data:`REPO_URL` is
    made into ``clone_into`` and its ``results`` folder returned.
    """
    for path in (Path("../results"), Path("results")):
        if path.is_dir():
            return path
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", REPO_URL, clone_into], check=True)
    return Path(clone_into) / "results"


def committed(results: Path, task: str, preset: Optional[str] = None) -> list[dict]:
    """The result files in ``results`` of one task, optionally of one preset.

    Read with :func:`gru_lib.report.load_results`.
    """
    from .experiments import load_results

    return [r for r in load_results(results, task=task) if preset is None or r.get("preset") == preset]

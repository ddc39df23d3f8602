"""The paper's three tasks (what the data is and how big the model is) and the names of models in tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .params import MODEL_LABELS, MODELS

__all__ = ["TASKS", "Task", "get_task", "model_label"]


@dataclass(frozen=True)
class Task:
    """One of the paper's experiments: what the data is and how big the model is."""

    name: str
    dataset: str  # "mnist" or "imdb"
    description: str
    steps: int
    input_size: Optional[int]  # features per step; None for token indices (embedding)
    hidden_size: int
    num_classes: int
    train_size: int
    test_size: int


TASKS: dict[str, Task] = {
    "mnist-pixel": Task("mnist-pixel", "mnist", "MNIST, pixel-wise: 784 steps of 1 pixel", 784, 1, 100, 10,
                        60000, 10000),
    "mnist-row": Task("mnist-row", "mnist", "MNIST, row-wise: 28 steps of 28 pixels", 28, 28, 100, 10,
                      60000, 10000),
    "imdb": Task("imdb", "imdb", "IMDB reviews: last 80 of the 20000 most frequent words, 128-d embedding",
                 80, None, 128, 2, 25000, 25000),
}

#: Models in the order tables and legends list them.
MODEL_ORDER = {m: i for i, m in enumerate(MODELS)}


def model_label(model: str) -> str:
    """A model's name as a table row starts it (``MODEL_LABELS``, capitalised)."""
    label = MODEL_LABELS.get(model, model)
    return label[:1].upper() + label[1:]


def get_task(name: str) -> Task:
    """The task called ``name``; ``ValueError`` listing the tasks if there is none."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {list(TASKS)}")
    return TASKS[name]

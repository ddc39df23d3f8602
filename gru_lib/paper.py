"""The numbers of Dey & Salem (2017) as data: Table 0's settings and Tables 1–3.

Every accuracy is stored in percent, exactly as printed, with the table, row
(variant) and column (base learning rate η, Train or Test) it comes from, so that
our results can be printed beside the paper's (:func:`paper_accuracy`,
:mod:`gru_lib.experiments`).

Reading notes, kept with the data:

* Table 1 is MNIST **pixel-wise** with **ReLU**; Table 2 is IMDB with **ReLU**;
  Table 3 is IMDB with **tanh**. The paper has no table for row-wise MNIST, for
  pixel-wise MNIST with tanh, or for the LSTM, simple RNN and MGU baselines.
* Tables 2 and 3 print "0.5" for GRU1 and GRU3 at η = 1e-5 in a column of
  percentages: 50%, chance for two balanced classes ("fail to learn", §4.2). We
  store 50.0 and flag the cell. GRU3's 10.4 / 10.3 in Table 1 at η = 1e-3 is
  chance for ten classes.
* Table 3 prints GRU3 at η = 1e-3 as "97" and "79" and at η = 1e-4 (Train) as
  "88": fewer digits than the other cells. Stored as 97.0, 79.0, 88.0 and flagged.
* The captions of Tables 2 and 3 say "two base learning rates" but list three.
* The paper does not say whether a cell is the accuracy after the 100th epoch or
  the best over the 100 epochs; "Train" is most likely the running training
  accuracy Keras reports for an epoch (with dropout on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

__all__ = ["PaperTable", "TABLE0", "TABLES", "EQ18", "paper_accuracy", "paper_table_for", "paper_params"]

#: Table 0, "Network model characteristics", per task (our task names):
#: ``TABLE0[task]`` holds the number of hidden units, the gates' and the candidate's
#: activations, the cost function, the number of epochs, the optimiser, the dropout
#: rate and the batch size, as the paper prints them.
#:
#: :meta hide-value:
TABLE0: dict[str, dict] = {
    task: {
        "hidden_units": hidden,
        "gate_activation": "sigmoid",
        "activation": ("relu", "tanh"),
        "cost": cost,
        "epochs": 100,
        "optimizer": "RMSprop",
        "dropout": 0.2,
        "batch_size": 32,
    }
    for task, hidden, cost in (
        ("mnist-pixel", 100, "categorical cross-entropy"),
        ("mnist-row", 100, "categorical cross-entropy"),
        ("imdb", 128, "binary cross-entropy"),
    )
}

#: Eq. (18) as printed, as a LaTeX string; it gives the rate of epoch :math:`n` from
#: the cost of epoch :math:`n - 1`,
#:
#: .. math:: \eta(n) = \eta \times e^{-\mathrm{cost}(n-1)}
#:
#: :meta hide-value:
EQ18 = r"\eta(n) = \eta \times e^{-\mathrm{cost}(n-1)}"


@dataclass(frozen=True)
class PaperTable:
    """One results table of the paper.

    ``cells[variant][lr] = (train %, test %)``; ``params[variant]`` the "# Params"
    column; ``notes[(variant, lr)]`` a remark about a cell as printed.
    """

    number: int
    caption: str
    task: str
    activation: str
    epochs: int
    lrs: tuple[float, ...]
    cells: dict[str, dict[float, tuple[float, float]]]
    params: dict[str, int]
    notes: dict[tuple[str, float], str] = field(default_factory=dict)

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(self.cells)

    def accuracy(self, variant: str, lr: float, split: str) -> Optional[float]:
        """The printed accuracy (percent) of ``variant`` at base rate ``lr``; ``split`` is "train" or "test"."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        row = self.cells.get(variant.lower(), {})
        for key, pair in row.items():
            if _same_lr(key, lr):
                return pair[0 if split == "train" else 1]
        return None

    def note(self, variant: str, lr: float) -> Optional[str]:
        for (v, key), text in self.notes.items():
            if v == variant.lower() and _same_lr(key, lr):
                return text
        return None


def _same_lr(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


_CHANCE2 = 'printed "0.5": 50%, chance for two classes'

TABLES: dict[int, PaperTable] = {
    1: PaperTable(
        number=1,
        caption="MNIST pixel-wise sequences, ReLU activation: percentage accuracy of different "
                "architectures using 2 constant base learning rates η in 100 epochs",
        task="mnist-pixel", activation="relu", epochs=100, lrs=(1e-3, 1e-4),
        cells={
            "gru0": {1e-3: (99.2, 98.6), 1e-4: (95.3, 95.3)},
            "gru1": {1e-3: (98.9, 98.4), 1e-4: (95.3, 95.4)},
            "gru2": {1e-3: (98.9, 98.1), 1e-4: (92.9, 92.2)},
            "gru3": {1e-3: (10.4, 10.3), 1e-4: (63.1, 63.3)},
        },
        params={"gru0": 30600, "gru1": 30400, "gru2": 30200, "gru3": 10400},
        notes={("gru3", 1e-3): "chance for ten classes"},
    ),
    2: PaperTable(
        number=2,
        caption="IMDB dataset, ReLU activation: performance summary of different architectures "
                "using two [sic: three] base learning rates η over 100 epochs",
        task="imdb", activation="relu", epochs=100, lrs=(1e-3, 1e-4, 1e-5),
        cells={
            "gru0": {1e-3: (95.3, 83.7), 1e-4: (87.4, 84.8), 1e-5: (89.8, 84.8)},
            "gru1": {1e-3: (94.5, 84.1), 1e-4: (87.0, 84.8), 1e-5: (50.0, 50.0)},
            "gru2": {1e-3: (94.5, 84.2), 1e-4: (86.9, 84.6), 1e-5: (89.5, 84.5)},
            "gru3": {1e-3: (92.3, 83.2), 1e-4: (86.8, 84.5), 1e-5: (50.0, 50.0)},
        },
        params={"gru0": 98688, "gru1": 65920, "gru2": 65664, "gru3": 33152},
        notes={("gru1", 1e-5): _CHANCE2, ("gru3", 1e-5): _CHANCE2},
    ),
    3: PaperTable(
        number=3,
        caption="IMDB dataset, tanh activation: performance summary of different architectures "
                "using two [sic: three] base learning rates η over 100 epochs",
        task="imdb", activation="tanh", epochs=100, lrs=(1e-3, 1e-4, 1e-5),
        cells={
            "gru0": {1e-3: (96.9, 83.4), 1e-4: (88.3, 85.2), 1e-5: (91.0, 84.5)},
            "gru1": {1e-3: (96.2, 83.2), 1e-4: (88.2, 85.2), 1e-5: (50.0, 50.0)},
            "gru2": {1e-3: (95.8, 83.6), 1e-4: (88.0, 85.1), 1e-5: (90.8, 84.4)},
            "gru3": {1e-3: (97.0, 79.0), 1e-4: (88.0, 84.9), 1e-5: (50.0, 50.0)},
        },
        params={"gru0": 98688, "gru1": 65920, "gru2": 65664, "gru3": 33152},
        notes={
            ("gru1", 1e-5): _CHANCE2,
            ("gru3", 1e-5): _CHANCE2,
            ("gru3", 1e-3): 'printed "97" and "79" (two digits)',
            ("gru3", 1e-4): 'Train printed "88" (two digits)',
        },
    ),
}


def paper_table_for(task: str, activation: str) -> Optional[PaperTable]:
    """The paper's table for ``task`` and ``activation``, or ``None`` where it has none."""
    for table in TABLES.values():
        if table.task == task and table.activation == activation:
            return table
    return None


def paper_accuracy(task: str, activation: str, variant: str, lr: float, split: str) -> Optional[float]:
    """The paper's accuracy in percent for one cell, or ``None`` where the paper has none.

    >>> paper_accuracy("imdb", "tanh", "gru2", 1e-4, "test")
    85.1
    >>> paper_accuracy("mnist-row", "tanh", "gru0", 1e-3, "test") is None
    True
    """
    table = paper_table_for(task, activation)
    return table.accuracy(variant, lr, split) if table else None


def paper_params(task: str, variant: str) -> Optional[int]:
    """The paper's "# Params" for ``variant`` on ``task`` (any table of that task), or ``None``."""
    for table in TABLES.values():
        if table.task == task and variant.lower() in table.params:
            return table.params[variant.lower()]
    return None

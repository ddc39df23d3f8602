"""Training progress: a ``tqdm`` bar where someone watches, one line per epoch everywhere."""

from __future__ import annotations

import os
import sys
from typing import Optional

__all__ = ["Progress"]


#: Set to ``0`` where nobody watches a notebook run, e.g. the book's build (tools/build_book.sh):
#: a bar there is only noise, and its widget's state would be stored in the built page.
BARS_ENV = "GRU_LIB_PROGRESS_BARS"


def _watched(stream) -> bool:
    """Whether someone watches ``stream`` live: a terminal, or a Jupyter/Colab kernel's output."""
    if os.environ.get(BARS_ENV, "1") == "0":
        return False
    if hasattr(stream, "isatty") and stream.isatty():
        return True
    return "ipykernel" in sys.modules and type(stream).__module__.startswith("ipykernel")


class Progress:
    """Progress on stderr: a ``tqdm`` bar during each epoch where someone watches (text on a
    terminal, a widget in Jupyter and Colab), and one summary line per model and epoch
    everywhere, so that logs and CI output stay line-based and short."""

    def __init__(self, enabled: bool, stream=None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.live = enabled and _watched(self.stream)
        self._bar = None
        self._description = ""

    def start(self, description: str, total: int) -> None:
        self._description = description
        if self.live:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=description, unit="ex", leave=False, file=self.stream,
                             mininterval=0.2, dynamic_ncols=True)

    def update(self, n: int, loss: Optional[float] = None, acc: Optional[float] = None) -> None:
        """``n`` more examples done; ``loss`` and ``acc`` (the running training means) when known."""
        if self._bar is not None:
            if loss is not None and acc is not None:
                self._bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.3f}", refresh=False)
            self._bar.update(n)

    def describe(self, phase: str) -> None:
        """Name the part of the epoch under way (``"evaluating"``) after the epoch's description."""
        if self._bar is not None:
            self._bar.set_description(f"{self._description} {phase}", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def end_epoch(self, epochs: int, entry: dict, label: str = "") -> None:
        """One line for the epoch, as ``key=value`` words named as in the result file: where the
        line is wider than its window it wraps between two words, never between a name and its value."""
        if not self.enabled:
            return
        self.stream.write(
            f"{label}epoch {entry['epoch']}/{epochs} lr={entry['lr']:.3g} train_loss={entry['train_loss']:.4f} "
            f"train_acc={entry['train_acc']:.4f} test_loss={entry['test_loss']:.4f} test_acc={entry['test_acc']:.4f} "
            f"{entry['seconds']:.1f}s\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if self.enabled:
            self.close()
            self.stream.write(text + "\n")
            self.stream.flush()

"""What every checker shares: the verdict, the inputs it tries, and how it calls your code."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor

from ..cell import GRUCell
from ..convert import DTYPE, param_keys
from ..variants import VARIANTS

__all__ = ["CheckResult", "example", "random_params"]

#: Tolerances of the comparisons (loose enough for code that computes in float32).
RTOL, ATOL = 1e-4, 1e-6
#: The (batch, n, m) shapes the step checkers try; n ≠ m so that transposes show.
CASES = ((5, 4, 3), (3, 6, 2), (1, 3, 7), (8, 5, 1))


@dataclass(frozen=True)
class CheckResult:
    """The verdict of a checker.

    Attributes
    ----------
    passed:
        ``True`` when the code (or answer) is right.
    message:
        What was checked, or what is wrong and how to find it.
    exercise:
        Which checker produced it.

    Notes
    -----
    ``bool(result)`` is ``result.passed``; ``repr(result)`` is the line a notebook shows.
    """

    passed: bool
    message: str
    exercise: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        mark = "✓" if self.passed else "✗"
        head = f"{mark} {self.exercise}: " if self.exercise else f"{mark} "
        return textwrap.fill(head + self.message, width=72, subsequent_indent="  ",
                             break_long_words=False, break_on_hyphens=False)

    __repr__ = __str__

    def assert_passed(self) -> "CheckResult":
        """Raise ``AssertionError`` with the message unless the check passed (for autograders)."""
        if not self.passed:
            raise AssertionError(str(self))
        return self


def _ok(exercise: str, message: str) -> CheckResult:
    return CheckResult(True, message, exercise)


def _fail(exercise: str, message: str) -> CheckResult:
    return CheckResult(False, message, exercise)



def _shape(key: str, n: int, m: int) -> tuple[int, ...]:
    return {"W": (n, m), "U": (n, n), "b": (n,)}[key[0]]


def random_params(
    variant: str = "gru0", n: int = 4, m: int = 3, *, reset_after: bool = False, seed: int = 0
) -> dict[str, Tensor]:
    """Random float64 parameters for ``variant`` (or ``"mgu"``), uniform in (−1, 1).

    Keyed as in :func:`~gru_lib.convert.param_keys`.
    """
    gen = torch.Generator().manual_seed(seed)
    return {
        k: torch.rand(_shape(k, n, m), generator=gen, dtype=DTYPE) * 2 - 1
        for k in param_keys(variant, reset_after=reset_after)
    }


def example(
    variant: str = "gru0", n: int = 4, m: int = 3, batch: int = 2, *, reset_after: bool = False, seed: int = 0
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """Inputs for trying a step function by hand: ``x`` ``(batch, m)``, ``h`` ``(batch, n)`` and a parameter dict."""
    gen = torch.Generator().manual_seed(seed + 10_000)
    x = torch.randn(batch, m, generator=gen, dtype=DTYPE)
    h = torch.rand(batch, n, generator=gen, dtype=DTYPE) * 2 - 1
    return x, h, random_params(variant, n, m, reset_after=reset_after, seed=seed)


def _fmt(t: Tensor) -> str:
    return "[" + ", ".join(f"{float(v): .4f}" for v in t.flatten()[:6]) + (", …]" if t.numel() > 6 else "]")


def _call(fn: Callable, *args: Any) -> tuple[Any, Optional[BaseException]]:
    try:
        return fn(*args), None
    except Exception as exc:  # the student's code may raise anything
        return None, exc


def _as_tensor(out: Any, shape: tuple[int, ...], what: str) -> tuple[Optional[Tensor], Optional[str]]:
    if isinstance(out, tuple):
        return None, f"{what} returned a tuple of {len(out)}; return the tensor h_t alone"
    if out is None:
        return None, f"{what} returned None; did you forget `return`?"
    try:
        t = torch.as_tensor(out)
    except Exception:
        return None, f"{what} returned a {type(out).__name__}, not a tensor"
    if tuple(t.shape) != shape:
        return None, f"{what} returned shape {tuple(t.shape)}; expected {shape} (batch, n)"
    if not t.is_floating_point():
        return None, f"{what} returned dtype {t.dtype}; expected a floating-point tensor"
    return t.to(DTYPE), None


def _exception_message(exc: BaseException, keys: Sequence[str], variant: str, case: str) -> str:
    msg = f"your function raised {type(exc).__name__}: {exc} (on {case})."
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else None
        all_keys = set(param_keys("gru0", reset_after=True)) | set(param_keys("mgu"))
        if key in all_keys:
            msg += f" {variant} has no parameter {key!r}: its dict holds only {list(keys)}"
            if variant in VARIANTS:
                v = VARIANTS[variant]
                msg += f" (its gates are driven by {', '.join(v.signals)} alone, eqs {v.equations[0]}–{v.equations[1]})"
            msg += "."
        else:
            msg += f" The parameter dict holds {list(keys)}."
    elif isinstance(exc, RuntimeError) and ("shape" in str(exc) or "size" in str(exc)):
        msg += (" Shapes: x is (batch, m), h is (batch, n), W_* is (n, m), U_* is (n, n), b_* is (n,); "
                "with row vectors the paper's W x is x @ W.T.")
    return msg


def _changed_keys(before: dict[str, Tensor], after: dict[str, Any]) -> list[str]:
    return [k for k, v in before.items() if not (isinstance(after.get(k), Tensor) and torch.equal(after[k], v))]



def _run(cell: GRUCell, xs: Tensor, h: Tensor) -> Tensor:
    outs = []
    with torch.no_grad():
        for x in xs.unbind(1):
            h = cell(x, h)
            outs.append(h)
    return torch.stack(outs, 1)

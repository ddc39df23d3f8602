"""The GRU gate variants as data.

Dey & Salem (2017) keep the GRU's state update and candidate unchanged and vary
only what drives the two gates. Each variant is therefore fully described by
three booleans: whether the gates see the input ``W x``, the previous state
``U h`` and a bias ``b``. This table is the single source the cell, the
parameter counts, the widgets and the book read from.

======  ===========  =========================  ==================
name    gates use    gate equation (paper)      paper equations
======  ===========  =========================  ==================
gru0    x, h, b      σ(W x_t + U h_{t-1} + b)   (10), (11)
gru1    h, b         σ(U h_{t-1} + b)           (12), (13)
gru2    h            σ(U h_{t-1})               (14), (15)
gru3    b            σ(b)                       (16), (17)
======  ===========  =========================  ==================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Variant", "VARIANTS", "get_variant"]


@dataclass(frozen=True)
class Variant:
    """Which signals drive the update gate ``z`` and reset gate ``r``.

    Both gates of a variant are built the same way (the paper applies each
    variation "identically to the two gates"). The candidate state
    ``h̃_t = g(W_h x_t + U_h (r_t ⊙ h_{t-1}) + b_h)`` always uses all three.

    Attributes
    ----------
    name:
        Short name, ``"gru0"`` … ``"gru3"``.
    input:
        The gates include ``W_{z,r} x_t``.
    hidden:
        The gates include ``U_{z,r} h_{t-1}``.
    bias:
        The gates include ``b_{z,r}``.
    equations:
        The equation numbers of the gates in Dey & Salem (2017).
    """

    name: str
    input: bool
    hidden: bool
    bias: bool
    equations: tuple[int, int]

    @property
    def label(self) -> str:
        """The name that tables, figures and menus show, ``"GRU0"`` … ``"GRU3"``."""
        return self.name.upper()

    @property
    def signals(self) -> tuple[str, ...]:
        """The driving signals, as the letters the book uses, e.g. ``("x", "h", "b")`` for GRU0."""
        return tuple(s for s, on in zip("xhb", (self.input, self.hidden, self.bias)) if on)

    def gate_latex(self, gate: str = "z") -> str:
        """LaTeX for one gate of this variant in the paper's notation.

        >>> print(VARIANTS["gru1"].gate_latex("r"))
        r_t = \\sigma(U_r h_{t-1} + b_r)
        """
        if gate not in ("z", "r"):
            raise ValueError(f"gate must be 'z' or 'r', got {gate!r}")
        terms = []
        if self.input:
            terms.append(f"W_{gate} x_t")
        if self.hidden:
            terms.append(f"U_{gate} h_{{t-1}}")
        if self.bias:
            terms.append(f"b_{gate}")
        return f"{gate}_t = \\sigma({' + '.join(terms)})"


VARIANTS: dict[str, Variant] = {
    "gru0": Variant("gru0", input=True, hidden=True, bias=True, equations=(10, 11)),
    "gru1": Variant("gru1", input=False, hidden=True, bias=True, equations=(12, 13)),
    "gru2": Variant("gru2", input=False, hidden=True, bias=False, equations=(14, 15)),
    "gru3": Variant("gru3", input=False, hidden=False, bias=True, equations=(16, 17)),
}


def get_variant(variant: str | Variant) -> Variant:
    """Return the :class:`Variant` named ``variant`` (case-insensitive).

    Raises
    ------
    ValueError
        If the name is not one of ``gru0``, ``gru1``, ``gru2``, ``gru3``.
    TypeError
        If ``variant`` is neither a string nor a :class:`Variant`.
    """
    if isinstance(variant, Variant):
        return variant
    if not isinstance(variant, str):
        raise TypeError(f"variant must be a str or Variant, got {type(variant).__name__}")
    try:
        return VARIANTS[variant.lower()]
    except KeyError:
        raise ValueError(
            f"unknown GRU variant {variant!r}; expected one of {sorted(VARIANTS)}"
        ) from None

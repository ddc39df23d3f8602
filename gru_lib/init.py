"""Weight initialisation schemes for the recurrent modules.

``"torch"``
    Every weight and bias drawn from U(-1/√n, 1/√n), as ``torch.nn.GRU`` does.
``"keras"``
    The Keras defaults the paper's experiments ran with: Glorot-uniform input
    kernel (fan-in ``m``, fan-out ``k·n`` over the whole concatenated kernel),
    orthogonal recurrent kernel, zero biases (Chollet et al., Keras).

Zero gate biases matter for GRU3, whose gates are σ(b): under ``"keras"`` they
start at exactly 1/2.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["INIT_SCHEMES", "init_parameters_"]

INIT_SCHEMES = ("torch", "keras")


@torch.no_grad()
def init_parameters_(module: nn.Module, hidden_size: int, scheme: str = "torch") -> None:
    """Initialise every parameter of ``module`` in place by name.

    Parameters whose name starts with ``weight_ih`` are input kernels, ``weight_hh``
    recurrent kernels, ``bias`` biases.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; expected one of {list(INIT_SCHEMES)}")
    if scheme == "torch":
        bound = 1.0 / math.sqrt(hidden_size)
        for p in module.parameters():
            p.uniform_(-bound, bound)
        return
    for name, p in module.named_parameters():
        if name.startswith("bias"):
            p.zero_()
        elif name.startswith("weight_ih"):
            fan_out, fan_in = p.shape  # (k·n, m): Keras's kernel (m, k·n) transposed
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            p.uniform_(-limit, limit)
        elif name.startswith("weight_hh"):
            # Keras draws one orthogonal (n, k·n) matrix; its transpose is our (k·n, n).
            nn.init.orthogonal_(p)
        else:
            bound = 1.0 / math.sqrt(hidden_size)
            p.uniform_(-bound, bound)

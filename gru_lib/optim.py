"""RMSprop for a stack of models, with one learning rate per model.

The update is ``torch.optim.RMSprop``'s (not centred, no momentum, no weight
decay), applied to every parameter of a :class:`~gru_lib.model.StackedClassifier`
at once; model ``k``'s slice moves with its own rate ``lr[k]``::

    v ← α v + (1 − α) g²
    θ ← θ − lr_k · g / (√v + ε)

Keras's RMSprop (``rho`` = α, ``epsilon`` = ε) is the same update. The state of
one model converts to and from ``torch.optim.RMSprop.state_dict()``, so that a
model's checkpoint is the same whether it was trained alone or in a stack. The
rates are a tensor on the parameters' device and every step is in place, so one
step can be captured in a CUDA graph.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["StackedRMSprop"]


class StackedRMSprop:
    """RMSprop over stacked parameters ``(K, ...)`` with per-model rates.

    Parameters
    ----------
    params:
        The stack's parameters, each with the model dimension first.
    lr:
        ``K`` learning rates.
    alpha, eps:
        torch's names for the decay of the mean square and the term added to its root.
    """

    def __init__(self, params: Sequence[nn.Parameter], lr: Sequence[float], *, alpha: float, eps: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("StackedRMSprop needs at least one parameter")
        K = self.params[0].shape[0]
        if len(lr) != K or any(p.shape[0] != K for p in self.params):
            raise ValueError(f"expected {K} rates and parameters of {K} models, got {len(lr)} rates")
        self.alpha, self.eps = float(alpha), float(eps)
        device = self.params[0].device
        self.rates = [float(v) for v in lr]  # as given, for the state dicts
        self.lr = torch.tensor(self.rates, dtype=self.params[0].dtype, device=device)
        self.square_avg = [torch.zeros_like(p) for p in self.params]
        self.steps = torch.zeros(K, dtype=torch.float32, device=device)

    def set_lr(self, k: int, value: float) -> None:
        """Model ``k``'s rate (in place, so a captured graph sees it)."""
        self.rates[k] = float(value)
        self.lr[k].fill_(float(value))

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for p, v in zip(self.params, self.square_avg):
            if p.grad is None:
                continue
            g = p.grad
            v.mul_(self.alpha).addcmul_(g, g, value=1 - self.alpha)
            rate = self.lr.view(-1, *([1] * (p.dim() - 1)))
            p.addcdiv_(g * rate, v.sqrt().add_(self.eps), value=-1)
        self.steps.add_(1)

    # -- one model's state in torch.optim.RMSprop's format ---------------------------------
    def _group(self, lr: float) -> dict:
        # the param group of a torch RMSprop over the same number of tensors, for its format
        opt = torch.optim.RMSprop([torch.zeros(1)], lr=lr, alpha=self.alpha, eps=self.eps)
        group = opt.state_dict()["param_groups"][0]
        group["params"] = list(range(len(self.params)))
        return group

    def member_state_dict(self, k: int) -> dict:
        """Model ``k``'s state as ``torch.optim.RMSprop(single_model.parameters()).state_dict()``."""
        step = self.steps[k].detach().cpu().clone()
        state = {} if float(step) == 0 else {
            i: {"step": step.clone(), "square_avg": v[k].detach().cpu().clone()}
            for i, v in enumerate(self.square_avg)}
        return {"state": state, "param_groups": [self._group(self.rates[k])]}

    @torch.no_grad()
    def load_member_state_dict(self, k: int, state: dict) -> None:
        """Load model ``k``'s state from a ``torch.optim.RMSprop`` state dict of the single model."""
        try:
            entries = state["state"]
            groups = state["param_groups"]
            if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
                raise ValueError(f"expected one group of {len(self.params)} parameters")
            for i, v in enumerate(self.square_avg):
                entry = entries.get(i, entries.get(str(i)))
                if entry is None:
                    v[k].zero_()
                    continue
                v[k].copy_(entry["square_avg"])
                self.steps[k] = float(entry["step"])
        except (KeyError, TypeError, RuntimeError, AttributeError) as e:
            raise ValueError(f"not an RMSprop state of this model: {e}") from e

    def select(self, keep: Sequence[int], params: Sequence[nn.Parameter]) -> "StackedRMSprop":
        """The optimiser of a sub-stack: the state of models ``keep`` for its parameters ``params``."""
        index = torch.as_tensor(list(keep), dtype=torch.long, device=self.lr.device)
        out = StackedRMSprop.__new__(StackedRMSprop)
        out.params, out.alpha, out.eps = list(params), self.alpha, self.eps
        out.rates = [self.rates[k] for k in keep]
        out.lr = self.lr.index_select(0, index)
        out.square_avg = [v.index_select(0, index) for v in self.square_avg]
        out.steps = self.steps.index_select(0, index)
        return out

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

Sparse gradients (an embedding's rows, :class:`~gru_lib.model.StackedClassifier`)
    A row that a batch does not read has a zero gradient: its mean square only decays,
    ``v ← α v``, and its weights do not move. So a sparse gradient over (model, row)
    updates only the rows it holds, and each row remembers the step at which it was
    last brought up to date; when it next appears, the decay of the steps it missed is
    applied at once, ``v ← α^n v``, before the usual update. This gives the dense
    update's numbers to rounding (``α^n`` is one product, not ``n``). :meth:`~gru_lib.optim.StackedRMSprop.catch_up`
    brings every row up to date; the training loop calls it after every epoch, so a
    checkpoint (whose state is the dense one, in ``torch.optim.RMSprop``'s format)
    resumes exactly.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn

__all__ = ["StackedRMSprop"]


class StackedRMSprop:
    """RMSprop over stacked parameters ``(K, ...)`` with per-model rates.

    Parameters
    ----------
    params:
        The stack's parameters, each with the model dimension first.
    lr:
        ``K`` learning rates.
    alpha:
        The decay of the running mean of squared gradients (torch's name; Keras's ``rho``).
    eps:
        The term added to its square root (torch's name; Keras's ``epsilon``).
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
        # per (model, row) of a parameter with sparse gradients: the step its mean square is up to date with
        self.row_steps: list[Optional[Tensor]] = [None] * len(self.params)

    def set_lr(self, k: int, value: float) -> None:
        """Model ``k``'s rate (in place, so a captured graph sees it)."""
        self.rates[k] = float(value)
        self.lr[k].fill_(float(value))

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for i, (p, v) in enumerate(zip(self.params, self.square_avg)):
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                self._sparse_step(i, p.grad)
                continue
            self.catch_up(i)
            g = p.grad
            v.mul_(self.alpha).addcmul_(g, g, value=1 - self.alpha)
            rate = self.lr.view(-1, *([1] * (p.dim() - 1)))
            p.addcdiv_(g * rate, v.sqrt().add_(self.eps), value=-1)
        self.steps.add_(1)

    def _sparse_step(self, i: int, grad: Tensor) -> None:
        """The update of parameter ``i`` from a sparse gradient over (model, row): the same
        operations as the dense step, on the rows it holds only (see the module docstring)."""
        p, v = self.params[i], self.square_avg[i]
        if grad.sparse_dim() != 2 or grad.shape != p.shape:
            raise ValueError(f"expected a sparse gradient over (model, row) of shape {tuple(p.shape)}, "
                             f"got sparse_dim={grad.sparse_dim()} and shape {tuple(grad.shape)}")
        if self.row_steps[i] is None:  # every row is up to date so far
            self.row_steps[i] = self.steps.view(-1, 1).expand(p.shape[:2]).clone()
        grad = grad.coalesce()
        k, r = grad.indices()
        g = grad.values()
        now = self.steps[k]
        ones = [1] * (g.dim() - 1)
        sq = v[k, r].mul_(torch.pow(self.alpha, now - self.row_steps[i][k, r]).view(-1, *ones))
        sq.mul_(self.alpha).addcmul_(g, g, value=1 - self.alpha)
        v[k, r] = sq
        p[k, r] = p[k, r].addcdiv_(g * self.lr[k].view(-1, *ones), sq.sqrt().add_(self.eps), value=-1)
        self.row_steps[i][k, r] = now + 1

    def _decay_behind(self, i: int) -> Optional[Tensor]:
        """The factor ``α^n`` that brings each row of parameter ``i`` up to date, or ``None``."""
        behind = self.row_steps[i]
        if behind is None:
            return None
        factor = torch.pow(self.alpha, self.steps.view(-1, 1) - behind)
        return factor.view(*factor.shape, *([1] * (self.params[i].dim() - 2)))

    @torch.no_grad()
    def catch_up(self, i: Optional[int] = None) -> None:
        """Apply the decay that rows updated from sparse gradients have missed (parameter
        ``i``, or all): afterwards the state is that of dense updates, to rounding."""
        for j in range(len(self.params)) if i is None else [i]:
            factor = self._decay_behind(j)
            if factor is not None:
                self.square_avg[j].mul_(factor)
                self.row_steps[j] = None

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
            i: {"step": step.clone(), "square_avg": self._member_square_avg(i, k)}
            for i in range(len(self.params))}
        return {"state": state, "param_groups": [self._group(self.rates[k])]}

    @torch.no_grad()
    def _member_square_avg(self, i: int, k: int) -> Tensor:
        """Model ``k``'s mean square of parameter ``i``, brought up to date (a copy on the CPU)."""
        v = self.square_avg[i][k]
        factor = self._decay_behind(i)
        return (v.detach().clone() if factor is None else v * factor[k]).cpu()

    @torch.no_grad()
    def load_member_state_dict(self, k: int, state: dict) -> None:
        """Load model ``k``'s state from a ``torch.optim.RMSprop`` state dict of the single model."""
        self.catch_up()  # the loaded state is up to date, and so must the other models' rows be
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
        out.row_steps = [None if s is None else s.index_select(0, index) for s in self.row_steps]
        return out

"""Validation at the public boundary: clear errors before any matmul.

The errors are instances of what ``torch.nn.GRU`` and ``torch.nn.GRUCell`` raise in
the same situation, so that ``except`` clauses written for PyTorch's modules catch
them, and they stay instances of what ``gru_lib`` raised before:

* a tensor's shape, length or device: PyTorch raises ``RuntimeError``; here
  :class:`InputError`, also a ``ValueError``;
* a tensor's dtype: PyTorch raises ``ValueError`` or ``RuntimeError``; here
  :class:`DtypeError`, also a ``TypeError``;
* not a tensor at all: PyTorch fails with ``AttributeError``; here
  :class:`NotATensorError`, also a ``TypeError``;
* ``proj_size`` on a GRU: ``ValueError``, as in PyTorch.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["InputError", "DtypeError", "NotATensorError"]


class InputError(ValueError, RuntimeError):
    """A tensor argument whose shape, length or device does not fit the module.

    ``torch.nn.GRU`` raises ``RuntimeError`` here (a wrong ``hx`` shape, a wrong
    feature size, a sequence of length 0); ``gru_lib`` raised ``ValueError``. This
    class is both, so code written for either catches it.
    """


class DtypeError(InputError, TypeError):
    """A tensor whose dtype does not fit the module's parameters or the input.

    ``torch.nn.GRU`` raises ``ValueError`` for an input of another dtype than its
    weights and ``RuntimeError`` for such an ``hx`` (``torch.nn.GRUCell``:
    ``RuntimeError`` for both); ``gru_lib`` raised ``TypeError``. This class is all three.
    """


class NotATensorError(TypeError, AttributeError):
    """An argument that should be a tensor is not one.

    ``torch.nn.GRU`` fails with ``AttributeError`` (it calls ``input.dim()``);
    ``gru_lib`` raised ``TypeError``, which says what went wrong. This class is both.
    """


def check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def check_layer_size(name: str, value: object) -> int:
    """A module size (``input_size``, ``hidden_size``, ``num_layers``), checked with
    ``torch.nn.RNNBase``'s wording plus the value that came."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be greater than zero, got {value}")
    return value


def check_bool(name: str, value: object) -> bool:
    """A flag that must be a real ``bool``, with ``torch.nn.RNNBase``'s wording."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
    return value


def check_input(x: object, input_size: int, *, batched_dims: int, what: str = "input") -> bool:
    """Check a sequence or step input; return whether it is batched.

    ``batched_dims`` is the rank of a batched input (3 for sequences, 2 for one step);
    an unbatched input has one dimension fewer.
    """
    if isinstance(x, torch.nn.utils.rnn.PackedSequence):
        raise NotATensorError(
            f"{what} must be a torch.Tensor of one step, got a PackedSequence; a cell takes one "
            "step at a time (pass packed sequences to gru_lib.GRU or the baselines, which accept them)"
        )
    if not isinstance(x, Tensor):
        raise NotATensorError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise DtypeError(f"{what} must have a floating dtype (float16/bfloat16/float32/float64), got {x.dtype}")
    if x.dim() not in (batched_dims, batched_dims - 1):
        raise ValueError(
            f"{what} must be {batched_dims}-D (batched) or {batched_dims - 1}-D (unbatched), "
            f"got {x.dim()}-D with shape {tuple(x.shape)}"
        )
    if x.shape[-1] != input_size:
        raise InputError(
            f"{what} has {x.shape[-1]} features in its last dimension, expected input_size={input_size} "
            f"(got shape {tuple(x.shape)})"
        )
    return x.dim() == batched_dims


def check_hidden(h: object, expected: tuple[int, ...], like: Tensor, what: str = "hx") -> Tensor:
    """Check an initial state's type and shape against ``expected``; match dtype/device errors."""
    if not isinstance(h, Tensor):
        raise NotATensorError(f"{what} must be a torch.Tensor or None, got {type(h).__name__}")
    if tuple(h.shape) != tuple(expected):
        raise InputError(f"{what} must have shape {tuple(expected)}, got {tuple(h.shape)}")
    if h.dtype != like.dtype:
        raise DtypeError(f"{what} has dtype {h.dtype} but the input has dtype {like.dtype}; convert it "
                         f"({what}.to({like.dtype}))")
    if h.device != like.device:
        raise InputError(f"{what} is on {h.device} but the input is on {like.device}; move it "
                         f"({what}.to({str(like.device)!r}))")
    return h


def check_params_match(x: Tensor, weight: Tensor) -> None:
    if x.dtype != weight.dtype:
        raise DtypeError(
            f"input has dtype {x.dtype} but the module's parameters are {weight.dtype}; "
            f"convert one of them (e.g. module.to({x.dtype}))"
        )
    if x.device != weight.device:
        raise InputError(
            f"input is on {x.device} but the module's parameters are on {weight.device}; "
            f"move one of them (e.g. module.to({str(x.device)!r}))"
        )


def check_no_projections(proj_size: object, owner: str) -> None:
    """Refuse ``proj_size`` other than 0 with ``torch.nn.GRU``'s ``ValueError``: no GRU has projections."""
    if isinstance(proj_size, bool) or proj_size != 0:
        raise ValueError(
            f"proj_size argument is only supported for LSTM, not RNN or GRU; {owner} has no projections "
            f"(got proj_size={proj_size!r}). Leave it out, or project the output with a torch.nn.Linear"
        )

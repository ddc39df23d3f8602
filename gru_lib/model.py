"""The paper's classifier: one model (:class:`SequenceClassifier`) or a stack of them.

Dey & Salem (2017, §3 and Table 0) put one recurrent layer before a softmax
(MNIST, 10 classes) or a logistic unit (IMDB), with 20% dropout.

The model (:func:`build_model`)
    ``[embedding] → recurrent layer → dropout → linear``. Token inputs (IMDB) go
    through an embedding (128-dimensional: the paper's 98688 parameters for GRU0
    are 3(n² + nm + n) with n = m = 128). The classifier reads the recurrent layer's
    last output (Keras's ``return_sequences=False``). Ten classes use 10 logits and
    ``CrossEntropyLoss`` (softmax + categorical cross-entropy); two classes use one
    logit and ``BCEWithLogitsLoss`` (logistic unit + binary cross-entropy).

Dropout placement (``dropout_at``) — the paper says only "Dropout 20%"
    ``"output"`` (default): a dropout layer on the last state, before the output
    layer, as a Keras ``Dropout`` layer between the recurrent and ``Dense`` layers
    would do. ``"input"``: dropout on the recurrent layer's input features with one
    mask per sequence shared by all time steps, which is what the Keras recurrent
    layer's own ``dropout=`` argument does (the Keras IMDB example the paper follows
    also sets ``recurrent_dropout``, dropout on the state inside the recurrence,
    which is not offered here). Note that with pixel-wise MNIST (one input feature)
    ``"input"`` blanks 20% of whole sequences. ``"none"``: no dropout.

Initialisation (``init``)
    ``"keras"`` (default, since the paper ran Keras's defaults): the recurrent layer
    gets Glorot-uniform input kernels, orthogonal recurrent kernels and zero biases
    (:mod:`gru_lib.init`); the embedding U(−0.05, 0.05); the output layer
    Glorot-uniform with a zero bias. ``"torch"``: PyTorch's defaults throughout.

A stack (:class:`StackedClassifier`)
    ``K`` independent models of one architecture (same model, activation and
    sizes; their weights, learning rates and seeds differ) run as one: every
    parameter gets a leading model dimension, each model reads its own batch, and
    the products become batched matmuls inside the same recurrent code
    (:func:`gru_lib.functional.gru_sequence`). Each model draws its dropout masks
    from its own generator, so a model trains the same in a stack as alone.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .baselines import LSTM, MGU, SimpleRNN
from .functional import ACTIVATIONS, affine
from .init import INIT_SCHEMES as INITS
from .params import MODELS
from .rnn import GRU
from .variants import VARIANTS

__all__ = [
    "ACTIVATIONS",
    "DROPOUT_PLACEMENTS",
    "INITS",
    "SequenceClassifier",
    "StackedClassifier",
    "build_model",
    "recurrent_param_count",
]

DROPOUT_PLACEMENTS = ("output", "input", "none")


def _recurrent_layer(model: str, input_size: int, hidden_size: int, *, activation: str, init: str,
                     reset_after: bool, update_rule: str, implementation: str) -> nn.Module:
    model = model.lower()
    if model in VARIANTS:
        return GRU(input_size, hidden_size, batch_first=True, variant=model, activation=activation,
                   reset_after=reset_after, update_rule=update_rule, init=init, implementation=implementation)
    if reset_after:
        raise ValueError(f"reset_after applies to GRUs only, not to {model!r}")
    cls = {"lstm": LSTM, "rnn": SimpleRNN, "mgu": MGU}.get(model)
    if cls is None:
        raise ValueError(f"unknown model {model!r}; expected one of {list(MODELS)}")
    return cls(input_size, hidden_size, batch_first=True, activation=activation, init=init)


class SequenceClassifier(nn.Module):
    """``[embedding] → recurrent layer → dropout → linear`` (see the module docstring).

    ``forward(x)`` takes ``(B, T, m)`` floats, or ``(B, T)`` token indices when the
    model has an embedding, and returns logits: ``(B, num_classes)`` for more than
    two classes, ``(B,)`` (one logistic unit) for two.
    """

    def __init__(self, embedding: Optional[nn.Embedding], rnn: nn.Module, num_classes: int,
                 dropout: float, dropout_at: str) -> None:
        super().__init__()
        if dropout_at not in DROPOUT_PLACEMENTS:
            raise ValueError(f"unknown dropout_at {dropout_at!r}; expected one of {list(DROPOUT_PLACEMENTS)}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.embedding = embedding
        self.rnn = rnn
        self.num_classes = int(num_classes)
        self.dropout = float(dropout) if dropout_at != "none" else 0.0
        self.dropout_at = dropout_at
        self.output = nn.Linear(rnn.hidden_size, 1 if num_classes == 2 else num_classes)

    @property
    def binary(self) -> bool:
        return self.num_classes == 2

    def forward(self, x: Tensor) -> Tensor:
        """Logits for a batch: ``(B, num_classes)``, or ``(B,)`` for two classes.

        ``x`` is ``(B, T, m)`` floats, or ``(B, T)`` token indices when the model
        has an embedding.
        """
        if self.embedding is not None:
            x = self.embedding(x)
        if self.dropout_at == "input" and self.training and self.dropout > 0:
            # one mask per sequence and feature, shared by all steps (Keras's layer `dropout=`)
            keep = 1.0 - self.dropout
            mask = torch.empty(x.shape[0], 1, x.shape[2], device=x.device, dtype=x.dtype).bernoulli_(keep)
            x = x * mask / keep
        out, _ = self.rnn(x)
        last = out[:, -1]
        if self.dropout_at == "output" and self.dropout > 0:
            last = F.dropout(last, self.dropout, training=self.training)
        logits = self.output(last)
        return logits.squeeze(-1) if self.binary else logits

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """Mean binary or categorical cross-entropy."""
        if self.binary:
            return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype))
        return F.cross_entropy(logits, y)

    def predict(self, logits: Tensor) -> Tensor:
        return (logits > 0).long() if self.binary else logits.argmax(-1)


def build_model(
    model: str,
    *,
    input_size: int,
    hidden_size: int,
    num_classes: int,
    activation: str = "tanh",
    num_embeddings: Optional[int] = None,
    dropout: float = 0.2,
    dropout_at: str = "output",
    init: str = "keras",
    reset_after: bool = False,
    update_rule: str = "paper",
    implementation: str = "fused",
) -> SequenceClassifier:
    """The paper's classifier around any ``gru_lib`` recurrent model.

    Parameters
    ----------
    model:
        ``"gru0"`` … ``"gru3"``, ``"lstm"``, ``"rnn"`` or ``"mgu"``.
    input_size:
        Features per step; with ``num_embeddings`` the embedding's dimension.
    hidden_size:
        The number of hidden units, ``n``.
    activation:
        The candidate's ``g``, ``"tanh"`` or ``"relu"``.
    num_classes:
        10 for MNIST (softmax), 2 for IMDB (one logistic unit).
    num_embeddings:
        Vocabulary size for token inputs; ``None`` for real-valued sequences.
    dropout, dropout_at, init:
        See the module docstring.
    reset_after, update_rule, implementation:
        Passed to :class:`gru_lib.GRU` (GRUs only).

    Examples
    --------
    >>> m = build_model("gru1", input_size=28, hidden_size=100,
    ...                 num_classes=10)
    >>> recurrent_param_count(m)
    33100
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; expected one of {list(INITS)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {list(ACTIVATIONS)}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    embedding = nn.Embedding(num_embeddings, input_size) if num_embeddings else None
    rnn = _recurrent_layer(model, input_size, hidden_size, activation=activation, init=init,
                           reset_after=reset_after, update_rule=update_rule, implementation=implementation)
    net = SequenceClassifier(embedding, rnn, num_classes, dropout, dropout_at)
    if init == "keras":
        with torch.no_grad():
            if embedding is not None:
                embedding.weight.uniform_(-0.05, 0.05)
            nn.init.xavier_uniform_(net.output.weight)
            net.output.bias.zero_()
    return net


def recurrent_param_count(net: SequenceClassifier) -> int:
    """Trainable parameters of the recurrent layer alone (what the paper's tables count)."""
    return sum(p.numel() for p in net.rnn.parameters() if p.requires_grad)

def _dropout_mask(shape: tuple[int, ...], keep: float, generator: torch.Generator, like: Tensor) -> Tensor:
    """A dropout mask already scaled by ``1/keep``, drawn as ``F.dropout`` draws it on the CPU
    (``bernoulli_(keep)``, then ``div_(keep)``), so that a stacked model matches a lone one."""
    mask = torch.empty(shape, dtype=like.dtype, device=generator.device).bernoulli_(keep, generator=generator)
    return mask.div_(keep).to(like.device)


def _stacked_embedding(weight: Tensor, x: Tensor, sparse_grad: bool) -> Tensor:
    """Model ``k``'s rows of its own table, ``weight[k, x[k, ...]]``, for a ``(K, V, E)`` weight."""
    K, V = weight.shape[:2]
    models = torch.arange(K, device=x.device).view(K, *([1] * (x.dim() - 1))).expand_as(x)
    if sparse_grad and weight.requires_grad and torch.is_grad_enabled():
        return _SparseStackedEmbedding.apply(weight, models, x)
    return F.embedding(models * V + x, weight.flatten(0, 1))


class _SparseStackedEmbedding(torch.autograd.Function):
    """:func:`_stacked_embedding` whose weight gradient is a sparse COO tensor over (model, row),
    holding only the rows the batch read (at most ``K·B·T`` of the ``K·V``), as
    ``nn.Embedding(sparse=True)`` gives; :class:`~gru_lib.optim.StackedRMSprop` then updates
    only those rows."""

    @staticmethod
    def forward(ctx, weight: Tensor, models: Tensor, x: Tensor) -> Tensor:
        ctx.save_for_backward(models, x)
        ctx.shape = weight.shape
        return F.embedding(models * weight.shape[1] + x, weight.flatten(0, 1))

    @staticmethod
    def backward(ctx, grad: Tensor):
        models, x = ctx.saved_tensors
        index = torch.stack((models.reshape(-1), x.reshape(-1)))
        values = grad.reshape(-1, ctx.shape[-1])
        return torch.sparse_coo_tensor(index, values, ctx.shape, check_invariants=False), None, None


class StackedClassifier(nn.Module):
    """``K`` independent :class:`SequenceClassifier` models of one architecture, run as one.

    Parameter ``name`` of model ``k`` is ``stack.param(name)[k]``, where the names
    are those of the single model's ``named_parameters()`` (in that order, which
    is also the order of its optimiser's state). ``forward`` takes each model's own
    batch and returns each model's logits; :meth:`loss` returns each model's mean
    loss, so that ``stack.loss(...).sum().backward()`` gives every model the
    gradient it would get alone.

    An embedding's gradient is sparse by default (:attr:`sparse_embedding_grad`): a
    batch of IMDB reads at most 2560 of a model's 20000 rows, and the optimiser then
    moves only those (:class:`~gru_lib.optim.StackedRMSprop` gives the same numbers as
    the dense update, to rounding). Set it to ``False`` for a dense gradient, which a
    CUDA graph needs (its shapes may not depend on the batch).

    Parameters
    ----------
    members:
        The models, all built by :func:`build_model` with the same settings apart
        from their weights. They are copied; the stack does not share their tensors.

    Notes
    -----
    ``forward`` takes ``x`` of shape ``(K, B, T, m)`` (floats) or ``(K, B, T)``
    (token indices) and returns logits of shape ``(K, B, num_classes)``, or
    ``(K, B)`` for two classes.
    """

    #: Whether an embedding's weight gets a sparse gradient (see above).
    sparse_embedding_grad: bool = True

    def __init__(self, members: Sequence[SequenceClassifier]) -> None:
        super().__init__()
        members = list(members)
        if not members:
            raise ValueError("a stack needs at least one model")
        template = members[0]
        rnn = template.rnn
        if rnn.num_layers != 1 or rnn.bidirectional:
            raise ValueError("a stack holds single-layer, one-direction models (the paper's); got "
                             f"num_layers={rnn.num_layers}, bidirectional={rnn.bidirectional}")
        shapes = [(name, p.shape) for name, p in template.named_parameters()]
        for k, m in enumerate(members[1:], 1):
            if not isinstance(m, SequenceClassifier) or repr(m) != repr(template) or \
                    [(name, p.shape) for name, p in m.named_parameters()] != shapes:
                raise ValueError(f"model {k} of the stack has another architecture than model 0: "
                                 f"{m!r} vs {template!r}")
        # The template supplies the architecture (its recurrent layer's formula, the
        # dropout settings); it is kept out of the module tree so that its own
        # tensors are neither trained nor moved.
        self.__dict__["template"] = template
        self.names = [name for name, _ in shapes]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([dict(m.named_parameters())[name].detach() for m in members]))
            for name in self.names)
        self._rnn_params = {name.split(".", 1)[1][: -len("_l0")]: i for i, name in enumerate(self.names)
                            if name.startswith("rnn.")}

    @property
    def size(self) -> int:
        """The number of models ``K``."""
        return self.weights[0].shape[0]

    @property
    def binary(self) -> bool:
        return self.template.binary

    def param(self, name: str) -> Tensor:
        """The stacked parameter ``name`` (a name of the single model), shape ``(K, ...)``."""
        return self.weights[self.names.index(name)]

    def member_state_dict(self, k: int) -> dict[str, Tensor]:
        """Model ``k``'s weights as the single model's ``state_dict()`` (copies)."""
        return OrderedDict((name, w[k].detach().clone()) for name, w in zip(self.names, self.weights))

    def select(self, keep: Sequence[int]) -> "StackedClassifier":
        """A stack of the models ``keep`` (indices into this stack), with copies of their weights."""
        out = StackedClassifier.__new__(StackedClassifier)
        nn.Module.__init__(out)
        out.__dict__["template"] = self.template
        out.names, out._rnn_params = self.names, self._rnn_params
        out.sparse_embedding_grad = self.sparse_embedding_grad
        index = torch.as_tensor(list(keep), dtype=torch.long, device=self.weights[0].device)
        out.weights = nn.ParameterList(nn.Parameter(w.detach().index_select(0, index)) for w in self.weights)
        out.train(self.training)
        return out

    def forward(self, x: Tensor, generators: Optional[Sequence[torch.Generator]] = None) -> Tensor:
        """Each model's logits for its own batch ``x[k]``; in training mode with dropout,
        ``generators[k]`` draws model ``k``'s masks."""
        t = self.template
        K, B = x.shape[0], x.shape[1]
        if x.shape[0] != self.size:
            raise ValueError(f"expected a batch for each of the {self.size} models, got {x.shape[0]}")
        drop = self.training and t.dropout > 0
        if drop and (generators is None or len(generators) != K):
            raise ValueError(f"training with dropout needs one generator per model ({K})")
        keep = 1.0 - t.dropout
        if t.embedding is not None:
            x = _stacked_embedding(self.param("embedding.weight"), x, self.sparse_embedding_grad)
        if drop and t.dropout_at == "input":
            x = x * torch.stack([_dropout_mask((B, 1, x.shape[-1]), keep, g, x) for g in generators])
        params = {key: self.weights[i] for key, i in self._rnn_params.items()}
        states = tuple(x.new_zeros(K, B, t.rnn.hidden_size) for _ in range(t.rnn.state_size))
        out, _ = t.rnn.run_layer(x.permute(2, 0, 1, 3), states, params)
        last = out[-1]
        if drop and t.dropout_at == "output":
            last = last * torch.stack([_dropout_mask((B, last.shape[-1]), keep, g, last) for g in generators])
        logits = affine(last, self.param("output.weight"), self.param("output.bias"))
        return logits.squeeze(-1) if self.binary else logits

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """Each model's mean binary or categorical cross-entropy, shape ``(K,)``."""
        if self.binary:
            return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction="none").mean(-1)
        K, B, C = logits.shape
        return F.cross_entropy(logits.reshape(K * B, C), y.reshape(K * B), reduction="none").view(K, B).mean(-1)

    def predict(self, logits: Tensor) -> Tensor:
        """Each model's predicted classes (the single model's rule, over the last dimension)."""
        return self.template.predict(logits)

    def extra_repr(self) -> str:
        """``K x`` the single model's representation, as ``print(stack)`` shows it."""
        return f"{self.size} x {self.template!r}".replace("\n", "\n  ")

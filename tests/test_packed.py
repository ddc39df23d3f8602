"""PackedSequence input: against torch.nn.GRU, and against each sequence run alone."""

import itertools

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from gru_lib import GRU, LSTM, MGU, SimpleRNN, VARIANTS
from gru_lib.convert import from_torch
from gru_lib.functional import GRUSpec, gru_sequence

ATOL = 1e-10  # float64 throughout
LENGTHS = [3, 6, 1, 4, 6]  # unsorted, with ties and a length-1 sequence


def _data(batch_first, input_size=3, lengths=LENGTHS, seed=0):
    g = torch.Generator().manual_seed(seed)
    T, B = max(lengths), len(lengths)
    x = torch.randn(T, B, input_size, generator=g, dtype=torch.float64)
    return (x.transpose(0, 1).contiguous() if batch_first else x), torch.tensor(lengths)


def _weights(t):
    """A fixed, position-dependent upstream gradient (so every element matters differently)."""
    return torch.linspace(-1, 1.5, t.numel(), dtype=t.dtype).view_as(t)


def _run_packed(module, x, lengths, h0, enforce_sorted):
    """Forward+backward on packed input; returns padded output, h_n and all gradients."""
    module.zero_grad()
    x = x.detach().clone().requires_grad_()
    if not enforce_sorted:
        packed = pack_padded_sequence(x, lengths, module.batch_first, enforce_sorted=False)
    else:  # sort first, as code using enforce_sorted=True does
        order = lengths.argsort(descending=True, stable=True)
        xs = x.index_select(0 if module.batch_first else 1, order)
        packed = pack_padded_sequence(xs, lengths[order], module.batch_first, enforce_sorted=True)
    state = None
    if h0 is not None:
        state = tuple(h.detach().clone().requires_grad_() for h in h0)
        if enforce_sorted:
            state = tuple(h.index_select(1, order).detach().requires_grad_() for h in state)
    out, h_n = module(packed, state if state is None or len(state) == 2 else state[0])
    assert isinstance(out, PackedSequence)
    padded, out_lengths = pad_packed_sequence(out, module.batch_first)
    h_list = h_n if isinstance(h_n, tuple) else (h_n,)
    if enforce_sorted:  # back to the caller's order before the loss, so that both runs weigh alike
        inverse = order.argsort()
        padded = padded.index_select(0 if module.batch_first else 1, inverse)
        h_list = tuple(h.index_select(1, inverse) for h in h_list)
        out_lengths = out_lengths[inverse]
    assert out_lengths.tolist() == lengths.tolist()
    loss = (padded * _weights(padded)).sum() + sum((h * _weights(h)).sum() for h in h_list)
    loss.backward()
    grads = {k: p.grad.clone() for k, p in module.named_parameters()}
    h_grads = tuple(h.grad for h in state) if state is not None else ()
    if enforce_sorted:
        h_grads = tuple(g.index_select(1, inverse) for g in h_grads)
    return padded, h_list, x.grad, h_grads, grads


def _assert_same(a, b, atol=ATOL):
    padded_a, h_a, gx_a, gh_a, gp_a = a
    padded_b, h_b, gx_b, gh_b, gp_b = b
    torch.testing.assert_close(padded_a, padded_b, atol=atol, rtol=0)
    for u, v in zip(h_a, h_b, strict=True):
        torch.testing.assert_close(u, v, atol=atol, rtol=0)
    torch.testing.assert_close(gx_a, gx_b, atol=atol, rtol=0)
    for u, v in zip(gh_a, gh_b, strict=True):
        torch.testing.assert_close(u, v, atol=atol, rtol=0)
    assert gp_a.keys() == gp_b.keys()
    for k in gp_a:
        torch.testing.assert_close(gp_a[k], gp_b[k], atol=atol, rtol=0, msg=k)


@pytest.mark.parametrize("implementation", ["fused", "autograd"])
@pytest.mark.parametrize(
    "num_layers,bidirectional,batch_first,enforce_sorted,with_h0",
    [(1, False, False, True, True), (1, False, True, False, False), (2, True, False, False, True),
     (2, True, True, True, True), (3, True, False, False, True), (2, False, True, False, True)],
)
def test_packed_matches_torch_gru(implementation, num_layers, bidirectional, batch_first, enforce_sorted, with_h0):
    torch.manual_seed(0)
    ref = torch.nn.GRU(3, 4, num_layers, batch_first=batch_first, bidirectional=bidirectional).double()
    ours = from_torch(ref, implementation=implementation)
    x, lengths = _data(batch_first)
    D = 2 if bidirectional else 1
    h0 = (torch.randn(D * num_layers, len(LENGTHS), 4, dtype=torch.float64),) if with_h0 else None
    _assert_same(_run_packed(ours, x, lengths, h0, enforce_sorted), _run_packed(ref, x, lengths, h0, enforce_sorted))


def test_packed_output_carries_torchs_indices():
    torch.manual_seed(1)
    ref = torch.nn.GRU(3, 4).double()
    ours = from_torch(ref)
    x, lengths = _data(False)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    a, b = ours(packed)[0], ref(packed)[0]
    assert torch.equal(a.batch_sizes, b.batch_sizes)
    assert torch.equal(a.sorted_indices, b.sorted_indices)
    assert torch.equal(a.unsorted_indices, b.unsorted_indices)


def _run_alone(module, x, lengths, h0):
    """The reference: each sequence on its own, as a batch of one at its own length."""
    module.zero_grad()
    bdim = 0 if module.batch_first else 1
    x = x.detach().clone().requires_grad_()
    state = tuple(h.detach().clone().requires_grad_() for h in h0)
    T = x.shape[1 - bdim]
    outs, finals = [], []
    for i, n in enumerate(lengths.tolist()):
        xi = x.narrow(bdim, i, 1).narrow(1 - bdim, 0, n)
        hi = tuple(h[:, i : i + 1] for h in state)
        out, h_n = module(xi, hi if len(hi) == 2 else hi[0])
        pad = [0, 0, 0, 0, 0, T - n] if bdim == 1 else [0, 0, 0, T - n]
        outs.append(torch.nn.functional.pad(out, pad))
        finals.append(h_n if isinstance(h_n, tuple) else (h_n,))
    padded = torch.cat(outs, bdim)
    h_list = tuple(torch.cat([f[k] for f in finals], 1) for k in range(len(state)))
    loss = (padded * _weights(padded)).sum() + sum((h * _weights(h)).sum() for h in h_list)
    loss.backward()
    grads = {k: p.grad.clone() for k, p in module.named_parameters()}
    return padded, h_list, x.grad, tuple(h.grad for h in state), grads


SPECS = list(itertools.product(VARIANTS, ["tanh", "relu"], [False, True], ["paper", "cho"]))


@pytest.mark.parametrize("variant,activation,reset_after,update_rule", SPECS)
def test_every_variant_packed_equals_each_sequence_alone(variant, activation, reset_after, update_rule):
    torch.manual_seed(2)
    gru = GRU(3, 4, variant=variant, activation=activation, reset_after=reset_after, update_rule=update_rule,
              dtype=torch.float64)
    x, lengths = _data(False, seed=3)
    h0 = (torch.randn(1, len(LENGTHS), 4, dtype=torch.float64),)
    _assert_same(_run_packed(gru, x, lengths, h0, enforce_sorted=False), _run_alone(gru, x, lengths, h0))


@pytest.mark.parametrize("implementation", ["fused", "autograd"])
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_deep_bidirectional_reduced_variants_packed_equal_each_sequence_alone(variant, enforce_sorted,
                                                                              implementation):
    torch.manual_seed(4)
    gru = GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True, variant=variant, reset_after=True,
              activation="relu", implementation=implementation, dtype=torch.float64)
    x, lengths = _data(True, seed=5)
    h0 = (torch.randn(4, len(LENGTHS), 4, dtype=torch.float64),)
    _assert_same(_run_packed(gru, x, lengths, h0, enforce_sorted), _run_alone(gru, x, lengths, h0))


@pytest.mark.parametrize("factory", [SimpleRNN, LSTM, MGU])
def test_baselines_take_packed_input(factory):
    torch.manual_seed(6)
    model = factory(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    x, lengths = _data(False, seed=7)
    h0 = tuple(torch.randn(4, len(LENGTHS), 4, dtype=torch.float64) for _ in range(model.state_size))
    _assert_same(_run_packed(model, x, lengths, h0, enforce_sorted=False), _run_alone(model, x, lengths, h0))


def test_lstm_packed_matches_torch_lstm():
    torch.manual_seed(8)
    ref = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
    ours = LSTM(3, 4, num_layers=2, bidirectional=True, double_bias=True, dtype=torch.float64)
    ours.load_state_dict(ref.state_dict())
    x, lengths = _data(False, seed=9)
    h0 = tuple(torch.randn(4, len(LENGTHS), 4, dtype=torch.float64) for _ in range(2))
    _assert_same(_run_packed(ours, x, lengths, h0, False), _run_packed(ref, x, lengths, h0, False))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_padding_would_change_the_result(variant):
    """The comparison above can fail: run over the padding, every variant's last state differs."""
    torch.manual_seed(10)
    gru = GRU(3, 4, variant=variant, dtype=torch.float64)
    x, lengths = _data(False, seed=11)
    x = x * (torch.arange(x.shape[0]).view(-1, 1, 1) < lengths.view(1, -1, 1))  # zeros after each end
    _, h_packed = gru(pack_padded_sequence(x, lengths, enforce_sorted=False))
    _, h_padded = gru(x)
    short = lengths < lengths.max()
    assert (h_packed[0, short] - h_padded[0, short]).abs().amax(-1).min() > 1e-4
    torch.testing.assert_close(h_packed[0, ~short], h_padded[0, ~short], atol=ATOL, rtol=0)


@pytest.mark.parametrize("variant,reset_after", [("gru0", True), ("gru1", False), ("gru2", True), ("gru3", False)])
def test_fused_packed_backward_passes_gradcheck(variant, reset_after):
    torch.manual_seed(12)
    spec = GRUSpec.make(variant, "tanh", reset_after, "cho")
    gru = GRU(2, 3, variant=variant, reset_after=reset_after, update_rule="cho", dtype=torch.float64)
    p = gru.layer_parameters()
    batch_sizes = [3, 3, 2, 1]
    x = torch.randn(sum(batch_sizes), 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    params = [t.detach().clone().requires_grad_() for t in p.values()]
    names = list(p)

    def f(x, h0, *ps):
        kw = dict(zip(names, ps))
        return gru_sequence(x, h0, kw["weight_ih"], kw["weight_hh"], kw.get("bias_ih"), kw.get("bias_hh"), spec,
                            batch_sizes)

    assert torch.autograd.gradcheck(f, (x, h0, *params))


def test_packed_training_with_dropout_and_hidden_state_errors():
    gru = GRU(3, 4, num_layers=2, dropout=0.5, bidirectional=True).train()
    x, lengths = _data(False)
    packed = pack_padded_sequence(x.float(), lengths, enforce_sorted=False)
    out, h_n = gru(packed)
    assert out.data.shape == (sum(LENGTHS), 8) and h_n.shape == (4, len(LENGTHS), 4)
    with pytest.raises(ValueError, match=r"hx must have shape \(4, 5, 4\), got \(4, 3, 4\)"):
        gru(packed, torch.zeros(4, 3, 4))
    with pytest.raises(TypeError, match="module's parameters are torch.float32"):
        gru(pack_padded_sequence(x, lengths, enforce_sorted=False))

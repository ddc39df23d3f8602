"""gru_lib.GRU against torch.nn.GRU: outputs and gradients, every layout option."""

import itertools

import pytest
import torch

import gru_lib
from gru_lib import GRU, GRUCell

ATOL = 1e-5


def _grads(module, x, h0):
    module.zero_grad()
    x = x.detach().clone().requires_grad_()
    h0 = h0.detach().clone().requires_grad_()
    out, h_n = module(x, h0)
    # A non-trivial scalar so every output element gets a different upstream gradient.
    w_out = torch.linspace(-1, 1, out.numel()).view_as(out)
    w_h = torch.linspace(1, -0.5, h_n.numel()).view_as(h_n)
    ((out * w_out).sum() + (h_n * w_h).sum()).backward()
    return out, h_n, x.grad, h0.grad, {k: p.grad.clone() for k, p in module.named_parameters()}


@pytest.mark.parametrize(
    "num_layers,bidirectional,batch_first,bias",
    list(itertools.product([1, 2], [False, True], [False, True], [True, False])),
)
def test_from_torch_matches_outputs_and_gradients(num_layers, bidirectional, batch_first, bias):
    torch.manual_seed(0)
    ref = torch.nn.GRU(6, 8, num_layers=num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional)
    ours = GRU.from_torch(ref)
    D = 2 if bidirectional else 1
    x = torch.randn(5, 9, 6) if batch_first else torch.randn(9, 5, 6)
    h0 = torch.randn(D * num_layers, 5, 8)
    o1, h1, gx1, gh1, gp1 = _grads(ref, x, h0)
    o2, h2, gx2, gh2, gp2 = _grads(ours, x, h0)
    torch.testing.assert_close(o2, o1, atol=ATOL, rtol=0)
    torch.testing.assert_close(h2, h1, atol=ATOL, rtol=0)
    torch.testing.assert_close(gx2, gx1, atol=ATOL, rtol=0)
    torch.testing.assert_close(gh2, gh1, atol=ATOL, rtol=0)
    assert gp1.keys() == gp2.keys()
    for k in gp1:
        torch.testing.assert_close(gp2[k], gp1[k], atol=ATOL, rtol=0, msg=k)


@pytest.mark.parametrize("implementation", ["fused", "autograd"])
def test_paper_update_rule_conversion_matches_torch(implementation):
    torch.manual_seed(1)
    ref = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    ours = gru_lib.convert.from_torch(ref, update_rule="paper", implementation=implementation)
    assert ours.update_rule == "paper"
    x, h0 = torch.randn(7, 2, 3), torch.randn(4, 2, 4)
    o1, h1, gx1, *_ = _grads(ref, x, h0)
    o2, h2, gx2, *_ = _grads(ours, x, h0)
    torch.testing.assert_close(o2, o1, atol=ATOL, rtol=0)
    torch.testing.assert_close(gx2, gx1, atol=ATOL, rtol=0)


def test_to_torch_round_trip_and_default_hidden_state():
    torch.manual_seed(2)
    ours = GRU(4, 6, num_layers=2, batch_first=True, reset_after=True, update_rule="paper")
    ref = ours.to_torch()
    assert isinstance(ref, torch.nn.GRU) and ref.batch_first
    x = torch.randn(3, 10, 4)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=ATOL, rtol=0)
    back = GRU.from_torch(ref, update_rule="paper")
    for (k, a), (_, b) in zip(ours.state_dict().items(), back.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)


def test_unbatched_input_matches_torch():
    torch.manual_seed(3)
    ref = torch.nn.GRU(3, 5, num_layers=2, bidirectional=True)
    ours = GRU.from_torch(ref)
    x, h0 = torch.randn(6, 3), torch.randn(4, 5)
    o1, h1 = ref(x, h0)
    o2, h2 = ours(x, h0)
    assert o2.shape == (6, 10) and h2.shape == (4, 5)
    torch.testing.assert_close(o2, o1, atol=ATOL, rtol=0)
    torch.testing.assert_close(h2, h1, atol=ATOL, rtol=0)


def test_cell_matches_torch_gru_cell():
    torch.manual_seed(4)
    ref = torch.nn.GRUCell(5, 7)
    cell = GRUCell(5, 7, reset_after=True, update_rule="cho")
    cell.load_state_dict(ref.state_dict())
    x, h = torch.randn(3, 5), torch.randn(3, 7)
    torch.testing.assert_close(cell(x, h), ref(x, h), atol=ATOL, rtol=0)
    torch.testing.assert_close(cell(x[0], h[0]), ref(x[0], h[0]), atol=ATOL, rtol=0)


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(5)
    ref = torch.nn.GRU(3, 4, num_layers=3, dropout=0.5)
    ours = GRU.from_torch(ref)
    x = torch.randn(5, 2, 3)
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=ATOL, rtol=0)
    ours.train()
    a, b = ours(x)[0], ours(x)[0]
    assert not torch.allclose(a, b), "dropout between layers should be random in training"

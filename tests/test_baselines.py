"""Baselines against torch.nn and against the GRU they reduce to."""

import copy

import pytest
import torch

from gru_lib import GRU, LSTM, MGU, SimpleRNN


def _copy_into(ours, ref):
    ours.load_state_dict(ref.state_dict())
    return ours


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_simple_rnn_equals_torch_rnn(bidirectional, activation):
    torch.manual_seed(0)
    ref = torch.nn.RNN(3, 5, num_layers=2, nonlinearity=activation, bidirectional=bidirectional, batch_first=True)
    ours = _copy_into(SimpleRNN(3, 5, 2, batch_first=True, bidirectional=bidirectional, activation=activation,
                                double_bias=True), ref)
    x = torch.randn(4, 7, 3)
    (o1, h1), (o2, h2) = ref(x), ours(x)
    torch.testing.assert_close(o2, o1, atol=1e-5, rtol=0)
    torch.testing.assert_close(h2, h1, atol=1e-5, rtol=0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_equals_torch_lstm_with_gradients(bidirectional):
    torch.manual_seed(0)
    ref = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=bidirectional)
    ours = _copy_into(LSTM(3, 5, 2, bidirectional=bidirectional, double_bias=True), ref)
    D = 2 if bidirectional else 1
    x = torch.randn(6, 2, 3)
    state = (torch.randn(2 * D, 2, 5), torch.randn(2 * D, 2, 5))
    (o1, (h1, c1)), (o2, (h2, c2)) = ref(x, state), ours(x, state)
    for a, b in [(o1, o2), (h1, h2), (c1, c2)]:
        torch.testing.assert_close(b, a, atol=1e-5, rtol=0)
    (o1.sum() + c1.sum()).backward()
    (o2.sum() + c2.sum()).backward()
    for (k, p), (_, q) in zip(ref.named_parameters(), ours.named_parameters()):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-5, rtol=0, msg=k)


def test_mgu_is_a_gru_whose_reset_gate_is_its_update_gate():
    torch.manual_seed(0)
    mgu = MGU(3, 4, dtype=torch.float64)
    gru = GRU(3, 4, variant="gru0", reset_after=False, update_rule="paper", dtype=torch.float64)
    n = 4
    with torch.no_grad():
        for ours, theirs in [(gru.weight_ih_l0, mgu.weight_ih_l0), (gru.weight_hh_l0, mgu.weight_hh_l0),
                             (gru.bias_ih_l0, mgu.bias_ih_l0)]:
            ours[:n] = theirs[:n]  # r := f
            ours[n : 2 * n] = theirs[:n]  # z := f
            ours[2 * n :] = theirs[n:]  # candidate
    x = torch.randn(8, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(mgu(x)[0], gru(x)[0], rtol=0, atol=1e-14)


def test_single_bias_baselines_match_double_bias_with_summed_biases():
    torch.manual_seed(0)
    double = LSTM(3, 4, double_bias=True)
    single = LSTM(3, 4)
    state = copy.deepcopy(double.state_dict())
    state["bias_ih_l0"] = state["bias_ih_l0"] + state.pop("bias_hh_l0")
    single.load_state_dict(state)
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(single(x)[0], double(x)[0], atol=1e-6, rtol=0)


def test_baselines_unbatched_and_batch_first_shapes():
    for cls in (SimpleRNN, LSTM, MGU):
        m = cls(3, 4, batch_first=True)
        out, h = m(torch.randn(2, 5, 3))
        assert out.shape == (2, 5, 4)
        out, h = m(torch.randn(5, 3))
        assert out.shape == (5, 4)

"""Keras layouts against an independent NumPy implementation of Keras's GRU equations."""

import numpy as np
import pytest
import torch

from gru_lib import GRU
from gru_lib.convert import from_keras, to_keras


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def keras_gru(x, kernel, recurrent_kernel, bias, reset_after):
    """Keras's GRU recurrence, written from its documentation: column blocks z, r, h;
    h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h̃; x of shape (batch, time, m); returns all states."""
    n = recurrent_kernel.shape[0]
    if bias is None:
        b_in, b_rec = np.zeros(3 * n), np.zeros(3 * n)
    elif reset_after:
        b_in, b_rec = bias
    else:
        b_in, b_rec = bias, np.zeros(3 * n)
    h = np.zeros((x.shape[0], n))
    outs = []
    for t in range(x.shape[1]):
        xk = x[:, t] @ kernel + b_in
        z = sigmoid(xk[:, :n] + h @ recurrent_kernel[:, :n] + b_rec[:n])
        r = sigmoid(xk[:, n : 2 * n] + h @ recurrent_kernel[:, n : 2 * n] + b_rec[n : 2 * n])
        if reset_after:
            hh = np.tanh(xk[:, 2 * n :] + r * (h @ recurrent_kernel[:, 2 * n :] + b_rec[2 * n :]))
        else:
            hh = np.tanh(xk[:, 2 * n :] + (r * h) @ recurrent_kernel[:, 2 * n :])
        h = z * h + (1 - z) * hh
        outs.append(h)
    return np.stack(outs, 1)


def random_keras_weights(m, n, reset_after, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(m, 3 * n)) * 0.5
    rec = rng.normal(size=(n, 3 * n)) * 0.5
    b = rng.normal(size=(2, 3 * n) if reset_after else (3 * n,)) if bias else None
    return kernel, rec, b


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("update_rule", ["cho", "paper"])
def test_from_keras_reproduces_keras_outputs(reset_after, update_rule):
    kernel, rec, b = random_keras_weights(4, 5, reset_after)
    x = np.random.default_rng(1).normal(size=(3, 7, 4))
    gru = from_keras(kernel, rec, b, reset_after=reset_after, update_rule=update_rule, dtype=torch.float64)
    assert gru.batch_first and gru.num_layers == 1 and gru.reset_after == reset_after
    out, h_n = gru(torch.from_numpy(x))
    expected = keras_gru(x, kernel, rec, b, reset_after)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h_n[0].detach().numpy(), expected[:, -1], rtol=0, atol=1e-12)


def test_from_keras_without_bias_and_inferred_reset_after():
    kernel, rec, _ = random_keras_weights(2, 3, False, bias=False)
    gru = from_keras(kernel, rec, None, dtype=torch.float64)
    assert not gru.bias
    x = np.random.default_rng(2).normal(size=(2, 4, 2))
    np.testing.assert_allclose(gru(torch.from_numpy(x))[0].detach().numpy(),
                               keras_gru(x, kernel, rec, None, False), atol=1e-12)
    _, _, b2 = random_keras_weights(2, 3, True)
    assert from_keras(kernel, rec, b2).reset_after  # a (2, 3n) bias means reset_after=True


@pytest.mark.parametrize("reset_after", [False, True])
@pytest.mark.parametrize("update_rule", ["cho", "paper"])
def test_to_keras_round_trip(reset_after, update_rule):
    torch.manual_seed(0)
    gru = GRU(4, 3, batch_first=True, reset_after=reset_after, update_rule=update_rule, dtype=torch.float64)
    kernel, rec, b = to_keras(gru)
    assert kernel.shape == (4, 9) and rec.shape == (3, 9)
    assert b.shape == ((2, 9) if reset_after else (9,))
    x = np.random.default_rng(3).normal(size=(2, 5, 4))
    ours = gru(torch.from_numpy(x))[0].detach().numpy()
    np.testing.assert_allclose(keras_gru(x, kernel, rec, b, reset_after), ours, rtol=0, atol=1e-12)
    back = from_keras(kernel, rec, b, update_rule=update_rule, dtype=torch.float64)
    for (k, p), (_, q) in zip(gru.state_dict().items(), back.state_dict().items()):
        torch.testing.assert_close(p, q, msg=k)


def test_to_keras_without_bias_returns_two_arrays():
    assert len(to_keras(GRU(2, 3, bias=False))) == 2


def test_conversion_errors():
    kernel, rec, b = random_keras_weights(4, 5, False)
    with pytest.raises(ValueError, match=r"kernel must have shape \(m, 3n\)"):
        from_keras(kernel[:, :-1], rec, b)
    with pytest.raises(ValueError, match="recurrent_kernel must have shape"):
        from_keras(kernel, rec[:, :-3], b)
    with pytest.raises(ValueError, match="needs a bias of shape"):
        from_keras(kernel, rec, b, reset_after=True)
    with pytest.raises(ValueError, match="bias must have shape"):
        from_keras(kernel, rec, b[:-1])
    with pytest.raises(ValueError, match="gru0"):
        to_keras(GRU(2, 3, variant="gru1"))
    with pytest.raises(ValueError, match="single unidirectional"):
        to_keras(GRU(2, 3, num_layers=2))
    with pytest.raises(ValueError, match="reset_after=False"):
        GRU(2, 3).to_torch()
    with pytest.raises(ValueError, match="variant='gru2'.*activation='relu'"):
        GRU(2, 3, variant="gru2", activation="relu", reset_after=True).to_torch()
    with pytest.raises(TypeError, match="torch.nn.GRU"):
        GRU.from_torch(torch.nn.LSTM(2, 3))
    with pytest.raises(TypeError, match="gru_lib.GRU"):
        to_keras(torch.nn.GRU(2, 3))

"""Every error path of the modules: the right exception type and a message that helps."""

import pytest
import torch

from gru_lib import GRU, LSTM, MGU, GRUCell, SimpleRNN, get_variant


@pytest.mark.parametrize("factory", [GRU, GRUCell])
def test_unknown_variant_lists_the_choices(factory):
    with pytest.raises(ValueError, match=r"unknown GRU variant 'gru7'.*\['gru0', 'gru1', 'gru2', 'gru3'\]"):
        factory(3, 4, variant="gru7")


@pytest.mark.parametrize("factory", [GRU, GRUCell, SimpleRNN, MGU, LSTM])
def test_unknown_activation_lists_the_choices(factory):
    with pytest.raises(ValueError, match=r"unknown activation 'sigmoid'.*\['tanh', 'relu'\]"):
        factory(3, 4, activation="sigmoid")


@pytest.mark.parametrize("factory", [GRU, SimpleRNN, MGU, LSTM])
def test_dropout_with_one_layer_warns_as_pytorch_does(factory, recwarn):
    with pytest.warns(UserWarning) as ours:
        factory(3, 4, dropout=0.2)
    with pytest.warns(UserWarning) as theirs:
        torch.nn.GRU(3, 4, dropout=0.2)
    assert str(ours[0].message) == str(theirs[0].message)
    assert ours[0].filename == __file__  # points at the caller's line
    factory(3, 4, num_layers=2, dropout=0.2)
    factory(3, 4, dropout=0.0)
    assert not [w for w in recwarn if "dropout option" in str(w.message)]


def test_other_bad_options():
    with pytest.raises(ValueError, match="update_rule"):
        GRU(3, 4, update_rule="keras")
    with pytest.raises(TypeError, match="reset_after must be a bool"):
        GRU(3, 4, reset_after="yes")
    with pytest.raises(ValueError, match="implementation"):
        GRU(3, 4, implementation="cuda")
    with pytest.raises(ValueError, match=r"dropout should be a number in range \[0, 1\].*got 1.5"):
        GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero, got 0"):
        GRU(3, 0)
    with pytest.raises(TypeError, match="input_size should be of type int, got: float"):
        GRU(3.0, 4)
    with pytest.raises(ValueError, match="num_layers must be greater than zero, got 0"):
        GRU(3, 4, num_layers=0)
    with pytest.raises(TypeError, match="bias should be of type bool, got: int"):
        GRU(3, 4, bias=1)
    with pytest.raises(TypeError, match="batch_first should be of type bool, got: str"):
        LSTM(3, 4, batch_first="yes")
    with pytest.raises(ValueError, match="bias alone"):
        GRU(3, 4, variant="gru3", bias=False)
    with pytest.raises(ValueError, match="init scheme"):
        GRU(3, 4, init="xavier")
    with pytest.raises(TypeError, match="variant must be a str"):
        get_variant(3)


def test_wrong_feature_size_is_reported_before_any_matmul():
    with pytest.raises(ValueError, match=r"5 features.*expected input_size=3.*\(2, 4, 5\)"):
        GRU(3, 4)(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match=r"expected input_size=3"):
        GRUCell(3, 4)(torch.randn(2, 5))


def test_wrong_rank():
    with pytest.raises(ValueError, match=r"3-D \(batched\) or 2-D \(unbatched\), got 4-D"):
        GRU(3, 4)(torch.randn(1, 2, 4, 3))
    with pytest.raises(ValueError, match=r"2-D \(batched\) or 1-D \(unbatched\), got 3-D"):
        GRUCell(3, 4)(torch.randn(1, 2, 3))


def test_wrong_hidden_shape():
    gru = GRU(3, 4, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match=r"hx must have shape \(4, 2, 4\), got \(2, 2, 4\)"):
        gru(torch.randn(5, 2, 3), torch.randn(2, 2, 4))
    with pytest.raises(ValueError, match=r"hx must have shape \(4, 4\)"):
        gru(torch.randn(5, 3), torch.randn(4, 2, 4))  # unbatched input wants unbatched hx
    with pytest.raises(ValueError, match=r"hx must have shape \(2, 4\), got \(2, 5\)"):
        GRUCell(3, 4)(torch.randn(2, 3), torch.randn(2, 5))
    with pytest.raises(TypeError, match="hx must be a torch.Tensor"):
        GRU(3, 4)(torch.randn(5, 2, 3), [[0.0]])


def test_lstm_state_must_be_a_pair():
    lstm = LSTM(3, 4)
    with pytest.raises(TypeError, match=r"tuple \(h_0, c_0\)"):
        lstm(torch.randn(5, 2, 3), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"c_0 must have shape \(1, 2, 4\)"):
        lstm(torch.randn(5, 2, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 3, 4)))


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.uint8])
def test_non_floating_input_is_a_type_error(dtype):
    with pytest.raises(TypeError, match="floating dtype"):
        GRU(3, 4)(torch.zeros(5, 2, 3, dtype=dtype))
    with pytest.raises(TypeError, match="floating dtype"):
        GRUCell(3, 4)(torch.zeros(2, 3, dtype=dtype))


def test_not_a_tensor_and_packed_sequences():
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        GRU(3, 4)([[1.0, 2.0, 3.0]])
    packed = torch.nn.utils.rnn.pack_sequence([torch.randn(3, 3), torch.randn(2, 3)])
    with pytest.raises(TypeError, match="got a PackedSequence; a cell takes one step"):
        GRUCell(3, 4)(packed)
    with pytest.raises(ValueError, match=r"PackedSequence's data must have shape \(sum of lengths, input_size=4\)"):
        GRU(4, 4)(packed)


def test_dropout_with_one_layer_warns_as_torch_does():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        GRU(3, 4, dropout=0.2)


def test_dtype_mismatches():
    with pytest.raises(TypeError, match="module's parameters are torch.float32"):
        GRU(3, 4)(torch.randn(5, 2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="hx has dtype torch.float64"):
        GRU(3, 4)(torch.randn(5, 2, 3), torch.zeros(1, 2, 4, dtype=torch.float64))


def test_empty_sequence_is_refused():
    with pytest.raises(ValueError, match="at least one time step"):
        GRU(3, 4)(torch.randn(0, 2, 3))


def test_layer_access_errors():
    gru = GRU(3, 4)
    with pytest.raises(ValueError, match="layer must be in"):
        gru.cell(layer=1)
    with pytest.raises(ValueError, match="direction must be in"):
        gru.cell(direction=1)

"""gru_lib.GRU and gru_lib.nn.GRU as drop-ins for torch.nn.GRU: the public interface, and nn.GRU code run
unchanged."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

import gru_lib.nn
from gru_lib import GRU, LSTM
from gru_lib.convert import from_torch
from gru_lib.rnn import RecurrentStack

#: Public attributes of a ``torch.nn.GRU`` instance that ``gru_lib.GRU`` may lack, and why.
#: Empty today: everything public is there. A name added here needs a reason a user can read.
ALLOWED_MISSING: dict[str, str] = {}


def _public(obj) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("_")}


@pytest.mark.parametrize("make", [from_torch, lambda ref: gru_lib.nn.GRU(3, 4, ref.num_layers, ref.bias,
                                                                         bidirectional=ref.bidirectional)],
                         ids=["gru_lib.GRU", "gru_lib.nn.GRU"])
@pytest.mark.parametrize("num_layers,bidirectional,bias", [(1, False, True), (2, True, True), (2, False, False)])
def test_every_public_attribute_of_nn_gru_is_there(num_layers, bidirectional, bias, make):
    ref = nn.GRU(3, 4, num_layers, bias=bias, bidirectional=bidirectional)
    ours = make(ref)
    missing = _public(ref) - _public(ours)
    unexplained = sorted(missing - ALLOWED_MISSING.keys())
    assert not unexplained, f"gru_lib.GRU lacks torch.nn.GRU's {unexplained} with no stated reason"
    stale = sorted(ALLOWED_MISSING.keys() - missing)
    assert not stale, f"ALLOWED_MISSING lists {stale}, which gru_lib.GRU has now: remove them"
    assert all(reason.strip() for reason in ALLOWED_MISSING.values())


def test_the_test_sees_a_missing_attribute(monkeypatch):
    monkeypatch.delattr(RecurrentStack, "flatten_parameters")
    ours = from_torch(nn.GRU(3, 4))
    assert "flatten_parameters" in _public(nn.GRU(3, 4)) - _public(ours)


def test_all_weights_and_attributes_match_torch():
    ref = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    ours = from_torch(ref)
    assert len(ours.all_weights) == len(ref.all_weights) == 4
    for a, b in zip(ours.all_weights, ref.all_weights, strict=True):
        assert [tuple(w.shape) for w in a] == [tuple(w.shape) for w in b]
        for u, v in zip(a, b):
            torch.testing.assert_close(u, v)
    assert ours.all_weights[1][0] is ours.weight_ih_l0_reverse
    assert (ours.mode, ours.proj_size) == (ref.mode, ref.proj_size) == ("GRU", 0)
    assert LSTM(3, 4).mode == nn.LSTM(3, 4).mode
    for name in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional"):
        assert getattr(ours, name) == getattr(ref, name), name


def test_flatten_parameters_is_a_no_op_that_keeps_the_function():
    torch.manual_seed(0)
    ours = GRU(3, 4, num_layers=2)
    x = torch.randn(5, 2, 3)
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    out = ours(x)[0]
    assert ours.flatten_parameters() is None
    torch.testing.assert_close(ours(x)[0], out, atol=0, rtol=0)
    for k, v in ours.state_dict().items():
        assert torch.equal(v, before[k])


def test_checks_behave_like_torchs_and_raise_what_torch_raises():
    ref = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    ours = from_torch(ref)
    x = torch.randn(5, 2, 3)
    packed = pack_padded_sequence(x, torch.tensor([5, 3]))
    for inp, bs in ((x, None), (packed.data, packed.batch_sizes)):
        assert ours.get_expected_hidden_size(inp, bs) == ref.get_expected_hidden_size(inp, bs) == (4, 2, 4)
        ours.check_forward_args(inp, torch.zeros(4, 2, 4), bs)
    with pytest.raises(RuntimeError, match=r"input.size\(-1\) must be equal to input_size. Expected 3, got 5"):
        ours.check_input(torch.randn(5, 2, 5), None)
    with pytest.raises(RuntimeError, match="input must have 2 dimensions, got 3"):
        ours.check_input(x, packed.batch_sizes)
    with pytest.raises(ValueError, match=r"RNN input dtype \(torch.float64\) does not match weight dtype"):
        ours.check_input(x.double(), None)
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(4, 2, 4\), got \[4, 3, 4\]"):
        ours.check_forward_args(x, torch.zeros(4, 3, 4), None)
    with pytest.raises(RuntimeError, match=r"Expected hidden c_0 size \(1, 2, 4\), got \[1, 2, 5\]"):
        LSTM(3, 4).check_forward_args(x, (torch.zeros(1, 2, 4), torch.zeros(1, 2, 5)), None)
    h = torch.randn(4, 3, 4)
    perm = torch.tensor([2, 0, 1])
    torch.testing.assert_close(ours.permute_hidden(h, perm), ref.permute_hidden(h, perm))
    assert ours.permute_hidden(h, None) is h


def _classifier_losses(make_rnn, steps=4):
    """A text classifier written for torch.nn.GRU: embedding, packed reviews, last state, logit.

    The training loop is what nn.GRU users write (flatten_parameters included); only the
    recurrent layer comes from ``make_rnn``.
    """
    rnn = make_rnn()
    torch.manual_seed(0)
    emb = nn.Embedding(50, 6, padding_idx=0)
    head = nn.Linear(2 * 5, 1)
    params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
    opt = torch.optim.RMSprop(params, lr=1e-2)
    g = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(steps):
        lengths = torch.randint(1, 9, (6,), generator=g)
        seqs = [torch.randint(1, 50, (int(n),), generator=g) for n in lengths]
        y = torch.randint(0, 2, (6,), generator=g).float()
        rnn.flatten_parameters()
        packed = pack_padded_sequence(emb(pad_sequence(seqs, batch_first=True)), lengths, batch_first=True,
                                      enforce_sorted=False)
        _, h_n = rnn(packed)
        logit = head(torch.cat([h_n[-2], h_n[-1]], -1)).squeeze(-1)
        loss = nn.functional.binary_cross_entropy_with_logits(logit, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_nn_gru_code_runs_unchanged_and_gives_the_same_losses():
    def torch_gru():
        torch.manual_seed(2)
        return nn.GRU(6, 5, num_layers=2, batch_first=True, bidirectional=True)

    def drop_in():  # the same line with torch.nn replaced by gru_lib.nn: same seed, same weights
        torch.manual_seed(2)
        return gru_lib.nn.GRU(6, 5, num_layers=2, batch_first=True, bidirectional=True)

    ref = _classifier_losses(torch_gru)
    ours = _classifier_losses(lambda: from_torch(torch_gru()))
    assert ours == pytest.approx(ref, abs=1e-5)
    assert _classifier_losses(drop_in) == pytest.approx(ref, abs=1e-5)
    assert ref[0] != pytest.approx(ref[-1], abs=1e-5)  # it trained

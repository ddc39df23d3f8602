"""Gate properties of the variants and the notation facts the book relies on."""

import copy

import pytest
import torch

from gru_lib import GRU, GRUCell
from gru_lib.convert import flip_update_rule

VARIANTS = ["gru0", "gru1", "gru2", "gru3"]


def _gates(cell, x, h):
    return cell(x, h, return_gates=True)[1]


@pytest.mark.parametrize("variant", VARIANTS)
def test_return_gates_shapes_and_ranges(variant):
    cell = GRUCell(3, 5, variant=variant)
    h_new, gates = cell(torch.randn(4, 3), torch.randn(4, 5), return_gates=True)
    assert set(gates) == {"z", "r", "h_tilde"}
    for k, g in gates.items():
        assert g.shape == (4, 5), k
    assert ((gates["z"] > 0) & (gates["z"] < 1)).all()
    assert ((gates["r"] > 0) & (gates["r"] < 1)).all()
    # the state update, recomputed by hand from the returned gates (paper eq. 8)
    h = torch.randn(4, 5)
    x = torch.randn(4, 3)
    h_new, g = cell(x, h, return_gates=True)
    torch.testing.assert_close(h_new, (1 - g["z"]) * h + g["z"] * g["h_tilde"])


@pytest.mark.parametrize("variant", ["gru1", "gru2", "gru3"])
def test_reduced_gates_ignore_the_input(variant):
    torch.manual_seed(0)
    cell = GRUCell(3, 5, variant=variant)
    h = torch.randn(4, 5)
    g1, g2 = _gates(cell, torch.randn(4, 3), h), _gates(cell, 10 * torch.randn(4, 3), h)
    torch.testing.assert_close(g1["z"], g2["z"], rtol=0, atol=0)
    torch.testing.assert_close(g1["r"], g2["r"], rtol=0, atol=0)
    assert not torch.allclose(g1["h_tilde"], g2["h_tilde"])  # the candidate still sees x


def test_full_gru_gates_depend_on_the_input():
    cell = GRUCell(3, 5, variant="gru0")
    h = torch.randn(4, 5)
    assert not torch.allclose(_gates(cell, torch.randn(4, 3), h)["z"], _gates(cell, torch.randn(4, 3), h)["z"])


def test_gru3_gates_are_constant_sigmoid_of_bias():
    torch.manual_seed(0)
    cell = GRUCell(3, 5, variant="gru3")
    g1 = _gates(cell, torch.randn(4, 3), torch.randn(4, 5))
    g2 = _gates(cell, torch.randn(4, 3), torch.randn(4, 5))
    torch.testing.assert_close(g1["z"], g2["z"], rtol=0, atol=0)
    n = 5
    expected_r, expected_z = torch.sigmoid(cell.bias_ih[:n]), torch.sigmoid(cell.bias_ih[n : 2 * n])
    torch.testing.assert_close(g1["r"], expected_r.expand(4, n))
    torch.testing.assert_close(g1["z"], expected_z.expand(4, n))


def test_gru2_gates_are_one_half_at_zero_state():
    cell = GRUCell(3, 5, variant="gru2")
    g = _gates(cell, torch.randn(4, 3), torch.zeros(4, 5))
    assert (g["z"] == 0.5).all() and (g["r"] == 0.5).all()


def test_gru1_gates_at_zero_state_are_sigmoid_of_bias():
    cell = GRUCell(3, 5, variant="gru1")
    g = _gates(cell, torch.randn(2, 3), torch.zeros(2, 5))
    torch.testing.assert_close(g["r"][0], torch.sigmoid(cell.bias_ih[:5]))


def test_cell_of_sequence_module_replays_the_sequence():
    torch.manual_seed(0)
    gru = GRU(3, 4, num_layers=2, variant="gru2", batch_first=True)
    x = torch.randn(2, 6, 3)
    out, h_n = gru(x)
    cell = gru.cell(0)
    assert cell.weight_hh is gru.weight_hh_l0  # shared, not copied
    h = torch.zeros(2, 4)
    for t in range(6):
        h = cell(x[:, t], h)
    torch.testing.assert_close(h, h_n[0])


# --- notation facts (DESIGN.md §3) -------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("reset_after", [False, True])
def test_update_rules_map_exactly_by_negating_the_update_gate(variant, reset_after):
    torch.manual_seed(0)
    paper = GRU(3, 4, variant=variant, reset_after=reset_after, update_rule="paper", dtype=torch.float64)
    cho = flip_update_rule(paper)
    assert cho.update_rule == "cho"
    x = torch.randn(9, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(cho(x)[0], paper(x)[0], rtol=0, atol=1e-14)
    back = flip_update_rule(cho)
    for a, b in zip(paper.parameters(), back.parameters()):
        assert torch.equal(a, b)


def test_same_weights_different_update_rule_is_a_different_function():
    torch.manual_seed(0)
    paper = GRU(3, 4, update_rule="paper")
    cho = copy.deepcopy(paper)
    cho.spec = type(paper.spec)(paper.spec.variant, "tanh", False, "cho")
    x = torch.randn(5, 2, 3)
    assert (paper(x)[0] - cho(x)[0]).abs().max() > 1e-3


@pytest.mark.parametrize("variant", ["gru0", "gru1"])
def test_reset_before_and_after_differ(variant):
    torch.manual_seed(0)
    after = GRU(3, 4, variant=variant, reset_after=True, bias=False)
    before = GRU(3, 4, variant=variant, reset_after=False, bias=False)
    before.load_state_dict(after.state_dict())  # same weights, no biases involved
    x = torch.randn(6, 2, 3)
    h0 = torch.randn(1, 2, 4)
    assert (after(x, h0)[0] - before(x, h0)[0]).abs().max() > 1e-3


def test_gate_biases_collapse_into_their_sum():
    torch.manual_seed(0)
    gru = GRU(3, 4, reset_after=True, dtype=torch.float64)
    moved = copy.deepcopy(gru)
    with torch.no_grad():  # move the gate part of b_hh into b_ih: only the sum matters
        moved.bias_ih_l0[:8] += moved.bias_hh_l0[:8]
        moved.bias_hh_l0[:8] = 0
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    torch.testing.assert_close(moved(x)[0], gru(x)[0], rtol=0, atol=1e-14)


def test_candidate_bias_inside_reset_does_not_collapse():
    torch.manual_seed(0)
    gru = GRU(3, 4, reset_after=True, dtype=torch.float64)
    moved = copy.deepcopy(gru)
    with torch.no_grad():  # the same move for the candidate's b'_h changes the function
        moved.bias_ih_l0[8:] += moved.bias_hh_l0[8:]
        moved.bias_hh_l0[8:] = 0
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    assert (moved(x)[0] - gru(x)[0]).abs().max() > 1e-3


def test_reset_before_candidate_biases_collapse():
    """With the reset before U_h, two candidate biases are simply added: one suffices."""
    torch.manual_seed(0)
    cell = GRUCell(3, 4, reset_after=False, dtype=torch.float64)
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    _, g = cell(x, h, return_gates=True)
    w_h, u_h, b_h = cell.weight_ih[8:], cell.weight_hh[8:], cell.bias_ih[8:]
    b_w, b_u = 0.3 * b_h, 0.7 * b_h  # any split of b_h into "b_W + b_U"
    two_biases = torch.tanh(x @ w_h.T + b_w + (g["r"] * h) @ u_h.T + b_u)
    torch.testing.assert_close(two_biases, g["h_tilde"], rtol=0, atol=1e-14)

"""The hand-written backward pass against autograd and finite differences."""

import itertools

import pytest
import torch
from torch.autograd import gradcheck

from gru_lib import GRU, GRUCell
from gru_lib.functional import GRUSpec, gru_sequence, parameter_shapes

VARIANTS = ["gru0", "gru1", "gru2", "gru3"]
COMBOS = list(itertools.product(VARIANTS, ["tanh", "relu"], [False, True], ["paper", "cho"]))


def _params(spec, m, n, bias, seed):
    g = torch.Generator().manual_seed(seed)
    shapes = parameter_shapes(spec, m, n, bias)
    return [
        (torch.randn(*shapes[k], generator=g, dtype=torch.float64) * 0.7).requires_grad_() if k in shapes else None
        for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]


@pytest.mark.parametrize("variant,activation,reset_after,update_rule", COMBOS)
def test_gradcheck_fused_sequence(variant, activation, reset_after, update_rule):
    spec = GRUSpec.make(variant, activation, reset_after, update_rule)
    params = _params(spec, 3, 4, True, seed=len(str(spec)))
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)

    def f(x, h0, *p):
        return gru_sequence(x, h0, *p, spec)

    assert gradcheck(f, (x, h0, *params))


@pytest.mark.parametrize("variant,reset_after", list(itertools.product(VARIANTS[:3], [False, True])))
def test_gradcheck_without_bias(variant, reset_after):
    spec = GRUSpec.make(variant, "tanh", reset_after, "paper")
    params = _params(spec, 2, 3, False, seed=7)
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, h0, w1, w2: gru_sequence(x, h0, w1, w2, None, None, spec), (x, h0, *params[:2]))


@pytest.mark.parametrize("variant,activation,reset_after,update_rule", COMBOS)
def test_gradcheck_cell(variant, activation, reset_after, update_rule):
    cell = GRUCell(3, 4, variant=variant, activation=activation, reset_after=reset_after,
                   update_rule=update_rule, dtype=torch.float64)
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, h: cell(x, h), (x, h))


@pytest.mark.parametrize("variant,activation,reset_after,update_rule", COMBOS)
def test_fused_equals_autograd_reference(variant, activation, reset_after, update_rule):
    """Same outputs and parameter gradients as autograd through the step formula, float64."""
    torch.manual_seed(0)
    kw = dict(variant=variant, activation=activation, reset_after=reset_after, update_rule=update_rule,
              num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64)
    fused = GRU(3, 5, implementation="fused", **kw)
    ref = GRU(3, 5, implementation="autograd", **kw)
    ref.load_state_dict(fused.state_dict())
    x = torch.randn(4, 12, 3, dtype=torch.float64)
    results = []
    for m in (fused, ref):
        xi = x.clone().requires_grad_()
        out, h = m(xi)
        (out.pow(2).sum() + h.sin().sum()).backward()
        results.append((out, h, xi.grad, [p.grad for p in m.parameters()]))
    (o1, h1, g1, p1), (o2, h2, g2, p2) = results
    torch.testing.assert_close(o1, o2, rtol=0, atol=1e-12)
    torch.testing.assert_close(h1, h2, rtol=0, atol=1e-12)
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-11)
    for a, b in zip(p1, p2):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-11)


def test_no_graph_work_when_no_gradient_needed():
    gru = GRU(2, 3)
    with torch.no_grad():
        out, h = gru(torch.randn(4, 1, 2))
    assert out.grad_fn is None and not out.requires_grad


def test_grad_only_through_final_state():
    """Backward with only h_n used (the classifier case) still reaches the first input."""
    torch.manual_seed(0)
    gru = GRU(2, 3, variant="gru1")
    x = torch.randn(6, 2, 2, requires_grad=True)
    _, h = gru(x)
    h.sum().backward()
    assert x.grad[0].abs().sum() > 0


def test_double_backward_of_the_fused_pass_equals_autograds():
    """create_graph=True gives gradients attached to the graph, with the reference's second order."""
    torch.manual_seed(0)
    x = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    fused = GRU(2, 3, implementation="fused", dtype=torch.float64)
    ref = GRU(2, 3, implementation="autograd", dtype=torch.float64)
    ref.load_state_dict(fused.state_dict())
    results = []
    for m in (fused, ref):
        out, _ = m(x)
        (g,) = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True)
        assert g.requires_grad and g.grad_fn is not None
        results.append(torch.autograd.grad(g.pow(2).sum(), [x, *m.parameters()]))
    for a, b in zip(*results, strict=True):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_floating_dtype_runs_forward_and_backward(dtype, variant):
    torch.manual_seed(0)
    gru = GRU(4, 6, variant=variant, dtype=dtype)
    ref = GRU(4, 6, variant=variant, dtype=torch.float64)
    ref.load_state_dict({k: v.double() for k, v in gru.state_dict().items()})
    x = torch.randn(8, 2, 4, dtype=dtype, requires_grad=True)
    out, _ = gru(x)
    out.float().sum().backward()
    assert out.dtype == dtype and x.grad.dtype == dtype
    tol = {torch.float64: 1e-12, torch.float32: 1e-5}.get(dtype, 5e-2)
    torch.testing.assert_close(out.double(), ref(x.detach().double())[0], rtol=0, atol=tol)

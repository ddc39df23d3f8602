"""gru_lib.nn.GRU / GRUCell used as torch.nn.GRU / GRUCell: weights, outputs, higher-order
gradients, batched gradients, torch.func transforms and errors, each against PyTorch."""

import itertools
import warnings

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch import nn
from torch.autograd import gradcheck, gradgradcheck
from torch.func import functional_call, grad, jacrev, vmap
from torch.nn.utils.rnn import pack_padded_sequence

import gru_lib
import gru_lib.nn as gnn

F64 = torch.float64
VARIANTS = list(gru_lib.VARIANTS)
CONVENTIONS = list(itertools.product(["tanh", "relu"], [False, True], ["paper", "cho"]))
IMPLEMENTATIONS = ["fused", "autograd"]


def _gru(variant="gru0", activation="tanh", reset_after=True, update_rule="cho", implementation="fused", **kw):
    kw.setdefault("dtype", F64)
    return gnn.GRU(2, 3, variant=variant, activation=activation, reset_after=reset_after, update_rule=update_rule,
                   implementation=implementation, **kw)


def _as_function(module):
    """``f(x, h0, *parameters)``: the module as a function of every tensor it depends on."""
    names = [name for name, _ in module.named_parameters()]

    def f(x, h0, *params):
        return functional_call(module, dict(zip(names, params)), (x, h0))

    return f, [p.detach().clone().requires_grad_() for p in module.parameters()]


# -- defaults, layout, initialisation, state_dict ------------------------------------


@pytest.mark.parametrize("num_layers,bidirectional,bias", [(1, False, True), (2, True, True), (2, False, False)])
def test_same_seed_same_weights_and_state_dict_both_ways(num_layers, bidirectional, bias):
    torch.manual_seed(0)
    ref = nn.GRU(3, 4, num_layers, bias, False, 0.0, bidirectional)
    torch.manual_seed(0)
    ours = gnn.GRU(3, 4, num_layers, bias, False, 0.0, bidirectional)
    assert (ours.variant, ours.reset_after, ours.update_rule) == ("gru0", True, "cho")
    a, b = ref.state_dict(), ours.state_dict()
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k  # PyTorch's initialisation, draw for draw

    torch.manual_seed(1)
    other = nn.GRU(3, 4, num_layers, bias, False, 0.0, bidirectional)
    ours.load_state_dict(other.state_dict())  # nn.GRU → gru_lib.nn.GRU, unchanged
    x = torch.randn(6, 2, 3)
    torch.testing.assert_close(ours(x), other(x), atol=1e-6, rtol=0)
    ref.load_state_dict(ours.state_dict())  # and back
    torch.testing.assert_close(ref(x), other(x), atol=0, rtol=0)


def test_positional_arguments_are_torchs():
    ref = nn.GRU(3, 4, 2, False, True, 0.25, True, 0, "cpu", F64)
    ours = gnn.GRU(3, 4, 2, False, True, 0.25, True, 0, "cpu", F64)
    for name in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
                 "proj_size"):
        assert getattr(ours, name) == getattr(ref, name), name
    assert ours.weight_ih_l0.dtype == F64
    cell_ref, cell = nn.GRUCell(3, 4, False, "cpu", F64), gnn.GRUCell(3, 4, False, "cpu", F64)
    assert cell.weight_hh.dtype == F64 and cell.bias_ih is None and cell_ref.bias_ih is None


def test_cell_same_seed_same_weights_and_outputs():
    torch.manual_seed(0)
    ref = nn.GRUCell(3, 5)
    torch.manual_seed(0)
    ours = gnn.GRUCell(3, 5)
    for k, v in ref.state_dict().items():
        assert torch.equal(ours.state_dict()[k], v), k
    x, h = torch.randn(4, 3), torch.randn(4, 5)
    torch.testing.assert_close(ours(x, h), ref(x, h), atol=1e-6, rtol=0)
    torch.testing.assert_close(ours(x[0]), ref(x[0]), atol=1e-6, rtol=0)


def test_every_public_attribute_of_nn_gru_cell_is_there():
    public = lambda obj: {n for n in dir(obj) if not n.startswith("_")}  # noqa: E731
    assert not public(nn.GRUCell(3, 4)) - public(gnn.GRUCell(3, 4))
    assert not public(nn.GRUCell(3, 4, bias=False)) - public(gnn.GRUCell(3, 4, bias=False))


def test_variant_is_a_keyword_and_changes_only_the_gates():
    gru = gnn.GRU(3, 4, variant="gru2", activation="relu")
    assert gru.spec == gru_lib.functional.GRUSpec.make("gru2", "relu", True, "cho")
    assert gru.weight_ih_l0.shape == (4, 3) and gru.weight_hh_l0.shape == (12, 4)
    assert isinstance(gru, gru_lib.GRU) and gru(torch.randn(5, 2, 3))[0].shape == (5, 2, 4)


# -- gradients: first and second order, every variant and convention ------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("activation,reset_after,update_rule", CONVENTIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_gradcheck_and_gradgradcheck(variant, activation, reset_after, update_rule, implementation):
    """First and second order against finite differences (fast mode: random projections of
    the Jacobians, so that 64 cases cost seconds; the full mode runs below for GRU0)."""
    torch.manual_seed(len(variant + activation + update_rule) + reset_after)
    gru = gnn.GRU(2, 2, variant=variant, activation=activation, reset_after=reset_after, update_rule=update_rule,
                  implementation=implementation, dtype=F64)
    f, params = _as_function(gru)
    x = torch.randn(3, 2, 2, dtype=F64, requires_grad=True)
    h0 = torch.randn(1, 2, 2, dtype=F64, requires_grad=True)
    assert gradcheck(f, (x, h0, *params), check_batched_grad=True, fast_mode=True)
    assert gradgradcheck(f, (x, h0, *params), fast_mode=True)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_full_gradgradcheck_and_packed(implementation):
    torch.manual_seed(0)
    f, params = _as_function(gnn.GRU(2, 2, implementation=implementation, dtype=F64))
    x = torch.randn(3, 2, 2, dtype=F64, requires_grad=True)
    h0 = torch.randn(1, 2, 2, dtype=F64, requires_grad=True)
    assert gradgradcheck(f, (x, h0, *params))

    def packed(data, h0, *p):
        out, h = f(pack_padded_sequence(data, torch.tensor([3, 2])), h0, *p)
        return out.data, h

    assert gradgradcheck(packed, (x, h0, *params), fast_mode=True)


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
def test_fused_double_backward_is_attached_and_equals_autograd(packed):
    """The fused pass's create_graph gradients are those of the reference, never detached:
    two layers, both directions, padded or packed."""
    torch.manual_seed(0)
    fused = _gru(num_layers=2, bidirectional=True)
    ref = _gru(num_layers=2, bidirectional=True, implementation="autograd")
    ref.load_state_dict(fused.state_dict())
    x = torch.randn(4, 3, 2, dtype=F64, requires_grad=True)
    hvps = []
    for m in (fused, ref):
        inp = pack_padded_sequence(x, torch.tensor([4, 3, 1])) if packed else x
        out, h = m(inp)
        out = out.data if packed else out
        gs = torch.autograd.grad(out.pow(2).sum() + h.sum(), [x, *m.parameters()], create_graph=True)
        assert all(g.requires_grad for g in gs)
        hvps.append(torch.autograd.grad(sum(g.pow(2).sum() for g in gs), [x, *m.parameters()]))
    for a, b in zip(*hvps, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_stack_of_models_double_backward_equals_autograd():
    """A stack of K models (3-D weights) through the fused Function: second order as the reference."""
    from gru_lib.functional import GRUSpec, gru_sequence, gru_sequence_autograd, parameter_shapes

    torch.manual_seed(0)
    spec = GRUSpec.make("gru1", "tanh", True, "cho")
    K = 3
    ps = [torch.randn(K, *s, dtype=F64, requires_grad=True) for s in parameter_shapes(spec, 2, 3).values()]
    x = torch.randn(4, K, 2, 2, dtype=F64, requires_grad=True)
    h0 = torch.zeros(K, 2, 3, dtype=F64)
    results = []
    for run in (gru_sequence, gru_sequence_autograd):
        out, _ = run(x, h0, *ps, spec)
        gs = torch.autograd.grad(out.sin().sum(), [x, *ps], create_graph=True)
        results.append(torch.autograd.grad(sum(g.pow(2).sum() for g in gs), [x, *ps]))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_gradient_penalty_loss_matches_nn_gru(implementation):
    """A WGAN-GP style penalty, ``(||∂out/∂x|| - 1)²``: its parameter gradients are all second order."""
    torch.manual_seed(0)
    ref = nn.GRU(2, 3, num_layers=2, bidirectional=True, dtype=F64)
    ours = gnn.GRU(2, 3, num_layers=2, bidirectional=True, dtype=F64, implementation=implementation)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 4, 2, dtype=F64)
    results = []
    for m in (ref, ours):
        xi = x.clone().requires_grad_()
        out, _ = m(xi)
        (gx,) = torch.autograd.grad(out.sum(), xi, create_graph=True)
        penalty = gx.pow(2).sum(-1).sqrt().sub(1).pow(2).mean()
        results.append(torch.autograd.grad(penalty, list(m.parameters())))
    for a, b in zip(*results, strict=True):
        assert a.abs().sum() > 0
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-11)


# -- batched gradients and torch.func ------------------------------------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_is_grads_batched_equals_a_loop(implementation):
    torch.manual_seed(0)
    gru = _gru("gru1", implementation=implementation)
    x = torch.randn(4, 2, 2, dtype=F64, requires_grad=True)
    out, h = gru(x)
    v = torch.randn(5, *out.shape, dtype=F64)
    w = torch.randn(5, *h.shape, dtype=F64)
    batched = torch.autograd.grad((out, h), [x, gru.weight_hh_l0], (v, w), is_grads_batched=True,
                                  retain_graph=True)
    for i in range(5):
        looped = torch.autograd.grad((out, h), [x, gru.weight_hh_l0], (v[i], w[i]), retain_graph=True)
        for a, b in zip(batched, looped, strict=True):
            torch.testing.assert_close(a[i], b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: _gru("gru0"),
    lambda: _gru("gru3", reset_after=False, update_rule="paper", num_layers=2, bidirectional=True),
    lambda: _gru("gru2", implementation="autograd"),
    lambda: gru_lib.LSTM(2, 3, dtype=F64),
], ids=["gru0", "gru3-paper-stack", "gru2-autograd", "lstm"])
def test_vmap_grad_per_sample_gradients_equal_a_loop(make):
    torch.manual_seed(0)
    module = make()
    params = {k: v.detach() for k, v in module.named_parameters()}
    xs = torch.randn(6, 4, 2, dtype=F64)  # 6 samples of 4 steps, unbatched

    def loss(p, x):
        out, _ = functional_call(module, p, (x,))
        return out.pow(2).sum()

    per_sample = vmap(grad(loss), in_dims=(None, 0))(params, xs)
    for i in range(len(xs)):
        module.zero_grad()
        loss(dict(module.named_parameters()), xs[i]).backward()
        for k, p in module.named_parameters():
            torch.testing.assert_close(per_sample[k][i], p.grad, rtol=1e-10, atol=1e-12, msg=k)


def test_jacrev_equals_the_autograd_reference():
    torch.manual_seed(0)
    fused = _gru("gru1", activation="relu")
    ref = _gru("gru1", activation="relu", implementation="autograd")
    ref.load_state_dict(fused.state_dict())
    x = torch.randn(3, 2, 2, dtype=F64)
    w = fused.weight_hh_l0.detach()
    jac = [jacrev(lambda w: functional_call(m, {"weight_hh_l0": w}, (x,))[1])(w) for m in (fused, ref)]
    full = torch.autograd.functional.jacobian(lambda w: functional_call(ref, {"weight_hh_l0": w}, (x,))[1], w)
    torch.testing.assert_close(jac[0], full, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(jac[1], full, rtol=1e-10, atol=1e-12)


def test_vmap_over_a_batch_of_sequences_equals_the_batched_call():
    torch.manual_seed(0)
    gru = _gru(num_layers=2)
    xs = torch.randn(5, 4, 2, dtype=F64)  # (samples, steps, features): unbatched sequences
    out, h = vmap(gru)(xs)
    ref_out, ref_h = gru(xs.transpose(0, 1))
    torch.testing.assert_close(out, ref_out.transpose(0, 1), rtol=0, atol=1e-12)
    torch.testing.assert_close(h, ref_h.transpose(0, 1), rtol=0, atol=1e-12)


# torch's own forward-mode set-up scripts its decompositions on first use and warns about it.
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_forward_mode_tangents_equal_nn_grus():
    torch.manual_seed(0)
    ref = nn.GRU(2, 3, num_layers=2, dtype=F64)
    ours = gnn.GRU(2, 3, num_layers=2, dtype=F64)
    ours.load_state_dict(ref.state_dict())
    x, t = torch.randn(4, 2, 2, dtype=F64), torch.randn(4, 2, 2, dtype=F64)
    with fwAD.dual_level():
        tangents = [fwAD.unpack_dual(m(fwAD.make_dual(x, t))[0]).tangent for m in (ref, ours)]
    torch.testing.assert_close(tangents[1], tangents[0], rtol=1e-10, atol=1e-12)
    _, jvp_out = torch.func.jvp(lambda x: ours(x)[0], (x,), (t,))
    torch.testing.assert_close(jvp_out, tangents[0], rtol=1e-10, atol=1e-12)


# -- errors: an instance of what PyTorch raises -----------------------------------------

_X = torch.randn(5, 2, 3)
_PACK = dict(lengths=torch.tensor([5, 3]))
GRU_ERRORS = {
    "hidden_size 0": lambda G: G(3, 0),
    "input_size 0": lambda G: G(0, 4),
    "input_size float": lambda G: G(3.0, 4),
    "num_layers 0": lambda G: G(3, 4, 0),
    "num_layers float": lambda G: G(3, 4, 1.5),
    "dropout 2": lambda G: G(3, 4, dropout=2.0),
    "dropout bool": lambda G: G(3, 4, dropout=True),
    "bias not bool": lambda G: G(3, 4, bias=1),
    "batch_first not bool": lambda G: G(3, 4, batch_first="yes"),
    "proj_size": lambda G: G(3, 4, proj_size=2),
    "input 4-D": lambda G: G(3, 4)(torch.randn(1, 5, 2, 3)),
    "input 1-D": lambda G: G(3, 4)(torch.randn(3)),
    "input_size mismatch": lambda G: G(3, 4)(torch.randn(5, 2, 5)),
    "input dtype": lambda G: G(3, 4)(_X.double()),
    "input integer": lambda G: G(3, 4)(torch.ones(5, 2, 3, dtype=torch.long)),
    "input list": lambda G: G(3, 4)([[1.0, 2.0, 3.0]]),
    "length 0": lambda G: G(3, 4)(torch.randn(0, 2, 3)),
    "hx batch": lambda G: G(3, 4)(_X, torch.zeros(1, 3, 4)),
    "hx hidden": lambda G: G(3, 4)(_X, torch.zeros(1, 2, 5)),
    "hx layers": lambda G: G(3, 4, 2)(_X, torch.zeros(1, 2, 4)),
    "hx 2-D for batched": lambda G: G(3, 4)(_X, torch.zeros(2, 4)),
    "hx 3-D for unbatched": lambda G: G(3, 4)(_X[:, 0], torch.zeros(1, 1, 4)),
    "hx dtype": lambda G: G(3, 4)(_X, torch.zeros(1, 2, 4, dtype=F64)),
    "hx list": lambda G: G(3, 4)(_X, [[0.0] * 4]),
    "packed input_size": lambda G: G(3, 4)(pack_padded_sequence(torch.randn(5, 2, 5), **_PACK)),
    "packed dtype": lambda G: G(3, 4)(pack_padded_sequence(_X.double(), **_PACK)),
    "packed hx": lambda G: G(3, 4)(pack_padded_sequence(_X, **_PACK), torch.zeros(1, 3, 4)),
    "check_input rank": lambda G: G(3, 4).check_input(_X, torch.tensor([2, 2])),
    "check_input size": lambda G: G(3, 4).check_input(torch.randn(5, 2, 5), None),
    "check_input dtype": lambda G: G(3, 4).check_input(_X.double(), None),
    "check_hidden_size": lambda G: G(3, 4).check_hidden_size(torch.zeros(1, 3, 4), (1, 2, 4)),
}
CELL_ERRORS = {
    "input 3-D": lambda C: C(3, 4)(torch.randn(1, 2, 3)),
    "input_size mismatch": lambda C: C(3, 4)(torch.randn(2, 5)),
    "hx batch": lambda C: C(3, 4)(torch.randn(2, 3), torch.zeros(3, 4)),
    "hx hidden": lambda C: C(3, 4)(torch.randn(2, 3), torch.zeros(2, 5)),
    "hx 1-D for batched": lambda C: C(3, 4)(torch.randn(2, 3), torch.zeros(4)),
    "input dtype": lambda C: C(3, 4)(torch.randn(2, 3, dtype=F64)),
    "hx dtype": lambda C: C(3, 4)(torch.randn(2, 3), torch.zeros(2, 4, dtype=F64)),
    "input integer": lambda C: C(3, 4)(torch.ones(2, 3, dtype=torch.long)),
    "input_size float": lambda C: C(3.0, 4),
}


def _raised(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            make()
        except Exception as e:  # noqa: BLE001 - the exception is what is compared
            return e
    return None


def _paper_gru(*args, **kw):
    return gru_lib.GRU(*args, reset_after=True, update_rule="cho", **kw)


LABELS = {gnn.GRU: "gru_lib.nn.GRU", _paper_gru: "gru_lib.GRU", gnn.GRUCell: "gru_lib.nn.GRUCell",
          gru_lib.GRUCell: "gru_lib.GRUCell"}
ERROR_CASES = [
    *((nn.GRU, ours, GRU_ERRORS[case], case) for ours in (gnn.GRU, _paper_gru) for case in GRU_ERRORS),
    *((nn.GRUCell, ours, CELL_ERRORS[case], case) for ours in (gnn.GRUCell, gru_lib.GRUCell) for case in CELL_ERRORS),
]


@pytest.mark.parametrize("torchs,ours,make,case", ERROR_CASES,
                         ids=[f"{LABELS[o]}-{c}" for _, o, _, c in ERROR_CASES])
def test_raises_an_instance_of_what_torch_raises(torchs, ours, make, case):
    expected = _raised(lambda: make(torchs))
    assert expected is not None, f"{torchs.__name__} accepts {case!r}: not an error case"
    got = _raised(lambda: make(ours))
    assert isinstance(got, type(expected)), f"{case}: torch raises {expected!r}, we raise {got!r}"
    assert str(got)


def test_errors_stay_what_gru_lib_raised_and_say_what_to_do():
    """The new classes keep ``except ValueError``/``except TypeError`` callers working."""
    gru = gnn.GRU(3, 4)
    with pytest.raises(ValueError, match=r"hx must have shape \(1, 2, 4\), got \(1, 3, 4\)"):
        gru(_X, torch.zeros(1, 3, 4))
    with pytest.raises(TypeError, match=r"convert one of them \(e.g. module.to\(torch.float64\)\)"):
        gru(_X.double())
    with pytest.raises(TypeError, match=r"convert it \(hx.to\(torch.float32\)\)"):
        gru(_X, torch.zeros(1, 2, 4, dtype=F64))
    with pytest.raises(TypeError, match="input must be a torch.Tensor, got list"):
        gru([1.0])
    with pytest.raises(ValueError, match=r"proj_size argument is only supported for LSTM.*got proj_size=2.*Linear"):
        gnn.GRU(3, 4, 1, True, False, 0.0, False, 2)
    assert issubclass(gru_lib.InputError, (ValueError, RuntimeError))
    assert issubclass(gru_lib.DtypeError, gru_lib.InputError) and issubclass(gru_lib.DtypeError, TypeError)
    assert gnn.GRU(3, 4, proj_size=0).proj_size == 0  # 0 means none: accepted, though torch refuses the keyword


def test_dropout_warning_points_at_the_callers_line():
    with pytest.warns(UserWarning, match="dropout option adds dropout") as record:
        gnn.GRU(3, 4, dropout=0.5)
    assert record[0].filename == __file__

"""The same checks on a CUDA device; skipped where there is none."""

import pytest
import torch

from gru_lib import GRU

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("variant", ["gru0", "gru1", "gru2", "gru3"])
@pytest.mark.parametrize("reset_after", [False, True])
def test_fused_equals_autograd_on_cuda(variant, reset_after):
    torch.manual_seed(0)
    kw = dict(variant=variant, reset_after=reset_after, num_layers=2, bidirectional=True, device="cuda",
              dtype=torch.float64)
    fused, ref = GRU(5, 7, **kw), GRU(5, 7, implementation="autograd", **kw)
    ref.load_state_dict(fused.state_dict())
    x = torch.randn(20, 3, 5, device="cuda", dtype=torch.float64)
    grads = []
    for m in (fused, ref):
        out, h = m(x)
        (out.square().sum() + h.sum()).backward()
        grads.append([p.grad for p in m.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_matches_cudnn_gru():
    torch.manual_seed(0)
    ref = torch.nn.GRU(6, 8, num_layers=2, bidirectional=True, batch_first=True).cuda()
    ours = GRU.from_torch(ref)
    x = torch.randn(4, 30, 6, device="cuda")
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_runs(dtype):
    gru = GRU(4, 8, device="cuda", dtype=dtype)
    out, _ = gru(torch.randn(10, 2, 4, device="cuda", dtype=dtype))
    out.float().sum().backward()
    assert torch.isfinite(out).all() and out.dtype == dtype

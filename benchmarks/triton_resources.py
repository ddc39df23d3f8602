"""Registers and stack (spilled registers) of the Triton GRU kernels, compiled without a GPU.

Triton's compiler and ptxas run on any machine: this compiles the forward and backward
kernels of :mod:`gru_lib.triton_gru` for an H100 (sm_90) and reads each binary's
resource usage with ``cuobjdump``. A kernel that keeps its recurrent matrices in
registers shows up to 255 registers and a small stack; one whose matrices do not fit
spills them to a large stack, which a GPU then reads from memory at every step.

    python benchmarks/triton_resources.py                         # hidden 128, every precision
    python benchmarks/triton_resources.py --hidden 100 --variants gru0 gru3 --precisions ieee
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from gru_lib import triton_gru  # noqa: E402
from gru_lib.functional import GRUSpec  # noqa: E402

POINTERS = {"xp", "h0", "hn", "w", "b_gates", "b_cand", "out", "zs", "rs", "hts", "auxs", "go", "dh_in", "dh_out",
            "hps", "d_rec", "d_cand"}


def compile_kernels(spec: GRUSpec, hidden: int, precision: str, arch: int = 90) -> dict[str, bytes]:
    """The forward and backward kernels' binaries for ``spec`` at ``hidden`` units, float32."""
    flags = triton_gru._flags(spec, torch.empty(1, hidden)) | {"PRECISION": precision}
    forward, backward = triton_gru._kernels()
    forward_flags = flags | dict(INPUT=spec.variant.input, HAS_BG=True, HAS_BC=spec.reset_after, STORE=True)
    warps = 8 if flags["BLOCK_N"] >= 128 else 4
    out = {}
    for name, kernel, constants in (("forward", forward, forward_flags), ("backward", backward, flags)):
        signature = {a: "constexpr" if a in constants else "*fp32" if a in POINTERS else "i32"
                     for a in kernel.arg_names}
        compiled = triton.compile(ASTSource(kernel, signature, constants), target=GPUTarget("cuda", arch, 32),
                                  options={"num_warps": warps, "enable_fp_fusion": triton_gru.FP_FUSION})
        out[name] = compiled.asm["cubin"]
    return out


def resources(cubin: bytes) -> dict[str, int]:
    """``REG`` and ``STACK`` (bytes per thread) of a binary, as ``cuobjdump -res-usage`` reports them."""
    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        text = subprocess.run([str(tool), "-res-usage", f.name], capture_output=True, text=True, check=True).stdout
    return {key: int(value) for key, value in re.findall(r"(REG|STACK):(\d+)", text)}


def main(argv: Optional[list[str]] = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--variants", nargs="+", default=["gru0", "gru1", "gru2", "gru3"])
    ap.add_argument("--precisions", nargs="+", default=["ieee", "tf32x3", "tf32"])
    args = ap.parse_args(argv)
    rows = []
    print(f"triton {triton.__version__}, sm_90, hidden {args.hidden}, tanh, reset before U_h; per thread")
    for variant in args.variants:
        for precision in args.precisions:
            spec = GRUSpec.make(variant)
            for name, cubin in compile_kernels(spec, args.hidden, precision).items():
                r = resources(cubin)
                rows.append({"variant": variant, "precision": precision, "kernel": name, **r})
                print(f"{variant} {precision:<7} {name:<9} {r['REG']:4d} registers {r['STACK']:6d} bytes of stack",
                      flush=True)
    return rows


if __name__ == "__main__":
    main()

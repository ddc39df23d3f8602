#!/usr/bin/env bash
# One GPU session of at most $GPU_SESSION_MINUTES minutes (default 9), in this order:
#   tests  pytest -m cuda: the compiled Triton kernels against the fused engine and cuDNN,
#          the CUDA-graphed training step (log: gpu-tests.log)
#   bench  benchmarks/gpu.py with its Triton column -> results/benchmarks/gpu-triton.json
#          (strict float32), then pixel-wise MNIST and IMDB at torch's "high" matmul
#          precision (tl.dot "tf32x3") -> results/benchmarks/gpu-triton-tf32x3.json
#   grid   scripts/paper_grid.py on the Triton engine, into results/paper/: IMDB at
#          eta = 1e-5, the rest of IMDB, pixel-wise Table 1 (seed 0), then everything
#          left (each call continues where the last one stopped; finished runs are skipped)
#
#   scripts/gpu_session.sh [STAGE ...]          # default: tests bench grid
#   GRU_LIB_DATA_DIR=DIR scripts/gpu_session.sh grid
#
# The data directory ($GRU_LIB_DATA_DIR, else ../shared/data) must hold mnist/*.gz and
# the IMDB tarball; no download is attempted. On a copy of the tree without git, set
# GRU_LIB_GIT_COMMIT to the commit it was taken from, so that results name it. When
# $OUT is set (a folder whose files are carried back), the results are packed there as
# gpu-session.tar.gz (result files, checkpoints under 4 MB, the benchmark) beside the
# logs; extract it at the repository root and commit. Exit status: that of the last
# stage that failed, else 0 (75 from the grid: time ran out, call again).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DATA=${GRU_LIB_DATA_DIR:-../shared/data}
LOGS=${OUT:-results/gpu-session}
MINUTES=${GPU_SESSION_MINUTES:-9}
STAGES=${*:-tests bench grid}
deadline=$(( $(date +%s) + MINUTES * 60 - 40 ))  # 40 s kept for packing
left() { echo $(( deadline - $(date +%s) )); }
mkdir -p "$LOGS" results/benchmarks
status=0
export GRU_LIB_DATA_DIR="$DATA"
unset TRITON_INTERPRET

for stage in $STAGES; do
  if [ "$(left)" -le 30 ]; then echo "no time left for $stage" >&2; break; fi
  case $stage in
    tests)
      budget=$(( $(left) < 170 ? $(left) : 170 ))
      timeout "$budget" "$PY" -m pytest -m cuda tests/test_triton.py tests/test_cuda.py -q -p no:cacheprovider \
        -rs --durations=10 >"$LOGS/gpu-tests.log" 2>&1 || status=$?
      tail -n 25 "$LOGS/gpu-tests.log" ;;
    bench)
      # strict float32 first (tl.dot "ieee"), then PyTorch's "high" (TF32 matmuls, tl.dot "tf32x3")
      budget=$(( $(left) < 150 ? $(left) : 150 ))
      timeout "$budget" "$PY" benchmarks/gpu.py --batches 10 --repeats 2 --json results/benchmarks/gpu-triton.json \
        >"$LOGS/gpu-bench.log" 2>&1 || status=$?
      budget=$(( $(left) < 90 ? $(left) : 90 ))
      timeout "$budget" "$PY" benchmarks/gpu.py --batches 10 --repeats 2 --matmul-precision high \
        --tasks mnist-pixel imdb --variants gru0 gru3 --json results/benchmarks/gpu-triton-tf32x3.json \
        >>"$LOGS/gpu-bench.log" 2>&1 || status=$?
      cat "$LOGS/gpu-bench.log" ;;
    grid)
      for chunk in "--grids imdb --lrs 1e-5" "--grids imdb" "--grids mnist-pixel --seeds 0" ""; do
        m=$(( $(left) / 60 ))
        if [ "$m" -lt 1 ]; then status=75; break; fi
        # shellcheck disable=SC2086  # the chunk's options are words
        "$PY" scripts/paper_grid.py --device cuda --implementation triton --data-dir "$DATA" --quiet \
          --minutes "$m" $chunk >>"$LOGS/gpu-grid.log" 2>&1
        rc=$?
        if [ "$rc" -ne 0 ]; then status=$rc; break; fi
      done
      tail -n 20 "$LOGS/gpu-grid.log"
      "$PY" scripts/paper_grid.py --dry-run --device cuda | tee -a "$LOGS/gpu-grid.log" ;;
    *) echo "unknown stage $stage (tests, bench, grid)" >&2; exit 2 ;;
  esac
done

if [ -n "${OUT:-}" ]; then
  small=$(find results/paper -name '*.ckpt' -size -4M 2>/dev/null)
  large=$(find results/paper -name '*.ckpt' -size +4M 2>/dev/null)
  [ -n "$large" ] && echo "checkpoints too large to carry back (those runs start again): $large" >&2
  # shellcheck disable=SC2086
  tar czf "$OUT/gpu-session.tar.gz" results/paper/*.json $small \
    $(ls results/benchmarks/gpu-triton*.json 2>/dev/null)
fi
exit $status

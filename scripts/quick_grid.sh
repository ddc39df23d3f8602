#!/usr/bin/env bash
# The quick-preset grid behind results/quick/: every task x GRU0-GRU3, tanh,
# eta = 1e-3, seeds 0 and 1, then the aggregated table. Finished runs are
# skipped and partial ones resumed, so the script can be re-run after an
# interruption. Usage: scripts/quick_grid.sh [DATA_DIR] (default: ../shared/data,
# else $GRU_LIB_DATA_DIR, else the per-user cache with downloads allowed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data_dir=${1:-}
if [[ -z $data_dir && -d ../shared/data ]]; then data_dir=../shared/data; fi
data_args=()
if [[ -n $data_dir ]]; then data_args=(--data-dir "$data_dir"); fi
out=results/quick
for task in mnist-row imdb mnist-pixel; do
    python -m gru_lib grid --task "$task" --variants gru0 gru1 gru2 gru3 --activations tanh --lrs 1e-3 \
        --seeds 0 1 --preset quick --out-dir "$out" "${data_args[@]}"
done
# the checkpoints (up to 20 MB each) are not part of the published results
rm -f "$out"/*.ckpt
python -m gru_lib table --results "$out" --timing > "$out/table.md"
echo "wrote $out/*.json and $out/table.md"

#!/usr/bin/env bash
# Build the book strictly: every chapter executed from scratch, and any warning
# (broken reference, unknown citation, a cell that raises) fails the build after
# all pages have been tried.
#
#   bash tools/build_book.sh            # writes _build/html, log in _build/build.log
#   bash tools/build_book.sh --builder linkcheck   # extra jupyter-book arguments
#
# Environment:
#   GRU_LIB_DATA_DIR  data folder the chapters read; defaults to ../shared/data
#                     (next to the repository) when that exists.
#   JUPYTER_BOOK      the jupyter-book command (default: the one on PATH, else .venv's).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

if [[ -z "${GRU_LIB_DATA_DIR:-}" && -d ../shared/data ]]; then
    GRU_LIB_DATA_DIR="$(cd ../shared/data && pwd)"
    export GRU_LIB_DATA_DIR
fi

jb="${JUPYTER_BOOK:-}"
if [[ -z "$jb" ]]; then
    if command -v jupyter-book >/dev/null 2>&1; then
        jb="jupyter-book"
    elif [[ -x .venv/bin/jupyter-book ]]; then
        jb=".venv/bin/jupyter-book"
    else
        echo "build_book.sh: jupyter-book not found; run: pip install -e \".[book]\"" >&2
        exit 2
    fi
fi

# The chapters' notebook twins must match their sources before anything is built.
python_bin="$(dirname "$(command -v "$jb")")/python"
[[ -x "$python_bin" ]] || python_bin="python3"
"$python_bin" tools/sync_notebooks.py --check

# The pages' scripts (MathJax, require.js, the widget manager) are served from the site
# itself, copied by tools/sphinx_ext/book_html.py from the npm packages that package.json
# pins: install them when they are missing or not the pinned versions.
if ! "$python_bin" -c 'import sys; sys.path.insert(0, "tools/sphinx_ext"); import book_html; sys.exit(bool(book_html.vendor_problems()))'; then
    if command -v npm >/dev/null 2>&1; then
        npm ci --no-audit --no-fund
    else
        echo "build_book.sh: the pages' scripts come from npm packages (package.json); install Node.js, then run: npm ci" >&2
        exit 2
    fi
fi

# The chapters draw with matplotlib's inline backend. A non-interactive backend
# inherited from the environment (MPLBACKEND=Agg is common on servers and in CI)
# would take its place in the kernels, and every figure would silently vanish.
unset MPLBACKEND
# Nobody watches the chapters run: no live progress bars, whose widget state would be
# stored in the pages (the runs still print one line per epoch).
export GRU_LIB_PROGRESS_BARS=0

mkdir -p _build
log="_build/build.log"
echo "building the book (GRU_LIB_DATA_DIR=${GRU_LIB_DATA_DIR:-<unset>})"
start=$(date +%s)
set +e
# --all: a fresh Sphinx environment, so that warnings of unchanged pages are
# reported again; -W -n --keep-going: nitpicky, every warning is an error,
# reported together at the end.
"$jb" build . --all -W -n --keep-going "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - start ))

# Belt and braces: a warning that did not reach Sphinx's status code still fails.
warnings=$(grep -cE '(WARNING|ERROR|CRITICAL):' "$log" || true)
echo "book build: ${elapsed} s, exit status ${status}, ${warnings} warning/error line(s); log: ${log}"
if [[ "$status" -ne 0 || "$warnings" -ne 0 ]]; then
    grep -E '(WARNING|ERROR|CRITICAL):' "$log" >&2 || true
    echo "book build FAILED" >&2
    exit 1
fi

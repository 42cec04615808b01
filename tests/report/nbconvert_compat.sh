#!/usr/bin/env bash
# Compatibility step for .ci/run (not part of `deno task test`):
# executes the notebooks (notebooks/*.ipynb, or the fixtures while there are
# none) with Debian's `jupyter nbconvert --to notebook --execute` through the
# repository kernelspec, then with `deno task report`, and prints both times.
# Missing outputs under nbconvert are counted and printed, not a failure
# (the Deno kernel can report idle before a cell's last outputs); a cell
# error under nbconvert fails the step.
#
# Needs: apt-get install -y jupyter-nbconvert python3-nbclient
# Env:   NBCONVERT_TIMEOUT (per cell, seconds, default 120)
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v jupyter-nbconvert >/dev/null 2>&1; then
  if [ "${MEMREMAP_REQUIRE_TOOLS:-}" = 1 ]; then
    echo "nbconvert_compat: jupyter-nbconvert is not installed and MEMREMAP_REQUIRE_TOOLS=1" >&2
    exit 1
  fi
  echo "SKIPPED: jupyter-nbconvert is not installed (apt-get install -y jupyter-nbconvert python3-nbclient): not run: nbconvert compatibility"
  exit 0
fi

shopt -s nullglob
notebooks=(notebooks/*.ipynb)
if [ ${#notebooks[@]} -eq 0 ]; then
  echo "nbconvert_compat: notebooks/ has no .ipynb yet; using tests/fixtures/notebooks" >&2
  notebooks=(tests/fixtures/notebooks/*.ipynb)
fi

deno task -q jupyter >/dev/null
export JUPYTER_PATH="$PWD/.jupyter"
work="$(mktemp -d -t memremap-nbconvert-XXXXXX)"
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }

t0=$(now)
status=0
# nbconvert runs each kernel in the notebook's own directory, as we do.
jupyter nbconvert --to notebook --execute \
  --ExecutePreprocessor.kernel_name=deno-memremap \
  --ExecutePreprocessor.timeout="${NBCONVERT_TIMEOUT:-120}" \
  --output-dir "$work/nbconvert" "${notebooks[@]}" >"$work/nbconvert.log" 2>&1 || status=$?
t1=$(now)
if [ $status -ne 0 ]; then
  cat "$work/nbconvert.log" >&2
  echo "nbconvert_compat: jupyter nbconvert --execute failed (exit $status): a cell raised an error or timed out" >&2
  exit 1
fi

deno task -q report --out "$work/site" "${notebooks[@]}" 2>"$work/report.log" || {
  cat "$work/report.log" >&2
  echo "nbconvert_compat: deno task report failed" >&2
  exit 1
}
t2=$(now)

deno run -R tests/report/_compare_outputs.ts "$work/site/notebooks" "$work/nbconvert"
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="${#notebooks[@]}" 'BEGIN {
  printf "time for %d notebooks: jupyter nbconvert --execute %.2f s, deno task report %.2f s (execute + render)\n", n, b - a, c - b
}'

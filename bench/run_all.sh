#!/usr/bin/env bash
# The throughput comparison in one command, on the GPU machine: the PyTorch reference, our side, and the table with
# ratios. See bench/README.md.
#
#   bash bench/run_all.sh [--only main|ours|torch|extra|all] [--small] [--batch N] [--steps N] [--models LIST]
#
#   main (default)  PyTorch reference, bench/throughput.ts, bench/compare.ts
#   ours            bench/throughput.ts, then compare.ts against whatever PyTorch results $OUT holds
#   torch           the PyTorch reference only
#   extra           bench/dcls_vs_dense.ts, bench/frontend_gpu.ts, bench/profile.ts (a separate call: it recompiles)
#   all             main, then extra
#
# BUDGET_S (default 540) is the whole command's time budget: our side skips the models that would run past it.
# Our scripts run from .device/NAME.js when ../shared/device/pack.sh bundled them there (the GPU machine), else from
# bench/NAME.ts with the local deno ($DENO, default deno). Results go to $OUT (default results/bench); everything
# printed also goes to $OUT/run_all.log. The PyTorch side needs timm: wheels carried in .whl/ are installed to
# /tmp/site first.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

only=main small="" batch="" steps="" models="" budget=${BUDGET_S:-540}
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only=${2:?--only needs a value}; shift 2 ;;
    --small) small=--small; shift ;;
    --batch) batch=${2:?--batch needs a value}; shift 2 ;;
    --steps) steps=${2:?--steps needs a value}; shift 2 ;;
    --models) models=${2:?--models needs a value}; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "run_all.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$only" in main|ours|torch|extra|all) ;; *) echo "run_all.sh: --only must be main, ours, torch, extra or all" >&2; exit 2 ;; esac

export OUT=${OUT:-$root/results/bench}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run_all.log") 2>&1

# Our scripts: bundled on the GPU machine, from source here.
ours() {
  local name=$1; shift
  if [ -f ".device/$name.js" ] && [ -f .device/enter.sh ]; then
    bash .device/enter.sh deno run -A ".device/$name.js" "$@"
  else
    "${DENO:-deno}" run -A "bench/$name.ts" "$@"
  fi
}

common=()
[ -n "$small" ] && common+=("$small")
[ -n "$batch" ] && common+=(--batch "$batch")

run_torch() {
  if [ -n "$small" ]; then echo "== PyTorch reference skipped: --small has no PyTorch counterpart"; return 0; fi
  if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl &&
      export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
  if ! python3 -c 'import torch, timm; assert torch.cuda.is_available()' 2>/dev/null; then
    echo "== PyTorch reference skipped: python3 lacks torch with CUDA or timm (carry timm as a wheel in .whl/, see bench/README.md)"
    return 0
  fi
  local targs=()
  [ -n "$batch" ] && targs+=(--batch "$batch")
  [ -n "$steps" ] && targs+=(--steps "$steps")
  if [ -n "$models" ]; then
    targs+=(--models "$(echo "$models" | tr ',' '\n' | cut -d_ -f1 | awk '!seen[$0]++' | paste -sd,)")
  fi
  echo "== PyTorch reference: python3 bench/pytorch_reference.py ${targs[*]}"
  local t0=$SECONDS
  PYTHONUNBUFFERED=1 python3 bench/pytorch_reference.py "${targs[@]}" > "$OUT/pytorch.jsonl" ||
    echo "== PyTorch reference failed (exit $?); continuing with our side"
  cat "$OUT/pytorch.jsonl"
  echo "== PyTorch reference took $((SECONDS - t0)) s"
}

run_ours() {
  local args=("${common[@]}")
  # Our side stops starting models once the whole command's budget would run out (results so far are kept).
  args+=(--deadline "$((budget - SECONDS - 20 > 30 ? budget - SECONDS - 20 : 30))")
  [ -n "$steps" ] && args+=(--steps "$steps")
  [ -n "$models" ] && args+=(--models "$models")
  echo "== ours: throughput ${args[*]}"
  local t0=$SECONDS
  ours throughput "${args[@]}" || { echo "== throughput failed (exit $?)"; return 1; }
  echo "== ours took $((SECONDS - t0)) s"
}

run_compare() {
  [ -f "$OUT/throughput.json" ] || { echo "== compare skipped: no $OUT/throughput.json"; return 1; }
  echo "== compare"
  ours compare --ours "$OUT/throughput.json" --torch "$OUT/pytorch.jsonl"
}

run_extra() {
  local t0=$SECONDS
  echo "== DCLS vs dense depthwise"
  ours dcls_vs_dense "${common[@]}" || echo "== dcls_vs_dense failed (exit $?)"
  echo "== front end"
  ours frontend_gpu "${common[@]}" || echo "== frontend_gpu failed (exit $?)"
  local pargs=("${common[@]}")
  [ -n "$models" ] && pargs+=(--models "$models")
  echo "== profile ${pargs[*]}"
  ours profile "${pargs[@]}" || echo "== profile failed (exit $?)"
  echo "== extra took $((SECONDS - t0)) s"
}

status=0
case "$only" in
  main) run_torch; run_ours || status=1; run_compare || status=1 ;;
  ours) run_ours || status=1; run_compare || status=1 ;;
  torch) run_torch ;;
  extra) run_extra ;;
  all) run_torch; run_ours || status=1; run_compare || status=1; run_extra ;;
esac
echo "== results in $OUT: $(ls "$OUT" | paste -sd' ')"
exit $status

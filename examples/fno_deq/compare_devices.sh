#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Trains the same small FNO / FNO++ / FNO-WT / FNO-DEQ configuration with fno_deq on the CPU and
# on the GPU (--device cuda: model.hpp's code instantiated for cuda) and compares, per model,
# the test relative L2 reached (the TRAIN lines) and the first epoch's train and test relative
# L2. Both runs start from the same weights and see the same batches; they differ only by float
# rounding (summation orders of the GEMMs, DFTs and reductions), which training amplifies a
# little, so the check is a relative tolerance, not equality.
#   examples/fno_deq/compare_devices.sh [FNO_DEQ]   (default: build/default/examples/fno_deq)
# Environment: EPOCHS [2], MODELS [fno,fno++,wt,deq,deq-ift], TOL [0.02] (relative),
# ARGS (more fno_deq options for both runs), OUT_DIR [a temporary folder].
# Prints `DEVICES model=<key> cpu=<err> cuda=<err> rel_diff=<d> ok|FAILED` per model and exits
# 0 when all agree, 1 when one does not, 77 when there is no device path (fno_deq status 3).
set -euo pipefail
exe=${1:-build/default/examples/fno_deq}
EPOCHS=${EPOCHS:-2}
MODELS=${MODELS:-fno,fno++,wt,deq,deq-ift}
TOL=${TOL:-0.02}
ARGS=${ARGS:-}
OUT_DIR=${OUT_DIR:-$(mktemp -d)}
[[ -x $exe ]] || { echo "compare_devices.sh: no executable $exe" >&2; exit 2; }
mkdir -p "$OUT_DIR"

common=(--epochs "$EPOCHS" --models "$MODELS")
# shellcheck disable=SC2206  # ARGS is a list of options, split on purpose
[[ -n $ARGS ]] && common+=($ARGS)
# The two runs at once (the host run takes one thread, fno_deq's default): on a device machine
# the host's seconds are device time too.
"$exe" "${common[@]}" --out "$OUT_DIR/cpu" >"$OUT_DIR/cpu.txt" 2>&1 &
cpu_pid=$!
set +e
"$exe" "${common[@]}" --device cuda --out "$OUT_DIR/cuda" >"$OUT_DIR/cuda.txt" 2>"$OUT_DIR/cuda.err"
rc=$?
wait "$cpu_pid"
cpu_rc=$?
set -e
if ((cpu_rc != 0)); then
  tail -20 "$OUT_DIR/cpu.txt" >&2
  echo "compare_devices.sh: the host run failed (status $cpu_rc)" >&2
  exit 1
fi
cat "$OUT_DIR/cuda.err" >&2
# Status 3 also when every model failed on the device (MISSING ... reason=failed on): a failure.
if ((rc == 3)) && ! grep -q "reason=failed on" "$OUT_DIR/cuda.err"; then
  echo "compare_devices.sh: no device path (fno_deq --device cuda exited 3): skipped" >&2
  exit 77
fi
((rc == 0)) || { tail -20 "$OUT_DIR/cuda.txt" >&2; exit 1; }

# The first epoch line after each model's header, and the TRAIN lines.
first_epoch() {  # file model-name-prefix -> "train test"
  awk -v m="-- $2" 'index($0, m) == 1 { on = 1; next }
    on && /^  epoch/ { print $5, $8; exit }' "$1"
}
field() {  # file model key
  { grep "^TRAIN model=$2 " "$1" || true; } | sed -n "s/.* $3=\([^ ]*\).*/\1/p" | head -1
}
fail=0
IFS=, read -ra models <<<"$MODELS"
for m in "${models[@]}"; do
  a=$(field "$OUT_DIR/cpu.txt" "$m" test_rel_l2)
  b=$(field "$OUT_DIR/cuda.txt" "$m" test_rel_l2)
  if [[ -z $a || -z $b ]]; then
    echo "DEVICES model=$m cpu=${a:-NA} cuda=${b:-NA} FAILED (no TRAIN line)"
    fail=1
    continue
  fi
  verdict=$(awk -v a="$a" -v b="$b" -v t="$TOL" 'BEGIN {
    d = (a > b ? a - b : b - a) / a; printf "rel_diff=%.2e %s", d, (d <= t ? "ok" : "FAILED") }')
  echo "DEVICES model=$m cpu=$a cuda=$b $verdict"
  [[ $verdict == *FAILED ]] && fail=1
done
for name in "FNO (d=1)" "FNO++ (d=1)" "FNO-WT" "FNO-DEQ (phantom)" "FNO-DEQ (implicit)"; do
  c=$(first_epoch "$OUT_DIR/cpu.txt" "$name")
  g=$(first_epoch "$OUT_DIR/cuda.txt" "$name")
  [[ -n $c ]] && echo "EPOCH1 model=\"$name\" cpu(train test)=$c cuda(train test)=${g:-NA}"
done
grep -h "relative residual" "$OUT_DIR/cpu.txt" | sed 's/^/CPU /' || true
grep -h "relative residual" "$OUT_DIR/cuda.txt" | sed 's/^/CUDA /' || true
echo "raw: $OUT_DIR"
exit "$fail"

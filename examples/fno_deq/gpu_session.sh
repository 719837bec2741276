#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 5's whole device session in one call of at most DEADLINE seconds, so that the checks,
# the step timings and as much of the paper protocol as fits share one machine start (the device
# budget is 15 minutes, starts included, and an idle machine goes back after 30 s):
#   1. test_cuda's cases of the DEQ's kernels (TEST_FILTER) from the programs
#      scripts/device-prebuild packed into DEVBIN;
#   2. picks the DEQ's kernels: a failing test case of the fused DFT kernels turns off
#      --fused-dft, of matmul_add_gelu's kernels --fused-pointwise, of the graph solve
#      --graph-solve, of the device-resident solve --resident-solve; then compare_devices.sh
#      (FNO and FNO-DEQ, 2 epochs at the CPU scale, on the host and on the GPU, test errors
#      within 2 %) with those flags; if it fails, again with all four off (the kernels of run
#      11); if that fails too, the device path is wrong: stop;
#   3. benchmarks/compare/fno_gpu.sh with those flags: RESULT lines for the FNO and FNO-DEQ
#      steps against PyTorch and the A/Bs of each fused path; if the first step's loss at the
#      paper's scale differs from the all-off run's (ABCHECK ... MISMATCH), the path whose
#      switching off alone gives the all-off loss goes off, or else all four;
#   4. examples/fno_deq/protocol.sh: FNO for at most FNO_SECONDS, then FNO-DEQ for what is left
#      before DEADLINE − MARGIN, checkpointing into ck/ (kept while the machine is warm) and
#      packing the checkpoints into $OUT for a later session; the figures go to $OUT/figures;
#   5. prints a summary (also $OUT/summary.txt): flags, failed cases, DEVICES, RESULT and TRAIN
#      lines, the protocol's last progress lines and each step's seconds.
#   examples/fno_deq/gpu_session.sh             # the first call
#   examples/fno_deq/gpu_session.sh --protocol  # later calls: the protocol only, same flags
# (from ck/gpu_session_flags, or from ck-parts/gpu_session_flags: the first call also returns
# the file in $OUT, to be copied there with the checkpoint parts for a later session).
# Environment: DEVBIN [.devbin], DEADLINE [570] (seconds for the whole call), MARGIN [45]
# (seconds left for fno_deq's final evaluation and the packing), FNO_SECONDS [240], STEPS [10]
# (timed steps per model), DEVICE [cuda], SCALE [gpu], PROTOCOL_EXTRA (more fno_deq options for
# the protocol), PROTOCOL_MODELS [fno,deq] (in this order; FNO gets at most FNO_SECONDS, each
# other model what is left), FNO_GPU_ENV (more VAR=value settings for fno_gpu.sh), OUT [build/gpu-session],
# TEST_FILTER [cuda_fft:cuda_spectral:cuda_backend_reduce/matmul_matches_host*: Boost.Test's
# --run_test; "*" for all of test_cuda], CKDIR [ck], PARTS [ck-parts], SKIP (steps not to run:
# test_cuda, devices, timing). Relative paths are taken from the caller's directory.
# A dry run on a machine without a GPU checks the script itself (steps 1-2 skip; step 3 needs
# PyTorch): DEVBIN=build/default DEVICE=cpu SCALE=cpu PROTOCOL_EXTRA="--epochs 2" \
#   FNO_GPU_ENV="RES=16 NTRAIN=32 NTEST=8 WIDTH=8 MODES=4 BATCH=4 STEPS=2" \
#   examples/fno_deq/gpu_session.sh   (ctest example_fno_deq_gpu_session_dry_run: SKIP=timing)
# Exit status: 0 when every step that ran passed, 1 otherwise.
set -uo pipefail
self=$(realpath "${BASH_SOURCE[0]}")
# Relative paths in DEVBIN, OUT, CKDIR and PARTS are the caller's, not the repository root's.
for v in DEVBIN OUT CKDIR PARTS; do
  [[ -n ${!v:-} ]] && printf -v "$v" '%s' "$(realpath -m -- "${!v}")"
done
cd "$(dirname "$self")/../.." || exit 2
protocol_only=0
case ${1:-} in
  "") ;;
  --protocol) protocol_only=1 ;;
  *) sed -n '3,38p' "$self" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
t0=$(date +%s)
DEVBIN=${DEVBIN:-.devbin} DEADLINE=${DEADLINE:-570} MARGIN=${MARGIN:-45}
FNO_SECONDS=${FNO_SECONDS:-240} STEPS=${STEPS:-10} DEVICE=${DEVICE:-cuda} SCALE=${SCALE:-gpu}
OUT=${OUT:-build/gpu-session}
CKDIR=${CKDIR:-ck}
mkdir -p "$OUT" "$CKDIR"
export CKDIR
export OUT
exe=$DEVBIN/examples/fno_deq
[[ -x $exe ]] || { echo "gpu_session.sh: no $exe (scripts/device-prebuild)" >&2; exit 2; }
# shellcheck source=scripts/devbin-env
source scripts/devbin-env "$DEVBIN"
[[ -z $DEVBIN_MISSING ]] || echo "gpu_session.sh: missing libraries: $DEVBIN_MISSING" >&2
elapsed() { echo $(($(date +%s) - t0)); }
# A step's time limit: `want` seconds, cut to what is left before DEADLINE − MARGIN (at least 10).
limit() {
  local left=$((DEADLINE - $(elapsed) - MARGIN))
  ((left < 10)) && left=10
  echo $((left < $1 ? left : $1))
}
save_flags() {
  printf 'fused_dft=%s fused_pointwise=%s graph_solve=%s resident_solve=%s\n' "$fused_dft" \
    "$fused_pointwise" "$graph_solve" "$resident_solve" >"$flags_file"
  cp "$flags_file" "$OUT/gpu_session_flags"
}
steps=() failures=0
note() { steps+=("$(printf '%-16s %-28s %5ss' "$1" "$2" "$3")"); }
skipped() { [[ " ${SKIP:-} " == *" $1 "* ]]; }

# The flags chosen by the first call are kept beside the checkpoints, so a later call (the same
# warm machine) resumes with the same kernels.
flags_file=$CKDIR/gpu_session_flags
fused_dft=on fused_pointwise=on graph_solve=on resident_solve=on
flags() {
  echo "--fused-dft $fused_dft --fused-pointwise $fused_pointwise --graph-solve $graph_solve" \
    "--resident-solve $resident_solve"
}
all_off() { fused_dft=off fused_pointwise=off graph_solve=off resident_solve=off; }
{
  echo "gpu_session.sh on $(hostname), $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  nvidia-smi -L 2>&1 || true
  # What the prebuilt programs were built from (scripts/device-prebuild).
  [[ -f $DEVBIN/SOURCES ]] && sed 's/^/devbin /' "$DEVBIN/SOURCES"
} | tee "$OUT/session.log"

rm -f "$OUT"/protocol-*.log
((protocol_only)) || rm -rf "$OUT"/devices-* "$OUT"/fno_gpu* "$OUT"/test_cuda.log
if ((protocol_only)); then
  # The first call's flags: beside the checkpoints on the same machine, or returned in $OUT and
  # copied into ck-parts with the checkpoint parts for a later session.
  for f in "$flags_file" "${PARTS:-ck-parts}/gpu_session_flags"; do
    [[ -f $f ]] || continue
    line=$(head -n 1 "$f")
    # (a file of a session before 2026-11-28 lacks resident_solve: that solve did not exist)
    if [[ $line =~ ^fused_dft=(on|off)\ fused_pointwise=(on|off)\ graph_solve=(on|off)(\ resident_solve=(on|off))?$ ]]; then
      fused_dft=${BASH_REMATCH[1]} fused_pointwise=${BASH_REMATCH[2]} graph_solve=${BASH_REMATCH[3]}
      resident_solve=${BASH_REMATCH[5]:-off}
      echo "flags from $f: $(flags)" | tee -a "$OUT/session.log"
      break
    fi
    echo "gpu_session.sh: $f is not a flags line (\"$line\")" >&2
    exit 2
  done
  if [[ -z ${line:-} ]]; then
    echo "gpu_session.sh --protocol: no flags file ($flags_file or ${PARTS:-ck-parts}/gpu_session_flags): the first call's kernel choices are unknown; copy its gpu_session_flags there" >&2
    exit 2
  fi
  # Kept beside the checkpoints and returned again: every call's files (keep_parts.sh) then
  # hold what the next session needs.
  save_flags
else
  # --- 1. test_cuda ------------------------------------------------------------------------------
  failed=""
  if skipped test_cuda; then
    note test_cuda "skip (SKIP)" 0
  elif [[ $DEVICE == cuda && -x $DEVBIN/test_cuda ]]; then
    s=$(date +%s)
    timeout -k 10 "$(limit 180)" "$DEVBIN/test_cuda" --report_level=short --log_level=test_suite \
      --run_test="${TEST_FILTER:-cuda_fft:cuda_spectral:cuda_backend_reduce/matmul_matches_host*}" \
      >"$OUT/test_cuda.log" 2>&1
    rc=$?
    test_rc=$rc
    failed=$(grep -oE 'error: in "[^"]+"' "$OUT/test_cuda.log" | sed 's/error: in "//; s/"$//' |
      sort -u | tr '\n' ' ')
    if ((rc == 0)); then note test_cuda pass $(($(date +%s) - s)); else
      note test_cuda "FAIL($rc)" $(($(date +%s) - s)); failures=$((failures + 1))
      tail -n 40 "$OUT/test_cuda.log"
    fi
  else
    note test_cuda "skip (DEVICE=$DEVICE)" 0
  fi
  # --- 2. the DEQ's kernels ----------------------------------------------------------------------
  [[ $failed == *fused_dft* || $failed == *linear_gelu* || $failed == *prepared* ||
    $failed == *spectral_conv_tape_gradients* ]] && fused_dft=off
  [[ $failed == *cuda_backend_reduce/matmul_matches_host* ]] && fused_pointwise=off
  [[ $failed == *graph_solve* ]] && graph_solve=off
  [[ $failed == *device_resident* ]] && resident_solve=off
  # A test run that hung or was killed names no failed case: every fused path off.
  if [[ ${test_rc:-0} == 124 || ${test_rc:-0} == 137 ]]; then
    all_off
  fi
  compare() {  # compare_devices.sh with the current flags; sets rc
    local s
    s=$(date +%s)
    MODELS=fno,deq EPOCHS=2 ARGS="$(flags)" OUT_DIR="$OUT/devices-$1" \
      timeout -k 10 "$(limit 240)" examples/fno_deq/compare_devices.sh "$exe" \
      >"$OUT/devices-$1.log" 2>&1
    rc=$?
    cat "$OUT/devices-$1.log"
    case $rc in
      0) note "devices ($1)" pass $(($(date +%s) - s)) ;;
      77) note "devices ($1)" "skip (no device path)" $(($(date +%s) - s)) ;;
      *) note "devices ($1)" "FAIL($rc)" $(($(date +%s) - s)); failures=$((failures + 1)) ;;
    esac
  }
  rc=0
  if skipped devices; then note devices "skip (SKIP)" 0; else compare chosen; fi
  if ((rc == 124 || rc == 137)); then
    # Not an answer: the check ran out of time (or hung). Go on with every fused path off.
    all_off
    note devices "timeout: all off" 0
  elif ((rc != 0 && rc != 77)); then
    all_off
    compare all_off
    if ((rc != 0 && rc != 77)); then
      echo "gpu_session.sh: the GPU's training disagrees with the CPU's even with the fused kernels off: no timings, no protocol" | tee -a "$OUT/session.log"
      printf '%s\n' "${steps[@]}" | tee "$OUT/summary.txt"
      exit 1
    fi
  fi
  echo "flags: $(flags) (failed test cases: ${failed:-none})" | tee -a "$OUT/session.log"
  save_flags
  # --- 3. step timings against PyTorch -------------------------------------------------------------
  s=$(date +%s)
  if skipped timing; then
    note fno_gpu "skip (SKIP)" 0
  else
    # shellcheck disable=SC2086  # FNO_GPU_ENV is a list of VAR=value words
    env SKIP_BUILD=1 BUILD_DIR="$DEVBIN" STEPS="$STEPS" WARMUP_STEPS=5 DEVICE="$DEVICE" \
      TESSERA_ARGS="$(flags)" OUT_DIR="$OUT/fno_gpu" ${FNO_GPU_ENV:-} \
      timeout -k 10 "$(limit 240)" benchmarks/compare/fno_gpu.sh >"$OUT/fno_gpu.log" 2>&1
    rc=$?
    grep -E '^(RESULT|ABCHECK) ' "$OUT/fno_gpu.log"
    if ((rc == 0)); then note fno_gpu pass $(($(date +%s) - s)); else
      note fno_gpu "FAIL($rc)" $(($(date +%s) - s)); failures=$((failures + 1))
      tail -n 20 "$OUT/fno_gpu.log"
    fi
    # At the paper's scale the first step's loss with the chosen kernels must be that of run
    # 11's (all four off, the kernels that have trained on a GPU before: taken as the
    # reference): if not, a fused path is wrong at this scale only. The one whose switching
    # off alone gives run 11's loss goes off; if none does, all four.
    if [[ $DEVICE == cuda ]] && ! grep -q '^ABCHECK case=fno_deq_step_all_off ' "$OUT/fno_gpu.log"; then
      note abcheck "no all_off line: unchecked" 0
    elif grep -q '^ABCHECK case=fno_deq_step_all_off .* MISMATCH' "$OUT/fno_gpu.log"; then
      loss_of() {
        sed -n "s/^ABCHECK case=fno_deq_step_$1 loss_first=\([^ ]*\) .*/\1/p" "$OUT/fno_gpu.log"
      }
      ref=$(loss_of all_off) culprit=""
      for tag in fused_dft fused_pointwise graph resident; do
        l=$(loss_of "${tag}_off")
        awk -v a="$ref" -v b="$l" -v t="${ABCHECK_TOL:-1e-3}" \
          'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b != "" && d <= t * (a < 0 ? -a : a)) }' &&
          culprit=$tag && break
      done
      case $culprit in
        fused_dft) fused_dft=off ;;
        fused_pointwise) fused_pointwise=off ;;
        graph) graph_solve=off ;;
        resident) resident_solve=off ;;
        *) all_off ;;
      esac
      note abcheck "MISMATCH: ${culprit:-all} off" 0
      failures=$((failures + 1))
    fi
  fi
  save_flags
  echo "protocol flags: $(flags)" | tee -a "$OUT/session.log"
fi

# --- 4. the paper protocol ---------------------------------------------------------------------------
# The data fno_gpu.sh wrote are the protocol's (85×85, 1024/200, seed 0, float64: training on
# them gives the same numbers as generating them again), so the protocol reads them. Where they
# are missing (a --protocol call on a bare machine, or SKIP=timing) they are generated here on
# every core, the bits fno_deq's own one-thread generation gives (15–17 s of device time saved).
if [[ $SCALE == gpu && ! -s build/fno-data/85-1024-200/u_test.npy ]]; then
  s=$(date +%s)
  if "$exe" --res 85 --ntrain 1024 --ntest 200 --seed 0 --threads "$(nproc)" \
    --write-data build/fno-data/85-1024-200 >"$OUT/data.log" 2>&1; then
    note data "generated" $(($(date +%s) - s))
  else
    note data "FAIL: fno_deq generates them" $(($(date +%s) - s))
    tail -n 5 "$OUT/data.log"
  fi
fi
# The curves of the models trained so far join this call's figures, so that curves.svg draws
# every model of the protocol: an earlier call's on this machine (kept in CKDIR: each call's
# $OUT starts empty), then an earlier session's (figures/curves_*.csv kept in PARTS with the
# checkpoint parts). This machine's file of a model wins.
mkdir -p "$OUT/figures"
for f in "$CKDIR"/curves_*.csv "${PARTS:-ck-parts}"/curves_*.csv; do
  [[ -f $f ]] && cp -n "$f" "$OUT/figures/"
done
data=()
[[ $SCALE == gpu && -s build/fno-data/85-1024-200/u_test.npy ]] &&
  data=(--data build/fno-data/85-1024-200)
protocol() {  # model seconds
  local s
  s=$(date +%s)
  EXTRA="$(flags) ${data[*]} --out $OUT/figures ${PROTOCOL_EXTRA:-}" SCALE=$SCALE \
    DEVICE=$DEVICE BIN=$exe \
    examples/fno_deq/protocol.sh "$1" "$2" >"$OUT/protocol-$1.log" 2>&1
  rc=$?
  grep -E '^(TRAIN|MISSING|  epoch|resumed|protocol:)' "$OUT/protocol-$1.log" | tail -n 6
  if ((rc == 0)); then note "protocol $1" "pass (≤ $2 s)" $(($(date +%s) - s)); else
    note "protocol $1" "FAIL($rc)" $(($(date +%s) - s)); failures=$((failures + 1))
    tail -n 20 "$OUT/protocol-$1.log"
  fi
}
IFS=, read -ra protocol_models <<<"${PROTOCOL_MODELS:-fno,deq}"
for m in "${protocol_models[@]}"; do
  left=$((DEADLINE - $(elapsed) - MARGIN))
  [[ $m == fno ]] && ((left > FNO_SECONDS)) && left=$FNO_SECONDS
  if ((left > 20)); then protocol "$m" "$left"; else note "protocol $m" "no time left" 0; fi
done

for f in "$OUT"/figures/curves_*.csv; do
  [[ -f $f ]] && cp "$f" "$CKDIR/"
done

# --- 5. summary ----------------------------------------------------------------------------------
{
  echo
  echo "gpu_session.sh summary ($(elapsed) s in all; logs in $OUT)"
  echo "flags: $(flags)"
  [[ -n ${failed:-} ]] && echo "failed test cases: $failed"
  printf '%s\n' "${steps[@]}"
  for tag in chosen all_off; do
    grep -hE '^DEVICES ' "$OUT/devices-$tag.log" 2>/dev/null | sed "s/\$/ ($tag flags)/"
  done
  grep -hE '^(RESULT|ABCHECK) ' "$OUT/fno_gpu.log" 2>/dev/null
  grep -hE '^(TRAIN|MISSING) ' "$OUT"/protocol-*.log 2>/dev/null
  for m in "${protocol_models[@]}"; do
    [[ -f $OUT/protocol-$m.log ]] || continue
    echo "protocol $m, last progress lines:"
    grep -E '^  epoch|^relative residual|^cosine' "$OUT/protocol-$m.log" | tail -n 3
  done
} | tee "$OUT/summary.txt"
((failures == 0))

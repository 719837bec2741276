#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tessera against PyTorch on one GPU: the models of the FNO-DEQ brief (shared/papers/fno_deq.md),
# time per training step, both sides on the same Darcy data:
#   (a) builds examples/fno_deq (its own build folder, tests and benchmarks off; CUDA on when
#       nvcc is found) — it generates the data and is tessera's side;
#   (b) generates the data once with tessera's generator (GRF thresholded to {12, 3}, 5-point
#       FD solve in float64) at RES×RES, NTRAIN train / NTEST test, and writes it as .npy
#       (fno_deq --write-data) into DATA_DIR;
#   (c) PyTorch side: benchmarks/compare/fno_torch.py --time-steps STEPS on that data, FNO (d = 1)
#       and FNO-DEQ (Anderson SOLVER_ITERS iterations, full budget, + phantom gradient τ = 0.5,
#       k = 1), width 32, 12 modes, batch 32: median ms per optimiser step after WARMUP_STEPS;
#   (d) tessera side: fno_deq --device DEVICE --time-steps STEPS with the same settings. The
#       example exits with status 3 when the build has no device path for its layers; the
#       script then reports tessera=NA and says what is missing (no number is made up). A
#       model that fails on the device prints a MISSING line and reports NA;
#   (e) prints (medians per step: wall clock with a CUDA synchronisation per step on a GPU,
#       process CPU time with DEVICE=cpu)
#       RESULT case=fno_step tessera=<ms|NA> pytorch=<ms> unit=ms ratio=<tessera/pytorch|NA>
#       RESULT case=fno_deq_step tessera=<ms|NA> pytorch=<ms> unit=ms ratio=<…>
#       then the raw TIMING lines of both sides and the setup (GPU, versions, TF32).
#
# MODE=train (or MODE=both: the timings, then training) trains instead, both sides on the same
# data with the brief's protocol (Adam 1e-3, L2 weight decay 1e-4, cosine annealing per step
# over EPOCHS epochs, batch 32, the DEQ's first WARMUP steps unrolled x8, then Anderson
# SOLVER_ITERS + phantom gradient): fno_torch.py --epochs EPOCHS [--seconds TRAIN_SECONDS] and
# fno_deq --scale gpu --device DEVICE --epochs EPOCHS [--train-seconds TRAIN_SECONDS]. With
# TRAIN_SECONDS > 0 each side stops each model after the epoch in which that many seconds of
# training (evaluation excluded) have passed, the schedule still spanning EPOCHS epochs (the
# issue's equal-wall-time comparison: TRAIN_SECONDS=70). Prints per model
#   RESULT case=fno_train_<model> tessera=<test rel-L2|NA> torch=<test rel-L2> unit=rel_l2
#          tessera_s=<s> torch_s=<s> tessera_epochs=<e> torch_epochs=<e> tessera_steps=<n>
#          torch_steps=<n>
# then both sides' TRAIN lines. Device time: one optimiser step at the paper scale costs about
# 6 ms for FNO and 39 ms for FNO-DEQ on tessera's side (H200, run 11 of docs/benchmarks.md),
# 12 and 118 ms on PyTorch's, so EPOCHS=500 (16,000 steps) is ~1.6 / 3.2 min for FNO but
# ~10.4 / 31 min for FNO-DEQ: use TRAIN_SECONDS or fewer EPOCHS for the DEQ within a 10-minute
# call (examples/fno_deq/protocol.sh trains tessera's side in pieces). (TRAIN_SECONDS > 0 without MODE means
# MODE=both, as the script's earlier PyTorch-only training option did.)
#
# DEVICE=cpu runs the same comparison on the host at one thread (OMP_NUM_THREADS=1, PyTorch
# set_num_threads(1)); with small RES/NTRAIN/WIDTH it checks the script end to end without a
# GPU and gives a CPU ratio.
#
# A device machine without Eigen's headers: run scripts/device-deps here and carry
# .device-deps; the prefix .device-deps/prefix is used when it exists (DEPS names another).
# scripts/device-check runs this script as its `fno_gpu` step.
#
# Knobs [defaults]: MODE [time|train|both], DEVICE [cuda], RES [85], NTRAIN [1024], NTEST [200],
# WIDTH [32], MODES [12], BATCH [32], SOLVER_ITERS [24], MODELS [fno,deq], STEPS [30],
# WARMUP_STEPS [10], EPOCHS [500], TRAIN_SECONDS [0], WARMUP [300] (DEQ warm-up steps when
# training), SEED [0], TF32 [default|on|off] (PyTorch side), PYTHON [python3],
# DATA_DIR [build/fno-data/<RES>-<NTRAIN>-<NTEST>], BUILD_DIR [build/fno-gpu],
# DEPS [.device-deps/prefix when present: a /usr-like prefix with Eigen and stb],
# SKIP_BUILD [0], OUT_DIR [build/compare-results/fno-<UTC>], GRAPH_AB [1: on cuda, also time
# the DEQ with --graph-solve off, with --fused-dft off, with --fused-pointwise off, with
# --resident-solve off and with all four off (the kernels of run 11), and print RESULT
# case=fno_deq_step_graph_off, fno_deq_step_fused_dft_off, fno_deq_step_fused_pointwise_off,
# fno_deq_step_resident_off and fno_deq_step_all_off],
# TESSERA_ARGS (more fno_deq options for every tessera run, e.g. "--fused-dft off"),
# ABCHECK_TOL [1e-3]: each A/B also prints ABCHECK case=fno_deq_step_<tag> loss_first=…
# default=… rel_diff=… ok|MISMATCH, the loss of its first step (an untimed warm-up step)
# against the default run's (the same weights and batches, so equal up to rounding).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
say() { echo "fno_gpu.sh: $*" >&2; }

DEVICE=${DEVICE:-cuda}
RES=${RES:-85}
NTRAIN=${NTRAIN:-1024}
NTEST=${NTEST:-200}
WIDTH=${WIDTH:-32}
MODES=${MODES:-12}
BATCH=${BATCH:-32}
SOLVER_ITERS=${SOLVER_ITERS:-24}
MODELS=${MODELS:-fno,deq}
STEPS=${STEPS:-30}
WARMUP_STEPS=${WARMUP_STEPS:-10}
TRAIN_SECONDS=${TRAIN_SECONDS:-0}
EPOCHS=${EPOCHS:-500}
WARMUP=${WARMUP:-300}
MODE=${MODE:-}
if [[ -z $MODE ]]; then
  MODE="time"
  awk -v t="$TRAIN_SECONDS" 'BEGIN { exit !(t > 0) }' && MODE=both
fi
case $MODE in
  time | train | both) ;;
  *) say "MODE must be time, train or both (got $MODE)"; exit 2 ;;
esac
SEED=${SEED:-0}
TF32=${TF32:-default}
PYTHON=${PYTHON:-python3}
DATA_DIR=${DATA_DIR:-build/fno-data/$RES-$NTRAIN-$NTEST}
BUILD_DIR=${BUILD_DIR:-build/fno-gpu}
DEPS=${DEPS:-}
[[ -z $DEPS && -d .device-deps/prefix ]] && DEPS=.device-deps/prefix
SKIP_BUILD=${SKIP_BUILD:-0}
GRAPH_AB=${GRAPH_AB:-1}
ABCHECK_TOL=${ABCHECK_TOL:-1e-3}
# shellcheck disable=SC2206  # a list of options, split on purpose
tessera_args=(${TESSERA_ARGS:-})
OUT_DIR=${OUT_DIR:-build/compare-results/fno-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT_DIR"

# --- (a) build -------------------------------------------------------------------------------
exe=$BUILD_DIR/examples/fno_deq
if [[ $SKIP_BUILD != 1 ]]; then
  cfg=(-S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
    "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG -fno-math-errno -march=native"
    -DTESSERA_BUILD_TESTS=OFF -DTESSERA_BUILD_BENCHMARKS=OFF -DTESSERA_BUILD_EXAMPLES=ON)
  if [[ -n $DEPS ]]; then
    deps=$(cd "$DEPS" && pwd)
    cfg+=("-DCMAKE_PREFIX_PATH=$deps" "-DCMAKE_CXX_FLAGS=-isystem $deps/include")
  fi
  say "configuring $BUILD_DIR"
  cmake "${cfg[@]}" >"$OUT_DIR/configure.log" 2>&1 ||
    { tail -20 "$OUT_DIR/configure.log" >&2; say "configure failed (Eigen missing? see DEPS)"; exit 1; }
  grep -E "^-- tessera " "$OUT_DIR/configure.log" >&2 || true
  say "building fno_deq"
  cmake --build "$BUILD_DIR" --target fno_deq >"$OUT_DIR/build.log" 2>&1 ||
    { tail -30 "$OUT_DIR/build.log" >&2; say "build failed"; exit 1; }
fi
[[ -x $exe ]] || { say "missing $exe"; exit 1; }

# --- (b) data --------------------------------------------------------------------------------
if [[ ! -s $DATA_DIR/u_test.npy ]]; then
  say "generating Darcy data ${RES}×${RES}, $NTRAIN train / $NTEST test into $DATA_DIR"
  "$exe" --res "$RES" --ntrain "$NTRAIN" --ntest "$NTEST" --seed "$SEED" \
    --threads "$(nproc)" --write-data "$DATA_DIR" >&2
fi

threads=()
if [[ $DEVICE == cpu ]]; then
  export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
  threads=(--threads 1)
fi
say "PyTorch self-test ($PYTHON fno_torch.py)"
"$PYTHON" benchmarks/compare/fno_torch.py --self-test >&2

# run_tessera <output stem> <fno_deq arguments...>: stdout to <stem>.txt, stderr to <stem>.err;
# sets rc (0, or 3 = no device path; anything else stops the script).
run_tessera() {
  local stem=$1
  shift
  set +e
  "$exe" "$@" >"$stem.txt" 2>"$stem.err"
  rc=$?
  set -e
  cat "$stem.txt" "$stem.err" >&2
  if ((rc != 0 && rc != 3)); then
    say "fno_deq failed with status $rc"
    exit 1
  fi
}
# missing <stem>: the MISSING lines of a tessera run (the whole stderr when nothing ran).
missing() {
  if ((rc == 3)); then
    echo "MISSING tessera: $(tr '\n' ' ' <"$1.err")"
  else  # models the device path does not cover (fno_deq prints one MISSING line each)
    grep -h "^MISSING" "$1.err" | sed 's/^MISSING /MISSING tessera: /' || true
  fi
}

# --- (c), (d) timings ------------------------------------------------------------------------
if [[ $MODE != train ]]; then
  common=(--width "$WIDTH" --modes "$MODES" --batch "$BATCH" --solver-iters "$SOLVER_ITERS"
    --time-steps "$STEPS" --seed "$SEED" --models "$MODELS")
  say "PyTorch timings ($DEVICE)"
  "$PYTHON" benchmarks/compare/fno_torch.py --data "$DATA_DIR" "${common[@]}" \
    --time-warmup "$WARMUP_STEPS" --tf32 "$TF32" --device "$DEVICE" "${threads[@]}" |
    tee "$OUT_DIR/pytorch.txt" >&2
  say "tessera timings (fno_deq --device $DEVICE)"
  run_tessera "$OUT_DIR/tessera" --data "$DATA_DIR" "${common[@]}" --device "$DEVICE" \
    "${threads[@]}" "${tessera_args[@]}"

  # --- (e) report ----------------------------------------------------------------------------
  # Wall clock (CUDA-synchronised per step) on a GPU; process CPU time on the shared host.
  key=ms_per_step
  [[ $DEVICE == cpu ]] && key=cpu_ms_per_step
  timing() {  # file model -> the median per step, or NA
    # " $key=" with its leading space: cpu_ms_per_step must not match ms_per_step.
    grep "^TIMING model=$2 " "$1" | sed -n "s/.* $key=\([^ ]*\).*/\1/p" | head -1 | grep . || echo NA
  }
  loss_first() {  # file -> the DEQ's first-step loss on its TIMING line, or NA
    grep "^TIMING model=deq " "$1" | sed -n "s/.* loss_first=\([^ ]*\).*/\1/p" | head -1 |
      grep . || echo NA
  }
  for pair in fno:fno_step deq:fno_deq_step; do
    model=${pair%%:*}
    case_name=${pair#*:}
    t=$(timing "$OUT_DIR/tessera.txt" "$model")
    p=$(timing "$OUT_DIR/pytorch.txt" "$model")
    ratio=NA
    [[ $t != NA && $p != NA ]] && ratio=$(awk -v a="$t" -v b="$p" 'BEGIN { printf "%.3f", a / b }')
    echo "RESULT case=$case_name tessera=$t pytorch=$p unit=ms ratio=$ratio"
  done
  missing "$OUT_DIR/tessera"
  # The A/Bs of the DEQ step's cuda defaults: the solve's CUDA graph (fno_deq --graph-solve),
  # the fused DFT kernels of the spectral convolutions (--fused-dft) and the one-kernel
  # pointwise products (--fused-pointwise) and the device-resident solve (--resident-solve);
  # the DEQ again with each off, and with all four.
  if [[ $DEVICE == cuda && $GRAPH_AB == 1 && ,$MODELS, == *,deq,* ]]; then
    # all_off first: the reference of the ABCHECK lines, there even if a later run is cut off.
    for variant in \
      "all_off --graph-solve off --fused-dft off --fused-pointwise off --resident-solve off" \
      "graph_off --graph-solve off" "fused_dft_off --fused-dft off" \
      "fused_pointwise_off --fused-pointwise off" "resident_off --resident-solve off"; do
      read -r tag opts <<<"$variant"
      read -ra opts <<<"$opts"
      say "tessera DEQ timing with ${opts[*]}"
      run_tessera "$OUT_DIR/tessera-$tag" --data "$DATA_DIR" "${common[@]}" --models deq \
        --device "$DEVICE" "${tessera_args[@]}" "${opts[@]}"
      t=$(timing "$OUT_DIR/tessera-$tag.txt" deq)
      p=$(timing "$OUT_DIR/pytorch.txt" deq)
      ratio=NA
      [[ $t != NA && $p != NA ]] && ratio=$(awk -v a="$t" -v b="$p" 'BEGIN { printf "%.3f", a / b }')
      echo "RESULT case=fno_deq_step_$tag tessera=$t pytorch=$p unit=ms ratio=$ratio"
      grep -hE "^TIMING" "$OUT_DIR/tessera-$tag.txt" | sed "s/^/TESSERA $tag /" || true
      # The same weights and batches: the first step's loss agrees up to rounding, whatever the
      # kernels; a wrong kernel at this scale shows as a mismatch.
      a=$(loss_first "$OUT_DIR/tessera.txt")
      b=$(loss_first "$OUT_DIR/tessera-$tag.txt")
      awk -v a="$a" -v b="$b" -v t="$ABCHECK_TOL" -v c="fno_deq_step_$tag" 'BEGIN {
        if (a == "NA" || b == "NA" || a + 0 == 0) { printf "ABCHECK case=%s loss_first=%s default=%s NA\n", c, b, a; exit }
        d = (a > b ? a - b : b - a) / (a > 0 ? a : -a)
        printf "ABCHECK case=%s loss_first=%s default=%s rel_diff=%.2e %s\n", c, b, a, d, (d <= t ? "ok" : "MISMATCH") }'
    done
  fi
  grep -h "^TIMING" "$OUT_DIR/pytorch.txt" | sed 's/^/PYTORCH /'
  # tessera's TIMING lines carry the step's phases (fwd_solve_ms, head_loss_ms, backward_ms,
  # optim_ms; CUDA events on the GPU) and an INFO line with the DEQ solve's residual.
  grep -hE "^(TIMING|INFO)" "$OUT_DIR/tessera.txt" | sed 's/^/TESSERA /' || true
  grep -h "^INFO" "$OUT_DIR/pytorch.txt"
  echo "RUN device=$DEVICE metric=$key res=$RES ntrain=$NTRAIN ntest=$NTEST width=$WIDTH" \
    "modes=$MODES batch=$BATCH solver_iters=$SOLVER_ITERS steps=$STEPS" \
    "warmup_steps=$WARMUP_STEPS tessera=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "raw=$OUT_DIR"
fi

# --- (f) training at equal settings (MODE=train|both) ------------------------------------------
if [[ $MODE != time ]]; then
  budget=()
  tbudget=()
  if awk -v t="$TRAIN_SECONDS" 'BEGIN { exit !(t > 0) }'; then
    budget=(--seconds "$TRAIN_SECONDS")
    tbudget=(--train-seconds "$TRAIN_SECONDS")
  fi
  say "PyTorch training ($DEVICE, $EPOCHS epochs${budget:+, at most $TRAIN_SECONDS s per model})"
  "$PYTHON" benchmarks/compare/fno_torch.py --data "$DATA_DIR" --ntrain "$NTRAIN" \
    --ntest "$NTEST" --width "$WIDTH" --modes "$MODES" --batch "$BATCH" \
    --solver-iters "$SOLVER_ITERS" --seed "$SEED" --models "$MODELS" --epochs "$EPOCHS" --warmup "$WARMUP" "${budget[@]}" --tf32 "$TF32" \
    --device "$DEVICE" "${threads[@]}" | tee "$OUT_DIR/pytorch_train.txt" >&2
  say "tessera training (fno_deq --scale gpu --device $DEVICE)"
  # --scale gpu first: the paper protocol (lr 1e-3, ...), then this run's settings over it.
  run_tessera "$OUT_DIR/tessera_train" --scale gpu --data "$DATA_DIR" --ntrain "$NTRAIN" \
    --ntest "$NTEST" --width "$WIDTH" --modes "$MODES" --batch "$BATCH" --solver-iters "$SOLVER_ITERS" --seed "$SEED" \
    --models "$MODELS" --epochs "$EPOCHS" --warmup "$WARMUP" "${tbudget[@]}" \
    --device "$DEVICE" --out "$OUT_DIR/figures" "${threads[@]}" "${tessera_args[@]}"

  field() {  # file model key -> the value of key= on the model's TRAIN line, or NA
    grep "^TRAIN model=$2 " "$1" 2>/dev/null | sed -n "s/.* $3=\([^ ]*\).*/\1/p" | head -1 |
      grep . || echo NA
  }
  IFS=, read -ra train_models <<<"$MODELS"
  for model in "${train_models[@]}"; do
    [[ $model == deq-ift ]] && continue  # PyTorch has no implicit-backward twin
    tt=$OUT_DIR/tessera_train.txt pt=$OUT_DIR/pytorch_train.txt
    echo "RESULT case=fno_train_$model tessera=$(field "$tt" "$model" test_rel_l2)" \
      "torch=$(field "$pt" "$model" test_rel_l2) unit=rel_l2" \
      "tessera_s=$(field "$tt" "$model" train_s) torch_s=$(field "$pt" "$model" train_s)" \
      "tessera_epochs=$(field "$tt" "$model" epochs) torch_epochs=$(field "$pt" "$model" epochs)" \
      "tessera_steps=$(field "$tt" "$model" steps) torch_steps=$(field "$pt" "$model" steps)"
  done
  missing "$OUT_DIR/tessera_train"
  grep -h "^TRAIN" "$OUT_DIR/pytorch_train.txt" | sed 's/^/PYTORCH /' || true
  grep -h "^TRAIN" "$OUT_DIR/tessera_train.txt" | sed 's/^/TESSERA /' || true
  grep -h "^INFO" "$OUT_DIR/pytorch_train.txt" || true
  echo "RUN mode=train device=$DEVICE res=$RES ntrain=$NTRAIN ntest=$NTEST width=$WIDTH" \
    "modes=$MODES batch=$BATCH solver_iters=$SOLVER_ITERS epochs=$EPOCHS warmup=$WARMUP" \
    "train_seconds=$TRAIN_SECONDS tessera=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "raw=$OUT_DIR"
fi

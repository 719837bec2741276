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
#   With TRAIN_SECONDS > 0, PyTorch also trains each model for that long (the brief's
#   protocol: Adam 1e-3, wd 1e-4, per-step cosine over 500 epochs, warm-up 300 steps for the
#   DEQ) and reports TRAIN lines with the test relative L2 reached.
#
# DEVICE=cpu runs the same comparison on the host at one thread (OMP_NUM_THREADS=1, PyTorch
# set_num_threads(1)); with small RES/NTRAIN/WIDTH it checks the script end to end without a
# GPU and gives a CPU ratio.
#
# A device machine without Eigen's headers: run scripts/device-deps here and carry
# .device-deps; the prefix .device-deps/prefix is used when it exists (DEPS names another).
# scripts/device-check runs this script as its `fno_gpu` step.
#
# Knobs [defaults]: DEVICE [cuda], RES [85], NTRAIN [1024], NTEST [200], WIDTH [32], MODES [12],
# BATCH [32], SOLVER_ITERS [24], MODELS [fno,deq], STEPS [30], WARMUP_STEPS [10],
# TRAIN_SECONDS [0], SEED [0], TF32 [default|on|off] (PyTorch side), PYTHON [python3],
# DATA_DIR [build/fno-data/<RES>-<NTRAIN>-<NTEST>], BUILD_DIR [build/fno-gpu],
# DEPS [.device-deps/prefix when present: a /usr-like prefix with Eigen and stb],
# SKIP_BUILD [0], OUT_DIR [build/compare-results/fno-<UTC>].
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
SEED=${SEED:-0}
TF32=${TF32:-default}
PYTHON=${PYTHON:-python3}
DATA_DIR=${DATA_DIR:-build/fno-data/$RES-$NTRAIN-$NTEST}
BUILD_DIR=${BUILD_DIR:-build/fno-gpu}
DEPS=${DEPS:-}
[[ -z $DEPS && -d .device-deps/prefix ]] && DEPS=.device-deps/prefix
SKIP_BUILD=${SKIP_BUILD:-0}
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

# --- (c), (d) timings ------------------------------------------------------------------------
common=(--width "$WIDTH" --modes "$MODES" --batch "$BATCH" --solver-iters "$SOLVER_ITERS"
  --time-steps "$STEPS" --seed "$SEED" --models "$MODELS")
torch_args=(benchmarks/compare/fno_torch.py --data "$DATA_DIR" "${common[@]}"
  --time-warmup "$WARMUP_STEPS" --tf32 "$TF32" --device "$DEVICE")
tessera_args=(--data "$DATA_DIR" "${common[@]}" --device "$DEVICE")
if [[ $DEVICE == cpu ]]; then
  export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
  torch_args+=(--threads 1)
  tessera_args+=(--threads 1)
fi

say "PyTorch side ($PYTHON fno_torch.py, $DEVICE): self-test, then timings"
"$PYTHON" benchmarks/compare/fno_torch.py --self-test >&2
"$PYTHON" "${torch_args[@]}" | tee "$OUT_DIR/pytorch.txt" >&2

say "tessera side (fno_deq --device $DEVICE)"
set +e
"$exe" "${tessera_args[@]}" >"$OUT_DIR/tessera.txt" 2>"$OUT_DIR/tessera.err"
rc=$?
set -e
cat "$OUT_DIR/tessera.txt" "$OUT_DIR/tessera.err" >&2
if ((rc != 0 && rc != 3)); then
  say "fno_deq failed with status $rc"
  exit 1
fi

if ((TRAIN_SECONDS > 0)); then
  say "PyTorch training, $TRAIN_SECONDS s per model"
  "$PYTHON" benchmarks/compare/fno_torch.py --data "$DATA_DIR" --width "$WIDTH" --modes "$MODES" \
    --batch "$BATCH" --solver-iters "$SOLVER_ITERS" --seed "$SEED" --models "$MODELS" \
    --seconds "$TRAIN_SECONDS" --tf32 "$TF32" --device "$DEVICE" | tee "$OUT_DIR/pytorch_train.txt" >&2
fi

# --- (e) report ------------------------------------------------------------------------------
# Wall clock (CUDA-synchronised per step) on a GPU; process CPU time on the shared host.
key=ms_per_step
[[ $DEVICE == cpu ]] && key=cpu_ms_per_step
timing() {  # file model -> the median per step, or NA
  # " $key=" with its leading space: cpu_ms_per_step must not match ms_per_step.
  grep "^TIMING model=$2 " "$1" | sed -n "s/.* $key=\([^ ]*\).*/\1/p" | head -1 | grep . || echo NA
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
if ((rc == 3)); then
  echo "MISSING tessera: $(tr '\n' ' ' <"$OUT_DIR/tessera.err")"
else  # models the device path does not cover yet (fno_deq prints one MISSING line each)
  grep -h "^MISSING" "$OUT_DIR/tessera.err" | sed 's/^MISSING /MISSING tessera: /' || true
fi
grep -h "^TIMING" "$OUT_DIR/pytorch.txt" | sed 's/^/PYTORCH /'
grep -h "^TIMING" "$OUT_DIR/tessera.txt" | sed 's/^/TESSERA /' || true
grep -h "^TRAIN" "$OUT_DIR/pytorch_train.txt" 2>/dev/null | sed 's/^/PYTORCH /' || true
grep -h "^INFO" "$OUT_DIR/pytorch.txt"
echo "RUN device=$DEVICE metric=$key res=$RES ntrain=$NTRAIN ntest=$NTEST width=$WIDTH modes=$MODES" \
  "batch=$BATCH solver_iters=$SOLVER_ITERS steps=$STEPS warmup_steps=$WARMUP_STEPS" \
  "tessera=$(git rev-parse --short HEAD 2>/dev/null || echo unknown) raw=$OUT_DIR"

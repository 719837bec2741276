#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tessera's CUDA DirectLiNGAM ordering (causal_order_gpu) on one GPU, whole causal ordering at
# n = 5000 for d = 100, 500, 1000, 2000 (issue #4; target: d = 1000 in <= 5 s on an H100/H200):
#   (a) builds the lingam example with the CUDA backend in $BUILD (Release, -O3 -march=native;
#       dependencies from .device-deps/prefix when present, as scripts/device-check) unless
#       SKIP_BUILD=1;
#   (b) per d: the example generates the data itself (--generate 5000 d --seed 1, the brief's
#       LiNGAM model), times the GPU ordering (default mode: FP32 special-function-unit
#       transcendentals, FP64 sums; CUDA context and cuBLAS start-up excluded; REPS timed runs,
#       median), and checks the order against the CPU ordering (mixed precision, all cores) for
#       d <= CPU_MAX_D, and against the GPU's full-FP64 ordering for d <= FP64_MAX_D;
#   (c) prints one line per d:
#       RESULT case=gpu_order_n5000_d<d> tessera_gpu=<s> tessera_cpu=<s|NA> unit=s
#              speedup=<cpu/gpu|NA> same_order=<0|1|NA> first_diff_cpu=<position|0|NA>
#              gpu_fp64=<s|NA> same_order_fp64=<0|1|NA> first_diff_fp64=<position|0|NA>
#              same_order_fp64_cpu_gpu=<0|1|NA> smallest_margin=<gap|NA>
#              ordered_pairs_per_s=<(d³-d)/3 / time> sfu_ops=<count> sfu_rate=<ops/s> sfu_peak=<ops/s> sfu_fraction=<rate/peak>
#   Exits 77 (skipped) without a GPU, 1 when a run fails.
#
# Transcendental count (analytic, no prior knowledge): a step with k >= 2 remaining variables
# evaluates the entropy of each standardised variable (k·n samples) and of both residuals of
# every unordered pair (k(k-1)·n samples); each sample costs 3 special-function-unit ops
# (ex2 and ex2 for the two exponentials, lg2 for the logarithm: __expf(x) = ex2(x·log2 e),
# __logf(x) = lg2(x)·ln 2). Whole ordering: 3·n·Σ_{k=2..d} k² = 3·n·(d(d+1)(2d+1)/6 - 1).
# sfu_rate divides that count by the whole ordering time (standardisation, the FP64 GEMM,
# scores and residual updates included), so it is a lower bound for the pair kernel's rate.
# SFU peak = SMs × 16 × max SM clock: 16 results per clock per SM for the 32-bit reciprocal,
# reciprocal square root, base-2 logarithm, base-2 exponential, sine and cosine at compute
# capability 9.0 (CUDA C++ Programming Guide, "Arithmetic Instructions", throughput table).
# The SM count and the clock (cudaDevAttrMultiProcessorCount, cudaDevAttrClockRate) are read
# from the device; e.g. H100 SXM5 and H200: 132 SMs × 16 × 1.98 GHz = 4.18e12 ops/s. With
# SFU_PEAK_MEASURED (ops/s; scripts/device-check sets it from bench_cuda_sfu, the card's MUFU
# ex2/lg2 rate measured by a benchmark) the fraction of that is reported too.
#
# Orders: the default GPU mode and the CPU's mixed precision (FP32 transcendentals, FP64 sums)
# round differently, so where two candidates' scores are within ~1e-7 relative they may pick
# differently; same_order compares them. The exact check is same_order_fp64_cpu_gpu: the GPU's
# and the CPU's full-FP64 orderings (d <= CPU_FP64_MAX_D). smallest_margin is the smallest gap
# between the two best candidates' scores M of any step (GPU FP64 run, --margins): a
# mixed-precision order can differ only where this is within the scores' FP32-level error.
# Knobs: DIMS ["100 500 1000 2000"], N [5000], REPS [3; 1 for d >= 2000], CPU_MAX_D [1000],
# FP64_MAX_D [1000], CPU_FP64_MAX_D [100], SKIP_BUILD [0], BUILD [build/lingam-gpu], OUT_DIR [build/compare-lingam-gpu].
# Estimated duration on an H100/H200 host with 16 cores (not yet measured): about 1 min of
# building, then 2-3 min (the CPU check at d = 1000 is the longest step; CPU_MAX_D=500 cuts it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
DIMS=${DIMS:-"100 500 1000 2000"}
N=${N:-5000}
REPS=${REPS:-3}
CPU_MAX_D=${CPU_MAX_D:-1000}
FP64_MAX_D=${FP64_MAX_D:-1000}
CPU_FP64_MAX_D=${CPU_FP64_MAX_D:-100}
SKIP_BUILD=${SKIP_BUILD:-0}
BUILD=${BUILD:-build/lingam-gpu}
OUT_DIR=${OUT_DIR:-$root/build/compare-lingam-gpu}
mkdir -p "$OUT_DIR"
say() { echo "lingam_gpu.sh: $*" >&2; }

if [[ $SKIP_BUILD != 1 ]]; then
  # Like scripts/device-check: dependencies from .device-deps/prefix on a bare machine.
  prefix_args=()
  [[ -d .device-deps/prefix ]] && prefix_args=("-DCMAKE_PREFIX_PATH=$PWD/.device-deps/prefix")
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S . -B "$BUILD" "${generator[@]}" "${prefix_args[@]}" -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O3 -DNDEBUG -march=native -fno-math-errno" \
    "-DCMAKE_CUDA_FLAGS_RELEASE=-O3 -DNDEBUG" -DTESSERA_WITH_CUDA=ON -DTESSERA_BUILD_TESTS=OFF \
    -DTESSERA_BUILD_EXAMPLES=ON -DTESSERA_BUILD_BENCHMARKS=OFF -DTESSERA_BUILD_HEADER_TESTS=OFF >&2
  cmake --build "$BUILD" -j"$(nproc)" --target lingam >&2
fi
exe=$(find "$BUILD/examples" -type f -name lingam -perm -u+x | head -n 1)
[[ -x ${exe:-} ]] || { say "lingam example not built in $BUILD"; exit 1; }

# run D BACKEND REPEAT EXTRA...: prints "<seconds> <order>" and keeps the log.
run() {
  local d=$1 backend=$2 rep=$3
  shift 3
  local log="$OUT_DIR/${backend}_d${d}$(printf '%s' "$@" | tr -d ' -').log"
  if ! OMP_WAIT_POLICY=passive "$exe" --generate "$N" "$d" --seed 1 --backend "$backend" \
    --order-only --repeat "$rep" --out "$OUT_DIR/out" "$@" >"$log" 2>&1; then
    say "the $backend run at d = $d failed:"
    tail -n 5 "$log" >&2
    return 1
  fi
  local t order
  t=$(sed -n 's/^| causal order time | \([0-9.e+-]*\) s.*/\1/p' "$log")
  order=$(sed -n 's/^order: //p' "$log" | sed 's/x//g')
  echo "$t $order"
}

if ! nvidia-smi -L >/dev/null 2>&1; then
  say "no GPU here (nvidia-smi -L failed); skipped"
  exit 77
fi
device=""
say "machine: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1); CPU $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
for d in $DIMS; do
  reps=$REPS
  ((d >= 2000)) && reps=1
  r=$(run "$d" cuda "$reps") || exit 1
  tg=${r%% *}
  og=${r#* }
  [[ -n $device ]] || device=$(sed -n 's/^  device: \(.*\); warm-up.*/\1/p' "$OUT_DIR/cuda_d${d}.log")
  sms=$(sed -n 's/.*, \([0-9]*\) SMs,.*/\1/p' <<<"$device")
  mhz=$(sed -n 's/.*max SM clock \([0-9]*\) MHz.*/\1/p' <<<"$device")
  tc=NA speed=NA same=NA oc=
  if ((d <= CPU_MAX_D)); then
    r=$(run "$d" cpu 1 --mixed-precision) || exit 1
    tc=${r%% *}
    oc=${r#* }
    [[ $oc == "$og" ]] && same=1 || same=0
    speed=$(awk -v a="$tc" -v b="$tg" 'BEGIN {printf "%.3g", a / b}')
  fi
  t64=NA same64=NA o64= margin=NA
  if ((d <= FP64_MAX_D)); then
    r=$(run "$d" cuda 1 --fp64 --margins) || exit 1
    t64=${r%% *}
    o64=${r#* }
    [[ $o64 == "$og" ]] && same64=1 || same64=0
    margin=$(sed -n 's/.*smallest margin: .* by \([^ ]*\) (scores.*/\1/p' "$OUT_DIR/cuda_d${d}fp64margins.log")
    margin=${margin:-NA}
  fi
  # The definitive CPU/GPU check: both in full FP64 (the same arithmetic up to summation order).
  cpu64=NA
  if ((d <= CPU_FP64_MAX_D)) && [[ -n $o64 ]]; then
    r=$(run "$d" cpu 1) || exit 1
    [[ ${r#* } == "$o64" ]] && cpu64=1 || cpu64=0
  fi
  # Where orders differ: the first position (1-based) in each comparison.
  firstdiff() {
    [[ -n $2 ]] || { echo NA; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " ");
      for (i = 1; i <= n; ++i) if (x[i] != y[i]) { print i; exit } print 0 }'
  }
  diff_cpu=$(firstdiff "$og" "$oc")
  diff_64=$(firstdiff "$og" "$o64")
  read -r ops rate peak frac pps < <(awk -v n="$N" -v d="$d" -v t="$tg" -v sms="$sms" -v mhz="$mhz" 'BEGIN {
    ops = 3 * n * (d * (d + 1) * (2 * d + 1) / 6 - 1); rate = ops / t; peak = sms * 16 * mhz * 1e6;
    pairs = (d * d * d - d) / 3;
    printf "%.4g %.4g %.4g %.3g %.4g\n", ops, rate, peak, (peak > 0 ? rate / peak : 0), pairs / t }')
  fracm=NA
  [[ -n ${SFU_PEAK_MEASURED:-} ]] &&
    fracm=$(awk -v r="$rate" -v p="$SFU_PEAK_MEASURED" 'BEGIN {printf "%.3g", r / p}')
  echo "RESULT case=gpu_order_n${N}_d${d} tessera_gpu=$tg tessera_cpu=$tc unit=s speedup=$speed same_order=$same first_diff_cpu=$diff_cpu gpu_fp64=$t64 same_order_fp64=$same64 first_diff_fp64=$diff_64 same_order_fp64_cpu_gpu=$cpu64 smallest_margin=$margin ordered_pairs_per_s=$pps sfu_ops=$ops sfu_rate=$rate sfu_peak=$peak sfu_fraction=$frac sfu_peak_measured=${SFU_PEAK_MEASURED:-NA} sfu_fraction_measured=$fracm"
  say "d = $d: device $device; GPU runs: $(sed -n 's/^  ordering times: //p' "$OUT_DIR/cuda_d${d}.log")"
done

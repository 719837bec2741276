#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The 4096³ TF32 matmul, tessera and PyTorch taking turns (ROUNDS times each), at two durations
# that both sides share:
#   burst      about 50 synchronised iterations (20 ms of GEMMs; PyTorch's usual timing loop),
#   sustained  SUSTAINED seconds of GEMMs (what a training run sees; Google Benchmark's loop).
# A GEMM on an H100/H200 can hit the card's power limit within a second and lose clock, so
# comparing one side's burst with the other side's sustained figure is not a speed comparison.
# The card's SM clock, power and temperature are sampled every 100 ms while each turn runs
# (nvidia-smi -lms), and a turn starts after COOL seconds idle.
# One `AB mode=<burst|sustained> side=<tessera|torch> round=<i> ms=... iters=... tflops=...
# sm_mhz=<median> power_w=<max> temp_c=<max>` line per turn, then per mode
#   RESULT case=matmul_4096_tf32_<mode> tessera=<median ms> torch=<median ms> unit=ms ratio=...
#   BUILD=<build dir with benchmarks/bench_cuda_ops> [ROUNDS=3] [SUSTAINED=1] [COOL=2] \
#     benchmarks/compare/tf32_ab.sh
# With CUBLASLT_LOG=1, each side's first burst turn also prints the cuBLASLt calls it makes
# (CUBLASLT_LOG_LEVEL=2 lines, matmul descriptors and algorithms), to compare the two calls.
# Exit 77 without a GPU, PyTorch or the benchmark program.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD=${BUILD:-build/device}
ROUNDS=${ROUNDS:-3}
SUSTAINED=${SUSTAINED:-1}
COOL=${COOL:-2}
bench=$BUILD/benchmarks/bench_cuda_ops
if [[ ! -x $bench ]] || ! command -v nvidia-smi >/dev/null || ! python3 -c 'import torch' 2>/dev/null; then
  echo "tf32_ab: needs $bench, nvidia-smi and PyTorch: skipped"
  exit 77
fi
tmp=$(mktemp -d)
sampler=""
trap '[[ -n $sampler ]] && kill "$sampler" 2>/dev/null; rm -rf "$tmp"' EXIT
# PyTorch's turn: the same loop as tessera's time_iterations (3 warm-ups, then synchronised
# iterations until their event times add up to the duration), prints "<mean ms> <iterations>".
cat >"$tmp/torch_mm.py" <<'PY'
import sys, torch
torch.backends.cuda.matmul.allow_tf32 = True
a = torch.randn(4096, 4096, device="cuda"); b = torch.randn(4096, 4096, device="cuda")
for _ in range(3): a @ b
torch.cuda.synchronize()
total, n = 0.0, 0
while total < float(sys.argv[1]) * 1e3:
    s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
    s.record(); a @ b; e.record(); e.synchronize(); total += s.elapsed_time(e); n += 1
print("%.5f %d" % (total / n, n))
PY
# Google Benchmark's JSON → "<mean ms> <iterations>".
cat >"$tmp/gb.py" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))["benchmarks"][0]
scale = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]
print("%.5f %d" % (b["real_time"] * scale, b["iterations"]))
PY
sample_start() {
  nvidia-smi --query-gpu=clocks.sm,power.draw,temperature.gpu --format=csv,noheader,nounits \
    -lms 100 >"$tmp/card.csv" 2>/dev/null &
  sampler=$!
}
sample_stop() {
  kill "$sampler" 2>/dev/null
  wait "$sampler" 2>/dev/null
  sampler=""
  python3 - "$tmp/card.csv" <<'PY'
import statistics, sys
rows = []
for line in open(sys.argv[1]):
    try:
        rows.append([float(v) for v in line.strip().split(",")[:3]])
    except ValueError:
        pass
if rows:
    print("sm_mhz=%.0f power_w=%.0f temp_c=%.0f samples=%d" % (
        statistics.median(r[0] for r in rows), max(r[1] for r in rows), max(r[2] for r in rows), len(rows)))
else:
    print("sm_mhz=? power_w=? temp_c=? samples=0")
PY
}
# turn <mode> <side> <round> <seconds>: one timed turn; appends its ms to $tmp/<mode>_<side>.
turn() {
  local mode=$1 side=$2 round=$3 secs=$4 res card log=()
  sleep "$COOL"
  if [[ -n ${CUBLASLT_LOG:-} && $mode == burst && $round == 1 ]]; then
    log=(env CUBLASLT_LOG_LEVEL=2 CUBLASLT_LOG_FILE="$tmp/lt_$side.log")
  fi
  sample_start
  if [[ $side == tessera ]]; then
    "${log[@]}" "$bench" --benchmark_filter='^matmul_4096_tf32/' --benchmark_min_time="$secs" \
      --benchmark_format=json >"$tmp/t.json" 2>/dev/null && res=$(python3 "$tmp/gb.py" "$tmp/t.json")
  else
    res=$("${log[@]}" python3 "$tmp/torch_mm.py" "$secs")
  fi
  local rc=$?
  card=$(sample_stop)
  if ((rc != 0)) || [[ -z ${res:-} ]]; then
    echo "tf32_ab: $side run failed ($mode, round $round)"
    exit 1
  fi
  local ms=${res% *} iters=${res#* }
  echo "AB mode=$mode side=$side round=$round ms=$ms iters=$iters tflops=$(python3 -c "print('%.1f' % (2*4096**3/($ms*1e-3)/1e12))") $card"
  echo "$ms" >>"$tmp/${mode}_$side"
  if [[ -n ${log[*]} && -f $tmp/lt_$side.log ]]; then
    echo "--- cuBLASLt calls ($side, first 20 matmul lines)"
    grep -i 'matmul' "$tmp/lt_$side.log" | head -20
  fi
}
for ((i = 1; i <= ROUNDS; ++i)); do
  # The order alternates with the round, so neither side always runs on a cooler card.
  if ((i % 2)); then sides=(tessera torch); else sides=(torch tessera); fi
  for side in "${sides[@]}"; do turn burst "$side" "$i" 0.02; done
  for side in "${sides[@]}"; do turn sustained "$side" "$i" "$SUSTAINED"; done
done
for mode in burst sustained; do
  python3 - "$tmp/${mode}_tessera" "$tmp/${mode}_torch" "$mode" <<'PY'
import statistics, sys
a = statistics.median(float(v) for v in open(sys.argv[1]))
b = statistics.median(float(v) for v in open(sys.argv[2]))
print("RESULT case=matmul_4096_tf32_%s tessera=%.4f torch=%.4f unit=ms ratio=%.3f" % (sys.argv[3], a, b, a / b))
PY
done

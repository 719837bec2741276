#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The 4096³ TF32 matmul, tessera and PyTorch taking turns (ROUNDS times each), with the card's
# SM clock, power and temperature read after every turn: tells a real speed gap from one that
# comes from the order the programs ran in (clocks falling as the card heats or hits its power
# limit). One `AB side=<tessera|torch> round=<i> ms=... tflops=... sm_mhz=... power_w=...
# temp_c=...` line per turn, then `RESULT case=matmul_4096_tf32_ab tessera=<median ms>
# torch=<median ms> unit=ms ratio=...`.
#   BUILD=<build dir with benchmarks/bench_cuda_ops> [ROUNDS=3] benchmarks/compare/tf32_ab.sh
# Exit 77 without a GPU, PyTorch or the benchmark program.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD=${BUILD:-build/device}
ROUNDS=${ROUNDS:-3}
bench=$BUILD/benchmarks/bench_cuda_ops
if [[ ! -x $bench ]] || ! command -v nvidia-smi >/dev/null || ! python3 -c 'import torch' 2>/dev/null; then
  echo "tf32_ab: needs $bench, nvidia-smi and PyTorch: skipped"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/torch_mm.py" <<'PY'
import statistics, torch
torch.backends.cuda.matmul.allow_tf32 = True
a = torch.randn(4096, 4096, device="cuda"); b = torch.randn(4096, 4096, device="cuda")
for _ in range(5): a @ b
torch.cuda.synchronize()
t = []
for _ in range(50):
    s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
    s.record(); a @ b; e.record(); e.synchronize(); t.append(s.elapsed_time(e))
print("%.5f" % statistics.median(t))
PY
card() {
  nvidia-smi --query-gpu=clocks.sm,power.draw,temperature.gpu --format=csv,noheader,nounits |
    head -1 | awk -F', *' '{printf "sm_mhz=%s power_w=%s temp_c=%s", $1, $2, $3}'
}
declare -a tes tor
for ((i = 1; i <= ROUNDS; ++i)); do
  "$bench" --benchmark_filter='^matmul_4096_tf32/' --benchmark_min_time=1 \
    --benchmark_format=json >"$tmp/t.json" 2>/dev/null || { echo "tf32_ab: tessera run failed"; exit 1; }
  ms=$(python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["benchmarks"][0]; print("%.5f" % (b["real_time"] * {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]))' "$tmp/t.json") ||
    { echo "tf32_ab: no matmul_4096_tf32 result in the benchmark's output"; exit 1; }
  echo "AB side=tessera round=$i ms=$ms tflops=$(python3 -c "print('%.1f' % (2*4096**3/($ms*1e-3)/1e12))") $(card)"
  tes+=("$ms")
  ms=$(python3 "$tmp/torch_mm.py") || { echo "tf32_ab: torch run failed"; exit 1; }
  echo "AB side=torch round=$i ms=$ms tflops=$(python3 -c "print('%.1f' % (2*4096**3/($ms*1e-3)/1e12))") $(card)"
  tor+=("$ms")
done
python3 - "${tes[*]}" "${tor[*]}" <<'PY'
import statistics, sys
a = statistics.median(map(float, sys.argv[1].split())); b = statistics.median(map(float, sys.argv[2].split()))
print("RESULT case=matmul_4096_tf32_ab tessera=%.4f torch=%.4f unit=ms ratio=%.3f" % (a, b, a / b))
PY

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tessera's spectral convolution and 2-d real FFTs against LibTorch on the CPU, side by side in
# one run, one thread each (the method of benchmarks/compare/libtorch_cpu.sh, for the cases of
# this folder only, so it can run without touching that script):
#   (a) builds bench_spectral_spectral_conv (preset `bench`, that target only) and the LibTorch
#       program libtorch/spectral_conv_libtorch.cpp (its own C++17 CMake project);
#   (b) waits for the machine to go quiet, then runs both sides in alternating rounds with
#       OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive, each case in a
#       process of its own;
#   (c) prints per case the median over all repetitions,
#       RESULT case=<name> tessera=<value> libtorch=<value> unit=ms ratio=<tessera/libtorch>
#       then the min–max spread and the CPU time other processes took meanwhile.
# Cases: spectral_conv_fwd_bwd, spectral_conv_forward, rfft2, irfft2.
#
# Environment knobs: ROUNDS [3], REPS [5], MIN_TIME [0.5], WARMUP [0.3], METRIC [real|cpu],
# WAIT_IDLE [120] seconds, IDLE_BUSY [0.05], SKIP_BUILD [0], OUT_DIR.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

ROUNDS=${ROUNDS:-3}
REPS=${REPS:-5}
MIN_TIME=${MIN_TIME:-0.5}
WARMUP=${WARMUP:-0.3}
METRIC=${METRIC:-real}
WAIT_IDLE=${WAIT_IDLE:-120}
IDLE_BUSY=${IDLE_BUSY:-0.05}
SKIP_BUILD=${SKIP_BUILD:-0}
OUT_DIR=${OUT_DIR:-$root/build/compare-results/spectral-$(date -u +%Y%m%dT%H%M%SZ)}

say() { echo "compare_libtorch.sh: $*" >&2; }

bench=build/bench/benchmarks/bench_spectral_spectral_conv
torch_build=build/compare-libtorch-spectral
torch_exe=$torch_build/spectral_conv_libtorch
if [[ $SKIP_BUILD != 1 ]]; then
  say "building $bench (preset bench)"
  cmake --preset bench >/dev/null
  cmake --build --preset bench --target bench_spectral_spectral_conv >&2
  say "building the LibTorch side (C++17) in $torch_build"
  cmake -S benchmarks/spectral/libtorch -B "$torch_build" -G Ninja >/dev/null
  cmake --build "$torch_build" -j2 >&2
fi
for exe in "$bench" "$torch_exe"; do
  [[ -x $exe ]] || { say "missing $exe (build failed?)"; exit 1; }
done

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_WAIT_POLICY=passive
mkdir -p "$OUT_DIR"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain -- include 2>/dev/null) ]]; then commit+="+dirty-include"; fi
export commit ROUNDS REPS MIN_TIME WARMUP METRIC WAIT_IDLE IDLE_BUSY OUT_DIR bench torch_exe

python3 - <<'PY'
import json, os, re, statistics, subprocess, sys, time

env = os.environ
rounds, reps, metric = int(env["ROUNDS"]), int(env["REPS"]), env["METRIC"]
out_dir = env["OUT_DIR"]
ncpu = os.cpu_count() or 1
CASES = {  # case: tessera benchmark name
    "spectral_conv_fwd_bwd": "BM_SpectralConvFwdBwdFloat",
    "spectral_conv_forward": "BM_SpectralConvForwardFloat",
    "rfft2": "BM_Rfft2Float",
    "irfft2": "BM_Irfft2Float",
}
TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
samples = {c: {"tessera": [], "libtorch": []} for c in CASES}

def log(msg):
    print("compare_libtorch.sh: " + msg, file=sys.stderr, flush=True)

def cpu_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)

deadline = time.time() + float(env["WAIT_IDLE"])
while True:
    b0, t0 = cpu_ticks(); time.sleep(5); b1, t1 = cpu_ticks()
    busy = (b1 - b0) / max(1, t1 - t0)
    if busy <= float(env["IDLE_BUSY"]):
        log(f"machine idle ({busy:.1%} busy), measuring"); break
    if time.time() >= deadline:
        log(f"WARNING: machine still {busy:.1%} busy; measuring anyway (compare ratios only)"); break
    log(f"machine {busy:.1%} busy, waiting")

# One process per case on both sides: the heap left behind by one case (what malloc has
# trimmed or kept) changes the page faults of the next, by up to 50 % of a case's time.
def run_tessera(rnd):
    for case, name in CASES.items():
        out = f"{out_dir}/tessera.{case}.round{rnd}.json"
        subprocess.run([env["bench"], f"--benchmark_filter=^{name}$",
                        f"--benchmark_repetitions={reps}", f"--benchmark_min_time={env['MIN_TIME']}",
                        f"--benchmark_min_warmup_time={env['WARMUP']}",
                        f"--benchmark_out={out}", "--benchmark_out_format=json"],
                       check=True, stdout=subprocess.DEVNULL)
        for bm in json.load(open(out))["benchmarks"]:
            if bm.get("run_type") == "iteration" and bm["run_name"] == name:
                t = bm["real_time" if metric == "real" else "cpu_time"]
                samples[case]["tessera"].append(t * TO_MS[bm["time_unit"]])

def run_libtorch(rnd):
    for case in CASES:
        res = subprocess.run([env["torch_exe"], "--reps", str(reps), "--min-time", env["MIN_TIME"],
                              "--warmup", env["WARMUP"], "--case", case],
                             check=True, capture_output=True, text=True)
        open(f"{out_dir}/libtorch.{case}.round{rnd}.txt", "w").write(res.stdout + res.stderr)
        for line in res.stdout.splitlines():
            if line.startswith("SAMPLE"):
                kv = dict(re.findall(r'(\w+)=(\S+)', line))
                samples[kv["case"]]["libtorch"].append(float(kv[metric]))

self0 = os.times(); b0, _ = cpu_ticks(); wall0 = time.time()
for rnd in range(1, rounds + 1):
    log(f"round {rnd}/{rounds}")
    for run in ([run_tessera, run_libtorch] if rnd % 2 else [run_libtorch, run_tessera]):
        run(rnd)
wall = time.time() - wall0; b1, _ = cpu_ticks(); self1 = os.times()
ours = sum(self1[:4]) - sum(self0[:4])
foreign = max(0.0, (b1 - b0) / os.sysconf("SC_CLK_TCK") - ours)

for case in CASES:
    t, l = samples[case]["tessera"], samples[case]["libtorch"]
    if t and l:
        mt, ml = statistics.median(t), statistics.median(l)
        print(f"RESULT case={case} tessera={mt:.4g} libtorch={ml:.4g} unit=ms ratio={mt / ml:.3f}")
for case in CASES:
    t, l = samples[case]["tessera"], samples[case]["libtorch"]
    if t and l:
        print(f"SPREAD case={case} tessera_min={min(t):.4g} tessera_max={max(t):.4g} "
              f"libtorch_min={min(l):.4g} libtorch_max={max(l):.4g} unit=ms samples={len(t)}+{len(l)}")
print(f"RUN metric={metric} rounds={rounds} reps={reps} wall={wall:.0f}s foreign_cpu={foreign:.1f}s "
      f"({foreign / (wall * ncpu):.1%} of {ncpu} CPUs) tessera={env['commit']} raw={out_dir}")
json.dump(samples, open(f"{out_dir}/samples.json", "w"), indent=1)
PY

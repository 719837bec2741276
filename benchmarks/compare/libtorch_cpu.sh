#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tessera against LibTorch on the CPU, side by side in one run, one thread each:
#   (a) installs the peers (scripts/install-deps --compare, or apt-get), idempotently;
#   (b) builds tessera's benchmarks (preset `bench`) and the LibTorch program
#       (benchmarks/compare/libtorch_cpu.cpp, its own C++17 CMake project in libtorch/);
#   (c) waits for the machine to be idle, then runs both sides in alternating rounds with
#       OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive (LibTorch also calls
#       torch::set_num_threads(1)), each case warmed up and repeated;
#   (d) prints, per case, the median of all repetitions:
#       RESULT case=<name> tessera=<value> libtorch=<value> unit=<unit> ratio=<tessera/libtorch>
#       followed by the min–max spread, the same medians in the other time metric
#       (CROSSCHECK), the BLAS LibTorch loaded, and the share of the CPUs other processes
#       took during each round (rounds above MAX_FOREIGN are discarded and rerun).
# Cases: small_ops_nograd (ns/op), small_ops_fwd_bwd (ns/op), mlp_train_step (ms),
# matmul_1024 (ms; GFLOP/s on the line after the RESULT lines); the FNO spectral convolution of
# benchmarks/spectral/cases.hpp, (16, 32, 64, 64), 12 modes, 32 -> 32 (LibTorch side:
# libtorch_spectral.cpp): spectral_conv_fwd_bwd (input and weights requiring grad),
# spectral_conv_forward (no grad), rfft2, irfft2 (ms), each case in a process of its own.
#
# Environment knobs (defaults in brackets):
#   ROUNDS [3]       alternating rounds (tessera first in odd rounds, LibTorch first in even)
#   REPS [5]         repetitions per case and round; the median is over ROUNDS×REPS samples
#   MIN_TIME [0.5]   seconds per repetition
#   WARMUP [0.3]     warm-up seconds before each case
#   METRIC [real]    real (wall clock) or cpu (process/thread CPU time)
#   WAIT_IDLE [600]  seconds to wait, before each round, for other processes to go quiet
#   IDLE_BUSY [0.05] "quiet": at most this fraction of the CPUs busy over 5 s
#   MAX_FOREIGN [0.05] a round in which other processes used more than this fraction of the
#                    CPUs is discarded and rerun (at most 3×ROUNDS rounds in all)
#   FULL [0]         1: also run tessera's ops/ad benchmark programs in full and keep the output
#   SKIP_BUILD [0]   1: use the existing builds
#   OUT_DIR          where raw outputs go [build/compare-results/<UTC time>]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

ROUNDS=${ROUNDS:-3}
REPS=${REPS:-5}
MIN_TIME=${MIN_TIME:-0.5}
WARMUP=${WARMUP:-0.3}
METRIC=${METRIC:-real}
WAIT_IDLE=${WAIT_IDLE:-600}
MAX_FOREIGN=${MAX_FOREIGN:-0.05}
IDLE_BUSY=${IDLE_BUSY:-0.05}
FULL=${FULL:-0}
SKIP_BUILD=${SKIP_BUILD:-0}
OUT_DIR=${OUT_DIR:-$root/build/compare-results/$(date -u +%Y%m%dT%H%M%SZ)}

say() { echo "libtorch_cpu.sh: $*" >&2; }

# --- (a) dependencies ------------------------------------------------------------------------
if [[ -x scripts/install-deps ]]; then
  scripts/install-deps --compare >&2
else
  need=()
  for pkg in libtorch-dev libopenblas0-pthread libbenchmark-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
      need+=("$pkg")
  done
  if ((${#need[@]})); then
    sudo=()
    ((EUID == 0)) || sudo=(sudo)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends "${need[@]}"
  fi
fi

# --- (b) builds ------------------------------------------------------------------------------
bench_dir=build/bench/benchmarks
torch_build=build/compare-libtorch
if [[ $SKIP_BUILD != 1 ]]; then
  say "building tessera's benchmarks (preset bench)"
  cmake --preset bench >/dev/null
  # Only the programs used here: another module's benchmark that fails to build must not stop us.
  cmake --build --preset bench --target bench_ad_small_ops bench_ad_mlp bench_ops_matmul \
    bench_ops_elementwise bench_spectral_spectral_conv >&2
  say "building the LibTorch side (C++17) in $torch_build"
  cmake -S benchmarks/compare/libtorch -B "$torch_build" -G Ninja >/dev/null
  cmake --build "$torch_build" -j2 >&2
fi
for exe in "$bench_dir/bench_ad_small_ops" "$bench_dir/bench_ad_mlp" \
  "$bench_dir/bench_ops_matmul" "$torch_build/compare_libtorch_cpu" \
  "$bench_dir/bench_spectral_spectral_conv" "$torch_build/compare_libtorch_spectral"; do
  [[ -x $exe ]] || { say "missing $exe (build failed?)"; exit 1; }
done

# --- (c) run ---------------------------------------------------------------------------------
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_WAIT_POLICY=passive
mkdir -p "$OUT_DIR"
# Which tessera was measured: the commit, and whether include/ had uncommitted edits.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain -- include 2>/dev/null) ]]; then commit+="+dirty-include"; fi
export commit MAX_FOREIGN ROUNDS REPS MIN_TIME WARMUP METRIC WAIT_IDLE IDLE_BUSY FULL OUT_DIR bench_dir torch_build

python3 - <<'PY'
import json, os, re, statistics, subprocess, sys, time

env = os.environ
rounds, reps = int(env["ROUNDS"]), int(env["REPS"])
min_time, warmup = env["MIN_TIME"], env["WARMUP"]
metric = env["METRIC"]
max_foreign = float(env["MAX_FOREIGN"])
out_dir, bench_dir, torch_build = env["OUT_DIR"], env["bench_dir"], env["torch_build"]
ncpu = os.cpu_count() or 1
hz = os.sysconf("SC_CLK_TCK")

def log(msg):
    print("libtorch_cpu.sh: " + msg, file=sys.stderr, flush=True)

def cpu_ticks():
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)

def busy_fraction(seconds):
    b0, t0 = cpu_ticks()
    time.sleep(seconds)
    b1, t1 = cpu_ticks()
    return (b1 - b0) / max(1, t1 - t0)

def wait_idle():
    """Waits until other processes leave the CPUs alone (other agents' builds distort timings)."""
    deadline = time.time() + float(env["WAIT_IDLE"])
    while True:
        busy = busy_fraction(5)
        if busy <= float(env["IDLE_BUSY"]):
            return
        if time.time() >= deadline:
            log(f"WARNING: machine still {busy:.1%} busy; measuring anyway")
            return
        log(f"machine {busy:.1%} busy, waiting")

def our_cpu():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system

GB_CASES = {
    # case: (binary, benchmark name, divisor (ops per iteration), case time unit)
    "small_ops_nograd": ("bench_ad_small_ops", "BM_SmallOpsNoGradFloat", 200, "ns"),
    "small_ops_fwd_bwd": ("bench_ad_small_ops", "BM_SmallOpsFwdBwdFloat", 200, "ns"),
    "mlp_train_step": ("bench_ad_mlp", "BM_MlpTrainStepFloat", 1, "ms"),
    "matmul_1024": ("bench_ops_matmul", "BM_MatmulFloat/m:1024/n:1024/k:1024", 1, "ms"),
    "spectral_conv_fwd_bwd": ("bench_spectral_spectral_conv", "BM_SpectralConvFwdBwdFloat", 1, "ms"),
    "spectral_conv_forward": ("bench_spectral_spectral_conv", "BM_SpectralConvForwardFloat", 1, "ms"),
    "rfft2": ("bench_spectral_spectral_conv", "BM_Rfft2Float", 1, "ms"),
    "irfft2": ("bench_spectral_spectral_conv", "BM_Irfft2Float", 1, "ms"),
}
UNITS = {"small_ops_nograd": "ns/op", "small_ops_fwd_bwd": "ns/op",
         "mlp_train_step": "ms", "matmul_1024": "ms"}
# Cases run one process per case on both sides (the heap one case leaves behind changes the
# page faults of the next by up to 50 % of its time); LibTorch side: compare_libtorch_spectral.
OWN_PROCESS = ("spectral_conv_fwd_bwd", "spectral_conv_forward", "rfft2", "irfft2")
UNITS.update({c: "ms" for c in OWN_PROCESS})
TO_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
SIDES = ("tessera", "libtorch")
METRICS = ("real", "cpu")
info = []  # INFO lines of the first LibTorch run

def empty():
    return {m: {c: {s: [] for s in SIDES} for c in GB_CASES} for m in METRICS}

def run_tessera(tag, into):
    by_binary = {}
    for case, (binary, name, _, _) in GB_CASES.items():
        key = f"{binary}.{case}" if case in OWN_PROCESS else binary
        by_binary.setdefault(key, []).append(re.escape(name))
    for key, names in by_binary.items():
        binary = key.split(".")[0]
        out = f"{out_dir}/{key}.{tag}.json"
        cmd = [f"{bench_dir}/{binary}", f"--benchmark_filter=^({'|'.join(names)})$",
               f"--benchmark_repetitions={reps}", f"--benchmark_min_time={min_time}",
               f"--benchmark_min_warmup_time={warmup}", "--benchmark_format=json",
               f"--benchmark_out={out}", "--benchmark_out_format=json"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            data = json.load(f)
        for case, (b, name, div, unit) in GB_CASES.items():
            if b != binary or (case in OWN_PROCESS and key != f"{binary}.{case}"):
                continue
            for bm in data["benchmarks"]:
                if bm.get("run_type") != "iteration" or bm["run_name"] != name:
                    continue
                for m, key in (("real", "real_time"), ("cpu", "cpu_time")):
                    secs = bm[key] * TO_SECONDS[bm["time_unit"]]
                    into[m][case]["tessera"].append(secs / TO_SECONDS[unit] / div)

def run_libtorch(tag, into):
    cmd = [f"{torch_build}/compare_libtorch_cpu", "--reps", str(reps), "--min-time", min_time,
           "--warmup", warmup]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    with open(f"{out_dir}/libtorch.{tag}.txt", "w") as f:
        f.write(res.stdout + res.stderr)
    for line in res.stdout.splitlines():
        kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
        if line.startswith("SAMPLE"):
            for m in METRICS:
                into[m][kv["case"]]["libtorch"].append(float(kv[m]))
    if not info:
        info.extend(line for line in res.stdout.splitlines() if line.startswith("INFO"))
    for case in OWN_PROCESS:
        res = subprocess.run([f"{torch_build}/compare_libtorch_spectral", "--reps", str(reps),
                              "--min-time", min_time, "--warmup", warmup, "--case", case],
                             check=True, capture_output=True, text=True)
        with open(f"{out_dir}/libtorch.{case}.{tag}.txt", "w") as f:
            f.write(res.stdout + res.stderr)
        for line in res.stdout.splitlines():
            kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
            if line.startswith("SAMPLE"):
                for m in METRICS:
                    into[m][kv["case"]]["libtorch"].append(float(kv[m]))

# Rounds alternate which side goes first. A round during which other processes used more
# than MAX_FOREIGN of the CPUs is discarded and run again (up to 3×ROUNDS attempts).
kept, kept_rounds, attempts, foreign_log = empty(), 0, 0, []
wall0 = time.time()
with open("/proc/loadavg") as f:
    load_before = f.read().split()[0]
while kept_rounds < rounds and attempts < 3 * rounds:
    attempts += 1
    wait_idle()
    log(f"round {attempts} (kept so far: {kept_rounds}/{rounds})")
    this = empty()
    c0, (b0, t0), w0 = our_cpu(), cpu_ticks(), time.time()
    order = (run_tessera, run_libtorch) if attempts % 2 else (run_libtorch, run_tessera)
    for run in order:
        run(f"round{attempts}", this)
    c1, (b1, t1), w1 = our_cpu(), cpu_ticks(), time.time()
    foreign = max(0.0, (b1 - b0) / hz - (c1 - c0)) / max(1e-9, (w1 - w0) * ncpu)
    foreign_log.append(foreign)
    if foreign > max_foreign:
        log(f"round {attempts}: other processes used {foreign:.1%} of the CPUs; discarded")
        continue
    kept_rounds += 1
    for m in METRICS:
        for c in GB_CASES:
            for s in SIDES:
                kept[m][c][s] += this[m][c][s]
if kept_rounds == 0:
    log("WARNING: no quiet round; reporting the last (noisy) one")
    kept = this
with open("/proc/loadavg") as f:
    load_after = f.read().split()[0]

# --- (d) report ---
def fmt(v):
    return f"{v:.4g}"

def medians(m, case):
    t, l = kept[m][case]["tessera"], kept[m][case]["libtorch"]
    return (statistics.median(t), statistics.median(l)) if t and l else None

for case in GB_CASES:
    r = medians(metric, case)
    if r is None:
        log(f"no samples for {case}")
        continue
    print(f"RESULT case={case} tessera={fmt(r[0])} libtorch={fmt(r[1])} "
          f"unit={UNITS[case]} ratio={r[0] / r[1]:.3f}")
for case in GB_CASES:
    t, l = kept[metric][case]["tessera"], kept[metric][case]["libtorch"]
    if t and l:
        print(f"SPREAD case={case} tessera_min={fmt(min(t))} tessera_max={fmt(max(t))} "
              f"libtorch_min={fmt(min(l))} libtorch_max={fmt(max(l))} unit={UNITS[case]} "
              f"samples={len(t)}+{len(l)}")
other = "cpu" if metric == "real" else "real"
for case in GB_CASES:
    r = medians(other, case)
    if r:
        print(f"CROSSCHECK metric={other} case={case} tessera={fmt(r[0])} libtorch={fmt(r[1])} "
              f"unit={UNITS[case]} ratio={r[0] / r[1]:.3f}")
r = medians(metric, "matmul_1024")
if r:
    flop = 2 * 1024**3
    print(f"GFLOPS case=matmul_1024 tessera={flop / (r[0] * 1e-3) / 1e9:.1f} "
          f"libtorch={flop / (r[1] * 1e-3) / 1e9:.1f} unit=GFLOP/s")
for line in info:
    print(line)
print(f"RUN metric={metric} rounds_kept={kept_rounds}/{attempts} reps={reps} "
      f"min_time={min_time}s warmup={warmup}s wall={time.time() - wall0:.0f}s "
      f"loadavg_before={load_before} loadavg_after={load_after} "
      f"foreign_cpu_per_round={','.join(f'{x:.1%}' for x in foreign_log)} "
      f"tessera={env['commit']} raw={out_dir}")
with open(f"{out_dir}/samples.json", "w") as f:
    json.dump(kept, f, indent=1)
PY

# Optional: the ops/ad programs in full, console output kept for docs/benchmarks.md.
if [[ $FULL == 1 ]]; then
  for exe in "$bench_dir"/bench_ops_elementwise "$bench_dir"/bench_ops_matmul \
    "$bench_dir"/bench_ad_small_ops "$bench_dir"/bench_ad_mlp; do
    name=$(basename "$exe")
    say "running $name (all benchmarks)"
    "$exe" --benchmark_min_warmup_time="$WARMUP" >"$OUT_DIR/$name.txt" 2>&1
  done
  say "full outputs in $OUT_DIR"
fi

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tessera's DirectLiNGAM against the Python `lingam` package (as shipped, single-threaded by
# design) on the same generated data, in one run:
#   (a) installs lingam from PyPI if missing (pip), builds the lingam example (preset bench);
#   (b) for each case, generates LiNGAM data (lingam_cpu.py generate), times tessera (2 threads,
#       OMP_WAIT_POLICY=passive) and lingam, repeats tessera REPS times (median);
#   (c) prints one line per case:
#       RESULT case=<name> tessera=<s> lingam=<s> unit=s ratio=<tessera/lingam> same_order=<0|1>
#              tessera_cpu=<s> lingam_cpu=<s> cpu_ratio=<tessera_cpu/lingam_cpu>
#       (wall-clock seconds first, as the issue defines the ratio; then process CPU seconds over
#       all threads, which a loaded machine distorts less — tessera's counts both its threads,
#       so cpu_ratio is the conservative figure).
# Cases: order_n5000_d100 (whole causal ordering) and fit_n2000_d50 (whole fit including the
# adaptive-lasso adjacency), tessera in mixed precision (FP32 transcendentals, FP64 sums; the
# adjacency is always FP64), and both again in full FP64 as *_fp64.
# Knobs: REPS [3], THREADS [2], SKIP_BUILD [0], OUT_DIR [build/compare-lingam].
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
REPS=${REPS:-3}
THREADS=${THREADS:-2}
SKIP_BUILD=${SKIP_BUILD:-0}
OUT_DIR=${OUT_DIR:-$root/build/compare-lingam}
mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/lingam_*.txt
say() { echo "lingam_cpu.sh: $*" >&2; }

# --- (a) peers and build
scripts/install-deps >&2
python3 -c "import lingam" 2>/dev/null || {
  say "installing the lingam package from PyPI"
  python3 -m pip install --quiet lingam || python3 -m pip install --quiet --break-system-packages lingam
}
lingam_version=$(python3 -c "import lingam; print(lingam.__version__)")
if [[ $SKIP_BUILD != 1 ]]; then
  cmake --preset bench -DTESSERA_BUILD_EXAMPLES=ON >&2
  cmake --build --preset bench --target lingam >&2
fi
exe=$(find build/bench/examples -type f -name lingam -perm -u+x | head -n 1)
[[ -x $exe ]] || { say "lingam example not built"; exit 1; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# tessera_run CSV WHOLE EXTRA...: prints "<wall s> <cpu s> <order>" (order + adjacency when
# WHOLE=1; CPU time of the process over all threads).
tessera_run() {
  local csv=$1 whole=$2
  shift 2
  local out
  out=$(OMP_NUM_THREADS=$THREADS OMP_WAIT_POLICY=passive "$exe" --csv "$csv" --header no \
    --out "$OUT_DIR/out" "$@" $([[ $whole == 1 ]] || echo --order-only))
  local t_order t_adj c_order c_adj order
  t_order=$(sed -n 's/^| causal order time | \([0-9.e+-]*\) s.*/\1/p' <<<"$out")
  t_adj=$(sed -n 's/^| adjacency (adaptive lasso) time | \([0-9.e+-]*\) s.*/\1/p' <<<"$out")
  c_order=$(sed -n 's/^| causal order CPU time | \([0-9.e+-]*\) s.*/\1/p' <<<"$out")
  c_adj=$(sed -n 's/^| adjacency CPU time | \([0-9.e+-]*\) s.*/\1/p' <<<"$out")
  order=$(sed -n 's/^order: //p' <<<"$out" | sed 's/x//g')
  if [[ $whole == 1 ]]; then
    echo "$(awk -v a="$t_order" -v b="$t_adj" 'BEGIN {print a + b}') $(awk -v a="$c_order" -v b="$c_adj" 'BEGIN {print a + b}') $order"
  else
    echo "$t_order $c_order $order"
  fi
}

run_case() {
  local name=$1 n=$2 d=$3 whole=$4
  shift 4
  local csv="$OUT_DIR/data_n${n}_d${d}.csv"
  [[ -s $csv ]] || python3 benchmarks/compare/lingam_cpu.py generate "$n" "$d" 1 "$csv"
  local times=() ctimes=() torder="" r
  for ((i = 0; i < REPS; ++i)); do
    r=$(tessera_run "$csv" "$whole" "$@")
    read -r tw tc torder <<<"$r"
    times+=("$tw")
    ctimes+=("$tc")
  done
  local tt ct
  tt=$(printf '%s\n' "${times[@]}" | median)
  ct=$(printf '%s\n' "${ctimes[@]}" | median)
  local py mode cache
  mode=$([[ $whole == 1 ]] && echo fit || echo order)
  cache="$OUT_DIR/lingam_${mode}_n${n}_d${d}.txt"  # one reference run per data set and mode
  [[ -s $cache ]] || python3 benchmarks/compare/lingam_cpu.py "$mode" "$csv" >"$cache"
  py=$(cat "$cache")
  local tp cp porder
  tp=$(sed -n 's/^seconds=//p' <<<"$py")
  cp=$(sed -n 's/^cpu_seconds=//p' <<<"$py")
  porder=$(sed -n 's/^order=//p' <<<"$py")
  local same=0
  [[ $(echo $torder) == $(echo $porder) ]] && same=1
  echo "RESULT case=$name tessera=$tt lingam=$tp unit=s ratio=$(awk -v a="$tt" -v b="$tp" 'BEGIN {printf "%.4g", a / b}') same_order=$same tessera_cpu=$ct lingam_cpu=$cp cpu_ratio=$(awk -v a="$ct" -v b="$cp" 'BEGIN {printf "%.4g", a / b}')"
  say "$name: tessera runs ${times[*]} s wall, ${ctimes[*]} s CPU (medians $tt, $ct); lingam $tp s wall, $cp s CPU"
}

say "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%FT%TZ); lingam $lingam_version; load $(cut -d' ' -f1-3 /proc/loadavg)"
run_case order_n5000_d100 5000 100 0 --mixed-precision
run_case order_n5000_d100_fp64 5000 100 0
run_case fit_n2000_d50 2000 50 1 --mixed-precision
run_case fit_n2000_d50_fp64 2000 50 1
say "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checks fno_deq's training curves on tiny CPU runs (ctest example_fno_deq_curves):
#   1. FNO and FNO-DEQ, 3 epochs evaluated every 2: curves_<model>.csv hold epochs 1-3, a test
#      error at epochs 2 and 3 only, the DEQ's residual with it; the last epoch's test error is
#      the one the TRAIN line reports (the same model, evaluated twice);
#   2. FNO-WT alone into the same folder, same settings: curves.svg draws all three models
#      (the protocol trains each model in a process of its own);
#   3. another run's settings: the earlier files are named and not drawn;
#   4. a corrupt curve file is named and not drawn, and the run still succeeds;
#   5. curves.svg is well-formed XML (when python3 is there to parse it);
#   6. a curve that cannot be written is named, and the results table still comes;
#   7. --draw-curves draws the same chart from the curve files alone, and refuses an empty folder
#      and one whose curve file is corrupt or holds no epoch, leaving the chart that is there.
#   examples/fno_deq/curves_check.sh FNO_DEQ_BINARY WORKDIR
set -euo pipefail
(($# == 2)) || { sed -n '3,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bin=$(realpath "$1") work=$2
rm -rf "$work"
mkdir -p "$work"
cd "$work"
fail() { echo "curves_check: $*" >&2; exit 1; }
tiny=(--width 4 --batch 4 --res 12 --ntrain 16 --ntest 8 --modes 3 --epochs 3 --eval-every 2)
"$bin" "${tiny[@]}" --out o --models fno,deq >run1.log 2>&1 || fail "run 1 failed: $(tail -n 3 run1.log)"
for m in fno deq; do
  f=o/curves_$m.csv
  [[ -s $f ]] || fail "no $f"
  grep -qx 'epoch,train_rel_l2,test_rel_l2,train_s,residual' "$f" || fail "$f: no column line"
  # epoch 1: no test error; epochs 2, 3: one (and the DEQ's residual with it).
  awk -F, -v m="$m" '/^[0-9]/ {
      n++; if ($1 != n) bad = bad " epoch " $1 " on row " n
      if ($2 == "nan" || $2 <= 0) bad = bad " train error " $2 " at epoch " $1
      if ((n == 1) != ($3 == "nan")) bad = bad " test error " $3 " at epoch " $1
      if (m == "deq" && (($3 == "nan") != ($5 == "nan"))) bad = bad " residual " $5 " at epoch " $1
      if (m == "fno" && $5 != "nan") bad = bad " a residual for FNO"
    } END { if (n != 3) bad = bad " " n " epochs"; if (bad != "") { print bad; exit 1 } }' "$f" >bad.txt ||
    fail "$f:$(cat bad.txt)"
  last=$(awk -F, '/^3,/ { printf "%.5f", $3 }' "$f")
  said=$(sed -n "s/^TRAIN model=$m .*test_rel_l2=\([^ ]*\).*/\1/p" run1.log)
  [[ -n $said && $last == "$said" ]] || fail "$m: epoch 3's test error $last in $f, $said on the TRAIN line"
done
grep -q 'curves.svg (train and test rel-L2 per epoch, 2 model(s)' run1.log || fail "run 1 does not report 2 curves"

"$bin" "${tiny[@]}" --out o --models wt >run2.log 2>&1 || fail "run 2 failed: $(tail -n 3 run2.log)"
grep -q '3 model(s)' run2.log || fail "run 2 does not draw 3 models: $(grep curves run2.log)"
for name in 'FNO (d=1)' 'FNO-WT' 'FNO-DEQ (phantom)'; do
  grep -qF ">$name</text>" o/curves.svg || fail "curves.svg has no legend entry $name"
done
n=$(grep -c '<circle' o/curves.svg)
((n == 8)) || fail "curves.svg has $n points, not 8 (test errors: 3 models × epochs 2, 3; residuals: the DEQ at both)"
if command -v python3 >/dev/null; then
  python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' o/curves.svg ||
    fail "curves.svg is not well-formed XML"
fi

# --draw-curves redraws the chart from the curve files alone.
cp o/curves.svg trained.svg
rm o/curves.svg
"$bin" --draw-curves o >draw.log 2>&1 || fail "--draw-curves failed: $(cat draw.log)"
grep -q '^drew 3 model(s) into o/curves.svg' draw.log || fail "--draw-curves: $(cat draw.log)"
cmp -s trained.svg o/curves.svg || fail "--draw-curves draws another chart than the run did"
mkdir empty
if "$bin" --draw-curves empty >draw2.log 2>&1; then fail "--draw-curves drew from an empty folder"; fi
grep -q 'no curve file (curves_<model>.csv) drawn' draw2.log || fail "--draw-curves empty: $(cat draw2.log)"
# A folder whose only curve file is corrupt, or holds no epoch, draws nothing and leaves the
# chart that is there as it was.
mkdir keep
cp trained.svg keep/curves.svg
sed 's/^1,0\./1,x./' o/curves_fno.csv >keep/curves_fno.csv
if "$bin" --draw-curves keep >draw3.log 2>&1; then fail "--draw-curves drew from a corrupt file"; fi
grep -q "keep/curves_fno.csv:[0-9]*: 'x\.[0-9]*' is not a number; not drawn" draw3.log ||
  fail "--draw-curves keep: $(cat draw3.log)"
grep -v '^[0-9]' o/curves_fno.csv >keep/curves_fno.csv
if "$bin" --draw-curves keep >draw4.log 2>&1; then fail "--draw-curves drew a curve without epochs"; fi
grep -q 'keep/curves_fno.csv holds no epoch; not drawn' draw4.log || fail "--draw-curves keep: $(cat draw4.log)"
cmp -s trained.svg keep/curves.svg || fail "--draw-curves replaced a chart although it drew nothing"

"$bin" "${tiny[@]}" --out o --models fno --seed 1 >run3.log 2>&1 || fail "run 3 failed: $(tail -n 3 run3.log)"
grep -q 'o/curves_deq.csv is of other settings (.*seed=0.*); not drawn' run3.log ||
  fail "run 3 does not name the other settings' curve: $(grep -i curves run3.log)"
grep -q '1 model(s)' run3.log || fail "run 3 draws other settings' curves"

printf '# settings: x\nepoch,train_rel_l2,test_rel_l2,train_s,residual\n1,0.5,nan,1\n' >o/curves_wt.csv
"$bin" "${tiny[@]}" --out o --models fno --seed 1 >run4.log 2>&1 || fail "a corrupt curve file failed the run"
grep -q 'o/curves_wt.csv:3: expected 5 comma-separated fields' run4.log ||
  fail "the corrupt curve file is not named: $(grep -i curves run4.log)"
# 6: curves that cannot be written (a folder in the way) cost the curves, not the results.
mkdir -p blocked/curves_fno.csv
"$bin" "${tiny[@]}" --out blocked --models fno >run5.log 2>&1 || fail "an unwritable curve failed the run"
grep -q 'blocked/curves_fno.csv: cannot write; the curves are not written' run5.log ||
  fail "the unwritable curve is not named: $(grep -i curves run5.log)"
grep -q '^| FNO (d=1) | ' run5.log || fail "no results table after an unwritable curve"
echo "curves_check: curves written, resumed settings drawn together, other settings and corrupt files left out by name"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checks that the paper protocol may be trained in pieces (protocol.sh, gpu_session.sh) without
# changing its result, on a tiny CPU run of FNO and FNO-DEQ (ctest example_fno_deq_resume_*):
#   1. a run of 3 epochs straight, checkpointing every epoch;
#   2. the same run stopped after its first epoch (--train-seconds), its checkpoint packed into
#      parts (checkpoint_parts.sh), the checkpoint directory removed (a new machine), and
#      protocol.sh resuming it from the parts to the end;
#   3. every parameter and Adam moment of the two runs' last checkpoints has the same bits, and
#      so have their counters and training curves (all but the training seconds);
#   4. corrupt input is refused by name, and nothing is trained from it: a truncated part, a
#      checkpoint file cut short, a state.txt that is not one (or of the version before run
#      identities), a curve short of epochs, a checkpoint of another run (another seed, other
#      data); and keep_parts.sh keeps a returned model's parts only when they match their sha256;
#   5. each save goes to the slot state.txt does not name: the previous checkpoint is intact.
# The DEQ's warm-up (5 unrolled steps, 4 steps an epoch) spans the interruption.
#   examples/fno_deq/resume_check.sh FNO_DEQ_BINARY WORKDIR
set -euo pipefail
(($# == 2)) || { sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bin=$(realpath "$1") work=$2
here=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
rm -rf "$work"
mkdir -p "$work"
cd "$work"
args="--models fno,deq --width 4 --batch 4 --res 12 --ntrain 16 --ntest 8 --modes 3 --epochs 3
      --checkpoint-every 1 --warmup 5"
fail() { echo "resume_check: $*" >&2; exit 1; }
# shellcheck disable=SC2086  # args is a list of arguments
"$bin" $args --checkpoint straight >straight.log 2>&1 || fail "the straight run failed ($(tail -n 3 straight.log))"
# 5: saves after epochs 2 and 4 (an even --checkpoint-every) go to slots a and b: b is named,
# a still holds epoch 2's checkpoint.
# shellcheck disable=SC2086
"$bin" $args --models fno --epochs 4 --checkpoint-every 2 --checkpoint slots >slots.log 2>&1 ||
  fail "the run saving every 2 epochs failed ($(tail -n 3 slots.log))"
[[ $(awk '$1 == "slot" {print $2}' slots/fno/state.txt) == b &&
  $(grep -c '^[0-9]' slots/fno/b/history.csv) == 4 && $(grep -c '^[0-9]' slots/fno/a/history.csv) == 2 ]] ||
  fail "the save after epoch 4 did not leave epoch 2's checkpoint in the other slot"
# shellcheck disable=SC2086
"$bin" $args --checkpoint first --train-seconds 1e-9 >first.log 2>&1 || fail "the first piece failed"
grep -q '^TRAIN model=deq epochs=1 ' first.log || fail "the first piece did not stop after epoch 1"
"$here/checkpoint_parts.sh" pack first parts >/dev/null
rm -rf first

# 4 first, on copies of the parts: nothing of a refused model may be left to train from.
mkdir bad
cp parts/* bad/
last=$(find bad -name 'ck_deq.tgz.*' | sort | tail -n 1)
truncate -s -1 "$last"
if BIN=$bin SCALE=cpu DEVICE=cpu CKDIR=ck_bad PARTS=bad EXTRA="$args" \
  "$here/protocol.sh" fno,deq 1000 >bad.log 2>&1; then
  fail "a truncated part was accepted"
fi
grep -q 'the parts of deq do not match' bad.log || fail "no message names the truncated part: $(tail -n 2 bad.log)"
[[ ! -e ck_bad/deq ]] || fail "a truncated part left a deq checkpoint behind"

# keep_parts.sh (what the agent runs on a device call's returned files) keeps the good parts
# and leaves a model whose parts are cut with the parts kept before.
mkdir -p returned kept
cp parts/* returned/
truncate -s -1 "$(find returned -name 'ck_fno.tgz.*' | sort | tail -n 1)"
echo "stale" >kept/ck_fno.sha256
if PARTS=kept "$here/keep_parts.sh" returned >keep.log 2>&1; then fail "keep_parts.sh kept a cut part"; fi
grep -q 'the parts of fno do not match returned/ck_fno.sha256' keep.log || fail "keep_parts.sh does not name the cut part: $(cat keep.log)"
[[ $(cat kept/ck_fno.sha256) == stale ]] || fail "keep_parts.sh replaced the kept fno parts with cut ones"
cmp -s parts/ck_deq.sha256 kept/ck_deq.sha256 || fail "keep_parts.sh did not keep the good deq parts"

# 2: a new machine resumes from the parts.
BIN=$bin SCALE=cpu DEVICE=cpu CKDIR=ck PARTS=parts EVAL_EVERY=1 EXTRA="$args" \
  "$here/protocol.sh" fno,deq 1000 >resumed.log 2>&1 || fail "the resumed run failed ($(tail -n 3 resumed.log))"
for m in fno deq; do
  grep -q "resumed from .*/ck/$m at epoch 1 " resumed.log || fail "$m did not resume from its parts"
  grep -q "^TRAIN model=$m epochs=3 " resumed.log || fail "$m did not train to epoch 3"
done

# 3: the same bits.
compared=0
for m in fno deq; do
  diff <(grep -v '^loop_s\|^slot' straight/$m/state.txt) <(grep -v '^loop_s\|^slot' ck/$m/state.txt) >/dev/null ||
    fail "$m: the counters differ: $(diff straight/$m/state.txt ck/$m/state.txt | tr '\n' ' ')"
  slot=$(awk '$1 == "slot" {print $2}' straight/$m/state.txt)
  rslot=$(awk '$1 == "slot" {print $2}' ck/$m/state.txt)
  for f in straight/$m/"$slot"/*.npy; do
    cmp -s "$f" "ck/$m/$rslot/$(basename "$f")" || fail "$m: ${f#straight/} differs after the resume"
    compared=$((compared + 1))
  done
done
((compared >= 12)) || fail "only $compared checkpoint files compared"
# The curve (history.csv) spans the resume: every epoch's errors and residual, not its seconds.
for m in fno deq; do
  slot=$(awk '$1 == "slot" {print $2}' straight/$m/state.txt)
  rslot=$(awk '$1 == "slot" {print $2}' ck/$m/state.txt)
  diff <(cut -d, -f1-3,5 "straight/$m/$slot/history.csv") <(cut -d, -f1-3,5 "ck/$m/$rslot/history.csv") \
    >/dev/null || fail "$m: the curve differs after the resume"
  [[ $(grep -c '^[0-9]' "ck/$m/$rslot/history.csv") == 3 ]] || fail "$m: the resumed curve lacks epochs"
done
for m in fno deq; do
  a=$(grep "^TRAIN model=$m " straight.log | grep -o 'test_rel_l2=[^ ]*')
  b=$(grep "^TRAIN model=$m " resumed.log | grep -o 'test_rel_l2=[^ ]*')
  [[ $a == "$b" ]] || fail "$m: $a straight, $b resumed"
done

# 4, on the checkpoint itself: a file cut short, and a state.txt that is not one.
cp -r ck cut
slot=$(awk '$1 == "slot" {print $2}' cut/deq/state.txt)
truncate -s 100 "cut/deq/$slot/p0.npy"
# shellcheck disable=SC2086
if "$bin" $args --checkpoint cut >cut.log 2>&1; then fail "a truncated checkpoint file was accepted"; fi
grep -q "load_npy: cut/deq/$slot/p0.npy: " cut.log || fail "no message names the cut file: $(tail -n 1 cut.log)"
cp -r ck junk
sed -i 's/^slot .*/slot c/' junk/fno/state.txt
# shellcheck disable=SC2086
if "$bin" $args --checkpoint junk >junk.log 2>&1; then fail "a bad state.txt was accepted"; fi
grep -q "junk/fno/state.txt: slot 'c' is neither a nor b" junk.log ||
  fail "no message names the bad state.txt: $(tail -n 1 junk.log)"
cp -r ck old
echo "fno_deq checkpoint 1 slot a" >old/fno/state.txt
# shellcheck disable=SC2086
if "$bin" $args --checkpoint old >old.log 2>&1; then fail "a version-1 state.txt was accepted"; fi
grep -q "old/fno/state.txt: written by an fno_deq that did not record its run" old.log ||
  fail "no message names the version-1 state.txt: $(tail -n 1 old.log)"
# Another run's checkpoint: another seed (other data and weights), other data alone (one
# training target changed in a --data folder), another learning rate.
for other in "--seed 1" "--lr 0.05"; do
  cp -r ck another
  # shellcheck disable=SC2086
  if "$bin" $args $other --checkpoint another >another.log 2>&1; then
    fail "a checkpoint of another run was resumed with $other"
  fi
  grep -q "another/fno/state.txt: written by another run (res=12 .*); this run is res=12 " \
    another.log || fail "no message names the other run ($other): $(tail -n 1 another.log)"
  rm -rf another
done
"$bin" --res 12 --ntrain 16 --ntest 8 --write-data data >/dev/null
# shellcheck disable=SC2086
"$bin" $args --data data --epochs 3 --train-seconds 1e-9 --checkpoint ondata >/dev/null 2>&1 ||
  fail "the run on --data failed"
# One byte in the middle of u_train[3, 5, 5]'s mantissa (16 samples of 12×12 float64 after
# the header).
f=data/u_train.npy
off=$(($(stat -c %s $f) - 16 * 144 * 8 + (3 * 144 + 5 * 12 + 5) * 8 + 3))
printf '\x5a' | dd of=$f bs=1 seek=$off conv=notrunc status=none
# shellcheck disable=SC2086
if "$bin" $args --data data --checkpoint ondata >ondata.log 2>&1; then
  fail "a checkpoint was resumed on other data"
fi
grep -q "ondata/fno/state.txt: written by another run" ondata.log ||
  fail "no message names the other data: $(tail -n 1 ondata.log)"
cp -r ck short
slot=$(awk '$1 == "slot" {print $2}' short/fno/state.txt)
sed -i '$d' "short/fno/$slot/history.csv"
# shellcheck disable=SC2086
if "$bin" $args --checkpoint short >short.log 2>&1; then fail "a curve short of epochs was accepted"; fi
grep -q "short/fno/$slot/history.csv: holds 2 epochs, short/fno/state.txt says 3" short.log ||
  fail "no message names the short curve: $(tail -n 1 short.log)"
echo "resume_check: $compared checkpoint files equal after a resume from parts; corrupt parts and files refused"

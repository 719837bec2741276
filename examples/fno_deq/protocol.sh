#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The paper protocol (fno_deq --scale gpu --device cuda, 500 epochs) in pieces that fit device
# calls and sessions. Per call:
#   1. restores CKDIR from PARTS (checkpoint_parts.sh unpack) when PARTS holds parts and CKDIR
#      does not have that model yet (a new session: the machine started bare);
#   2. trains each model of MODELS for SECONDS more (fno_deq --checkpoint CKDIR
#      --train-seconds SECONDS, one model after the other: --train-seconds counts per model),
#      resuming where the checkpoint stopped; a finished model just reports its result;
#   3. when $OUT is set (a device call), packs CKDIR into $OUT (checkpoint_parts.sh pack) so the
#      next session can carry it back in PARTS, and appends the log to $OUT/protocol.log.
#   examples/fno_deq/protocol.sh MODELS SECONDS
# Environment: BIN [.devbin/examples/fno_deq, with scripts/devbin-env's libraries; else
# build/default/examples/fno_deq], CKDIR [ck: ignored by git, so that on the device it stays
# between calls while the machine is warm], PARTS [ck-parts], SCALE [gpu], DEVICE [cuda],
# EVAL_EVERY [25: epochs between the progress lines' test evaluations; every epoch, a 500-epoch
# DEQ run would spend device time on 500 solves of the test set], EXTRA (more fno_deq
# arguments, e.g. "--epochs 3" for a dry run). Relative paths are taken from the caller's
# directory. Exit status: fno_deq's.
set -uo pipefail
self=$(realpath "${BASH_SOURCE[0]}")
# Relative paths in BIN, CKDIR, PARTS and OUT are the caller's, not the repository root's.
for v in BIN CKDIR PARTS OUT; do
  [[ -n ${!v:-} ]] && printf -v "$v" '%s' "$(realpath -m -- "${!v}")"
done
cd "$(dirname "$self")/../.." || exit 2
(($# == 2)) || { sed -n '3,18p' "$self" | sed 's/^# \{0,1\}//' >&2; exit 2; }
models=$1 seconds=$2
here=examples/fno_deq
if [[ -z ${BIN:-} ]]; then
  if [[ -x .devbin/examples/fno_deq ]]; then
    BIN=.devbin/examples/fno_deq
    # shellcheck source=scripts/devbin-env
    source scripts/devbin-env .devbin
  else
    BIN=build/default/examples/fno_deq
  fi
fi
CKDIR=${CKDIR:-ck} PARTS=${PARTS:-ck-parts}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if compgen -G "$PARTS/ck_*.sha256" >/dev/null; then
  for sum in "$PARTS"/ck_*.sha256; do
    m=$(basename "$sum" .sha256)
    m=${m#ck_}
    if [[ -f $CKDIR/$m/state.txt ]]; then
      echo "protocol: $CKDIR/$m exists; the parts of $m in $PARTS are not used"
    else
      tmp=$(mktemp -d)
      cp "$PARTS/ck_$m".* "$tmp"/ && "$here/checkpoint_parts.sh" unpack "$tmp" "$CKDIR" ||
        { rm -rf "$tmp"; echo "protocol: restoring $m from $PARTS failed" >&2; exit 1; }
      rm -rf "$tmp"
    fi
  done
fi
# shellcheck disable=SC2086  # EXTRA is a list of arguments
"$BIN" --scale "${SCALE:-gpu}" --device "${DEVICE:-cuda}" --models "$models" \
  --checkpoint "$CKDIR" --train-seconds "$seconds" --eval-every "${EVAL_EVERY:-25}" \
  ${EXTRA:-} 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [[ -n ${OUT:-} ]]; then
  cat "$log" >>"$OUT/protocol.log"
  if compgen -G "$CKDIR/*/state.txt" >/dev/null; then
    "$here/checkpoint_parts.sh" pack "$CKDIR" "$OUT" || status=1
  fi
fi
exit "$status"

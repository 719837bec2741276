#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Moves fno_deq's --checkpoint state between machines in pieces small enough to travel (a
# device machine returns files of at most 16 MiB): only what a resume needs, each model's
# state.txt and the slot it names, as a gzip'd tar split into parts.
#   examples/fno_deq/checkpoint_parts.sh pack   CKDIR PARTSDIR [PART_SIZE=15M]
#   examples/fno_deq/checkpoint_parts.sh unpack PARTSDIR CKDIR
#   examples/fno_deq/checkpoint_parts.sh check  PARTSDIR MODEL
# pack writes PARTSDIR/ck_<model>.tgz.<nn> and PARTSDIR/ck_<model>.sha256 per model; unpack
# checks each model's parts against its sha256 before extracting (a missing or truncated part
# is an error, and nothing of that model is extracted); check does that check alone (exit 0
# when MODEL's parts match).
set -euo pipefail
usage() { sed -n '6,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
(($# >= 3)) || usage
mode=$1 from=$2 to=$3
# matches DIR MODEL: DIR holds MODEL's parts and they match its sha256 (else a message).
matches() {
  local parts=("$1/ck_$2".tgz.*)
  if [[ ! -f ${parts[0]} ]]; then
    echo "checkpoint_parts: no parts for $2 in $1" >&2
    return 1
  fi
  [[ $(cat "${parts[@]}" | sha256sum | awk '{print $1}') == "$(cat "$1/ck_$2.sha256")" ]] || {
    echo "checkpoint_parts: the parts of $2 do not match $1/ck_$2.sha256 (missing or truncated)" >&2
    return 1
  }
}
case "$mode" in
  pack)
    size=${4:-15M}
    [[ -d $from ]] || { echo "checkpoint_parts: no checkpoint directory '$from'" >&2; exit 1; }
    mkdir -p "$to"
    found=0
    for state in "$from"/*/state.txt; do
      [[ -f $state ]] || continue
      model=$(basename "$(dirname "$state")")
      slot=$(awk '$1 == "slot" {print $2}' "$state")
      [[ $slot == a || $slot == b ]] ||
        { echo "checkpoint_parts: $state names no slot a or b" >&2; exit 1; }
      rm -f "$to/ck_$model".tgz.* "$to/ck_$model.sha256"
      tar -C "$from" -czf - "$model/state.txt" "$model/$slot" |
        split -b "$size" -d -a 2 - "$to/ck_$model.tgz."
      (cd "$to" && cat "ck_$model".tgz.* | sha256sum | awk '{print $1}' >"ck_$model.sha256")
      echo "checkpoint_parts: $model (slot $slot) -> $(ls "$to/ck_$model".tgz.* | wc -l) part(s) in $to"
      found=1
    done
    ((found)) || { echo "checkpoint_parts: no <model>/state.txt under '$from'" >&2; exit 1; }
    ;;
  unpack)
    [[ -d $from ]] || { echo "checkpoint_parts: no parts directory '$from'" >&2; exit 1; }
    mkdir -p "$to"
    found=0
    for sum in "$from"/ck_*.sha256; do
      [[ -f $sum ]] || continue
      model=$(basename "$sum" .sha256)
      model=${model#ck_}
      matches "$from" "$model" || exit 1
      rm -rf "${to:?}/$model"
      cat "$from/ck_$model".tgz.* | tar -C "$to" -xzf -
      echo "checkpoint_parts: $model restored into $to/$model"
      found=1
    done
    ((found)) || { echo "checkpoint_parts: no ck_<model>.sha256 in '$from'" >&2; exit 1; }
    ;;
  check) matches "$from" "$to" ;;
  *) usage ;;
esac

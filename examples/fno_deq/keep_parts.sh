#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# After a device call of gpu_session.sh: keeps what a later session needs to resume the
# protocol, from the folder the call's files came back in (its $OUT), in PARTS [ck-parts]:
# the checkpoint parts (ck_<model>.tgz.*, ck_<model>.sha256), gpu_session_flags (the kernels
# the first call chose) and figures/curves_*.csv (the curves of the models trained so far).
# Each model's parts are checked against their sha256 first; a model whose parts do not match
# keeps the parts PARTS already had. The next session carries PARTS (see docs/cuda.md).
#   examples/fno_deq/keep_parts.sh RETURNED_OUT_DIR
set -euo pipefail
(($# == 1)) || { sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
from=$1 to=${PARTS:-ck-parts}
here=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
[[ -d $from ]] || { echo "keep_parts: no folder '$from'" >&2; exit 1; }
mkdir -p "$to"
kept=0 bad=0
for sum in "$from"/ck_*.sha256; do
  [[ -f $sum ]] || continue
  model=$(basename "$sum" .sha256)
  if ! "$here/checkpoint_parts.sh" check "$from" "${model#ck_}"; then
    echo "keep_parts: $to keeps its own parts of ${model#ck_}" >&2
    bad=1
    continue
  fi
  parts=("$from/$model".tgz.*)
  rm -f "$to/$model".tgz.* "$to/$model.sha256"
  cp "${parts[@]}" "$sum" "$to/"
  echo "keep_parts: ${model#ck_}: ${#parts[@]} part(s)"
  kept=$((kept + 1))
done
if [[ -f $from/gpu_session_flags ]]; then
  cp "$from/gpu_session_flags" "$to/"
  echo "keep_parts: gpu_session_flags ($(head -n 1 "$from/gpu_session_flags"))"
fi
for f in "$from"/figures/curves_*.csv; do
  [[ -f $f ]] || continue
  cp "$f" "$to/"
  echo "keep_parts: $(basename "$f")"
done
((kept > 0)) || echo "keep_parts: no checkpoint parts in $from" >&2
echo "keep_parts: $to holds $(find "$to" -type f | wc -l) file(s), $(du -sh "$to" | cut -f1)"
exit "$bad"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checks that fno_deq refuses bad command lines before any work, naming the option and the
# value, with exit status 2 (ctest example_fno_deq_cli_refusals):
#   an empty value, a number out of range, a model listed twice, too few training samples,
#   a --res too large, --out / --checkpoint folders that cannot be made, --draw-curves with
#   other options or on a missing folder.
#   examples/fno_deq/cli_check.sh FNO_DEQ_BINARY WORKDIR
set -euo pipefail
# shellcheck source=examples/cli_expect.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cli_expect.sh"
(($# == 2)) || { sed -n '3,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bin=$(realpath "$1") work=$2
rm -rf "$work"
mkdir -p "$work"
cd "$work"
touch afile
failed=0
expect 2 '--draw-curves needs a value, got an empty one' --draw-curves ''
expect 2 '--out needs a value, got an empty one' --out ''
expect 2 '--data needs a value, got an empty one' --epochs 1 --data ''
expect 2 '--lr 1e400 is out of range' --lr 1e400
expect 2 '--models: "fno" is listed twice in "deq,fno,fno"' --models deq,fno,fno
expect 2 '--ntrain must be at least 2 (got 1)' --ntrain 1
expect 2 '--res must be at most 16384 (got 9223372036854775807)' --res 9223372036854775807
expect 2 '--out afile: cannot make the directory (Not a directory)' --out afile
expect 2 '--checkpoint afile/ck: cannot make the directory (Not a directory)' --checkpoint afile/ck
expect 2 '--write-data afile/d: cannot make the directory (Not a directory)' --write-data afile/d
expect 2 '--draw-curves takes no other option (got --epochs)' --draw-curves . --epochs 0
expect 1 '--draw-curves missing: no such directory' --draw-curves missing
# Nothing was made or written by the refused runs.
[[ ! -e out && ! -e missing ]] || { echo "cli_check: a refused run made a folder" >&2; failed=1; }
((failed == 0)) && echo "cli_check: every bad command line refused by name, before any work"
exit "$failed"

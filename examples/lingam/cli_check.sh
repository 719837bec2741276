#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checks lingam's handling of bad command lines and bad files (ctest example_lingam_cli_checks):
# each is refused with a message naming the option, file, row or column, and a non-zero status;
# a file name that holds shell syntax runs nothing (Graphviz is started without a shell); an
# output that cannot be written fails the run.
#   examples/lingam/cli_check.sh LINGAM_BINARY WORKDIR
set -euo pipefail
# shellcheck source=examples/cli_expect.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cli_expect.sh"
(($# == 2)) || { sed -n '3,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
bin=$(realpath "$1") work=$2
rm -rf "$work"
mkdir -p "$work"
cd "$work"
failed=0
# A small LiNGAM chain a -> b -> c with uniform noise (awk's rand, fixed seed).
awk 'BEGIN { srand(7); print "a,b,c"; for (i = 0; i < 300; i++) {
  a = rand() - 0.5; b = 2 * a + rand() - 0.5; c = -b + rand() - 0.5; print a "," b "," c } }' >d.csv
g=(--generate 50 3)
expect 2 '--csv is given twice' --csv d.csv --csv d.csv
expect 2 '--out needs a value, got an empty one' --csv d.csv --out ''
expect 2 '--generate needs 2 arguments' --generate 10
expect 2 '--header must be auto, yes or no (got "maybe")' --csv d.csv --header maybe
expect 2 '--threads must be at most 1024 (got 100000)' "${g[@]}" --threads 100000
expect 2 '--name must be a plain file name' --csv d.csv --name ../escape
expect 2 '--noise shapes generated data only' --csv d.csv --noise laplace
expect 2 '--header applies to --csv only' "${g[@]}" --header yes
expect 2 '--lags applies to --method var only' "${g[@]}" --lags 2
expect 2 '--fp64 applies to --backend cuda only' "${g[@]}" --fp64
expect 2 '--threshold selects edges, which --order-only does not estimate' "${g[@]}" --order-only --threshold 0.1
expect 1 'lags = 100 is too many for n = 200 observations of d = 3 variables' --generate 200 3 --method var --lags 100
printf 'a,b,c\n1,2,3\n2,nan,4\n3,4,5\n' >nan.csv
expect 1 "nan.csv: data row 2, column 'b' is nan" --csv nan.csv
printf 'a,b,c\n1,2,3\n2,2,4\n3,2,5\n' >const.csv
expect 1 "const.csv: column 'b' is constant" --csv const.csv
printf 'a,b\n1,2\n-0.5,3\n' >neg.csv
expect 1 "--log needs positive data; neg.csv: data row 2, column 'a' is -0.5" --csv neg.csv --log
printf '\x93NUMPY\x01\x00v\x00' >x.npy
expect 1 'x.npy:1: a NUL byte (at byte 8)' --csv x.npy
: >empty_edges.csv
expect 1 'empty_edges.csv: no edge' --csv d.csv --truth-edges empty_edges.csv
printf 'a,b\na,b\n' >dup_edges.csv
expect 1 "dup_edges.csv:2: edge 'a,b' is listed twice" --csv d.csv --truth-edges dup_edges.csv
printf 'cause,effect\nb,b\n' >self_edges.csv
expect 1 "self_edges.csv:2: 'b,b' is an edge from a variable to itself" --csv d.csv --truth-edges self_edges.csv
mkdir -p blocked/d/order.txt
expect 1 'blocked/d/order.txt: cannot write' --csv d.csv --out blocked
# A name with shell syntax is a name: nothing runs, and the run succeeds.
expect 0 '| outputs |' --csv d.csv --out o --name 'x$(touch INJECTED)y'
[[ ! -e INJECTED ]] || { echo "cli_check: a --name ran a shell command" >&2; failed=1; }
# The truth-edge file's "cause,effect" header is read silently.
printf 'cause,effect\na,b\nb,c\n' >edges.csv
expect 0 '| reference edges recovered (true positives) | 2 / 2 |' --csv d.csv --out o --truth-edges edges.csv
if grep -q 'read as a header' out.log; then echo "cli_check: the cause,effect header was warned about" >&2; failed=1; fi
# VarLiNGAM writes its lag matrices beside B_0: lag1.csv, a header and one row per variable.
expect 0 'lag1.csv' --generate 300 3 --method var --out o --name var
[[ $(wc -l <o/var/lag1.csv) == 4 && $(head -n 1 o/var/lag1.csv) == 'effect\cause,x0,x1,x2' ]] ||
  { echo "cli_check: o/var/lag1.csv: $(head -c 200 o/var/lag1.csv)" >&2; failed=1; }
((failed == 0)) && echo "cli_check: bad command lines and files refused by name; no shell"
exit "$failed"

# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# (bin is set, and failed read, by the sourcing script.)
# shellcheck disable=SC2154,SC2034
# Sourced by the examples' cli_check.sh: `expect STATUS MESSAGE ARGS...` runs "$bin" ARGS in the
# current folder and checks that it exits with STATUS and prints MESSAGE (a fixed string); a
# mismatch is reported on stderr and sets failed=1. The caller sets bin and failed=0.
expect() {
  local want=$1 msg=$2 rc=0
  shift 2
  "$bin" "$@" >out.log 2>&1 || rc=$?
  if ((rc != want)) || ! grep -qF -- "$msg" out.log; then
    echo "cli_check: $(basename "$bin") $* exited $rc (expected $want) and said: $(head -c 300 out.log)" >&2
    failed=1
  fi
}

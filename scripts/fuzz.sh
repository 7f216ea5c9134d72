#!/usr/bin/env bash
# Runs every libFuzzer target for N seconds on a copy of its seed corpus. A crash leaves the input in
# tests/fuzz/regression/<target>-crash-* for the normal test run to replay once fixed.
set -euo pipefail
build=$1; seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for bin in "$build"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  work=$(mktemp -d)
  cp -r "$root/tests/fuzz/corpus/$name/." "$work/" 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -artifact_prefix="$root/tests/fuzz/regression/$name-" "$work" \
       > "$work.log" 2>&1; then
    echo "fuzz: $name found a crash:"; tail -40 "$work.log"; status=1
  fi
  rm -rf "$work" "$work.log"
done
exit $status

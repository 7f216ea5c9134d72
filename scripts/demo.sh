#!/usr/bin/env bash
# `make demo`: devicehubd plus DEMO_DEVICES (default 1,000) simulated devices created through the REST API,
# until Ctrl-C, which stops both. Data goes to DEMO_DIR, or to a temporary directory removed at the end.
set -euo pipefail
build=$1
data=${DEMO_DIR:-}
count=${DEMO_DEVICES:-1000}
port=${DEVICEHUB_HTTP_PORT:-8080}
dport=${DEVICEHUB_DEVICE_PORT:-8081}
tmp=""
if [ -z "$data" ]; then
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/devicehub-demo.XXXXXX")
  data=$tmp
fi
mkdir -p "$data"

hub=""; sim=""
cleanup() {
  trap - EXIT INT TERM
  # The simulator first, so its devices close cleanly while the hub still listens.
  [ -n "$sim" ] && kill -INT "$sim" 2>/dev/null && wait "$sim" 2>/dev/null || true
  [ -n "$hub" ] && kill -TERM "$hub" 2>/dev/null && wait "$hub" 2>/dev/null || true
  [ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# setsid keeps Ctrl-C (sent to the whole foreground group) from reaching the children directly: the
# trap above stops them in order.
setsid "$build/devicehubd" --data-dir "$data" --http-addr 127.0.0.1 --http-port "$port" \
  --device-addr 127.0.0.1 --device-port "$dport" &
hub=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$hub" 2>/dev/null || { echo "demo: devicehubd did not start" >&2; exit 1; }
  sleep 0.1
done
cs=$("$build/devicehubd" owner-connection-string --data-dir "$data")
echo
echo "  Dashboard and REST API:  http://127.0.0.1:$port/"
echo "  Owner connection string: $cs"
echo "  Data directory:          $data${tmp:+ (temporary)}"
echo "  $count simulated devices on ws://127.0.0.1:$dport; Ctrl-C stops everything."
echo
setsid "$build/devicehub-sim" --connection-string "$cs" --api-url "http://127.0.0.1:$port" \
  --device-url "ws://127.0.0.1:$dport" --count "$count" --create --report-interval-ms 2000 &
sim=$!
wait "$sim" || true
sim=""

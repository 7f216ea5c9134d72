#!/usr/bin/env bash
# bench/dashboard.sh [path/to/devicehubd]: how fast the dashboard's first pages are ready in Debian's
# Chromium, with an empty registry and again with BENCH_DEVICES (default 1,000,000) registered, in one
# invocation on loopback. Each figure is the median of BENCH_RUNS page loads in a fresh browser context,
# from navigation start to the page saying it is ready (data-ready on its root), beside two baselines
# from the same run: Chromium loading a tiny static answer of the same server (/healthz), and the same
# page with an empty registry.
#
# Then the fleet page stays open while devicehub-sim (beside devicehubd) connects BENCH_LIVE_DEVICES
# devices, and the REST calls behind the pages are timed with curl.
#
# Settings (environment): BENCH_DEVICES=1000000 BENCH_RUNS=7 BENCH_LIVE_DEVICES=10000 (0: skip)
#   BENCH_OUT=file (also write the table there)
#   BENCH_KEEP=1 (keep the temp dir)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-$here/../build/devicehubd}
N=${BENCH_DEVICES:-1000000}
RUNS=${BENCH_RUNS:-7}
HUB=benchhub
PASSWORD=bench-admin-password

. "$here/lib.sh"
require_tools gcc curl openssl node
BIN=$(require_exe "$BIN" devicehubd)
[ -d "$here/../tests/node_modules/playwright-core" ] || { echo "bench: run make deps first (playwright-core)" >&2; exit 2; }
bench_tmpdir dh-bench

build_helper bulk_load -lpthread

port=$(free_port)
log "starting devicehubd on 127.0.0.1:$port"
start_hub server --data-dir "$tmp/data" --http-addr 127.0.0.1 --http-port "$port" --device-addr 127.0.0.1 \
	--device-port $((port + 1)) --mqtt-port 0 --hostname "$HUB" --admin-password "$PASSWORD" \
	--log-level warn
key=$(owner_key server)
auth=$(sas_token "$HUB" "$key")
base="http://127.0.0.1:$port"

measure() { # $1 = label
	timeout 600 node "$here/dashboard.mjs" "$base" admin "$PASSWORD" "$RUNS" "$1" |
		tee -a "$tmp/results.txt" >&2
}

log "empty registry"
measure empty
log "bulk create of $N devices"
timeout 900 "$tmp/bulk_load" 127.0.0.1 "$port" "$auth" "$N" 4 >/dev/null
expect_devices "$N" "$auth"
log "$N devices"
measure full

# The fleet page open while devicehub-sim creates and connects BENCH_LIVE_DEVICES devices: how far the
# Connected tile (fed by the event socket only) lags the server's own count, and the page's longest task.
SIM=$(dirname "$BIN")/devicehub-sim
if [ -x "$SIM" ] && [ "${BENCH_LIVE_DEVICES:-10000}" -gt 0 ]; then
	log "fleet page during a connect storm of ${BENCH_LIVE_DEVICES:-10000} devices"
	timeout 300 node "$here/dashboard-live.mjs" "$base" admin "$PASSWORD" "$SIM" "ws://127.0.0.1:$((port + 1))" \
		"HostName=$HUB;SharedAccessKeyName=iothubowner;SharedAccessKey=$key" "${BENCH_LIVE_DEVICES:-10000}" |
		tee -a "$tmp/results.txt" >&2
fi

# The REST calls behind those pages, each the median of 7 curl timings (ms).
api_ms() { # $1 label, $2 method, $3 path, $4 body (optional)
	local i t=()
	for i in 1 2 3 4 5 6 7; do
		t+=("$(curl -s -o /dev/null -w '%{time_total}' -X "$2" -H "Authorization: $auth" \
			-H 'Content-Type: application/json' -H 'x-ms-max-item-count: 50' ${4:+-d "$4"} "$base$3")")
	done
	printf '%s\n' "${t[@]}" | sort -n | awk -v k="api_$1_ms" 'NR == 4 { printf "%s %.1f\n", k, $1 * 1000 }' |
		tee -a "$tmp/results.txt" >&2
}
api_ms fleet GET /devicehub/fleet
api_ms health GET /devicehub/health
api_ms history GET /devicehub/fleet/history
api_ms events GET '/devicehub/events?top=50'
api_ms devices_page POST '/devices/query?api-version=2021-04-12' '{"query":"SELECT * FROM devices"}'
api_ms devices_count POST '/devices/query?api-version=2021-04-12' '{"query":"SELECT COUNT() AS n FROM devices"}'
api_ms connected_page POST '/devices/query?api-version=2021-04-12' '{"query":"SELECT * FROM devices WHERE connectionState = '"'"'Connected'"'"'"}'
api_ms statistics GET '/statistics/devices?api-version=2021-04-12'

v() { val "$1" "$tmp/results.txt"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
{
	echo "| page (median of $RUNS loads) | empty registry | $N devices | ratio | Chromium baseline (/healthz) | target |"
	echo "|---|---|---|---|---|---|"
	for page in fleet devices device jobs; do
		e=$(v "empty_${page}_ms"); f=$(v "full_${page}_ms")
		if [ -n "$e" ]; then
			echo "| $page | $e ms | $f ms | $(ratio "$f" "$e")× | $(v full_baseline_ms) ms | < 1000 ms |"
		else # no device to open in an empty registry
			echo "| $page | (no device) | $f ms | - | $(v full_baseline_ms) ms | < 1000 ms |"
		fi
	done
	echo
	echo "| REST call at $N devices (median of 7, curl) | ms |"
	echo "|---|---|"
	for k in fleet health history events devices_page devices_count connected_page statistics; do
		echo "| $k | $(v "api_${k}_ms") |"
	done
	echo
	echo "| fleet page during a connect storm (${BENCH_LIVE_DEVICES:-10000} devices) | |"
	echo "|---|---|"
	echo "| server counts all connected (baseline) | $(v live_server_all_connected_s) s |"
	echo "| the page's Connected tile shows it | $(v live_page_all_connected_s) s |"
	echo "| lag | $(v live_page_lag_ms) ms |"
	echo "| longest main-thread task meanwhile | $(v live_longest_task_ms) ms |"
} | tee "${BENCH_OUT:-/dev/null}"

#!/usr/bin/env bash
# bench/jobs.sh [path/to/devicehubd]: the job engine's benchmarks, in one invocation, on loopback only
# (docs/performance.md, "Jobs").
#
#   1. raw SQLite baseline (bench/sqlite_baseline.c) on NT rows: json_set updates, one per transaction;
#   2. devicehubd #1 (fresh data dir): NM devices created (bench/bulk_load.c) and connected
#      (bench/device_load.c --mode methods: every method.request answered at once, status 200);
#      baseline: each device invoked once with POST /twins/{id}/methods from C connections
#      (bench/rest_calls.c method); then a scheduleDeviceMethod job whose queryCondition matches every
#      device: time from PUT /jobs/v2/{id} until GET /jobs/v2/{id} (every 100 ms) shows it completed;
#   3. devicehubd #2 (fresh data dir): NT devices created, none connected; baseline: each device patched
#      once with PATCH /twins/{id} (bench/rest_calls.c patch); then a scheduleUpdateTwin job with
#      properties.desired matching every device, timed the same way, and checked with a query;
#   4. a Markdown table: every figure beside its baselines from this run, the engine's own overhead per
#      device ((job time - baseline time) / devices) and server CPU per device (/proc/PID/stat).
#
# Every step is bounded (timeout, the job poller's own limit); servers and clients are stopped by pid and
# the temp dir removed on exit, whatever happens. Settings (environment):
#   BENCH_METHOD_DEVICES=10000     devices of the method job (connected; at most 19,000: 20,000 open files)
#   BENCH_TWIN_DEVICES=100000      devices of the twin job (offline)
#   BENCH_METHOD_CONNECTIONS=128   REST connections of the method baseline (a call waits for its device)
#   BENCH_PATCH_CONNECTIONS=32     REST connections of the PATCH baseline
#   BENCH_JOB_TIMEOUT=180          seconds a job may take before the run fails
#   BENCH_PORT                     first of two ports (default: picked at random)
#   BENCH_OUT=file                 also write the Markdown table to this file
#   BENCH_KEEP=1                   keep the temp dir (logs, databases)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-$here/../build/devicehubd}
NM=${BENCH_METHOD_DEVICES:-10000}
NT=${BENCH_TWIN_DEVICES:-100000}
MC=${BENCH_METHOD_CONNECTIONS:-128}
PC=${BENCH_PATCH_CONNECTIONS:-32}
JT=${BENCH_JOB_TIMEOUT:-180}
HUB=benchhub

. "$here/lib.sh"
require_tools gcc curl openssl pkg-config bc
require_pkg libwebsockets libwebsockets-dev
BIN=$(require_exe "$BIN" devicehubd)
[ "$NM" -le 19000 ] || { echo "bench: at most 19,000 connected devices (20,000 open files per process)" >&2; exit 2; }
bench_tmpdir dh-bench-jobs
: >"$tmp/results.txt"

# ---- helpers ---------------------------------------------------------------------------------------
log "building bench helpers"
build_helper sqlite_baseline -lsqlite3 -lpthread
build_helper bulk_load -lpthread
build_helper rest_calls -lpthread
build_helper device_load $(pkg-config --cflags --libs libwebsockets)

# ---- 1. raw SQLite baseline ------------------------------------------------------------------------
log "raw SQLite baseline, $NT rows"
sqlite_baseline "$NT" 3 >"$tmp/sqlite.txt"
collect sqlite "$tmp/sqlite.txt"
log "raw SQLite json_set update: $(val update_per_s "$tmp/sqlite.txt")/s"

start_server() { # name: devicehubd on $port/$dport with $tmp/name.data; sets server_pid, BENCH_AUTH
	start_hub "$1" --data-dir "$tmp/$1.data" --http-addr 127.0.0.1 --http-port "$port" --device-addr 127.0.0.1 \
		--device-port "$dport" --hostname "$HUB" --log-level warn
	local key
	key=$(owner_key "$1")
	# Policy SAS token (sr = hostname, skn = iothubowner): REST calls and every device.
	BENCH_AUTH=$(sas_token "$HUB" "$key")
}
create_devices() { # n name: bulk create bench-0000000.. and check the count
	log "bulk create of $1 devices"
	timeout 600 "$tmp/bulk_load" 127.0.0.1 "$port" "$BENCH_AUTH" "$1" 4 >"$tmp/$2_bulk.txt"
	expect_devices "$1" "$BENCH_AUTH"
}
# Runs rest_calls with the server's CPU time around it: name args...
timed() {
	local name=$1 c0 c1
	shift
	c0=$(cpu_s "$server_pid")
	timeout $((JT + 120)) "$tmp/rest_calls" 127.0.0.1 "$port" "$BENCH_AUTH" "$@" >"$tmp/$name.txt" 2>"$tmp/$name.err" ||
		{ cat "$tmp/$name.txt" "$tmp/$name.err" >&2; echo "bench: $name failed" >&2; exit 1; }
	c1=$(cpu_s "$server_pid")
	echo "server_cpu_s $(echo "$c1 - $c0" | bc -l)" >>"$tmp/$name.txt"
	collect "$name" "$tmp/$name.txt"
	log "$name: $(tr '\n' ' ' <"$tmp/$name.txt")"
}
ALL="STARTSWITH(deviceId, 'bench-')" # every device bulk_load created

# ---- 2. devicehubd #1: a method job to NM connected devices ----------------------------------------
port=${BENCH_PORT:-$(free_port)}
dport=$((port + 1))
log "starting devicehubd #1 on 127.0.0.1:$port (REST) and :$dport (devices)"
start_server methods
create_devices "$NM" methods
log "device_load: $NM devices connected, answering methods"
"$tmp/device_load" --url "ws://127.0.0.1:$dport" --mode methods --hello --count "$NM" --auth "$BENCH_AUTH" \
	--prefix bench- --first 0 --digits 7 --seconds $((2 * JT + 120)) >"$tmp/devices.txt" 2>"$tmp/devices.err" &
load_pid=$!
track "$load_pid"
wait_for "$tmp/devices.txt" ready_line 120 "$load_pid"
grep -q "^ready $NM\$" "$tmp/devices.txt" || { cat "$tmp/devices.txt" "$tmp/devices.err" >&2; echo "bench: not all devices connected" >&2; exit 1; }
log "method baseline: $NM x POST /twins/{id}/methods, $MC connections"
timed method_rest method "$NM" "$MC"
log "method job: scheduleDeviceMethod to $NM devices"
timed method_job job bench-method-1 "{\"jobId\":\"bench-method-1\",\"type\":\"scheduleDeviceMethod\",\"queryCondition\":\"$ALL\",\
\"cloudToDeviceMethod\":{\"methodName\":\"reboot\",\"payload\":{\"delay\":0},\"responseTimeoutInSeconds\":30},\
\"startTime\":null,\"maxExecutionTimeInSeconds\":$JT}" "$JT"
l_cpu=$(cpu_s "$load_pid")
stop_pid "$load_pid"
collect devices "$tmp/devices.txt"
echo "devices_cpu_s $l_cpu" >>"$tmp/results.txt"
stop_pid "$server_pid"

# ---- 3. devicehubd #2: a twin job to NT offline devices --------------------------------------------
port=${BENCH_PORT:+$((BENCH_PORT + 2))}
port=${port:-$(free_port)}
dport=$((port + 1))
log "starting devicehubd #2 on 127.0.0.1:$port"
start_server twins
create_devices "$NT" twins
log "twin baseline: $NT x PATCH /twins/{id}, $PC connections"
timed twin_rest patch "$NT" "$PC"
log "twin job: scheduleUpdateTwin to $NT devices"
timed twin_job job bench-twin-1 "{\"jobId\":\"bench-twin-1\",\"type\":\"scheduleUpdateTwin\",\"queryCondition\":\"$ALL\",\
\"updateTwin\":{\"etag\":\"*\",\"properties\":{\"desired\":{\"fw\":\"2.1\",\"wave\":1}}},\
\"startTime\":null,\"maxExecutionTimeInSeconds\":$JT}" "$JT"
written=$(curl -s --max-time 60 -X POST -H "Authorization: $BENCH_AUTH" -H 'Content-Type: application/json' \
	--data "{\"query\":\"SELECT COUNT() AS n FROM devices WHERE properties.desired.fw = '2.1' AND properties.desired.wave = 1\"}" \
	"http://127.0.0.1:$port/devices/query?api-version=2021-04-12" | sed -n 's/.*"n":\([0-9]*\).*/\1/p')
log "twins with the job's desired properties: ${written:-?} of $NT"
[ "${written:-0}" = "$NT" ] || { echo "bench: the twin job wrote ${written:-?} of $NT twins" >&2; exit 1; }
echo "twin_written $written" >>"$tmp/results.txt"
echo "server_peak_kb $(status_kb "$server_pid" VmHWM)" >>"$tmp/results.txt"
stop_pid "$server_pid"

# ---- 4. report -------------------------------------------------------------------------------------
report() {
	awk -v nm="$NM" -v nt="$NT" -v mc="$MC" -v pc="$PC" -v when="$(date -u +%Y-%m-%dT%H:%MZ)" \
	    -v cpu="$(machine)" '
	{ v[$1] = $2 }
	function kf(x) { return x >= 10000 ? sprintf("%.0fk", x / 1000) : sprintf("%.1fk", x / 1000) }
	function yes(ok) { return ok ? "**met**" : "**missed**" }
	END {
		printf "Run %s, %s, loopback; `BENCH_METHOD_DEVICES=%d BENCH_TWIN_DEVICES=%d bench/jobs.sh`.\n\n", when, cpu, nm, nt
		print "| operation | job (PUT → completed) | baseline, this run | ratio (time) | engine overhead per device | server CPU per device: job / baseline | target |"
		print "|---|---|---|---|---|---|---|"
		mj = v["method_job_job_seconds"]; mr = v["method_rest_seconds"]
		printf "| scheduleDeviceMethod to %d connected devices | %.2f s (%s devices/s; %d succeeded, %d failed) | %d × `POST /twins/{id}/methods` on %d connections: %.2f s (%s calls/s, p50 %s ms, p99 %s ms) | %.2f× | %.0f µs | %.0f µs / %.0f µs | ≤10 s, succeededCount %d: %s |\n", \
			nm, mj, kf(nm / mj), v["method_job_job_succeeded"], v["method_job_job_failed"], nm, mc, mr, kf(v["method_rest_calls_per_s"]), \
			v["method_rest_p50_ms"], v["method_rest_p99_ms"], mj / mr, (mj - mr) * 1e6 / nm, \
			v["method_job_server_cpu_s"] * 1e6 / nm, v["method_rest_server_cpu_s"] * 1e6 / nm, nm, \
			yes(mj > 0 && mj <= 10 && v["method_job_job_succeeded"] == nm)
		tj = v["twin_job_job_seconds"]; tr = v["twin_rest_seconds"]; up = v["sqlite_update_per_s"]; ts = nt / up
		printf "| scheduleUpdateTwin (properties.desired) to %d offline devices | %.2f s (%s devices/s; %d succeeded, %d failed) | %d × `PATCH /twins/{id}` on %d connections: %.2f s (%s req/s, p50 %s ms, p99 %s ms) | %.2f× | %.0f µs | %.0f µs / %.0f µs | ≤30 s, succeededCount %d: %s |\n", \
			nt, tj, kf(nt / tj), v["twin_job_job_succeeded"], v["twin_job_job_failed"], nt, pc, tr, kf(v["twin_rest_calls_per_s"]), \
			v["twin_rest_p50_ms"], v["twin_rest_p99_ms"], tj / tr, (tj - tr) * 1e6 / nt, \
			v["twin_job_server_cpu_s"] * 1e6 / nt, v["twin_rest_server_cpu_s"] * 1e6 / nt, nt, \
			yes(tj > 0 && tj <= 30 && v["twin_job_job_succeeded"] == nt)
		printf "| the same twin job against raw SQLite | %.2f s | %d × `json_set` update, 1 per transaction, at %s/s: %.2f s | %.2f× | %.0f µs | — | — |\n", \
			tj, nt, kf(up), ts, tj / ts, (tj - ts) * 1e6 / nt
		printf "\nMethod job: the devices answered %d method requests in all (%d baseline + %d job + 0 expected otherwise); device client CPU %.1f s for the whole run. ", \
			v["devices_methods_answered"], nm, nm, v["devices_cpu_s"]
		printf "Client CPU: method baseline %.2f s, PATCH baseline %.2f s. Job polls: method %d, twin %d (GET every 100 ms; PUT answered in %.1f / %.1f ms). ", \
			v["method_rest_client_cpu_s"], v["twin_rest_client_cpu_s"], v["method_job_job_polls"], v["twin_job_job_polls"], v["method_job_job_put_ms"], v["twin_job_job_put_ms"]
		printf "Twins carrying the job'\''s desired properties afterwards (query): %d of %d. Failed REST calls: methods %d, PATCH %d. Server #2 peak RSS %.0f MB.\n", \
			v["twin_written"], nt, v["method_rest_failed"], v["twin_rest_failed"], v["server_peak_kb"] / 1024
	}' "$tmp/results.txt"
}
report | tee "${BENCH_OUT:-/dev/null}"

#!/usr/bin/env bash
# bench/devices.sh [path/to/devicehubd [path/to/devicehub-sim]]: the device-channel benchmarks, in one
# invocation, on loopback only (docs/performance.md, "Device channel").
#
#   1. baselines: raw SQLite json_set updates (bench/sqlite_baseline.c) and a raw libwebsockets echo
#      server (bench/lws_echo.c) loaded by bench/device_load.c: N connections (connects/s, KB of server
#      RSS per connection), then round trips with one frame in flight per connection;
#   2. devicehubd #1 (fresh data dir): devicehub-sim --create connects N devices from one process:
#      time to connect all, server RSS per connected device;
#   3. devicehubd #2 (same data dir, fresh process): bench/device_load.c connects the same N devices
#      (the baseline's client, so connects/s and KB/connection compare like for like) and answers every
#      method.request at once with 200 while wrk POSTs /twins/{id}/methods (bench/twin_method.lua);
#      then K devices keep W reported.patch each in flight (reported.ack/s);
#   4. a Markdown table: every figure beside its raw baseline from this run.
#
# Every step is bounded (timeout, fixed durations); servers and clients are stopped by pid and the temp
# dir removed on exit, whatever happens. Settings (environment):
#   BENCH_DEVICE_COUNT=10000       devices connected (simulator, load client, echo baseline)
#   BENCH_SECONDS=10               duration of the method and reported runs (after a warm-up)
#   BENCH_WRK_THREADS=2  BENCH_METHOD_CONNECTIONS=128   wrk for methods (a call waits for the device)
#   BENCH_REPORTED_DEVICES=1000  BENCH_REPORTED_INFLIGHT=8
#   BENCH_PORT                     first of two ports (default: picked at random)
#   BENCH_OUT=file                 also write the Markdown table to this file
#   BENCH_KEEP=1                   keep the temp dir (logs, database)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-$here/../build/devicehubd}
SIM=${2:-$(dirname "$BIN")/devicehub-sim}
N=${BENCH_DEVICE_COUNT:-10000}
SECS=${BENCH_SECONDS:-10}
WRK_T=${BENCH_WRK_THREADS:-2}
WRK_C=${BENCH_METHOD_CONNECTIONS:-128}
K=${BENCH_REPORTED_DEVICES:-1000}
W=${BENCH_REPORTED_INFLIGHT:-8}
HUB=benchhub

. "$here/lib.sh"
require_tools gcc wrk curl openssl pkg-config
require_pkg libwebsockets libwebsockets-dev
BIN=$(require_exe "$BIN" devicehubd)
SIM=$(require_exe "$SIM" devicehub-sim)
[ "$N" -le 19000 ] || { echo "bench: at most 19,000 devices (20,000 open files per process)" >&2; exit 2; }
[ "$K" -le "$N" ] || { echo "bench: BENCH_REPORTED_DEVICES must not exceed BENCH_DEVICE_COUNT" >&2; exit 2; }
bench_tmpdir dh-bench-dev
: >"$tmp/results.txt"

# ---- helpers ---------------------------------------------------------------------------------------
log "building bench helpers"
build_helper sqlite_baseline -lsqlite3 -lpthread
build_helper lws_echo $(pkg-config --cflags --libs libwebsockets)
build_helper device_load $(pkg-config --cflags --libs libwebsockets)

# ---- 1. baselines ----------------------------------------------------------------------------------
log "raw SQLite baseline, $N rows"
sqlite_baseline "$N" 3 >"$tmp/sqlite.txt"
collect sqlite "$tmp/sqlite.txt"
log "raw SQLite json_set update: $(val update_per_s "$tmp/sqlite.txt")/s"

port=${BENCH_PORT:-$(free_port)}
log "raw libwebsockets echo server on 127.0.0.1:$port, $N connections"
"$tmp/lws_echo" 127.0.0.1 "$port" 240 >"$tmp/echo_server.out" 2>&1 &
echo_pid=$!
track "$echo_pid"
wait_for "$tmp/echo_server.out" listening 10 "$echo_pid"
timeout 200 "$tmp/device_load" --url "ws://127.0.0.1:$port" --mode echo --count "$N" --inflight 1 \
	--seconds "$SECS" --server-pid "$echo_pid" >"$tmp/echo.txt" 2>"$tmp/echo.err" || { cat "$tmp/echo.err" >&2; exit 1; }
stop_pid "$echo_pid"
collect echo "$tmp/echo.txt"
log "echo: $(tr '\n' ' ' <"$tmp/echo.txt")"

# ---- 2. devicehubd #1: the simulator ---------------------------------------------------------------
start_server() { # log-name: starts devicehubd on $port/$dport with $tmp/data; sets server_pid
	start_hub "$1" --data-dir "$tmp/data" --http-addr 127.0.0.1 --http-port "$port" --device-addr 127.0.0.1 \
		--device-port "$dport" --hostname "$HUB" --log-level warn
}
port=${BENCH_PORT:-$(free_port)}
dport=$((port + 1))
log "starting devicehubd on 127.0.0.1:$port (REST) and :$dport (devices)"
start_server server1
key=$(owner_key server1)
# The listen backlog (c-libraries.md: at least 1024, or connect storms lose SYNs for 1 s).
backlog=$(ss -Hltn "sport = :$dport" | awk '{ print $3 }' | head -1)

# Policy SAS token (sr = hostname, skn = iothubowner): REST calls and, with DeviceConnect, every device.
BENCH_AUTH=$(sas_token "$HUB" "$key")
export BENCH_AUTH
cs="HostName=$HUB;SharedAccessKeyName=iothubowner;SharedAccessKey=$key"

log "devicehub-sim: --create --count $N, one process"
"$SIM" --connection-string "$cs" --api-url "http://127.0.0.1:$port" --device-url "ws://127.0.0.1:$dport" \
	--count "$N" --prefix sim- --create --report-interval-ms 100 --duration 200 >/dev/null 2>"$tmp/sim.err" &
sim_pid=$!
track "$sim_pid"
wait_for "$tmp/sim.err" "connecting $N devices" 120 "$sim_pid"
rss0=$(status_kb "$server_pid" VmRSS); anon0=$(status_kb "$server_pid" RssAnon); cpu0=$(cpu_s "$server_pid")
wait_for "$tmp/sim.err" "connected $N/$N " 120 "$sim_pid"
cpu1=$(cpu_s "$server_pid")
sim_t=$(grep -m1 "connected $N/$N " "$tmp/sim.err" | awk '{ sub("s$", "", $2); print $2 }')
# Settled: every first-connection report acknowledged; then one more second.
for _ in $(seq 300); do
	tail -1 "$tmp/sim.err" | awk -v n="$N" '{ for (i = 1; i < NF; i++) if ($(i + 1) == "acked") { split($i, a, "/"); exit !(a[1] == a[2] && a[2] >= n) } exit 1 }' && break
	sleep 0.1
done
sleep 1
rss1=$(status_kb "$server_pid" VmRSS); anon1=$(status_kb "$server_pid" RssAnon)
live=$(curl -s -H "Authorization: $BENCH_AUTH" "http://127.0.0.1:$port/statistics/service" | sed -n 's/.*"connectedDeviceCount":\([0-9]*\).*/\1/p')
sim_cpu=$(cpu_s "$sim_pid")
last=$(tail -1 "$tmp/sim.err")
stop_pid "$sim_pid"
{
	echo "sim_connect_seconds $sim_t"
	echo "sim_connects_per_s $(echo "$N / $sim_t" | bc -l)"
	echo "sim_server_cpu_s $(echo "$cpu1 - $cpu0" | bc -l)"
	echo "sim_client_cpu_s $sim_cpu"
	echo "sim_rss_before_kb $rss0"
	echo "sim_rss_after_kb $rss1"
	echo "sim_kb_per_device $(echo "($rss1 - $rss0) / $N" | bc -l)"
	echo "sim_anon_kb_per_device $(echo "($anon1 - $anon0) / $N" | bc -l)"
	echo "sim_live ${live:-0}"
	echo "backlog ${backlog:-0}"
} >>"$tmp/results.txt"
log "simulator: all $N connected after $sim_t s; server RSS $rss0 -> $rss1 kB; hub counts ${live:-?} live; $last"
stop_pid "$server_pid"

# ---- 3. devicehubd #2: the load client -------------------------------------------------------------
log "restarting devicehubd (same data, fresh process)"
start_server server2
log "device_load: $N devices, answering methods"
"$tmp/device_load" --url "ws://127.0.0.1:$dport" --mode methods --hello --count "$N" \
	--auth "$BENCH_AUTH" --prefix sim- --first 1 --digits 5 --seconds $((SECS + 60)) --server-pid "$server_pid" \
	>"$tmp/methods.txt" 2>"$tmp/methods.err" &
load_pid=$!
track "$load_pid"
wait_for "$tmp/methods.txt" ready_line 120 "$load_pid"
answer=$(curl -s -H "Authorization: $BENCH_AUTH" -H 'Content-Type: application/json' --max-time 10 \
	-d '{"methodName":"echo","payload":{"check":1},"responseTimeoutInSeconds":5}' \
	"http://127.0.0.1:$port/twins/sim-00001/methods?api-version=2021-04-12")
log "method check: $answer"
case "$answer" in *'"status":200'*) ;; *) echo "bench: the method round trip failed" >&2; exit 1 ;; esac
export BENCH_METHOD_PREFIX=sim- BENCH_METHOD_FIRST=1 BENCH_METHOD_COUNT=$N BENCH_METHOD_DIGITS=5
timeout 60 wrk -t"$WRK_T" -c"$WRK_C" -d2s -s "$here/twin_method.lua" "http://127.0.0.1:$port/" >/dev/null
log "methods: wrk -t$WRK_T -c$WRK_C -d${SECS}s"
c0=$(cpu_s "$server_pid"); l0=$(cpu_s "$load_pid")
timeout $((SECS + 60)) wrk -t"$WRK_T" -c"$WRK_C" -d"${SECS}s" --latency -s "$here/twin_method.lua" \
	"http://127.0.0.1:$port/" >"$tmp/wrk_methods.txt"
c1=$(cpu_s "$server_pid"); l1=$(cpu_s "$load_pid")
grep -E 'Requests/sec|Non-2xx' "$tmp/wrk_methods.txt" >&2 || true
sed -n 's/^wrk_result //p' "$tmp/wrk_methods.txt" | tr ' ' '\n' | sed 's/^/method_/; s/=/ /' >>"$tmp/results.txt"
echo "method_server_cpu_s $(echo "$c1 - $c0" | bc -l)" >>"$tmp/results.txt"
echo "method_device_cpu_s $(echo "$l1 - $l0" | bc -l)" >>"$tmp/results.txt"
stop_pid "$load_pid"
collect dl "$tmp/methods.txt"

log "reported patches: $K devices x $W in flight, ${SECS}s"
c0=$(cpu_s "$server_pid")
timeout $((SECS + 200)) "$tmp/device_load" --url "ws://127.0.0.1:$dport" --mode reported --hello --count "$K" \
	--inflight "$W" --auth "$BENCH_AUTH" --prefix sim- --first 1 --digits 5 --seconds "$SECS" \
	>"$tmp/reported.txt" 2>"$tmp/reported.err" || { cat "$tmp/reported.err" >&2; exit 1; }
c1=$(cpu_s "$server_pid")
echo "reported_server_cpu_s $(echo "$c1 - $c0" | bc -l)" >>"$tmp/results.txt"
collect reported "$tmp/reported.txt"
log "reported: $(grep -E '^(rps|p50_ms|p99_ms|errors) ' "$tmp/reported.txt" | tr '\n' ' ')"
peak=$(status_kb "$server_pid" VmHWM)
echo "server_peak_kb $peak" >>"$tmp/results.txt"
stop_pid "$server_pid"

# ---- 4. report -------------------------------------------------------------------------------------
report() {
	awk -v n="$N" -v secs="$SECS" -v wt="$WRK_T" -v wc="$WRK_C" -v k="$K" -v w="$W" \
	    -v when="$(date -u +%Y-%m-%dT%H:%MZ)" \
	    -v cpu="$(machine)" '
	{ v[$1] = $2 }
	function kf(x) { return x >= 10000 ? sprintf("%.0fk", x / 1000) : sprintf("%.1fk", x / 1000) }
	function yes(ok) { return ok ? "**met**" : "**missed**" }
	END {
		printf "Run %s, N = %d devices, %s, loopback; `BENCH_DEVICE_COUNT=%d bench/devices.sh`.\n\n", when, n, cpu, n
		print "| operation | devicehubd | raw baseline, this run | ratio | c-libraries.md | target |"
		print "|---|---|---|---|---|---|"
		printf "| connect %d devices, devicehub-sim (one process, --create, 500 handshakes in flight) | all connected in %.1f s = %s connects/s (each also does twin.get + reported.patch) | lws echo: %.2f s = %s connects/s (device_load, 500 in flight) | %.2f× | 5.4k connects/s | — |\n", \
			n, v["sim_connect_seconds"], kf(v["sim_connects_per_s"]), v["echo_connect_seconds"], kf(v["echo_connects_per_s"]), v["sim_connects_per_s"] / v["echo_connects_per_s"]
		printf "| connect %d devices, device_load (the baseline'\''s client, hello awaited) | %s connects/s (%.2f s) | %s connects/s | %.2f× | 5.4k connects/s | — |\n", \
			n, kf(v["dl_connects_per_s"]), v["dl_ready_seconds"], kf(v["echo_connects_per_s"]), v["dl_connects_per_s"] / v["echo_connects_per_s"]
		printf "| server memory per connected device, devicehub-sim | %.2f KB (RSS %.0f → %.0f MB; heap only %.2f KB) | lws echo: %.2f KB/connection (heap %.2f KB) | %.2f× | 1.54 KB | ≤16 KB: %s |\n", \
			v["sim_kb_per_device"], v["sim_rss_before_kb"] / 1024, v["sim_rss_after_kb"] / 1024, v["sim_anon_kb_per_device"], \
			v["echo_server_kb_per_conn"], v["echo_server_anon_kb_per_conn"], v["sim_kb_per_device"] / v["echo_server_kb_per_conn"], yes(v["sim_kb_per_device"] <= 16)
		printf "| server memory per connected device, device_load (connect only) | %.2f KB (heap %.2f KB) | %.2f KB | %.2f× | 1.54 KB | ≤16 KB: %s |\n", \
			v["dl_server_kb_per_conn"], v["dl_server_anon_kb_per_conn"], v["echo_server_kb_per_conn"], v["dl_server_kb_per_conn"] / v["echo_server_kb_per_conn"], yes(v["dl_server_kb_per_conn"] <= 16)
		printf "| direct method REST → device → REST (wrk -t%d -c%d, %d s, %d devices connected) | %s calls/s (p50 %s ms, p99 %s ms) | lws echo: %s round trips/s over %d connections (p50 %.2f ms, p99 %.2f ms) | %.2f× | 70k round trips/s | ≥5k/s: %s |\n", \
			wt, wc, secs, n, kf(v["method_rps"]), v["method_p50_ms"], v["method_p99_ms"], kf(v["echo_rps"]), n, v["echo_p50_ms"], v["echo_p99_ms"], v["method_rps"] / v["echo_rps"], yes(v["method_rps"] >= 5000 && v["method_non2xx"] == 0)
		printf "| reported.patch → reported.ack (%d devices × %d in flight, %d s) | %s acks/s (p50 %.2f ms, p99 %.2f ms) | SQLite json_set update %s/s (1 per tx) | %.2f× | 25k/s | ≥10k/s: %s |\n", \
			k, w, secs, kf(v["reported_rps"]), v["reported_p50_ms"], v["reported_p99_ms"], kf(v["sqlite_update_per_s"]), v["reported_rps"] / v["sqlite_update_per_s"], yes(v["reported_rps"] >= 10000 && v["reported_errors"] == 0)
		printf "\nCPU: connect storm: server %.1f s, simulator %.1f s (whole run); methods: server %.1f µs and device client %.1f µs per call; reported: server %.1f µs per patch. ", \
			v["sim_server_cpu_s"], v["sim_client_cpu_s"], v["method_server_cpu_s"] * 1e6 / v["method_requests"], v["method_device_cpu_s"] * 1e6 / v["method_requests"], \
			v["reported_server_cpu_s"] * 1e6 / (v["reported_received"] ? v["reported_received"] : 1)
		printf "Method calls: non-2xx %d, socket errors %d; reported: hub errors %d. The hub counted %d live devices with the simulator. Device listen backlog %d. Server peak RSS %.0f MB.\n", \
			v["method_non2xx"], v["method_errors"], v["reported_errors"], v["sim_live"], v["backlog"], v["server_peak_kb"] / 1024
	}' "$tmp/results.txt"
}
report | tee "${BENCH_OUT:-/dev/null}"

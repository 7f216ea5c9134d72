#!/usr/bin/env bash
# bench/run.sh [path/to/devicehubd]: devicehub's benchmark suite, in one invocation, on loopback only.
#
#   1. raw SQLite baseline (bench/sqlite_baseline.c) on rows shaped like the identities table;
#   2. a fresh devicehubd (temp data dir, --index tags.region): bulk create of N devices through
#      POST /devices (bench/bulk_load.c), GET /twins/{id} and PATCH /twins/{id} with wrk, two queries
#      through POST /devices/query timed with curl (median of several runs);
#   3. a Markdown table: every figure beside its raw baseline from this run and the reference figure from
#      /work/shared/reference/c-libraries.md.
#
# Every step is bounded (timeout, fixed durations); the server is stopped and the temp dir removed on exit,
# whatever happens. Settings (environment):
#   BENCH_DEVICES=1000000   devices created (and rows in the baseline)
#   BENCH_SECONDS=10        duration of each wrk run (the baseline's read/update phases take 3 s each)
#   BENCH_CONNECTIONS=4     keep-alive connections of the bulk loader
#   BENCH_WRK_THREADS=2  BENCH_WRK_CONNECTIONS=32
#   BENCH_QUERY_RUNS=7      runs of each query (the median is reported)
#   BENCH_PORT              server port (default: a free one picked at random)
#   BENCH_OUT=file          also write the Markdown table to this file
#   BENCH_KEEP=1            keep the temp dir (database, logs) for inspection
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-$here/../build/devicehubd}
N=${BENCH_DEVICES:-1000000}
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-4}
WRK_T=${BENCH_WRK_THREADS:-2}
WRK_C=${BENCH_WRK_CONNECTIONS:-32}
QRUNS=${BENCH_QUERY_RUNS:-7}
HUB=benchhub

. "$here/lib.sh"
require_tools gcc wrk curl openssl
BIN=$(require_exe "$BIN" devicehubd)
bench_tmpdir dh-bench

# ---- helpers ---------------------------------------------------------------------------------------
log "building bench helpers"
build_helper sqlite_baseline -lsqlite3 -lpthread
build_helper bulk_load -lpthread

# ---- 1. raw SQLite baseline --------------------------------------------------------------------------
log "raw SQLite baseline, N=$N"
sqlite_baseline "$N" 3 | tee "$tmp/baseline.txt" >&2

# ---- 2. devicehubd ---------------------------------------------------------------------------------
port=${BENCH_PORT:-$(free_port)}
log "starting devicehubd on 127.0.0.1:$port"
start_hub server --data-dir "$tmp/data" --http-addr 127.0.0.1 --http-port "$port" --hostname "$HUB" \
	--index tags.region --log-level warn
key=$(owner_key server)
BENCH_AUTH=$(sas_token "$HUB" "$key")
export BENCH_AUTH
export BENCH_DEVICES=$N
base="http://127.0.0.1:$port"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $BENCH_AUTH" "$base/statistics/devices")
[ "$code" = 200 ] || { echo "bench: the SAS token was refused ($code)" >&2; exit 1; }

log "bulk create of $N devices, $CONNS connections"
cpu0=$(cpu_s "$server_pid")
timeout 900 "$tmp/bulk_load" 127.0.0.1 "$port" "$BENCH_AUTH" "$N" "$CONNS" | tee "$tmp/bulk.txt" >&2
cpu1=$(cpu_s "$server_pid")
echo "bulk_server_cpu_s $(echo "$cpu1 - $cpu0" | bc -l)" >>"$tmp/bulk.txt"
expect_devices "$N" "$BENCH_AUTH"

run_wrk() { # name script
	log "$1: wrk -t$WRK_T -c$WRK_C -d${SECS}s"
	local c0 c1
	c0=$(cpu_s "$server_pid")
	timeout $((SECS + 60)) wrk -t"$WRK_T" -c"$WRK_C" -d"${SECS}s" --latency -s "$here/$2" "$base/" >"$tmp/$1.txt"
	c1=$(cpu_s "$server_pid")
	grep -E 'Requests/sec|Latency|Non-2xx' "$tmp/$1.txt" >&2 || true
	sed -n 's/^wrk_result //p' "$tmp/$1.txt" | tr ' ' '\n' | sed "s/^/$1_/; s/=/ /" >>"$tmp/wrk.txt"
	echo "$1_server_cpu_s $(echo "$c1 - $c0" | bc -l)" >>"$tmp/wrk.txt"
}
: >"$tmp/wrk.txt"
# A short warm-up so the first GET run does not measure a cold page cache.
timeout 60 wrk -t"$WRK_T" -c"$WRK_C" -d2s -s "$here/twin_get.lua" "$base/" >/dev/null
run_wrk get twin_get.lua
run_wrk patch twin_patch.lua

time_query() { # name sql
	local body ms=()
	body=$(printf '{"query":"%s"}' "$2")
	# The answer of the first run is kept to check it; its time counts like the others.
	for i in $(seq "$QRUNS"); do
		ms+=("$(curl -s -o "$tmp/$1.json" -w '%{time_total}' -X POST -H "Authorization: $BENCH_AUTH" \
			-H 'Content-Type: application/json' --data "$body" --max-time 60 "$base/devices/query?api-version=2021-04-12" |
			awk '{ printf "%.2f", $1 * 1000 }')")
	done
	log "$1: ${ms[*]} ms; answer $(head -c 200 "$tmp/$1.json")"
	echo "$1_ms $(printf '%s\n' "${ms[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')" >>"$tmp/query.txt"
	echo "$1_answer $(tr -d ' \n' <"$tmp/$1.json" | head -c 120)" >>"$tmp/query.txt"
}
: >"$tmp/query.txt"
time_query count "SELECT COUNT() AS n FROM devices WHERE tags.region = 'r3'"
time_query group "SELECT tags.floor, COUNT() AS n FROM devices GROUP BY tags.floor"

rss_kb=$(status_kb "$server_pid" VmHWM)
db_mb=$(du -sm "$tmp/data" | awk '{ print $1 }')

# ---- 3. report -------------------------------------------------------------------------------------
B=$tmp/baseline.txt; K=$tmp/bulk.txt; W=$tmp/wrk.txt; Q=$tmp/query.txt
report() {
	awk -v n="$N" -v secs="$SECS" -v conns="$CONNS" -v wt="$WRK_T" -v wc="$WRK_C" -v qruns="$QRUNS" \
	    -v rss="$rss_kb" -v dbmb="$db_mb" -v when="$(date -u +%Y-%m-%dT%H:%MZ)" \
	    -v cpu="$(machine)" '
	FNR == 1 { file++ }
	{ v[$1] = $2 }
	function k(x) { return x >= 10000 ? sprintf("%.0fk", x / 1000) : sprintf("%.1fk", x / 1000) }
	function yes(ok) { return ok ? "**met**" : "**missed**" }
	END {
		printf "Run %s, N = %d devices, %s, loopback; `BENCH_DEVICES=%d bench/run.sh`.\n\n", when, n, cpu, n
		print "| operation | devicehubd | raw SQLite, this run | ratio | c-libraries.md | target |"
		print "|---|---|---|---|---|---|"
		bulk = v["bulk_devices_per_s"]; ins = v["insert_rows_per_s"]
		printf "| bulk create `POST /devices` (100/call, %d conns) | %s devices/s (%d in %.1f s) | insert %s rows/s (10k/tx, key order) | %.2f× | 230k rows/s | 1M in ≤60 s (≥16.7k/s): %s |\n", \
			conns, k(bulk), n, v["bulk_seconds"], k(ins), bulk / ins, yes(bulk >= 1000000 / 60)
		get = v["get_rps"]; kr2 = v["key_read2_per_s"]
		printf "| `GET /twins/{id}` (wrk -t%d -c%d, %d s) | %s req/s (p50 %s ms, p99 %s ms) | key read %s/s on 2 threads (1 thread: %s; by rowid: %s) | %.2f× | PK read 255k/s on 2 threads; MHD + PK read 63–65k req/s | ≥20k/s: %s |\n", \
			wt, wc, secs, k(get), v["get_p50_ms"], v["get_p99_ms"], k(kr2), k(v["key_read_per_s"]), k(v["pk_read_per_s"]), get / kr2, yes(get >= 20000 && v["get_non2xx"] == 0)
		pat = v["patch_rps"]; up = v["update_per_s"]
		printf "| `PATCH /twins/{id}` (wrk -t%d -c%d, %d s) | %s req/s (p50 %s ms, p99 %s ms) | json_set update %s/s (1 per tx) | %.2f× | 25k/s | ≥5k/s: %s |\n", \
			wt, wc, secs, k(pat), v["patch_p50_ms"], v["patch_p99_ms"], k(up), pat / up, yes(pat >= 5000 && v["patch_non2xx"] == 0)
		c = v["count_ms"]; ci = v["count_index_ms"]
		printf "| query `COUNT() WHERE tags.region = '\''r3'\''` (indexed; median of %d) | %.1f ms | %.1f ms with the (expr, module_id) index (%.1f ms with an (expr) index, %.0f ms full scan) | %.2f× the time | 14.6 ms (966 ms scan) | ≤20 ms: %s |\n", \
			qruns, c, ci, v["count_index1_ms"], v["count_scan_ms"], c / ci, yes(c <= 20)
		g = v["group_ms"]; gi = v["group_ms_raw"]
		printf "| query `tags.floor, COUNT() GROUP BY tags.floor` (no index; median of %d) | %.0f ms | %.0f ms | %.2f× the time | 2.0–2.6 s | ≤2 s: %s |\n", \
			qruns, g, gi, g / gi, yes(g <= 2000)
		printf "\nClient and server cost: bulk load client %.1f s CPU against the server'\''s %.1f s over %.1f s wall (p50 %s ms, p99 %s ms per call); " , \
			v["bulk_client_cpu_s"], v["bulk_server_cpu_s"], v["bulk_seconds"], v["bulk_p50_ms"], v["bulk_p99_ms"]
		printf "server CPU per request: GET %.1f µs, PATCH %.1f µs. Non-2xx: GET %d, PATCH %d; socket errors: GET %d, PATCH %d.\n", \
			v["get_server_cpu_s"] * 1e6 / v["get_requests"], v["patch_server_cpu_s"] * 1e6 / v["patch_requests"], \
			v["get_non2xx"], v["patch_non2xx"], v["get_errors"], v["patch_errors"]
		printf "Server peak RSS %.0f MB; database %d MB. Answers: count %s; group %s.\n", rss / 1024, dbmb, v["count_answer"], substr(v["group_answer"], 1, 80) "…"
	}' "$B" "$K" "$W" "$Q"
}
# group_ms appears in both the baseline and the query results: keep the raw one under its own name.
sed -i 's/^group_ms /group_ms_raw /' "$B"
report | tee "${BENCH_OUT:-/dev/null}"

#!/usr/bin/env bash
# bench/import.sh [path/to/devicehubd]: bulk import and export throughput (docs/performance.md,
# "Import and export"), in one invocation, on loopback only.
#
#   1. raw SQLite baseline (bench/sqlite_baseline.c): insert_rows_per_s on N identities-shaped rows;
#   2. a fresh devicehubd (temp data dir): N generated JSON lines (create, a tag pair and a desired
#      property each) POSTed to /devicehub/imports, timed from the POST to the first GET that shows the
#      import completed; then GET /devicehub/exports?keys=true streamed to a file, timed, lines counted;
#      the server's peak RSS (VmHWM) after each step;
#   3. a Markdown table of both beside the baseline.
#
# Every step is bounded (timeout); the server is stopped by pid and the temp dir removed on exit.
# Settings (environment): BENCH_DEVICES=1000000, BENCH_PORT, BENCH_OUT=file, BENCH_KEEP=1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-$here/../build/devicehubd}
N=${BENCH_DEVICES:-1000000}
HUB=benchhub

. "$here/lib.sh"
require_tools gcc curl openssl awk bc
BIN=$(require_exe "$BIN" devicehubd)
bench_tmpdir dh-bench-import
now() { date +%s.%N; }

log "raw SQLite baseline, N=$N"
build_helper sqlite_baseline -lsqlite3 -lpthread
sqlite_baseline "$N" 1 >"$tmp/baseline.txt"
base_insert=$(val insert_rows_per_s "$tmp/baseline.txt")

log "generating $N JSON lines"
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++)
	printf "{\"id\":\"imp-%07d\",\"importMode\":\"create\",\"tags\":{\"region\":\"r%d\",\"floor\":%d},\"properties\":{\"desired\":{\"interval\":%d}}}\n", i, i % 10, i % 50, 30 + i % 5 }' >"$tmp/import.jsonl"
bytes=$(stat -c %s "$tmp/import.jsonl")

port=${BENCH_PORT:-$(free_port)}
log "starting devicehubd on 127.0.0.1:$port"
start_hub server --data-dir "$tmp/data" --http-addr 127.0.0.1 --http-port "$port" --hostname "$HUB" --mqtt-port 0 \
	--device-addr 127.0.0.1 --device-port "$((port + 1))" --log-level warn
key=$(owner_key server)
AUTH=$(sas_token "$HUB" "$key")
base="http://127.0.0.1:$port"
mb() { awk '{ print int($1 / 1024) }'; } # kB on stdin -> whole MB
rss() { status_kb "$server_pid" VmHWM | mb; }
# Heap and other anonymous memory (RssAnon), sampled every 0.2 s into $tmp/anon.txt while a step runs:
# VmHWM also counts the database pages SQLite reads through its 1 GB mmap, which are page cache.
sample_anon() { while kill -0 "$server_pid" 2>/dev/null; do
	status_kb "$server_pid" RssAnon | mb >>"$tmp/anon.txt"; sleep 0.2; done; }
peak_anon() { sort -n "$tmp/anon.txt" | tail -1; : >"$tmp/anon.txt"; }

log "import of $N lines ($bytes bytes)"
: >"$tmp/anon.txt"
sample_anon &
sampler=$!
track "$sampler"
t0=$(now)
id=$(curl -sf -H "Authorization: $AUTH" -H 'Content-Type: application/x-ndjson' --data-binary @"$tmp/import.jsonl" \
	"$base/devicehub/imports" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
[ -n "$id" ] || { echo "bench: the import was refused" >&2; exit 1; }
t_accepted=$(now)
status=running
for _ in $(seq 12000); do # at most 20 minutes
	out=$(curl -sf -H "Authorization: $AUTH" "$base/devicehub/imports/$id")
	status=$(printf '%s' "$out" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')
	[ "$status" = running ] || break
	sleep 0.1
done
t1=$(now)
[ "$status" = completed ] || { echo "bench: import ended $status: $out" >&2; exit 1; }
succeeded=$(printf '%s' "$out" | sed -n 's/.*"succeeded":\([0-9]*\).*/\1/p')
rss_import=$(rss)
anon_import=$(peak_anon)
import_s=$(echo "$t1 - $t0" | bc -l)
upload_s=$(echo "$t_accepted - $t0" | bc -l)

log "export of $N devices (keys=true)"
t0=$(now)
timeout 900 curl -sf -H "Authorization: $AUTH" "$base/devicehub/exports?keys=true" -o "$tmp/export.jsonl"
t1=$(now)
export_s=$(echo "$t1 - $t0" | bc -l)
lines=$(wc -l <"$tmp/export.jsonl")
ebytes=$(stat -c %s "$tmp/export.jsonl")
rss_export=$(rss)
anon_export=$(peak_anon)
stop_pid "$sampler"

table=$(cat <<TABLE
| operation | devicehubd | raw SQLite baseline, this run | ratio |
|---|---|---|---|
| import $N JSON lines ($((bytes / 1048576)) MB; POST → completed) | **$(printf '%.1f' "$import_s") s** ($(echo "$succeeded / $import_s" | bc) devices/s; upload + 202 $(printf '%.1f' "$upload_s") s; $succeeded succeeded) | insert $N rows, 10,000 per transaction: $base_insert rows/s | $(echo "scale=1; $base_insert / ($succeeded / $import_s)" | bc)× slower |
| export $lines devices with keys (streamed, $((ebytes / 1048576)) MB) | **$(printf '%.1f' "$export_s") s** ($(echo "$lines / $export_s" | bc) devices/s) | — | — |
| server peak anonymous memory (RssAnon, sampled every 0.2 s) | during import $anon_import MB, during export $anon_export MB | — | — |
| server peak RSS (VmHWM, includes mmap'd database pages) | after import $rss_import MB, after export $rss_export MB | — | — |
TABLE
)
echo "$table"
[ -z "${BENCH_OUT:-}" ] || echo "$table" >"$BENCH_OUT"

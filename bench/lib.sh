# shellcheck shell=bash disable=SC2154  # sourced: port, BIN are the calling script's globals
# bench/lib.sh: the shell helpers every benchmark script shares (run.sh, devices.sh, jobs.sh, import.sh,
# dashboard.sh source it right after `set -euo pipefail`). It owns the temp dir and its clean-up, the
# processes a script starts (stopped by pid, never by name), port picking, starting devicehubd and
# signing its owner token, and the small readers of /proc and of "key value" result files.
# It must never measure or print a result itself: what a script measures and the table it prints stay in
# the script, so docs/performance.md's tables compare across runs. Sourcing it only defines functions.
#
# Globals it reads: BIN (devicehubd), tmp (after bench_tmpdir), port (start_hub), BENCH_KEEP.
# Globals it sets: tmp (bench_tmpdir), server_pid (start_hub).

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench_pids=()

# log MSG...: one timestamped progress line on stderr (stdout is for the table).
log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

# require_tools TOOL...: exits 2 naming the first TOOL not on PATH.
require_tools() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 2; }
	done
}

# require_pkg MODULE DEBIAN-PACKAGE: exits 2 unless pkg-config knows MODULE (to compile a helper).
require_pkg() { pkg-config --exists "$1" || { echo "bench: $2 is required" >&2; exit 2; }; }

# require_exe PATH NAME: prints PATH made absolute; exits 2 if it is not an executable (make build first).
require_exe() {
	[ -x "$1" ] || { echo "bench: no $2 at $1 (make build first)" >&2; exit 2; }
	echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}

# bench_tmpdir PREFIX: sets tmp to a new ${TMPDIR:-/tmp}/PREFIX.XXXXXX and arranges that on exit or
# interrupt every tracked process is stopped and tmp removed (kept with BENCH_KEEP=1).
# Call it in the script's own shell (not in $(...)): it sets the traps. PREFIX must not start with
# devicehub-: test clean-ups sweep that prefix from /tmp.
bench_tmpdir() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

# bench_cleanup: the EXIT trap of bench_tmpdir: stops the tracked processes, removes (or keeps) tmp.
bench_cleanup() {
	local p
	for p in "${bench_pids[@]}"; do stop_pid "$p"; done
	if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}

# track PID: PID (a child of this shell) is stopped on exit unless stop_pid stopped it first.
track() { bench_pids+=("$1"); }

# stop_pid PID: TERM, wait up to 5 s, then KILL; reaps it and forgets it (its number may be reused).
stop_pid() {
	local p=$1 q kept=()
	for q in "${bench_pids[@]}"; do [ "$q" = "$p" ] || kept+=("$q"); done
	bench_pids=("${kept[@]}")
	kill -0 "$p" 2>/dev/null || return 0
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}

# free_port: prints a random loopback port P with no socket at all (listening, connected or closing) on
# P or P+1 (the device port); fails after 50 tries. P is drawn below the kernel's ephemeral range: a port
# in it can be taken at any moment by an outgoing connection (the load clients open thousands), and bind
# then fails with EADDRINUSE. Use as port=${BENCH_PORT:-$(free_port)} (set -e stops on failure).
free_port() {
	local p low
	low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$low" -gt 12000 ] || low=32768
	for _ in $(seq 50); do
		p=$((10000 + RANDOM % (low - 10002)))
		if ! ss -Htan "sport = :$p or sport = :$((p + 1))" 2>/dev/null | grep -q .; then echo "$p"; return 0; fi
	done
	echo "bench: no free port found" >&2
	return 1
}

# start_hub NAME ARG...: runs "$BIN" ARG... in the background (stdout in $tmp/NAME.out, stderr in
# $tmp/NAME.err), tracked; sets server_pid. Returns once GET /readyz on 127.0.0.1:$port answers 200
# (every listener up, first-start text written); exits the script if devicehubd ends or 10 s pass.
start_hub() {
	local name=$1
	shift
	"$BIN" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	server_pid=$!
	track "$server_pid"
	for _ in $(seq 100); do
		curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/readyz" && return 0
		kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/$name.err" >&2; echo "bench: devicehubd exited" >&2; exit 1; }
		sleep 0.1
	done
	echo "bench: devicehubd did not start" >&2
	exit 1
}

# owner_key NAME: prints the iothubowner key devicehubd NAME (start_hub) showed at its first start;
# fails if there is none (a restart on an existing data dir shows none).
owner_key() {
	local key
	key=$(sed -n 's/.*SharedAccessKeyName=iothubowner;SharedAccessKey=\([^; ]*\).*/\1/p' "$tmp/$1.out" | head -1)
	[ -n "$key" ] || { echo "bench: no owner connection string from devicehubd" >&2; return 1; }
	echo "$key"
}

# sas_token HUB KEY: prints an Authorization value for policy iothubowner valid 4 h (reference §4):
# sig = urlenc(base64(HMAC-SHA256(b64decode(KEY), HUB + "\n" + se))). Good for REST and DeviceConnect.
sas_token() {
	local se hexkey sig
	se=$(($(date +%s) + 4 * 3600))
	hexkey=$(printf '%s' "$2" | openssl base64 -d -A | od -An -v -tx1 | tr -d ' \n')
	sig=$(printf '%s\n%s' "$1" "$se" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary |
		openssl base64 -A | sed 's/+/%2B/g; s|/|%2F|g; s/=/%3D/g')
	echo "SharedAccessSignature sr=$1&sig=$sig&se=$se&skn=iothubowner"
}

# expect_devices N AUTH: exits the script unless the hub on $port counts N devices (totalDeviceCount).
expect_devices() {
	local total
	total=$(curl -s -H "Authorization: $2" "http://127.0.0.1:$port/statistics/devices" |
		sed -n 's/.*"totalDeviceCount":\([0-9]*\).*/\1/p')
	[ "$total" = "$1" ] || { echo "bench: expected $1 devices, the hub has '$total'" >&2; exit 1; }
}

# build_helper NAME [LDFLAG...]: compiles bench/NAME.c to $tmp/NAME with gcc -O2 -Wall -Wextra.
build_helper() {
	local name=$1
	shift
	gcc -O2 -Wall -Wextra -o "$tmp/$name" "$bench_dir/$name.c" "$@"
}

# sqlite_baseline ROWS PHASE_SECONDS: runs $tmp/sqlite_baseline (build_helper first) on a scratch
# database in $tmp, at most 15 min; its "key value" results go to stdout; the database is removed after.
sqlite_baseline() {
	timeout 900 "$tmp/sqlite_baseline" "$tmp/baseline.db" "$1" "$2"
	rm -f "$tmp"/baseline.db*
}

# cpu_s PID: prints the CPU seconds (user + system) PID has used so far, from /proc/PID/stat.
cpu_s() { awk '{ print ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$1/stat"; }

# status_kb PID FIELD: prints FIELD (VmRSS, VmHWM, RssAnon...) of /proc/PID/status, in kB.
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# wait_for FILE PATTERN SECONDS PID: returns 0 once grep finds PATTERN in FILE; 1 (saying why) if PID
# ends or SECONDS pass first.
wait_for() {
	for _ in $(seq $(($3 * 20))); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$4" 2>/dev/null || { echo "bench: process $4 ended while waiting for '$2'" >&2; tail -5 "$1" >&2; return 1; }
		sleep 0.05
	done
	echo "bench: timed out waiting for '$2' in $1" >&2
	return 1
}

# val KEY FILE: prints the value of the last "KEY value" line of FILE (nothing if there is none).
val() { awk -v k="$1" '$1 == k { print $2 }' "$2" | tail -1; }

# collect NAME FILE: appends FILE's numeric "key value" lines to $tmp/results.txt as "NAME_key value".
collect() { sed -n '/^[a-z_0-9]* [-0-9.]*$/p' "$2" | sed "s/^/$1_/" >>"$tmp/results.txt"; }

# machine: prints "N cores, <CPU model>" for a table's first line.
machine() { echo "$(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"; }

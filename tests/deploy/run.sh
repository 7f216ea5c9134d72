#!/usr/bin/env bash
# make test-deploy: builds deploy/Dockerfile with podman, runs the image on loopback and talks to it.
#
#   image builds · serves /healthz through the published port · runs as uid 10001 on a read-only root
#   with no capabilities · HEALTHCHECK reports healthy · REST API creates a device with the owner token ·
#   the dashboard and its chart library are served and the first admin signs in ·
#   simulated devices connect through the published device port · SIGTERM stops it cleanly (exit 0) ·
#   the device survives a restart (volume) · HTTPS + WSS with --tls-cert/--tls-key, when the binary has them
#
# Needs root (CI runs as root; elsewhere it uses sudo for apt and podman). Installs podman, runc,
# debootstrap and iptables when missing, and makes the bookworm base image with
# deploy/make-base-image.sh when it is not there yet (about a minute; kept for the next run, like a
# pulled base image; DEPLOY_KEEP_BASE=0 removes it too). Everything else it makes (image, build stages,
# containers, volumes, temporary files) is removed at the end, pass or fail. Every wait is bounded.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
context=${DEPLOY_CONTEXT:-$root} # the build context: the repository
base=${DEPLOY_BASE:-localhost/devicehub-bookworm:latest}
run_id="dhtest-$$-$RANDOM"
image="localhost/devicehub-test:$run_id"
volume="$run_id-data"
started=$(date +%s)
passed=0
failed=0

sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
# podman, without its complaints that it cannot reach systemd to schedule HEALTHCHECK timers (there is
# no systemd as PID 1 here; the test runs the check itself with `podman healthcheck run`, which records
# the status exactly as the timer would).
pm() { $sudo_cmd podman "$@" 2> >(grep -v 'systemd connection' >&2); }
# Containers on this kind of machine: runc (crun is absent), open files capped at 20,000 (the hard limit
# here), and a process limit podman may not raise above the host's.
run_opts=(--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=4096:4096)

pass() { passed=$((passed + 1)); echo "deploy: ok   $1"; }
fail() { failed=$((failed + 1)); echo "deploy: FAIL $1"; }
check() { local label=$1; shift; if "$@"; then pass "$label"; else fail "$label"; fi; }

tmp=$(mktemp -d /tmp/devicehub-deploy.XXXXXX)
containers=()
cleanup() {
  set +e
  for c in "${containers[@]}"; do pm rm -f -t 2 "$c" >/dev/null 2>&1; done
  pm volume rm -f "$volume" "$volume-tls" >/dev/null 2>&1
  pm rmi -f "$image" >/dev/null 2>&1
  # The build stage's image, if the build left one (it is labelled with this run's id).
  pm images -q --filter "label=devicehub.test=$run_id" 2>/dev/null | xargs -r $sudo_cmd podman rmi -f >/dev/null 2>&1
  [ "${DEPLOY_KEEP_BASE:-1}" = 1 ] || pm rmi -f "$base" >/dev/null 2>&1
  rm -rf "$tmp"
  echo "deploy: $passed passed, $failed failed ($(($(date +%s) - started)) s)"
}
trap cleanup EXIT

install_missing() {
  local missing=() p
  for p in podman runc debootstrap iptables netavark curl openssl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  echo "deploy: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Waits up to $2 seconds for `curl $3...` to answer 200.
wait_200() {
  local what=$1 deadline=$(($(date +%s) + $2)); shift 2
  while [ "$(date +%s)" -lt "$deadline" ]; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" 2>/dev/null)" = 200 ] && return 0
    sleep 0.5
  done
  echo "deploy: $what did not answer 200 in time" >&2
  return 1
}

# The host port podman published for container port $2 of container $1.
host_port() { pm port "$1" "$2/tcp" | head -1 | sed 's/.*://'; }

healthy() {
  timeout 30 $sudo_cmd podman healthcheck run "$1" >/dev/null &&
    [ "$(pm inspect --format '{{.State.Health.Status}}' "$1")" = healthy ]
}

start_container() { # name volume extra-args...
  local name=$1 vol=$2; shift 2
  containers+=("$name")
  pm run -d --name "$name" "${run_opts[@]}" --read-only --cap-drop ALL --security-opt no-new-privileges \
     -p 127.0.0.1::8080 -p 127.0.0.1::8081 -v "$vol:/var/lib/devicehub" "$@" "$image" >/dev/null
}

runtime_is_small() {
  pm run --rm "${run_opts[@]}" --entrypoint sh "$image" -c \
     '! ldd /usr/local/bin/devicehubd /usr/local/bin/devicehub-sim | grep "not found" &&
      ! command -v gcc && ! command -v cc && ! command -v curl'
}

confined() {
  [ "$(pm exec "$name" id -u)" = 10001 ] &&
    pm exec "$name" grep -q '^CapEff:[[:space:]]*0*$' /proc/1/status &&
    ! pm exec "$name" touch /usr/local/bin/x 2>/dev/null
}

api_call() { # method path [body]: curl against $api with the owner token; prints the answer
  curl -sf --max-time 10 "${tls_opts[@]}" -X "$1" -H "Authorization: $token" \
       -H "Content-Type: application/json" "$api$2?api-version=2021-04-12" ${3:+-d "$3"}
}

creates_device() {
  api_call PUT "/devices/$1" '{"authentication":{"type":"sas","symmetricKey":{"primaryKey":"","secondaryKey":""}}}' |
    grep -q "\"deviceId\":\"$1\""
}

# The dashboard from the image: its page, the chart library embedded from Debian's libjs-chart.js at build
# time, and a sign-in as the first admin with the password from DEVICEHUB_ADMIN_PASSWORD.
dashboard_serves() {
  curl -sf --max-time 10 -o "$tmp/index.html" "$api/" && grep -q '<title>devicehub</title>' "$tmp/index.html" &&
    curl -sf --max-time 10 -o "$tmp/chart.js" "$api/ui/chart.min.js" && grep -q 'Chart.js v3' "$tmp/chart.js" &&
    curl -sf --max-time 10 -o "$tmp/login.json" -X POST -H 'Content-Type: application/json' \
      -d '{"name":"admin","password":"deploy-admin-password"}' "$api/devicehub/login" &&
    grep -q '"role":"admin"' "$tmp/login.json"
}

has_device() { api_call GET "/devices/$1" | grep -q "\"deviceId\":\"$1\""; }

# The simulator from the same image, on the host's network, reaches the hub only through its published
# ports; its devices report their model, which the REST API then shows in their twins.
devices_connect() {
  local cs
  cs=$(pm exec "$name" devicehubd owner-connection-string)
  timeout 60 $sudo_cmd podman run --rm "${run_opts[@]}" --network host --entrypoint devicehub-sim "$image" \
    --connection-string "$cs" --api-url "$api" --device-url "ws://127.0.0.1:$dp" \
    --count 3 --prefix deploy-sim- --create --duration 4 2>&1 >"$tmp/sim.log" | grep -v 'systemd connection' >>"$tmp/sim.log"
  [ "${PIPESTATUS[0]}" = 0 ] || { cat "$tmp/sim.log"; return 1; }
  api_call GET /twins/deploy-sim-00003 | grep -q '"model":"dh-'
}

stops_cleanly() {
  pm stop -t 15 "$name" >/dev/null && [ "$(pm inspect --format '{{.State.ExitCode}}' "$name")" = 0 ]
}

survives_restart() {
  pm start "$name" >/dev/null || return 1
  hp=$(host_port "$name" 8080)
  api="http://127.0.0.1:$hp"
  wait_200 "/healthz after the restart" 30 "$api/healthz" && has_device deploy-1
}

wss_serves_hub_cert() {
  timeout 10 openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile "$tmp/tls/cert.pem" \
    -verify_return_error </dev/null 2>/dev/null | grep -q 'Verify return code: 0 (ok)'
}

# ---- set-up ------------------------------------------------------------------------------------------
install_missing
pm image exists "$base" || $sudo_cmd timeout 600 "$root/deploy/make-base-image.sh" "$base"

# ---- the image ---------------------------------------------------------------------------------------
# --format docker keeps HEALTHCHECK (OCI images have none); --layers=false commits no intermediate
# images; --network host lets apt reach the mirror from RUN steps.
build_start=$(date +%s)
if timeout 1500 $sudo_cmd podman build --format docker --layers=false --network host "${run_opts[@]}" \
     --build-arg "BASE=$base" --label "devicehub.test=$run_id" \
     -f "$root/deploy/Dockerfile" -t "$image" "$context" >"$tmp/build.log" 2>&1; then
  size=$(pm image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')
  pass "image builds ($(($(date +%s) - build_start)) s, $size)"
else
  tail -40 "$tmp/build.log"
  fail "image builds"
  exit 1
fi
check "runtime image: every library there, no compiler, no curl" runtime_is_small

# ---- plain HTTP --------------------------------------------------------------------------------------
tls_opts=()
name="$run_id-hub"
start_container "$name" "$volume" -e DEVICEHUB_OWNER_KEY="$(head -c 32 /dev/urandom | base64)" \
  -e DEVICEHUB_ADMIN_PASSWORD=deploy-admin-password
hp=$(host_port "$name" 8080)
dp=$(host_port "$name" 8081)
api="http://127.0.0.1:$hp"
check "serves /healthz on published port $hp" wait_200 "/healthz" 30 "$api/healthz"
check "runs as uid 10001, no capabilities, read-only root" confined
check "HEALTHCHECK reports healthy" healthy "$name"
token=$(pm exec "$name" devicehubd sas-token)
check "REST API creates a device with the owner token" creates_device deploy-1
check "dashboard served with its chart library; admin signs in" dashboard_serves
check "simulated devices connect through published port $dp" devices_connect
check "SIGTERM stops it cleanly (exit 0)" stops_cleanly
check "the device survives a restart (volume)" survives_restart
pm logs "$name" >"$tmp/hub.log" 2>&1 || true

# ---- TLS, once the binary has it ---------------------------------------------------------------------
if pm run --rm "${run_opts[@]}" "$image" --help 2>&1 | grep -q -- '--tls-cert'; then
  mkdir -p "$tmp/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$tmp/tls/key.pem" -out "$tmp/tls/cert.pem" 2>/dev/null
  chmod 0755 "$tmp/tls"; chmod 0444 "$tmp/tls/cert.pem" "$tmp/tls/key.pem" # uid 10001 reads them
  name="$run_id-tls"
  start_container "$name" "$volume-tls" -v "$tmp/tls:/etc/devicehub/tls:ro" \
    -e DEVICEHUB_TLS_CERT=/etc/devicehub/tls/cert.pem -e DEVICEHUB_TLS_KEY=/etc/devicehub/tls/key.pem
  hp=$(host_port "$name" 8080)
  dp=$(host_port "$name" 8081)
  api="https://localhost:$hp"
  tls_opts=(--cacert "$tmp/tls/cert.pem")
  check "HTTPS: /healthz with the hub's certificate on port $hp" \
    wait_200 "https /healthz" 30 "${tls_opts[@]}" "$api/healthz"
  check "HTTPS: HEALTHCHECK reports healthy" healthy "$name"
  token=$(pm exec "$name" devicehubd sas-token)
  check "HTTPS: REST API creates a device" creates_device deploy-tls-1
  check "WSS: device port $dp serves the hub's certificate" wss_serves_hub_cert "$dp"
  pm logs "$name" >>"$tmp/hub.log" 2>&1 || true
else
  echo "deploy: skip TLS (this devicehubd has no --tls-cert)"
fi

[ "$failed" -eq 0 ] || { echo "--- container logs ---"; cat "$tmp/hub.log"; exit 1; }

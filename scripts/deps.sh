#!/usr/bin/env bash
# Installs what building, running and testing devicehub needs on Debian 12, and nothing already there.
set -euo pipefail

packages=(build-essential cmake pkg-config clang libclang-rt-14-dev
          libmicrohttpd-dev libwebsockets-dev libsqlite3-dev libjansson-dev libmbedtls-dev libcmocka-dev libicu-dev
          libssl-dev libjs-chart.js sqlite3 wrk curl openssl nodejs npm
          chromium)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine with Node.js from elsewhere (not Debian's package) needs no nodejs/npm packages.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<< "${missing[*]}"
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Test tools from npm, pinned by tests/package-lock.json; reinstalled whenever the lock file changed.
here=$(cd "$(dirname "$0")/.." && pwd)
stamp="$here/tests/node_modules/.devicehub-lock"
if [ -f "$here/tests/package-lock.json" ] && ! cmp -s "$here/tests/package-lock.json" "$stamp" 2>/dev/null; then
  (cd "$here/tests" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/tests/package-lock.json" "$stamp"
fi

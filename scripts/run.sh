#!/usr/bin/env bash
# `make run`: starts devicehubd on ./data (or DATA_DIR), printing where the API is and how to sign in.
set -euo pipefail
bin=$1; data=$2
port=${DEVICEHUB_HTTP_PORT:-8080}
if [ -f "$data/devicehub.db" ]; then
  echo "REST API and dashboard: http://localhost:$port/"
  echo "Owner connection string:"
  echo "  $("$bin" owner-connection-string --data-dir "$data")"
fi
exec "$bin" --data-dir "$data" "${@:3}"

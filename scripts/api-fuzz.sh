#!/usr/bin/env bash
# Property-based API testing: runs schemathesis (from PyPI, pinned, in a private venv)
# against the OpenAPI document a real controller serves, with every check and both
# positive and negative data (`--checks all --mode all`). Exit status is schemathesis'.
#
# The controller runs from target/debug/opsconductor (brought up to date here) on free
# loopback ports, against a fresh PostgreSQL database and a private RabbitMQ queue
# prefix; all three are removed on exit. It starts with a first admin (random password)
# and a random token key; the script signs in as that admin, makes an API token (an
# access token would expire within the run) and schemathesis sends it with every request.
# The two operations that would end the fuzzer's own credentials are not fuzzed: logout
# (with an API token it revokes that token) and the password change.
#
# Usage: scripts/api-fuzz.sh [extra schemathesis args...]
#   OC_FUZZ_MAX_EXAMPLES   examples per operation and phase (default 30)
#   OC_PG_URL              server URL without database (default postgres://postgres@127.0.0.1:5432)
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "${SCRIPT_DIR}/.." && pwd)"
cd "$REPO_ROOT"

SCHEMATHESIS_VERSION=4.32.5
VENV="${OC_SCHEMATHESIS_VENV:-${REPO_ROOT}/.venv-schemathesis}"
PG_URL="${OC_PG_URL:-postgres://postgres@127.0.0.1:5432}"
MAX_EXAMPLES="${OC_FUZZ_MAX_EXAMPLES:-30}"
BIN="${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/debug/opsconductor"

if ! "${VENV}/bin/st" --version 2>/dev/null | grep -q "${SCHEMATHESIS_VERSION}"; then
  echo "installing schemathesis ${SCHEMATHESIS_VERSION} into ${VENV}"
  python3 -m venv "$VENV"
  "${VENV}/bin/pip" install --quiet --disable-pip-version-check "schemathesis==${SCHEMATHESIS_VERSION}"
fi
# A no-op when the tests just built it; never fuzz a stale binary.
cargo build --locked -q -p opsconductor

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HTTP_PORT="$(free_port)"
GRPC_PORT="$(free_port)"
RUN_ID="fuzz$$$(date +%s)"
DB="oc_${RUN_ID}"
PREFIX="oc-${RUN_ID}"
LOG="$(mktemp -t oc-fuzz-controller.XXXXXX.log)"
OUT="$(mktemp -t oc-fuzz-schemathesis.XXXXXX.log)"
random_hex() { openssl rand -hex 32 2>/dev/null || od -An -tx1 -N32 /dev/urandom | tr -d " \n"; }
ADMIN_PASSWORD="$(random_hex)"

psql "${PG_URL}/postgres" -qc "CREATE DATABASE ${DB}" >/dev/null

CONTROLLER_PID=""
cleanup() {
  if [[ -n "$CONTROLLER_PID" ]]; then
    kill "$CONTROLLER_PID" 2>/dev/null || true
    wait "$CONTROLLER_PID" 2>/dev/null || true
  fi
  psql "${PG_URL}/postgres" -qc "DROP DATABASE IF EXISTS ${DB} WITH (FORCE)" >/dev/null || true
  # Runs the fuzzer started were published to this run's queues: delete them.
  if command -v rabbitmqctl >/dev/null; then
    rabbitmqctl -q list_queues name 2>/dev/null | grep "^${PREFIX}" | while read -r queue; do
      rabbitmqctl -q delete_queue "$queue" >/dev/null 2>&1 || true
    done
  fi
}
trap cleanup EXIT

OPSCONDUCTOR_DATABASE_URL="${PG_URL}/${DB}" \
OPSCONDUCTOR_HTTP_LISTEN="127.0.0.1:${HTTP_PORT}" \
OPSCONDUCTOR_GRPC_LISTEN="127.0.0.1:${GRPC_PORT}" \
OPSCONDUCTOR_QUEUE__PREFIX="${PREFIX}" \
OPSCONDUCTOR_VAULT_KEY="$(random_hex)" \
OPSCONDUCTOR_AUTH_KEY="$(random_hex)" \
OPSCONDUCTOR_BOOTSTRAP_ADMIN=admin \
OPSCONDUCTOR_BOOTSTRAP_ADMIN_PASSWORD="${ADMIN_PASSWORD}" \
OPSCONDUCTOR_LOG=warn \
  "$BIN" controller >"$LOG" 2>&1 &
CONTROLLER_PID=$!

BASE="http://127.0.0.1:${HTTP_PORT}"
for _ in $(seq 1 200); do
  if curl -fsS "${BASE}/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$CONTROLLER_PID" 2>/dev/null; then
    echo "controller exited:"; cat "$LOG"; exit 1
  fi
  sleep 0.1
done
curl -fsS "${BASE}/readyz" >/dev/null

# The value of a top-level string field of the JSON document on stdin.
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
ACCESS_TOKEN="$(curl -fsS -H 'content-type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"${ADMIN_PASSWORD}\"}" \
  "${BASE}/api/v1/auth/login" | json_field access_token)"
TOKEN="$(curl -fsS -H 'content-type: application/json' -H "Authorization: Bearer ${ACCESS_TOKEN}" \
  -d '{"name": "api-fuzz"}' "${BASE}/api/v1/api-tokens" | json_field token)"

echo "== schemathesis against ${BASE}/api/openapi.json"
status=0
"${VENV}/bin/st" --config-file "${REPO_ROOT}/tests/api/schemathesis.toml" run "${BASE}/api/openapi.json" \
  --checks all --mode all \
  --max-examples "$MAX_EXAMPLES" \
  --seed 20261126 \
  --no-color \
  --header "Authorization: Bearer ${TOKEN}" \
  --exclude-name "POST /api/v1/auth/logout" \
  --exclude-name "POST /api/v1/auth/password" \
  "$@" 2>&1 | tee "${OUT}" || status=$?
# A fuzzer that lost its own credentials half-way would only see 401s from then on, which
# the checks accept: the run counts only if the token still works at the end.
if ! curl -fsS -H "Authorization: Bearer ${TOKEN}" "${BASE}/api/v1/auth/me" >/dev/null; then
  echo "the fuzzer's API token no longer works: an operation revoked it or changed its user"
  status=1
fi
if grep -q "panicked" "$LOG"; then
  echo "the controller panicked during the run:"; grep -A5 panicked "$LOG"; status=1
fi
# One plain line for harnesses that do not read schemathesis' own summary: its test-case
# counts ("N generated, N passed, N failed").
summary="$(grep -E '[0-9]+ generated' "${OUT}" | tail -1 || true)"
passed="$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)"
failed="$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)"
if [[ "$status" -ne 0 && "$failed" -eq 0 ]]; then failed=1; fi
echo "api-fuzz: ${passed} passed, ${failed} failed"
exit "$status"

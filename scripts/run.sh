#!/usr/bin/env bash
# `make run`: builds OpsConductor and starts standalone mode — the controller, an agent for
# segment `local`, a SQLite store and an in-process queue in one process, data in ./data.
# Needs the Rust toolchain and Node.js 20 (the web UI; without Node the API still runs and
# the browser shows how to build the UI).
#
# Usage: scripts/run.sh [standalone args...]   e.g. --data-dir /var/lib/opsconductor
#   OPSCONDUCTOR_PROFILE   cargo profile to build (default release; dev builds faster)
#   OPSCONDUCTOR_*         every controller setting (README, Configuration), e.g.
#                          OPSCONDUCTOR_HTTP_LISTEN=0.0.0.0:8080
set -euo pipefail

REPO_ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

PROFILE="${OPSCONDUCTOR_PROFILE:-release}"
case "$PROFILE" in
  dev) PROFILE_DIR=debug ;;
  *) PROFILE_DIR="$PROFILE" ;;
esac
BIN="${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/${PROFILE_DIR}/opsconductor"

if ! command -v cargo >/dev/null; then
  echo "run: cargo not found; install the Rust toolchain (rustup) first" >&2
  exit 1
fi
if [[ ! -x "$BIN" ]]; then
  echo "run: building OpsConductor (${PROFILE} profile); a first build compiles every dependency and takes several minutes on 2 cores — cargo shows its progress below" >&2
else
  echo "run: bringing the ${PROFILE} build up to date" >&2
fi
if command -v npm >/dev/null; then
  echo "run: building the web UI" >&2
  scripts/web.sh build
else
  echo "run: Node.js not found: building without the web UI (the API works; install Node.js 20 for the UI)" >&2
fi
cargo build --locked --profile "$PROFILE" -p opsconductor
echo "run: starting standalone mode (Ctrl-C stops it)" >&2
exec "$BIN" standalone "$@"

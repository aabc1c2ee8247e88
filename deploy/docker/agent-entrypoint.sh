#!/bin/sh
# Entry point of the agent image: on the first start (no identity file yet) take the one-time
# enrollment token from the file OC_ENROLLMENT_TOKEN_FILE names, when OPSCONDUCTOR_ENROLLMENT_TOKEN
# is not set directly; then run `opsconductor "$@"` (default: `agent`).
#
# The file is how the compose stack's setup service hands tokens over (a shared volume); on
# Kubernetes a Secret can be mounted the same way. Once enrolled the agent keeps its
# identity in OPSCONDUCTOR_IDENTITY_FILE and the token is never read again.
#
# The variable is OC_*, not OPSCONDUCTOR_*: every OPSCONDUCTOR_* variable is a setting, and
# settings the binary does not know are refused.
set -eu

identity="${OPSCONDUCTOR_IDENTITY_FILE:-opsconductor-agent.json}"
token_file="${OC_ENROLLMENT_TOKEN_FILE:-}"

if [ "${1:-}" = "agent" ] && [ ! -s "$identity" ] && [ -z "${OPSCONDUCTOR_ENROLLMENT_TOKEN:-}" ] &&
  [ -n "$token_file" ]; then
  if [ ! -r "$token_file" ]; then
    echo "agent-entrypoint: no identity at ${identity} and no readable enrollment token at ${token_file}" >&2
    exit 1
  fi
  OPSCONDUCTOR_ENROLLMENT_TOKEN="$(cat "$token_file")"
  export OPSCONDUCTOR_ENROLLMENT_TOKEN
  echo "agent-entrypoint: first start: enrolling with the token from ${token_file}" >&2
fi

exec opsconductor "$@"

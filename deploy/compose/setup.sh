#!/bin/sh
# One-shot setup of the compose stack (the `setup` service; POSIX sh and curl only):
#   1. signs in as the bootstrap admin;
#   2. creates or updates every segment with its CIDRs (PUT: running it again changes nothing);
#   3. writes a fresh one-time enrollment token per segment to OC_TOKEN_DIR/<segment>.token,
#      owned by the agents' user, for their first start (deploy/docker/agent-entrypoint.sh).
# An agent that has enrolled keeps its identity in its own volume and never reads the token
# again; unused tokens expire after OC_TOKEN_TTL seconds.
#
# Settings (environment):
#   OC_URL                  controller REST address        (http://controller:8080)
#   OC_ADMIN                admin user                     (admin)
#   OC_ADMIN_PASSWORD_FILE  its password                   (/run/secrets/admin_password)
#   OC_SEGMENTS             "name=cidr[,cidr…] …"          (required)
#   OC_TOKEN_DIR            where the tokens go            (/enrollment)
#   OC_AGENT_UID            owner of the token files       (10001, the agent image's user)
#   OC_TOKEN_TTL            token life in seconds          (3600)
# The admin password is the bootstrap one: after changing it, update the secret too.
set -eu

OC_URL="${OC_URL:-http://controller:8080}"
OC_ADMIN="${OC_ADMIN:-admin}"
OC_ADMIN_PASSWORD_FILE="${OC_ADMIN_PASSWORD_FILE:-/run/secrets/admin_password}"
OC_TOKEN_DIR="${OC_TOKEN_DIR:-/enrollment}"
OC_AGENT_UID="${OC_AGENT_UID:-10001}"
OC_TOKEN_TTL="${OC_TOKEN_TTL:-3600}"
: "${OC_SEGMENTS:?set OC_SEGMENTS to \"name=cidr[,cidr] ...\"}"

fail() {
  echo "setup: $*" >&2
  exit 1
}

# A string as the inside of a JSON string literal (backslashes and quotes escaped).
json_escape() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
# The value of a string field of the one-line JSON object on stdin.
json_field() { sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"; }

# METHOD PATH BODY [AUTH]: the response body; a failure prints the problem document and exits.
call() {
  if ! response="$(curl -sS --fail-with-body --retry 5 --retry-connrefused --retry-delay 2 \
    --max-time 30 -X "$1" -H 'content-type: application/json' \
    ${4:+-H "Authorization: Bearer $4"} -d "$3" "${OC_URL}$2")"; then
    fail "$1 $2 failed: ${response:-no answer}"
  fi
  printf '%s' "$response"
}

[ -r "$OC_ADMIN_PASSWORD_FILE" ] || fail "cannot read the admin password from $OC_ADMIN_PASSWORD_FILE"
password="$(cat "$OC_ADMIN_PASSWORD_FILE")"
login="{\"username\":\"$(json_escape "$OC_ADMIN")\",\"password\":\"$(json_escape "$password")\"}"
access="$(call POST /api/v1/auth/login "$login" | json_field access_token)"
[ -n "$access" ] || fail "the login answer has no access_token"

mkdir -p "$OC_TOKEN_DIR"
for spec in $OC_SEGMENTS; do
  name="${spec%%=*}"
  cidrs="${spec#*=}"
  if [ -z "$name" ] || [ "$name" = "$spec" ]; then
    fail "OC_SEGMENTS: '$spec' is not name=cidr[,cidr]"
  fi
  cidr_list="$(printf '%s' "$cidrs" | sed 's/[^,][^,]*/"&"/g')"
  call PUT "/api/v1/segments/${name}" "{\"cidrs\":[${cidr_list}]}" "$access" >/dev/null
  token="$(call POST /api/v1/enrollment-tokens \
    "{\"segment\":\"$(json_escape "$name")\",\"ttl_seconds\":${OC_TOKEN_TTL}}" "$access" |
    json_field token)"
  [ -n "$token" ] || fail "the enrollment-token answer for ${name} has no token"
  # Written aside and renamed: an agent never reads half a token.
  target="${OC_TOKEN_DIR}/${name}.token"
  (umask 077 && printf '%s\n' "$token" >"${target}.new")
  chown "${OC_AGENT_UID}:${OC_AGENT_UID}" "${target}.new" 2>/dev/null ||
    echo "setup: cannot chown ${target} to ${OC_AGENT_UID} (not root?): agents may not read it" >&2
  mv -f "${target}.new" "$target"
  echo "setup: segment ${name} (${cidrs}); enrollment token in ${target}, valid ${OC_TOKEN_TTL}s"
done

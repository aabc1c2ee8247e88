#!/bin/bash
# Container health probe without curl: one HTTP/1.1 GET over bash's /dev/tcp, healthy when
# the answer's status is 200. Installed in both images as /usr/local/bin/opsconductor-healthcheck.
#
# Usage: opsconductor-healthcheck LISTENER PATH
#   LISTENER  http     the controller's REST listener, $OPSCONDUCTOR_HTTP_LISTEN (0.0.0.0:8080)
#             metrics  the agent's metrics listener, $OPSCONDUCTOR_METRICS_LISTEN
#             or an address: 127.0.0.1:8080, [::1]:9464 (a wildcard host is probed on loopback)
#   PATH      /healthz (alive), /readyz (database answers) or /metrics
#
# An agent with metrics_listen unset has nothing to probe and counts as healthy, so turning
# its metrics off does not mark the container unhealthy.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: opsconductor-healthcheck http|metrics|HOST:PORT PATH" >&2
  exit 2
fi
case "$1" in
  http) address="${OPSCONDUCTOR_HTTP_LISTEN:-0.0.0.0:8080}" ;;
  metrics) address="${OPSCONDUCTOR_METRICS_LISTEN:-}" ;;
  *) address="$1" ;;
esac
path="$2"
if [[ -z "$address" ]]; then
  echo "opsconductor-healthcheck: metrics_listen is not set: nothing to probe"
  exit 0
fi

port="${address##*:}"
host="${address%:*}"
host="${host#[}"
host="${host%]}"
case "$host" in
  "" | 0.0.0.0) host=127.0.0.1 ;;
  ::) host=::1 ;;
esac

if ! { exec 3<>"/dev/tcp/${host}/${port}"; } 2>/dev/null; then
  echo "opsconductor-healthcheck: cannot connect to ${host}:${port}"
  exit 1
fi
printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: opsconductor-healthcheck\r\nConnection: close\r\n\r\n' "$path" >&3
status=""
IFS= read -r -t 5 status <&3 || true
exec 3<&-
status="${status%$'\r'}"
case "$status" in
  "HTTP/1."?" 200"*) exit 0 ;;
esac
echo "opsconductor-healthcheck: GET ${path} on ${host}:${port} answered '${status:-nothing}'"
exit 1

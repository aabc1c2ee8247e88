#!/bin/sh
# Smoke test of the compose stack where a container engine with the compose plugin exists
# (CI's image job): starts everything, then checks that
#   - both agents enrolled through the setup service and are online in their segments;
#   - Prometheus scrapes every target (controller, both agents, RabbitMQ, itself);
#   - Grafana has loaded the provisioned dashboards;
#   - a ping of site-b's network gateway runs on site-b's agent (routing by segment CIDR,
#     ICMP from the agent container with NET_RAW only) and every result is ok.
# The stack and its volumes are removed at the end; the logs are kept in compose-logs.txt.
# Needs curl and jq. OC_SMOKE_TIMEOUT: seconds to wait for each check (default 300).
set -eu
cd "$(dirname "$0")"
timeout="${OC_SMOKE_TIMEOUT:-300}"

./init-secrets.sh
cleanup() {
  docker compose logs --no-color >compose-logs.txt 2>&1 || true
  docker compose down --volumes --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT

docker compose up -d

# eventually DESCRIPTION COMMAND...: retries COMMAND every 3 s until it succeeds or time is up.
eventually() {
  what="$1"
  shift
  deadline=$(($(date +%s) + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "smoke-test: FAILED: ${what} (after ${timeout}s)"
      docker compose ps -a
      exit 1
    fi
    sleep 3
  done
  echo "smoke-test: ok: ${what}"
}

base=http://127.0.0.1:8080
password="$(cat secrets/admin_password)"
access_token() {
  curl -fsS -H 'content-type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"${password}\"}" "${base}/api/v1/auth/login" |
    jq -r .access_token
}
agents_online() {
  curl -fsS -H "Authorization: Bearer $(access_token)" "${base}/api/v1/agents" |
    jq -e '[.[] | select(.online) | .segment] | sort == ["site-a", "site-b"]'
}
targets_up() {
  curl -fsS http://127.0.0.1:9090/api/v1/targets |
    jq -e '[.data.activeTargets[] | .health] | length >= 5 and all(. == "up")'
}
dashboards_loaded() {
  curl -fsS -u "admin:$(cat secrets/grafana_admin_password)" \
    'http://127.0.0.1:3000/api/search?type=dash-db' | jq -e 'length >= 1'
}

eventually "controller ready" curl -fsS "${base}/readyz"
eventually "agents of site-a and site-b enrolled and online" agents_online
eventually "Prometheus scrapes every target" targets_up
eventually "Grafana loaded the dashboards" dashboards_loaded

# The gateway of the site-b network (the host's side of the bridge) answers pings.
subnet="$(sed -n 's/^SITE_B_SUBNET=//p' .env)"
subnet="${subnet%/*}"
gateway="${subnet%.*}.1"
token="$(access_token)"
job="$(curl -fsS -H "Authorization: Bearer ${token}" -H 'content-type: application/json' \
  -d "{\"name\": \"smoke test: ping ${gateway}\", \"schedule\": {\"type\": \"interval\", \"seconds\": 3600},
       \"targets\": {\"include\": [{\"type\": \"hosts\", \"hosts\": [\"${gateway}\"]}]},
       \"actions\": [{\"command\": \"ping.icmp\"}]}" \
  "${base}/api/v1/jobs" | jq -r .id)"
run="$(curl -fsS -X POST -H "Authorization: Bearer ${token}" "${base}/api/v1/jobs/${job}/runs" | jq -r .id)"
ping_ran_on_site_b() {
  curl -fsS -H "Authorization: Bearer $(access_token)" "${base}/api/v1/runs/${run}" |
    jq -e '.status == "completed" and .counters.total > 0 and .counters.ok == .counters.total
           and ([.chunks[].segment] | unique) == ["site-b"]'
}
eventually "a ping of ${gateway} ran on site-b's agent, all ok" ping_ran_on_site_b
echo "smoke-test: 5 passed, 0 failed"

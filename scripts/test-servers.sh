#!/usr/bin/env bash
# Start / stop the REAL protocol servers that OpsConductor's tests and
# benchmarks talk to, on loopback only, unprivileged ports, all state under
# ${OC_TEST_SERVERS_DIR:-<repo>/.test-servers} (gitignored).
#
# Usage: scripts/test-servers.sh start|stop|restart|status|env
#
#   start    start snmpd (udp 127.0.0.1:16161, also [::1]:16161 when the
#            loopback has IPv6) and sshd (tcp 127.0.0.1:12222, also
#            [::1]:12222), wait until each answers (20 s deadline), write
#            <state>/env.sh. Idempotent: servers already running and answering
#            are left alone. OC_TEST_SNMP_EXTRA=N also starts N extra snmpd
#            instances on 127.0.0.1:16162.. (default 0; extra instances that
#            are already running are never stopped by `start`).
#   stop     stop every server whose pidfile is in the state dir (only those
#            PIDs, and only if the process really is our daemon).
#   restart  stop, then start.
#   status   print each server up/down; exit 1 if snmpd or sshd is down.
#   env      print the `export KEY=VALUE` lines the tests read, and write the
#            same lines to <state>/env.sh (values are shell-quoted only when
#            they contain special characters; the defaults never do).
#
# Needs: scripts/install-deps.sh (snmpd, snmp, openssh-server). `start` must
# run as root (it creates the local user `octest` and runs sshd).
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "${SCRIPT_DIR}/.." && pwd)"
TEMPLATE_DIR="${REPO_ROOT}/tests/servers"

STATE_DIR="${OC_TEST_SERVERS_DIR:-${REPO_ROOT}/.test-servers}"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd -- "$STATE_DIR" && pwd)"

# ---- fixed test parameters ---------------------------------------------------
SNMP_HOST=127.0.0.1
SNMP_PORT=16161
SNMP_COMMUNITY=oc-public
SNMP_SYSNAME=oc-test-snmpd
SNMP_V3_USER=ocv3
SNMP_V3_AUTH_PROTO=SHA-256
SNMP_V3_AUTH_PASS=oc-auth-pass-123
SNMP_V3_PRIV_PROTO=AES
SNMP_V3_PRIV_PASS=oc-priv-pass-123
SNMP_V3_AUTHNOPRIV_USER=ocv3auth
SNMP_V3_AUTHNOPRIV_PROTO=SHA
SNMP_V3_NOAUTH_USER=ocv3noauth
# user:auth:priv, all with the passwords above (see tests/servers/snmpd.conf.tmpl)
SNMP_V3_MATRIX="oc-md5-des:MD5:DES,oc-sha1-aes:SHA:AES,oc-sha224-aes:SHA-224:AES,oc-sha256-aes:SHA-256:AES,oc-sha384-aes192:SHA-384:AES-192,oc-sha512-aes256:SHA-512:AES-256"
SNMP_EXTRA="${OC_TEST_SNMP_EXTRA:-0}"
SNMP_EXTRA_MAX=200

SSH_HOST=127.0.0.1
SSH_PORT=12222
SSH_USER=octest
SSH_PASSWORD=oc-ssh-pass-123
SSHD_BIN=/usr/sbin/sshd

DEADLINE_S=20

SSH_DIR="${STATE_DIR}/sshd"
SNMP_CLIENT_DIR="${STATE_DIR}/snmp-client"
ENV_FILE="${STATE_DIR}/env.sh"

log() { printf 'test-servers: %s\n' "$*"; }
err() { printf 'test-servers: ERROR: %s\n' "$*" >&2; }

have_ipv6_lo() {
  [[ -r /proc/net/if_inet6 ]] &&
    grep -qE '^0{31}1 .* lo$' /proc/net/if_inet6
}

# Render a template: replace every @KEY@ with its value.
# usage: render TEMPLATE OUT KEY=VALUE...
render() {
  local tmpl="$1" out="$2" kv key val text
  shift 2
  text="$(<"$tmpl")"
  for kv in "$@"; do
    key="${kv%%=*}"
    val="${kv#*=}"
    text="${text//@${key}@/${val}}"
  done
  if [[ "$text" =~ @[A-Z_]+@ ]]; then
    err "unreplaced placeholder ${BASH_REMATCH[0]} in $tmpl"
    return 1
  fi
  printf '%s\n' "$text" >"${out}.tmp"
  mv -f "${out}.tmp" "$out"
}

# Is the PID in PIDFILE alive and running a command line that mentions
# MARKER (our config file path)? Guards against killing a reused PID.
# Prints the PID on success.
pid_is_ours() {
  local pidfile="$1" marker="$2" pid cmdline
  [[ -s "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  [[ -n "$pid" ]] || return 1
  pid_alive "$pid" || return 1
  cmdline="$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null || true)"
  [[ "$cmdline" == *"$marker"* ]] || return 1
  printf '%s\n' "$pid"
}

# Alive = exists and is not a zombie (an exited daemon stays a zombie until
# PID 1 reaps it, which can take a while in containers).
pid_alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ -n "$stat" && "${stat:0:1}" != Z ]]
}

# Stop the daemon recorded in PIDFILE (only if it is ours). TERM, then KILL
# after 5 s.
stop_pidfile() {
  local name="$1" pidfile="$2" marker="$3" pid i
  if ! pid="$(pid_is_ours "$pidfile" "$marker")"; then
    if [[ -e "$pidfile" ]]; then
      rm -f "$pidfile"
      log "$name: not running (removed stale pidfile)"
    else
      log "$name: not running"
    fi
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    pid_alive "$pid" || break
    sleep 0.05
  done
  if pid_alive "$pid"; then
    log "$name: pid $pid did not exit after TERM, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$pidfile"
  log "$name: stopped (pid $pid)"
}

port_in_use() { # proto(t|u) port
  local out
  out="$(ss -Hn -l"$1" "sport = :$2" 2>/dev/null || true)"
  [[ -n "$out" ]]
}

show_port_owner() { # proto port
  ss -Hnp -l"$1" "sport = :$2" 2>/dev/null | sed 's/^/  /' >&2 || true
}

fail_with_log() { # name logfile message
  err "$1: $3"
  if [[ -f "$2" ]]; then
    echo "---- last 30 lines of $2 ----" >&2
    tail -n 30 "$2" >&2 || true
    echo "----" >&2
  fi
  return 1
}

# ---- SNMP ---------------------------------------------------------------------

snmp_client() { # tool args...
  local tool="$1"
  shift
  mkdir -p "$SNMP_CLIENT_DIR"
  SNMP_PERSISTENT_DIR="$SNMP_CLIENT_DIR" SNMPCONFPATH="$SNMP_CLIENT_DIR" MIBS='' \
    "$tool" -m '' "$@"
}

snmp_answers() { # port sysname
  local got
  got="$(snmp_client snmpget -v2c -c "$SNMP_COMMUNITY" -On -Oqv -t 0.5 -r 0 \
    "${SNMP_HOST}:$1" .1.3.6.1.2.1.1.5.0 2>/dev/null || true)"
  got="${got//\"/}"
  [[ "$got" == "$2" ]]
}

snmpd_dir() { # port
  if [[ "$1" == "$SNMP_PORT" ]]; then
    printf '%s/snmpd\n' "$STATE_DIR"
  else
    printf '%s/snmpd-%s\n' "$STATE_DIR" "$1"
  fi
}

snmpd_sysname() { # port
  if [[ "$1" == "$SNMP_PORT" ]]; then
    printf '%s\n' "$SNMP_SYSNAME"
  else
    printf '%s-%s\n' "$SNMP_SYSNAME" "$1"
  fi
}

# Launch one snmpd instance (does not wait). If it is already running and
# answering, leave it. Appends launched ports to SNMP_LAUNCHED. 1 on error.
SNMP_LAUNCHED=()
snmpd_launch() { # port with_ipv6(0|1)
  local port="$1" v6="$2" dir conf pidfile logf sysname addr pid
  dir="$(snmpd_dir "$port")"
  conf="${dir}/snmpd.conf"
  pidfile="${dir}/snmpd.pid"
  logf="${dir}/snmpd.log"
  sysname="$(snmpd_sysname "$port")"

  if pid="$(pid_is_ours "$pidfile" "$conf")"; then
    local i
    for ((i = 0; i < 6; i++)); do
      if snmp_answers "$port" "$sysname"; then
        log "snmpd :$port already running (pid $pid)"
        return 0
      fi
    done
    log "snmpd :$port pid $pid is not answering; restarting it"
    stop_pidfile "snmpd :$port" "$pidfile" "$conf"
  else
    rm -f "$pidfile"
  fi

  if port_in_use u "$port"; then
    err "udp port $port is already in use by another process:"
    show_port_owner u "$port"
    return 1
  fi

  mkdir -p "${dir}/persist" || return 1
  addr="udp:${SNMP_HOST}:${port}"
  if [[ "$v6" == 1 ]]; then
    addr="${addr},udp6:[::1]:${port}"
  fi
  render "${TEMPLATE_DIR}/snmpd.conf.tmpl" "$conf" \
    "AGENT_ADDRESS=${addr}" \
    "ENGINE_ID=oc-test-snmpd-${port}" \
    "SYS_NAME=${sysname}" || return 1

  printf '\n==== %s starting snmpd on %s\n' "$(date -Is)" "$addr" >>"$logf"
  # shellcheck disable=SC2094 # snmpd appends to the log itself, after we do
  # snmpd daemonises itself (fork + setsid) and writes the pidfile. Its stdio
  # is detached so callers capturing our output never hang on it.
  SNMP_PERSISTENT_DIR="${dir}/persist" SNMPCONFPATH="${dir}/persist" MIBS='' \
    snmpd -C -c "$conf" -I -smux -A -Lf "$logf" -p "$pidfile" </dev/null >>"$logf" 2>&1 ||
    { fail_with_log "snmpd :$port" "$logf" "snmpd exited with status $?"; return 1; }
  SNMP_LAUNCHED+=("$port")
}

snmpd_wait() { # port deadline_epoch
  local port="$1" deadline="$2" dir sysname
  dir="$(snmpd_dir "$port")"
  sysname="$(snmpd_sysname "$port")"
  while :; do
    if snmp_answers "$port" "$sysname"; then
      log "snmpd :$port up (pid $(tr -dc '0-9' <"${dir}/snmpd.pid" 2>/dev/null || echo '?'))"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      fail_with_log "snmpd :$port" "${dir}/snmpd.log" \
        "did not answer snmpget sysName within ${DEADLINE_S}s"
      return 1
    fi
    sleep 0.1
  done
}

start_snmpd() {
  local v6=0 ports=() p deadline
  if have_ipv6_lo; then v6=1; fi
  if ! [[ "$SNMP_EXTRA" =~ ^[0-9]+$ ]] || ((SNMP_EXTRA > SNMP_EXTRA_MAX)); then
    err "OC_TEST_SNMP_EXTRA must be an integer 0..${SNMP_EXTRA_MAX} (got '$SNMP_EXTRA')"
    return 1
  fi
  ports=("$SNMP_PORT")
  for ((p = 1; p <= SNMP_EXTRA; p++)); do ports+=("$((SNMP_PORT + p))"); done

  SNMP_LAUNCHED=()
  for p in "${ports[@]}"; do
    if [[ "$p" == "$SNMP_PORT" ]]; then
      snmpd_launch "$p" "$v6"
    else
      snmpd_launch "$p" 0
    fi
  done
  deadline=$((SECONDS + DEADLINE_S))
  for p in "${SNMP_LAUNCHED[@]}"; do
    snmpd_wait "$p" "$deadline" || return 1
  done
}

# All snmpd instance dirs present in the state dir, main one first.
snmpd_instance_ports() {
  local d
  [[ -d "${STATE_DIR}/snmpd" ]] && echo "$SNMP_PORT"
  for d in "${STATE_DIR}"/snmpd-*; do
    [[ -d "$d" ]] || continue
    echo "${d##*/snmpd-}"
  done | sort -n | uniq
}

stop_snmpd() {
  local p dir
  while read -r p; do
    [[ -n "$p" ]] || continue
    dir="$(snmpd_dir "$p")"
    stop_pidfile "snmpd :$p" "${dir}/snmpd.pid" "${dir}/snmpd.conf"
  done < <(snmpd_instance_ports)
}

# ---- SSH ----------------------------------------------------------------------

ssh_answers() {
  local out
  out="$(ssh-keyscan -T 2 -t ed25519 -p "$SSH_PORT" "$SSH_HOST" 2>/dev/null || true)"
  [[ -n "$out" && -f "${SSH_DIR}/ssh_host_ed25519_key.pub" ]] || return 1
  # Must be OUR host key (not some other sshd on the port).
  [[ "$out" == *"$(cut -d' ' -f2 "${SSH_DIR}/ssh_host_ed25519_key.pub")"* ]]
}

ensure_ssh_user() {
  if ! id -u "$SSH_USER" >/dev/null 2>&1; then
    log "creating local user $SSH_USER"
    useradd -m -s /bin/sh "$SSH_USER"
  fi
  # (Re)set the password every start: cheap, and guarantees the known value.
  printf '%s:%s\n' "$SSH_USER" "$SSH_PASSWORD" | chpasswd
}

ensure_ssh_keys() {
  mkdir -p "$SSH_DIR"
  chmod 0755 "$SSH_DIR"
  if [[ ! -s "${SSH_DIR}/ssh_host_ed25519_key" ]]; then
    rm -f "${SSH_DIR}/ssh_host_ed25519_key" "${SSH_DIR}/ssh_host_ed25519_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C oc-test-sshd -f "${SSH_DIR}/ssh_host_ed25519_key"
    log "generated ed25519 host key"
  fi
  if [[ ! -s "${SSH_DIR}/ssh_host_rsa_key" ]]; then
    rm -f "${SSH_DIR}/ssh_host_rsa_key" "${SSH_DIR}/ssh_host_rsa_key.pub"
    ssh-keygen -q -t rsa -b 3072 -N '' -C oc-test-sshd -f "${SSH_DIR}/ssh_host_rsa_key"
    log "generated rsa host key"
  fi
  if [[ ! -s "${SSH_DIR}/client_ed25519" ]]; then
    rm -f "${SSH_DIR}/client_ed25519" "${SSH_DIR}/client_ed25519.pub"
    ssh-keygen -q -t ed25519 -N '' -C "${SSH_USER}@oc-test" -f "${SSH_DIR}/client_ed25519"
    log "generated ed25519 client key for $SSH_USER"
  fi
  chmod 0600 "${SSH_DIR}/ssh_host_ed25519_key" "${SSH_DIR}/ssh_host_rsa_key" \
    "${SSH_DIR}/client_ed25519"
  # sshd reads authorized_keys with the user's privileges: world-readable.
  install -m 0644 "${SSH_DIR}/client_ed25519.pub" "${SSH_DIR}/authorized_keys"
  # known_hosts for clients that verify the host key.
  {
    local k
    for k in ed25519 rsa; do
      printf '[%s]:%s %s\n' "$SSH_HOST" "$SSH_PORT" \
        "$(cut -d' ' -f1,2 "${SSH_DIR}/ssh_host_${k}_key.pub")"
      if have_ipv6_lo; then
        printf '[::1]:%s %s\n' "$SSH_PORT" \
          "$(cut -d' ' -f1,2 "${SSH_DIR}/ssh_host_${k}_key.pub")"
      fi
    done
  } >"${SSH_DIR}/known_hosts"
  chmod 0644 "${SSH_DIR}/known_hosts"
}

start_sshd() {
  local conf="${SSH_DIR}/sshd_config" pidfile="${SSH_DIR}/sshd.pid"
  local logf="${SSH_DIR}/sshd.log" pid listen i deadline

  if [[ ! -x "$SSHD_BIN" ]]; then
    err "$SSHD_BIN not found: run scripts/install-deps.sh"
    return 1
  fi
  ensure_ssh_user
  ensure_ssh_keys

  if pid="$(pid_is_ours "$pidfile" "$conf")"; then
    for ((i = 0; i < 3; i++)); do
      if ssh_answers; then
        log "sshd :$SSH_PORT already running (pid $pid)"
        return 0
      fi
    done
    log "sshd :$SSH_PORT pid $pid is not answering; restarting it"
    stop_pidfile "sshd :$SSH_PORT" "$pidfile" "$conf"
  else
    rm -f "$pidfile"
  fi

  if port_in_use t "$SSH_PORT"; then
    err "tcp port $SSH_PORT is already in use by another process:"
    show_port_owner t "$SSH_PORT"
    return 1
  fi

  listen="ListenAddress ${SSH_HOST}:${SSH_PORT}"
  if have_ipv6_lo; then
    listen+=$'\n'"ListenAddress [::1]:${SSH_PORT}"
  fi
  render "${TEMPLATE_DIR}/sshd_config.tmpl" "$conf" \
    "LISTEN_ADDRESSES=${listen}" \
    "DIR=${SSH_DIR}" \
    "USER=${SSH_USER}"
  # Newer OpenSSH (>= 9.8) penalises sources with many failed/aborted
  # connections; tests and benches hammer from 127.0.0.1, so turn it off
  # where the option exists.
  if "$SSHD_BIN" -t -f "$conf" -o PerSourcePenalties=no >/dev/null 2>&1; then
    printf '\nPerSourcePenalties no\n' >>"$conf"
  fi

  # Privilege-separation directory.
  mkdir -p /run/sshd
  chmod 0755 /run/sshd

  if ! "$SSHD_BIN" -t -f "$conf" 2>>"$logf"; then
    fail_with_log "sshd" "$logf" "config test ($SSHD_BIN -t -f $conf) failed"
    return 1
  fi

  # Warn early if the test user cannot read the authorized_keys file (e.g. a
  # state dir under a private home directory): key login would then fail.
  if command -v runuser >/dev/null 2>&1 &&
    ! runuser -u "$SSH_USER" -- test -r "${SSH_DIR}/authorized_keys" 2>/dev/null; then
    log "WARNING: $SSH_USER cannot read ${SSH_DIR}/authorized_keys; key login will fail (make the path traversable or set OC_TEST_SERVERS_DIR)"
  fi

  printf '\n==== %s starting sshd on %s:%s\n' "$(date -Is)" "$SSH_HOST" "$SSH_PORT" >>"$logf"
  # shellcheck disable=SC2094 # sshd appends to the log itself, after we do
  # sshd daemonises itself and writes PidFile; absolute path is required.
  "$SSHD_BIN" -f "$conf" -E "$logf" </dev/null >>"$logf" 2>&1 ||
    { fail_with_log "sshd" "$logf" "sshd exited with status $?"; return 1; }

  deadline=$((SECONDS + DEADLINE_S))
  while :; do
    if ssh_answers; then
      log "sshd :$SSH_PORT up (pid $(tr -dc '0-9' <"$pidfile" 2>/dev/null || echo '?'))"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      fail_with_log "sshd" "$logf" "did not answer ssh-keyscan within ${DEADLINE_S}s"
      return 1
    fi
    sleep 0.1
  done
}

stop_sshd() {
  stop_pidfile "sshd :$SSH_PORT" "${SSH_DIR}/sshd.pid" "${SSH_DIR}/sshd_config"
}

# ---- env / status -------------------------------------------------------------

running_extra_addrs() {
  local p dir addrs=()
  while read -r p; do
    [[ -n "$p" && "$p" != "$SNMP_PORT" ]] || continue
    dir="$(snmpd_dir "$p")"
    if pid_is_ours "${dir}/snmpd.pid" "${dir}/snmpd.conf" >/dev/null; then
      addrs+=("${SNMP_HOST}:${p}")
    fi
  done < <(snmpd_instance_ports)
  local IFS=,
  printf '%s\n' "${addrs[*]}"
}

env_lines() {
  local kv k v safe_re='^[][A-Za-z0-9_@%+=:,./-]*$'
  local -a vars=(
    "OC_TEST_SERVERS_DIR=${STATE_DIR}"
    "OC_TEST_SNMP_ADDR=${SNMP_HOST}:${SNMP_PORT}"
    "OC_TEST_SNMP_SYSNAME=${SNMP_SYSNAME}"
    "OC_TEST_SNMP_COMMUNITY=${SNMP_COMMUNITY}"
    "OC_TEST_SNMP_V3_USER=${SNMP_V3_USER}"
    "OC_TEST_SNMP_V3_AUTH_PROTO=${SNMP_V3_AUTH_PROTO}"
    "OC_TEST_SNMP_V3_AUTH_PASS=${SNMP_V3_AUTH_PASS}"
    "OC_TEST_SNMP_V3_PRIV_PROTO=${SNMP_V3_PRIV_PROTO}"
    "OC_TEST_SNMP_V3_PRIV_PASS=${SNMP_V3_PRIV_PASS}"
    "OC_TEST_SNMP_V3_AUTHNOPRIV_USER=${SNMP_V3_AUTHNOPRIV_USER}"
    "OC_TEST_SNMP_V3_AUTHNOPRIV_AUTH_PROTO=${SNMP_V3_AUTHNOPRIV_PROTO}"
    "OC_TEST_SNMP_V3_NOAUTH_USER=${SNMP_V3_NOAUTH_USER}"
    "OC_TEST_SNMP_V3_MATRIX=${SNMP_V3_MATRIX}"
    "OC_TEST_SNMP_V3_ENGINE_ID=$(printf 'oc-test-snmpd-%s' "$SNMP_PORT" | od -An -tx1 | tr -d ' \n' | sed 's/^/80001f8804/')"
    "OC_TEST_SNMP_EXTRA_ADDRS=$(running_extra_addrs)"
    "OC_TEST_SSH_ADDR=${SSH_HOST}:${SSH_PORT}"
    "OC_TEST_SSH_USER=${SSH_USER}"
    "OC_TEST_SSH_PASSWORD=${SSH_PASSWORD}"
    "OC_TEST_SSH_KEY=${SSH_DIR}/client_ed25519"
    "OC_TEST_SSH_HOST_KEY_ED25519_PUB=${SSH_DIR}/ssh_host_ed25519_key.pub"
    "OC_TEST_SSH_HOST_KEY_RSA_PUB=${SSH_DIR}/ssh_host_rsa_key.pub"
    "OC_TEST_SSH_KNOWN_HOSTS=${SSH_DIR}/known_hosts"
  )
  if have_ipv6_lo; then
    vars+=("OC_TEST_SNMP_ADDR6=[::1]:${SNMP_PORT}" "OC_TEST_SSH_ADDR6=[::1]:${SSH_PORT}")
  fi
  for kv in "${vars[@]}"; do
    k="${kv%%=*}"
    v="${kv#*=}"
    if [[ "$v" =~ $safe_re ]]; then
      printf 'export %s=%s\n' "$k" "$v"
    else
      printf 'export %s=%q\n' "$k" "$v"
    fi
  done
}

write_env_file() {
  {
    echo "# Written by scripts/test-servers.sh; KEY=VALUE lines, each prefixed by 'export '."
    env_lines
  } >"${ENV_FILE}.tmp"
  mv -f "${ENV_FILE}.tmp" "$ENV_FILE"
}

cmd_status() {
  local down=0 p dir pid state
  while read -r p; do
    [[ -n "$p" ]] || continue
    dir="$(snmpd_dir "$p")"
    if pid="$(pid_is_ours "${dir}/snmpd.pid" "${dir}/snmpd.conf")"; then
      if snmp_answers "$p" "$(snmpd_sysname "$p")"; then state="up"; else state="running but NOT answering"; fi
      printf 'snmpd  udp %s:%-5s %-26s pid %s\n' "$SNMP_HOST" "$p" "$state" "$pid"
      if [[ "$state" != up && "$p" == "$SNMP_PORT" ]]; then down=1; fi
    elif [[ "$p" == "$SNMP_PORT" ]]; then
      printf 'snmpd  udp %s:%-5s down\n' "$SNMP_HOST" "$p"
      down=1
    fi
  done < <(snmpd_instance_ports)
  if [[ ! -d "${STATE_DIR}/snmpd" ]]; then
    printf 'snmpd  udp %s:%-5s down\n' "$SNMP_HOST" "$SNMP_PORT"
    down=1
  fi
  if pid="$(pid_is_ours "${SSH_DIR}/sshd.pid" "${SSH_DIR}/sshd_config")"; then
    if ssh_answers; then state="up"; else state="running but NOT answering"; down=1; fi
    printf 'sshd   tcp %s:%-5s %-26s pid %s\n' "$SSH_HOST" "$SSH_PORT" "$state" "$pid"
  else
    printf 'sshd   tcp %s:%-5s down\n' "$SSH_HOST" "$SSH_PORT"
    down=1
  fi
  return "$down"
}

cmd_start() {
  if [[ $(id -u) -ne 0 ]]; then
    err "start must run as root (creates user $SSH_USER, runs sshd)"
    return 1
  fi
  local missing=() t
  for t in snmpd snmpget ssh-keygen ssh-keyscan ss; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    err "missing tools: ${missing[*]} (run scripts/install-deps.sh)"
    return 1
  fi
  start_snmpd
  start_sshd
  write_env_file
  log "env written to $ENV_FILE"
}

cmd_stop() {
  stop_snmpd
  stop_sshd
}

# Serialise concurrent invocations (parallel test processes calling start).
exec 9>"${STATE_DIR}/.lock"
if ! flock -w 60 9; then
  err "could not lock ${STATE_DIR}/.lock within 60 s"
  exit 1
fi

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart)
    cmd_stop
    cmd_start
    ;;
  status) cmd_status ;;
  env)
    write_env_file
    env_lines
    ;;
  *)
    echo "usage: $0 start|stop|restart|status|env" >&2
    echo "  env vars: OC_TEST_SERVERS_DIR (state dir), OC_TEST_SNMP_EXTRA=N (extra snmpd on ports $((SNMP_PORT + 1))..)" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Report which ICMP echo mechanisms this process can use:
#   - unprivileged ICMP sockets (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)),
#     allowed when our gid is inside sysctl net.ipv4.ping_group_range
#     (the same sysctl also governs ICMPv6 datagram sockets);
#   - raw sockets (SOCK_RAW), which need root or CAP_NET_RAW.
#
# Usage: scripts/check-icmp.sh [--enable-unprivileged]
#   --enable-unprivileged  set net.ipv4.ping_group_range="0 2147483647" (root
#                          only). Sysctls are NEVER changed without this flag.
#
# Output: human-readable lines followed by machine-readable KEY=VALUE lines
#   OC_ICMP_RAW=yes|no  OC_ICMP_UNPRIVILEGED=yes|no  OC_ICMP_PING_GROUP_RANGE="lo hi"
# Exit status: 0 if at least one mechanism is available, 1 if none.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "${SCRIPT_DIR}/.." && pwd)"
cd -- "$REPO_ROOT"

ENABLE=0
case "${1:-}" in
  "") ;;
  --enable-unprivileged) ENABLE=1 ;;
  -h | --help)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0 [--enable-unprivileged]" >&2
    exit 2
    ;;
esac

SYSCTL_FILE=/proc/sys/net/ipv4/ping_group_range
WIDE_RANGE="0 2147483647"

read_range() {
  if [[ -r "$SYSCTL_FILE" ]]; then
    tr -s ' \t' '  ' <"$SYSCTL_FILE"
  else
    echo ""
  fi
}

if [[ $ENABLE -eq 1 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "check-icmp: --enable-unprivileged needs root" >&2
    exit 1
  fi
  echo "check-icmp: setting net.ipv4.ping_group_range=\"${WIDE_RANGE}\" (was \"$(read_range)\")"
  if ! sysctl -q -w net.ipv4.ping_group_range="${WIDE_RANGE}" 2>/dev/null &&
    ! printf '%s\n' "$WIDE_RANGE" >"$SYSCTL_FILE" 2>/dev/null; then
    echo "check-icmp: could not set the sysctl (read-only /proc/sys in this container?)" >&2
  fi
fi

uid="$(id -u)"
range="$(read_range)"

# --- raw sockets: root or CAP_NET_RAW (bit 13) in the effective set ----------
cap_eff="$(awk '/^CapEff:/ {print $2}' /proc/self/status 2>/dev/null || echo 0)"
has_cap_net_raw=no
if (((16#${cap_eff:-0} >> 13) & 1)); then has_cap_net_raw=yes; fi

# --- unprivileged ICMP: any of our groups inside ping_group_range ------------
in_range=no
if [[ -n "$range" ]]; then
  read -r lo hi <<<"$range"
  for g in $(id -G); do
    if ((g >= lo && g <= hi)); then
      in_range=yes
      break
    fi
  done
fi

# --- practical probe (opens sockets, sends nothing) --------------------------
probe_raw=unknown
probe_dgram=unknown
if command -v python3 >/dev/null 2>&1; then
  probe_socket() { # type
    python3 - "$1" <<'EOF' >/dev/null 2>&1
import socket, sys
kind = socket.SOCK_RAW if sys.argv[1] == "raw" else socket.SOCK_DGRAM
socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
EOF
  }
  if probe_socket raw; then probe_raw=yes; else probe_raw=no; fi
  if probe_socket dgram; then probe_dgram=yes; else probe_dgram=no; fi
fi

raw=no
if [[ "$probe_raw" == yes ]] || [[ "$probe_raw" == unknown && ("$uid" -eq 0 || "$has_cap_net_raw" == yes) ]]; then
  raw=yes
fi
unpriv=no
if [[ "$probe_dgram" == yes ]] || [[ "$probe_dgram" == unknown && "$in_range" == yes ]]; then
  unpriv=yes
fi

echo "user:                       $(id -un 2>/dev/null || echo "$uid") (uid $uid, groups: $(id -G))"
echo "CAP_NET_RAW (effective):    $has_cap_net_raw"
echo "raw ICMP sockets:           $raw (probe: $probe_raw)"
echo "net.ipv4.ping_group_range:  ${range:-unavailable} (our groups inside: $in_range)"
echo "unprivileged ICMP sockets:  $unpriv (probe: $probe_dgram)"
if command -v fping >/dev/null 2>&1; then
  fping_caps="$(getcap "$(command -v fping)" 2>/dev/null | sed 's/^[^ ]* //')"
  echo "fping:                      $(command -v fping) ${fping_caps:-(no file caps)}"
fi
if [[ $ENABLE -eq 0 && "$unpriv" == no ]]; then
  echo "hint: scripts/check-icmp.sh --enable-unprivileged widens ping_group_range (root only)"
fi
echo "OC_ICMP_RAW=$raw"
echo "OC_ICMP_UNPRIVILEGED=$unpriv"
echo "OC_ICMP_PING_GROUP_RANGE=\"$range\""

[[ "$raw" == yes || "$unpriv" == yes ]]

#!/usr/bin/env bash
# Install (only if missing) the Debian packages that OpsConductor's tests and
# benchmarks need: real protocol servers (net-snmp, OpenSSH) and the anchor
# tools (fping, nmap, wrk, hyperfine, ...).
#
# Idempotent: every package is checked with dpkg first, so a second run does
# no apt work at all and finishes in well under 2 s.
#
# Usage: scripts/install-deps.sh [--with-extra]
#   --with-extra   also install tools only a developer needs (shellcheck)
#
# No MIB download: Debian's snmp-mibs-downloader is non-free and fetches from
# the internet, so it is never installed. Tests use numeric OIDs (`-On`,
# `-m ''`), and the test snmpd config needs no MIB files.
#
# Package maintainer scripts are prevented from starting system services
# (snmpd on :161, sshd on :22): the servers the tests use are started on
# unprivileged loopback ports by scripts/test-servers.sh instead.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "${SCRIPT_DIR}/.." && pwd)"
export REPO_ROOT

PACKAGES=(
  snmpd          # net-snmp agent (test SNMP server)
  snmp           # snmpget / snmpbulkwalk / snmpwalk (anchor + verification)
  openssh-server # sshd (test SSH server)
  openssh-client # ssh / ssh-keygen / ssh-keyscan
  sshpass        # password-auth SSH from scripts
  fping          # ICMP anchor
  nmap           # TCP port-scan anchor
  wrk            # HTTP load anchor
  hyperfine      # CLI benchmark anchor
  libcap2-bin    # setcap / getcap (CAP_NET_RAW)
  iproute2       # ip / ss
  procps         # sysctl, ps
  openssl        # TLS cert generation for tests
  passwd         # useradd / chpasswd
  chromium       # the web UI's Playwright tests (Debian's build, never a downloaded one)
  prometheus     # promtool: validates deploy/prometheus/alerts.yml (tests/deploy_assets.rs)
)

if [[ "${1:-}" == "--with-extra" ]]; then
  PACKAGES+=(shellcheck)
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--with-extra]" >&2
  exit 2
fi

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo $0) to install them" >&2
  exit 1
fi

echo "install-deps: installing: ${missing[*]}"

export DEBIAN_FRONTEND=noninteractive

# Keep maintainer scripts from starting system daemons. If the machine has no
# policy-rc.d of its own (Docker images usually do), put one in place for the
# duration of the install and remove it afterwards.
POLICY=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
  if [[ $created_policy -eq 1 ]]; then rm -f "$POLICY"; fi
}
trap cleanup EXIT
if [[ ! -e "$POLICY" ]]; then
  printf '#!/bin/sh\n# temporary, from OpsConductor scripts/install-deps.sh\nexit 101\n' >"$POLICY"
  chmod 0755 "$POLICY"
  created_policy=1
fi

apt_install() {
  apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}"
}

# Refresh the package lists first only when they are absent or the install
# fails on stale lists.
if ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then
  apt-get update -q
fi
if ! apt_install; then
  echo "install-deps: install failed, refreshing package lists and retrying" >&2
  apt-get update -q
  apt_install
fi

# Verify.
failed=()
for pkg in "${missing[@]}"; do
  is_installed "$pkg" || failed+=("$pkg")
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "install-deps: still missing after install: ${failed[*]}" >&2
  exit 1
fi
echo "install-deps: installed: ${missing[*]}"

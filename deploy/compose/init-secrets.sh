#!/bin/sh
# Writes what compose.yaml needs and the repository must never hold, each value random:
#   .env                 from .env.example, with POSTGRES_PASSWORD and RABBITMQ_PASSWORD
#   secrets/auth.key     signs the controller's access tokens (64 hex digits)
#   secrets/vault.key    the credential vault's master key (64 hex digits); losing it
#                        loses the stored credentials: back it up with the database
#   secrets/admin_password          the first OpsConductor admin's password (user admin)
#   secrets/grafana_admin_password  Grafana's admin password
# Files that exist are kept: a second run changes nothing.
#
# The containers run as their own users (10001, Grafana's 472), and compose bind-mounts
# these files as they are: the files are readable by all, the folder by you only.
set -eu
cd "$(dirname "$0")"

# N random bytes as 2N hex digits (URL-safe, so they fit into database and broker URLs).
random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

if [ ! -f .env ]; then
  sed -e "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$(random_hex 24)/" \
    -e "s/^RABBITMQ_PASSWORD=.*/RABBITMQ_PASSWORD=$(random_hex 24)/" \
    .env.example >.env
  chmod 0600 .env
  echo "init-secrets: wrote .env"
fi

mkdir -p secrets
chmod 0700 secrets
for name in auth.key:32 vault.key:32 admin_password:16 grafana_admin_password:16; do
  file="secrets/${name%%:*}"
  if [ ! -s "$file" ]; then
    random_hex "${name#*:}" >"$file"
    echo >>"$file"
    echo "init-secrets: wrote $file"
  fi
  chmod 0644 "$file"
done
echo "init-secrets: OpsConductor's admin password is in $(pwd)/secrets/admin_password"

#!/bin/sh
# aiedge's PostgreSQL image (Debian's postgresql-15): the environment contract of the official
# postgres image, the part aiedge's manifests use. POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB
# and PGDATA; the first start makes the cluster (password auth over TCP), later starts reuse it.
set -eu
bin=/usr/lib/postgresql/15/bin
: "${PGDATA:=/var/lib/postgresql/data}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
for name in "$user" "$db"; do
  case "$name" in
    ''|*[!A-Za-z0-9_]*) echo "error: POSTGRES_USER/POSTGRES_DB '$name': letters, digits and _ only" >&2; exit 1 ;;
  esac
done
# the image's /run/postgresql, unless the engine mounts a fresh /run (podman does): then /tmp
sock=/run/postgresql
mkdir -p "$sock" 2>/dev/null || true
[ -w "$sock" ] || sock=/tmp
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: POSTGRES_PASSWORD is empty: set it (aiedge's manifests take it from the Secret aiedge-hub-db)" >&2
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  "$bin/initdb" -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-host=scram-sha-256 --auth-local=trust \
    -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses='' -k $sock" -w -s start
    "$bin/psql" -h "$sock" -U "$user" -d postgres -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\" OWNER \"$user\""
    "$bin/pg_ctl" -D "$PGDATA" -m fast -w -s stop
  fi
  echo "aiedge-postgres: made the cluster in $PGDATA (user $user, database $db)"
fi
exec "$bin/postgres" -D "$PGDATA" -k "$sock"

#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the storage tests and print one line:
#   export AWSSEC_TEST_POSTGRES_URL=postgresql://...
# so CI can `eval "$(bash .ci/start-postgres.sh)"`. Everything else goes to stderr.
# Idempotent: a second run reuses the running cluster and just prints the line again.
#
# Settings (env): AWSSEC_PG_DIR (default /tmp/awssec-pg), AWSSEC_PG_PORT (54329),
# AWSSEC_PG_USER (awssec), AWSSEC_PG_PASSWORD (awssec), AWSSEC_PG_DB (awssec_test).
# Stop it with: pg_ctl -D "$AWSSEC_PG_DIR/data" stop   (as the postgres user when run as root)
set -euo pipefail

# Keep stdout for the export line only; anything a sub-command prints lands on stderr.
exec 3>&1 1>&2

PG_DIR="${AWSSEC_PG_DIR:-/tmp/awssec-pg}"
PG_PORT="${AWSSEC_PG_PORT:-54329}"
PG_USER="${AWSSEC_PG_USER:-awssec}"
PG_PASSWORD="${AWSSEC_PG_PASSWORD:-awssec}"
PG_DB="${AWSSEC_PG_DB:-awssec_test}"
DATA="$PG_DIR/data"

log() { echo "start-postgres: $*" >&2; }

find_bin() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

if ! PGBIN="$(find_bin)"; then
    log "no PostgreSQL server binaries found; installing the postgresql package"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
    PGBIN="$(find_bin)" || { log "postgresql installed but initdb not found"; exit 1; }
fi
log "using $PGBIN"

# initdb refuses to run as root: as root, run the server as the postgres user.
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$PG_DIR" postgres
    as_pg() { runuser -u postgres -- "$@"; }
    OWNER=postgres
else
    as_pg() { "$@"; }
    OWNER="$(id -un)"
fi

mkdir -p "$PG_DIR"
chown "$OWNER" "$PG_DIR"
chmod 700 "$PG_DIR"

if [[ ! -s "$DATA/PG_VERSION" ]]; then
    log "initialising a cluster in $DATA"
    # The superuser connects over the unix socket in $PG_DIR without a password; the
    # test user connects over TCP with a password, as an application would.
    as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null 2>&1 \
        || as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth-local=trust \
            --auth-host=scram-sha-256 -E UTF8 --locale=C >/dev/null
    cat >>"$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
fi

ready() { as_pg "$PGBIN/pg_isready" -q -h "$PG_DIR" -p "$PG_PORT"; }

# A pid file left by a server that was killed (the session ended, the machine was copied)
# names a process that is gone, a zombie, or by now something else: pg_ctl would take it
# for a running server, and postgres would refuse to start. Remove such leftovers.
remove_stale_locks() {
    local pidfile="$DATA/postmaster.pid" pid state
    [[ -f "$pidfile" ]] || return 0
    pid="$(head -n 1 "$pidfile")"
    state="$(ps -o stat=,comm= -p "$pid" 2>/dev/null || true)"
    if [[ "$state" != *postgres* || "$state" == Z* ]]; then
        log "removing the lock files of a server that is no longer running (pid $pid)"
        rm -f "$pidfile" "$PG_DIR/.s.PGSQL.$PG_PORT" "$PG_DIR/.s.PGSQL.$PG_PORT.lock"
    fi
}

if ready; then
    log "already running"
else
    remove_stale_locks
    if [[ -f "$DATA/postmaster.pid" ]]; then
        log "a server is starting; waiting for it"
    elif (exec 9<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; then
        log "port $PG_PORT is taken by another process; set AWSSEC_PG_PORT"
        exit 1
    else
        log "starting on 127.0.0.1:$PG_PORT"
        # The server outlives this script: it must not inherit our stdout (fd 3, the pipe
        # that `eval "$(...)"` reads until every writer closes it) nor stderr, or the caller
        # hangs.
        as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$PG_DIR/server.log" -w -t 60 start \
            </dev/null >/dev/null 2>&1 3>&- \
            || { log "server failed to start; log follows"; tail -n 30 "$PG_DIR/server.log" >&2; exit 1; }
    fi
fi

# Bounded wait for the socket: pg_ctl -w already waited, this covers a racing second run.
for _ in $(seq 1 30); do
    ready && break
    sleep 1
done
ready || { log "server not ready"; exit 1; }

psql_su() {
    as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres \
        -d postgres "$@"
}

# CREATEDB lets the tests create and drop a database per test module.
psql_su -v u="$PG_USER" -v p="$PG_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'u', :'p')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'u') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'u', :'p') \gexec
SQL
psql_su -v u="$PG_USER" -v d="$PG_DB" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'d', :'u')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'d') \gexec
SQL

log "ready: database $PG_DB, user $PG_USER on 127.0.0.1:$PG_PORT"
echo "export AWSSEC_TEST_POSTGRES_URL=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB" >&3

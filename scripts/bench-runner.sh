#!/usr/bin/env bash
# Runner overhead benchmark: 500 fast queries through `planguard baseline
# --runs 1 --warmup 0` against the same BEGIN / EXPLAIN (ANALYZE, BUFFERS,
# FORMAT JSON) / ROLLBACK statements sent by `psql -f` to the same server.
#
# Usage: scripts/bench-runner.sh [QUERIES]     (default 500)
#
# Needs a release build (cargo build --release) and PostgreSQL 15 server
# binaries (see scripts/lib/pg-cluster.sh). Prints the wall times and the
# ratios planguard/psql for --jobs 1 and --jobs 2, best of 5 each.
# PLANGUARD_BENCH_BASELINES=DIR puts the baseline files there (e.g. a tmpfs,
# /dev/shm) instead of the work directory, to separate the runner's cost
# from the file system's; PLANGUARD_BENCH_WORK=DIR moves the work directory
# (default: under target/).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/pg-cluster.sh
. "$ROOT/scripts/lib/pg-cluster.sh"
trap pg_cluster_stop EXIT
trap 'exit 130' INT TERM

N=${1:-500}
BIN=$ROOT/target/release/planguard
[[ -x $BIN ]] || pg_die "build first: cargo build --release"

pg_cluster_start 15
pg_psql -c "CREATE TABLE bench (id int PRIMARY KEY, v text)" \
        -c "INSERT INTO bench SELECT i, md5(i::text) FROM generate_series(1, 100000) i" \
        -c "VACUUM ANALYZE bench" >/dev/null

# The query files and baselines go under target/ (PLANGUARD_BENCH_WORK=DIR
# elsewhere): docs/PERFORMANCE.md shows how much the directory's file
# system placement alone can change the figures.
mkdir -p "${PLANGUARD_BENCH_WORK:-$ROOT/target}"
WORK=$(mktemp -d "${PLANGUARD_BENCH_WORK:-$ROOT/target}/bench-runner.XXXXXX")
trap 'rm -rf "$WORK"; pg_cluster_stop' EXIT
mkdir "$WORK/queries"
: >"$WORK/psql.sql"
for ((i = 1; i <= N; i++)); do
    sql="SELECT v FROM bench WHERE id = $((i * 97 % 100000 + 1))"
    printf '%s\n' "$sql" >"$WORK/queries/q$i.sql"
    printf 'BEGIN READ ONLY;\nEXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON) %s;\nROLLBACK;\n' "$sql" >>"$WORK/psql.sql"
done

conninfo="host=$PG_SOCK port=$PG_PORT user=postgres dbname=planguard"
now() { date +%s.%N; }
best() { # best of 5 wall times of a command, in seconds
    local b="" t s
    for _ in 1 2 3 4 5; do
        s=$(now); "$@" >/dev/null; t=$(awk -v a="$s" -v b="$(now)" 'BEGIN { print b - a }')
        if [[ -z $b ]] || awk -v t="$t" -v b="$b" 'BEGIN { exit !(t < b) }'; then b=$t; fi
    done
    printf '%s' "$b"
}
run_psql() { "$PG_PSQL" -X -q -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d planguard -f "$WORK/psql.sql"; }
run_pg() { (cd "$WORK" && "$BIN" -q baseline -d "$conninfo" --runs 1 --warmup 0 --jobs "$1" --baselines "${PLANGUARD_BENCH_BASELINES:-$WORK}/b$1"); }

run_psql | grep -c "Node Type" >&2 # warm the cache (and show that every EXPLAIN ran)
psql_s=$(best run_psql)
pg1_s=$(best run_pg 1)
pg2_s=$(best run_pg 2)
awk -v n="$N" -v p="$psql_s" -v a="$pg1_s" -v b="$pg2_s" 'BEGIN {
    printf "queries: %d\npsql -f:                 %.3f s\nplanguard --jobs 1:      %.3f s  (%.2fx psql)\nplanguard --jobs 2:      %.3f s  (%.2fx psql)\n", n, p, a, a / p, b, b / p
}'

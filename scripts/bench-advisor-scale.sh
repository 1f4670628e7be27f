#!/usr/bin/env bash
# Index advisor scaling: the whole-workload selection with HypoPG over
# 1,000 queries and 100 candidate indexes.
#
# Usage: scripts/bench-advisor-scale.sh [TABLES] [QUERIES_PER_TABLE]
#        (default 50 tables, 20 queries each)
#
# Each table (20,000 rows) gets half its queries as `a = v` and half as
# `a = v AND b = w`: two candidates per table, `(a)` and `(a, b)`, so 100
# candidates for the default 50 tables, and the selection keeps `(a, b)`
# and drops `(a)` as redundant. `planguard check --no-analyze -v` runs
# the set; the script prints the wall time and the advisor's `-v` line
# (rounds, plans sent, plans answered from the cache, hypothetical indexes
# created, the selection's own time).
#
# Needs a release build (cargo build --release) and PostgreSQL 15 server
# binaries with HypoPG (Debian: postgresql-15 and postgresql-15-hypopg;
# see scripts/lib/pg-cluster.sh for PLANGUARD_PG_BINDIR_15).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/pg-cluster.sh
. "$ROOT/scripts/lib/pg-cluster.sh"
trap pg_cluster_stop EXIT
trap 'exit 130' INT TERM

TABLES=${1:-50}
PER=${2:-20}
BIN=${PLANGUARD_BIN:-$ROOT/target/release/planguard}
[[ -x $BIN ]] || pg_die "build first: cargo build --release"

pg_cluster_start 15
{
    echo "CREATE EXTENSION hypopg;"
    for ((t = 1; t <= TABLES; t++)); do
        echo "CREATE TABLE t$t AS SELECT g AS id, g % 1000 AS a, g % 50 AS b, md5(g::text) AS pad FROM generate_series(1, 20000) g;"
    done
    echo "VACUUM ANALYZE;"
} | pg_psql >/dev/null

mkdir -p "$ROOT/target"
WORK=$(mktemp -d "$ROOT/target/bench-advisor.XXXXXX")
trap 'rm -rf "$WORK"; pg_cluster_stop' EXIT
mkdir "$WORK/queries"
for ((t = 1; t <= TABLES; t++)); do
    for ((q = 1; q <= PER; q++)); do
        if ((q % 2)); then
            sql="SELECT * FROM t$t WHERE a = $(((t * 31 + q * 7) % 1000))"
        else
            sql="SELECT * FROM t$t WHERE a = $(((t * 31 + q * 7) % 1000)) AND b = $((q % 50))"
        fi
        printf '%s\n' "$sql" >"$WORK/queries/t${t}_q$q.sql"
    done
done

conninfo="host=$PG_SOCK port=$PG_PORT user=postgres dbname=planguard"
start=$(date +%s.%N)
(cd "$WORK" && "$BIN" check -d "$conninfo" --no-analyze -v --format sql >"$WORK/out.sql" 2>"$WORK/err.txt") || true
end=$(date +%s.%N)
grep -q "^CREATE INDEX" "$WORK/out.sql" || { cat "$WORK/err.txt" >&2; pg_die "no index suggested"; }
printf 'queries: %d (%d tables)\n' "$((TABLES * PER))" "$TABLES"
printf 'indexes suggested: %d\n' "$(grep -c '^CREATE INDEX' "$WORK/out.sql")"
grep '^note: index advisor: index set' "$WORK/err.txt" | sed 's/^note: index advisor: //'
awk -v a="$start" -v b="$end" 'BEGIN { printf "check --no-analyze wall time: %.1f s\n", b - a }'

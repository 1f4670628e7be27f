#!/usr/bin/env bash
# The index advisor's benchmark: the schema and the 16 queries of
# benches/advisor/, with no index but the primary keys, then
#
# 1. `planguard check --format sql` with HypoPG, the script applied, and
#    again until a check suggests nothing new (the runs needed);
# 2. the advisor's set: its total size (pg_relation_size) and the query
#    set's total runtime (the sum of each query's median execution time
#    over 5 runs, `planguard check --runs 5`);
# 3. the same for the hand-written reference set (benches/advisor/
#    reference.sql), after dropping the advisor's.
#
# Usage: scripts/bench-advisor.sh            (prints the figures)
#
# Needs a release build (cargo build --release) and PostgreSQL 15 server
# binaries with HypoPG (Debian: postgresql-15, postgresql-15-hypopg).
# PLANGUARD_BIN=PATH runs another planguard binary; PLANGUARD_BENCH_KEEP=1
# keeps the reports and SQL scripts of every run (under target/).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/pg-cluster.sh
. "$ROOT/scripts/lib/pg-cluster.sh"
trap pg_cluster_stop EXIT
trap 'exit 130' INT TERM

BIN=${PLANGUARD_BIN:-$ROOT/target/release/planguard}
[[ -x $BIN ]] || pg_die "build first: cargo build --release"
BENCH=$ROOT/benches/advisor

pg_cluster_start 15 "shared_buffers = '256MB'" "max_parallel_workers_per_gather = 0"
pg_log "loading the schema (a million order lines)"
pg_psql -c "CREATE EXTENSION hypopg" >/dev/null
pg_psql -f "$BENCH/schema.sql" >/dev/null
pg_psql -c "VACUUM ANALYZE" >/dev/null

mkdir -p "$ROOT/target"
WORK=$(mktemp -d "$ROOT/target/bench-advisor.XXXXXX")
if [[ ${PLANGUARD_BENCH_KEEP:-} == 1 ]]; then
    pg_log "keeping the reports and scripts in $WORK"
else
    trap 'rm -rf "$WORK"; pg_cluster_stop' EXIT
fi
cp -r "$BENCH/queries" "$WORK/queries"
conninfo="host=$PG_SOCK port=$PG_PORT user=postgres dbname=planguard"
check() { (cd "$WORK" && "$BIN" -q check -d "$conninfo" "$@") || true; }

# Indexes other than the primary keys, with their sizes.
indexes() {
    pg_psql -c "SELECT i.indexrelid::regclass, pg_relation_size(i.indexrelid)
                  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND NOT i.indisprimary ORDER BY 1"
}
total_size() {
    pg_psql -c "SELECT coalesce(sum(pg_relation_size(i.indexrelid)), 0)
                  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND NOT i.indisprimary"
}
# The set's total runtime: each query's median of 5 runs (ms), summed.
runtime() {
    check --runs 5 --format json >"$WORK/runtime.json"
    cp "$WORK/runtime.json" "$WORK/runtime-$1.json"
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
qs = r["queries"]
bad = [q["id"] for q in qs if q["status"] != "ok"]
if bad:
    sys.exit("not ok: %s" % bad)
print("%.1f" % sum(q["current"]["execution_ms"] for q in qs))
' "$WORK/runtime.json"
}

pg_log "without indexes: the advisor, run after run"
runs=0
for round in 1 2 3 4; do
    check --runs 1 --timeout 60s -v --format sql:"$WORK/run$round.sql" --format json:"$WORK/run$round.json" \
        2>"$WORK/run$round.err" >/dev/null
    n=$(grep -c '^CREATE INDEX' "$WORK/run$round.sql" || true)
    grep '^note: index advisor: index set' "$WORK/run$round.err" >&2 || true
    printf 'run %d: %d indexes suggested\n' "$round" "$n"
    if ((round == 1)); then
        python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
slow = [q["id"] for q in r["queries"] if q["status"] == "timeout"]
print("  without indexes: %d of %d queries took over 60 s: %s" % (len(slow), len(r["queries"]), ", ".join(slow) or "none"))
' "$WORK/run1.json"
        cp "$WORK/run1.sql" "$WORK/advisor.sql"
    fi
    ((n > 0)) || break
    runs=$round
    grep '^CREATE INDEX' "$WORK/run$round.sql" | while IFS= read -r statement; do
        pg_psql -c "$statement" >/dev/null
    done
    pg_psql -c "ANALYZE" >/dev/null
done
printf 'runs needed: %d\n' "$runs"
echo "advisor's set:"
indexes | sed 's/^/  /'
advisor_size=$(total_size)
advisor_ms=$(runtime advisor)

pg_log "the reference set"
indexes | cut -d'|' -f1 | while IFS= read -r index; do
    pg_psql -c "DROP INDEX $index" >/dev/null
done
pg_psql -f "$BENCH/reference.sql" >/dev/null
pg_psql -c "ANALYZE" >/dev/null
echo "reference set:"
indexes | sed 's/^/  /'
reference_size=$(total_size)
reference_ms=$(runtime reference)

python3 -c '
import json, sys
a, r = (json.load(open(f)) for f in sys.argv[1:3])
times = lambda rep: {q["id"]: q["current"]["execution_ms"] for q in rep["queries"]}
ta, tr = times(a), times(r)
print("%-32s %12s %12s" % ("query (median of 5, ms)", "advisor", "reference"))
for q in sorted(ta):
    print("%-32s %12.1f %12.1f" % (q, ta[q], tr[q]))
' "$WORK/runtime-advisor.json" "$WORK/runtime-reference.json"
awk -v as="$advisor_size" -v rs="$reference_size" -v at="$advisor_ms" -v rt="$reference_ms" -v runs="$runs" 'BEGIN {
    printf "advisor:   %6.1f MB, query set %8.1f ms\n", as / 1048576, at
    printf "reference: %6.1f MB, query set %8.1f ms\n", rs / 1048576, rt
    printf "size ratio %.2fx, runtime ratio %.2fx, runs needed %d\n", as / rs, at / rt, runs
}'

#!/usr/bin/env bash
# Make a large real EXPLAIN plan for benchmarks (not committed).
#
# Usage: scripts/make-bench-plan.sh [OUTDIR]        (default: target/bench-data)
#
# Starts a throwaway PostgreSQL 15 cluster (see scripts/lib/pg-cluster.sh),
# creates a range-partitioned table with many partitions and a few rows in
# each, and writes
#
#   OUTDIR/large.json  EXPLAIN (ANALYZE, BUFFERS, VERBOSE, SETTINGS, FORMAT JSON)
#   OUTDIR/large.txt   EXPLAIN (ANALYZE, BUFFERS, VERBOSE, SETTINGS)
#
# of a query that scans every partition with a filter, so that every partition
# shows up as a Seq Scan with Output, Filter and Rows Removed by Filter.
#
# Environment:
#   PLANGUARD_BENCH_PARTITIONS   number of partitions (default: 5000)
#   PLANGUARD_BENCH_ROWS         rows per partition (default: 6)
#   PLANGUARD_BENCH_COLUMNS      data columns of the table (default: 50)
#   PLANGUARD_BENCH_MAJOR        server major version (default: 15)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/pg-cluster.sh
. "$ROOT/scripts/lib/pg-cluster.sh"

trap pg_cluster_stop EXIT
trap 'exit 130' INT TERM

OUT=${1:-$ROOT/target/bench-data}
PARTS=${PLANGUARD_BENCH_PARTITIONS:-5000}
ROWS=${PLANGUARD_BENCH_ROWS:-6}
COLS=${PLANGUARD_BENCH_COLUMNS:-50}
MAJOR=${PLANGUARD_BENCH_MAJOR:-15}
# The query locks every partition in one transaction: size the shared lock
# table (max_locks_per_transaction * max_connections) for that.
LOCKS=$((PARTS / 20 + 256))

started=$EPOCHREALTIME
elapsed() { awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", b - a }'; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

pg_cluster_start "$MAJOR" "max_locks_per_transaction = $LOCKS"
pg_log "PostgreSQL $(pg_psql -c 'SHOW server_version'), $PARTS partitions x $ROWS rows"

# A wide table: besides the key columns, COLS data columns cycling through
# integer, numeric, text, date and boolean, each filled by arithmetic on the
# row number (deterministic). The query selects every column and one
# expression per column, so every Seq Scan gets a long Output list.
types=(integer "numeric(10, 3)" text date boolean)
col_defs=
col_names=
col_values=
select_list="id, sensor_id"
for ((k = 1; k <= COLS; k++)); do
    c=$(printf 'c%02d' "$k")
    t=${types[(k - 1) % 5]}
    col_defs+=",
    $c $t NOT NULL"
    col_names+=", $c"
    case $t in
    integer)
        col_values+=", (i * $((k * 37 + 1))) % 1000"
        select_list+=", $c, $c * 2 + 1 AS ${c}_x"
        ;;
    numeric*)
        col_values+=", round(((i * $((k * 53 + 7))) % 100000) / 1000.0, 3)"
        select_list+=", $c, round($c * 1.8 + 32, 1) AS ${c}_x"
        ;;
    text)
        col_values+=", 'value ' || $k || '-' || (i % $((k + 3)))"
        select_list+=", $c, upper($c) AS ${c}_x"
        ;;
    date)
        col_values+=", DATE '2024-01-01' + (i * $k) % 366"
        select_list+=", $c, $c + 30 AS ${c}_x"
        ;;
    boolean)
        col_values+=", (i + $k) % 3 = 0"
        select_list+=", $c, NOT $c AS ${c}_x"
        ;;
    esac
done

pg_psql <<SQL
SET client_min_messages = warning;
CREATE TABLE measurements (
    id          bigint  NOT NULL,
    sensor_id   integer NOT NULL$col_defs
) PARTITION BY RANGE (sensor_id);

-- one transaction per partition (psql autocommit)
SELECT format('CREATE TABLE measurements_p%s PARTITION OF measurements FOR VALUES FROM (%s) TO (%s)',
              lpad(p::text, 5, '0'), p * 10, (p + 1) * 10)
FROM generate_series(0, $((PARTS - 1))) AS p
\\gexec
SQL
pg_log "   partitions created after $(elapsed)"

pg_psql <<SQL
INSERT INTO measurements (id, sensor_id$col_names)
SELECT i, (i / $ROWS) * 10 + i % 10$col_values
FROM generate_series(0, $((PARTS * ROWS - 1))) AS i;
SQL
pg_psql -c 'ANALYZE measurements'
pg_log "   table loaded after $(elapsed)"

# Every partition holds ROWS rows with id % ROWS = 0 .. ROWS-1, so the filter
# removes at least one row in each of them.
query="SELECT $select_list
FROM measurements
WHERE id % $ROWS <> 0 AND c02 < 90 AND c03 <> 'none'"

pg_psql <<SQL
\\o /dev/null
EXPLAIN (ANALYZE, BUFFERS, VERBOSE, SETTINGS, FORMAT JSON)
$query;
\\o '$OUT/large.json'
EXPLAIN (ANALYZE, BUFFERS, VERBOSE, SETTINGS, FORMAT JSON)
$query;
\\o '$OUT/large.txt'
EXPLAIN (ANALYZE, BUFFERS, VERBOSE, SETTINGS)
$query;
\\o
SQL

pg_log "   plans written after $(elapsed)"
python3 -m json.tool "$OUT/large.json" >/dev/null
pg_cluster_stop
ls -l "$OUT/large.json" "$OUT/large.txt" >&2
pg_log "done in $(elapsed)"

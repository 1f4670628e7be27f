#!/usr/bin/env bash
# Peak memory of planguard on a huge plan (docs/SECURITY.md, hostile
# input): writes synthetic EXPLAIN output of about SIZE_MB megabytes
# (default 100) in JSON and in text, each in two shapes (a wide Append over
# many Seq Scans, and one node with a single enormous Filter), runs
# `planguard explain FILE --format json` and `planguard diff FILE FILE` on
# each under /usr/bin/time, and prints the peak resident set size against
# the input size.
#
#   scripts/huge-plan-memory.sh                 # target/debug/planguard, 100 MB
#   PLANGUARD=target/release/planguard scripts/huge-plan-memory.sh 100
#
# Files go to target/huge-plans (PLANGUARD_HUGE_DIR=DIR elsewhere) and are
# reused when present. Not a test: no figure here is asserted anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

size_mb="${1:-100}"
bin="${PLANGUARD:-target/debug/planguard}"
dir="${PLANGUARD_HUGE_DIR:-target/huge-plans}"
[ -x "$bin" ] || { echo "error: $bin not built (cargo build)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "error: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }
mkdir -p "$dir"
bytes=$((size_mb * 1000 * 1000))

# A wide Append: one Seq Scan child of ~340 bytes (JSON) or ~170 bytes
# (text) per partition, as many as fill SIZE_MB.
wide_json="$dir/wide-${size_mb}mb.json"
if [ ! -s "$wide_json" ]; then
    awk -v n=$((bytes / 340)) 'BEGIN {
        printf "[\n  {\n    \"Plan\": {\"Node Type\": \"Append\", \"Parallel Aware\": false, \"Startup Cost\": 0.00, \"Total Cost\": %d.00, \"Plan Rows\": %d, \"Plan Width\": 8, \"Plans\": [\n", n * 40, n * 6
        for (i = 1; i <= n; i++) {
            printf "      {\"Node Type\": \"Seq Scan\", \"Parent Relationship\": \"Member\", \"Parallel Aware\": false, \"Relation Name\": \"events_p%d\", \"Schema\": \"public\", \"Alias\": \"events_p%d\", \"Startup Cost\": 0.00, \"Total Cost\": 40.00, \"Plan Rows\": 6, \"Plan Width\": 8, \"Output\": [\"events_p%d.id\", \"events_p%d.kind\"], \"Filter\": \"(events_p%d.kind = 3)\"}%s\n", i, i, i, i, i, (i < n ? "," : "")
        }
        printf "    ]},\n    \"Planning Time\": 123.456\n  }\n]\n"
    }' > "$wide_json"
fi
wide_text="$dir/wide-${size_mb}mb.txt"
if [ ! -s "$wide_text" ]; then
    awk -v n=$((bytes / 170)) 'BEGIN {
        printf "Append  (cost=0.00..%d.00 rows=%d width=8)\n", n * 40, n * 6
        for (i = 1; i <= n; i++) {
            printf "  ->  Seq Scan on public.events_p%d events_p%d  (cost=0.00..40.00 rows=6 width=8)\n", i, i
            printf "        Output: events_p%d.id, events_p%d.kind\n", i, i
            printf "        Filter: (events_p%d.kind = 3)\n", i
        }
    }' > "$wide_text"
fi
# One node, one enormous condition: `id IN (1, 2, 3, ...)`.
long_json="$dir/long-${size_mb}mb.json"
if [ ! -s "$long_json" ]; then
    awk -v n=$((bytes / 8)) 'BEGIN {
        printf "[{\"Plan\": {\"Node Type\": \"Seq Scan\", \"Relation Name\": \"t\", \"Alias\": \"t\", \"Startup Cost\": 0.00, \"Total Cost\": 1.00, \"Plan Rows\": 1, \"Plan Width\": 4, \"Filter\": \"(id = ANY ('"'"'{"
        for (i = 1; i <= n; i++) printf "%d%s", 1000000 + i, (i < n ? "," : "")
        printf "}'"'"'::integer[]))\"}}]\n"
    }' > "$long_json"
fi
long_text="$dir/long-${size_mb}mb.txt"
if [ ! -s "$long_text" ]; then
    awk -v n=$((bytes / 8)) 'BEGIN {
        printf "Seq Scan on t  (cost=0.00..1.00 rows=1 width=4)\n  Filter: (id = ANY ('"'"'{"
        for (i = 1; i <= n; i++) printf "%d%s", 1000000 + i, (i < n ? "," : "")
        printf "}'"'"'::integer[]))\n"
    }' > "$long_text"
fi

printf '%-28s %-30s %10s %12s %8s %8s\n' file command "read MB" "peak RSS MB" "ratio" "seconds"
for file in "$wide_json" "$wide_text" "$long_json" "$long_text"; do
    input=$(stat -c %s "$file")
    for cmd in explain diff; do
        # diff reads the file twice (as OLD and as NEW): twice the input.
        if [ "$cmd" = explain ]; then
            args=(explain "$file" --format json)
            read_bytes=$input
        else
            args=(diff "$file" "$file" --format json)
            read_bytes=$((input * 2))
        fi
        log=$(mktemp)
        code=0
        /usr/bin/time -v "$bin" "${args[@]}" > /dev/null 2> "$log" || code=$?
        peak_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
        if [ "$code" -ne 0 ] && [ "$code" -ne 1 ]; then
            echo "$(basename "$file") $cmd: exit $code: $(grep '^error' "$log" | head -1)" >&2
        fi
        rm -f "$log"
        awk -v f="$(basename "$file")" -v c="${args[0]} --format json" -v i="$read_bytes" -v p="$peak_kb" -v w="$wall" \
            'BEGIN { printf "%-28s %-30s %10.1f %12.1f %8.2f %8s\n", f, c, i / 1e6, p / 1e3, (p * 1e3) / i, w }'
    done
done

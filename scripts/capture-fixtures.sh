#!/usr/bin/env bash
# Capture real EXPLAIN output fixtures from real PostgreSQL servers.
#
# Usage: scripts/capture-fixtures.sh [MAJOR...]     (default: 13 14 15 16 17 18)
#
# For every major version: start a throwaway cluster (see scripts/lib/pg-cluster.sh
# for where the server binaries come from), load fixtures/plans/schema.sql, run
# VACUUM (ANALYZE), then for every case fixtures/plans/cases/<case>.sql write
#
#   fixtures/plans/pg<MAJOR>/<case>.json  EXPLAIN (ANALYZE, BUFFERS, SETTINGS[, extra], FORMAT JSON) <query>
#   fixtures/plans/pg<MAJOR>/<case>.txt   EXPLAIN (ANALYZE, BUFFERS, SETTINGS[, extra]) <query>
#   fixtures/plans/pg<MAJOR>/VERSION      SELECT version(), then server_version_num
#
# exactly as the server returns them (psql unaligned, tuples only: one server
# line per file line). The pg<MAJOR>/ folder is replaced as a whole.
#
# A case file is a header of optional lines, then one query:
#
#   -- <free text>                     what the case shows
#   -- explain: VERBOSE, WAL           extra EXPLAIN options
#   -- min-version: 14                 skip the case on older majors
#   -- max-version: 17                 skip the case on newer majors
#   -- setup: <statement>              run in the same session before the EXPLAINs
#   SET <name> = <value>;              same as "-- setup: SET ..."
#   -- expect: <extended regex>        the text plan must match (checked after capture)
#
# Each case runs in one session: setup statements, one warm-up EXPLAIN ANALYZE
# (output discarded, so buffer counts are stable), the JSON EXPLAIN, the text
# EXPLAIN; every EXPLAIN runs inside BEGIN ... ROLLBACK so DML cases leave the
# data unchanged for later cases.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PLANS=$ROOT/fixtures/plans
# shellcheck source=scripts/lib/pg-cluster.sh
. "$ROOT/scripts/lib/pg-cluster.sh"

trap pg_cluster_stop EXIT
trap 'exit 130' INT TERM

majors=("$@")
if ((${#majors[@]} == 0)); then
    majors=(13 14 15 16 17 18)
fi

trim() {
    local s=$1
    s=${s#"${s%%[![:space:]]*}"}
    s=${s%"${s##*[![:space:]]}"}
    printf '%s' "$s"
}

# parse_case FILE: sets CASE_EXTRA, CASE_MIN, CASE_MAX, CASE_SETUP[], CASE_EXPECT[], CASE_QUERY
parse_case() {
    local file=$1 line body
    CASE_EXTRA=
    CASE_MIN=0
    CASE_MAX=999
    CASE_SETUP=()
    CASE_EXPECT=()
    CASE_QUERY=
    while IFS= read -r line || [[ -n $line ]]; do
        case $line in
        '-- explain:'*) CASE_EXTRA=$(trim "${line#-- explain:}") ;;
        '-- min-version:'*) CASE_MIN=$(trim "${line#-- min-version:}") ;;
        '-- max-version:'*) CASE_MAX=$(trim "${line#-- max-version:}") ;;
        '-- setup:'*)
            body=$(trim "${line#-- setup:}")
            CASE_SETUP+=("${body%;};")
            ;;
        '-- expect:'*) CASE_EXPECT+=("$(trim "${line#-- expect:}")") ;;
        --*) ;;
        *)
            if [[ -z $CASE_QUERY ]]; then
                body=$(trim "$line")
                if [[ -z $body ]]; then
                    continue
                fi
                if [[ ${body^^} == SET\ * ]]; then
                    CASE_SETUP+=("${body%;};")
                    continue
                fi
            fi
            CASE_QUERY+=$line$'\n'
            ;;
        esac
    done <"$file"
    CASE_QUERY=$(trim "$CASE_QUERY")
    CASE_QUERY=$(trim "${CASE_QUERY%;}")
    [[ -n $CASE_QUERY ]] || pg_die "$file: no query"
}

# explain_script OPTIONS OUTFILE: psql input for one EXPLAIN into OUTFILE
explain_script() {
    printf "\\\\o '%s'\n" "$2"
    printf 'BEGIN;\nEXPLAIN (%s)\n%s;\nROLLBACK;\n' "$1" "$CASE_QUERY"
}

capture_version() {
    local major=$1 started num stage dest file name opts json_opts skipped=0 captured=0 pattern
    local -a failures=()
    started=$EPOCHREALTIME
    pg_log "== PostgreSQL $major"
    pg_cluster_start "$major"
    pg_psql -f "$PLANS/schema.sql" >/dev/null
    pg_psql -c 'VACUUM (ANALYZE)'
    num=$(pg_psql -c 'SHOW server_version_num')
    if ((num / 10000 != major)); then
        pg_die "asked for PostgreSQL $major, server reports $num"
    fi
    stage=$PG_WORK/out
    mkdir "$stage"
    {
        pg_psql -c 'SELECT version()'
        printf '%s\n' "$num"
    } >"$stage/VERSION"
    pg_log "   $(head -n1 "$stage/VERSION")"

    for file in "$PLANS"/cases/*.sql; do
        name=$(basename "$file" .sql)
        parse_case "$file"
        if ((major < CASE_MIN || major > CASE_MAX)); then
            skipped=$((skipped + 1))
            continue
        fi
        opts="ANALYZE, BUFFERS, SETTINGS"
        if [[ -n $CASE_EXTRA ]]; then
            opts+=", $CASE_EXTRA"
        fi
        json_opts="$opts, FORMAT JSON"
        {
            printf '%s\n' "${CASE_SETUP[@]}"
            explain_script "$json_opts" /dev/null
            explain_script "$json_opts" "$stage/$name.json"
            explain_script "$opts" "$stage/$name.txt"
            printf '\\o\n'
        } | pg_psql -f - || pg_die "case $name failed on PostgreSQL $major"
        python3 -m json.tool "$stage/$name.json" >/dev/null ||
            pg_die "case $name: invalid JSON on PostgreSQL $major"
        for pattern in "${CASE_EXPECT[@]}"; do
            if ! grep -Eq -- "$pattern" "$stage/$name.txt"; then
                failures+=("$name: no match for /$pattern/")
            fi
        done
        captured=$((captured + 1))
    done

    dest=$PLANS/pg$major
    mkdir -p "$dest"
    rm -f "$dest"/*.json "$dest"/*.txt "$dest"/VERSION
    cp "$stage"/* "$dest"/
    pg_cluster_stop
    pg_log "   $captured cases captured, $skipped skipped, $(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
    if ((${#failures[@]} > 0)); then
        printf '   EXPECTATION FAILED: %s\n' "${failures[@]}" >&2
        FAILED+=("pg$major")
    fi
}

FAILED=()
for major in "${majors[@]}"; do
    capture_version "$major"
done
if ((${#FAILED[@]} > 0)); then
    pg_die "expectations not met on: ${FAILED[*]}"
fi

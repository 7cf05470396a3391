#!/bin/sh
# Render a report's HTML page in headless Chromium and save a PNG, to check the page by eye
# (the tests check the page's markup; they do not need a browser).
#
#   examples/reports/screenshot-report.sh [REPORT] [OUT.png]
#   examples/reports/screenshot-report.sh dashboard /tmp/dashboard.png
#   CRM_DB=/tmp/demo.db examples/reports/screenshot-report.sh "report conversion --by source"
#
# Needs chromium (Debian: apt-get install -y chromium). Uses CRM_DB / CRM_USER / CRM_NOW as
# crm does; without CRM_DB it builds a throw-away example database (crm init --example).
set -eu
report=${1:-dashboard}
png=${2:-$(pwd)/report.png}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
crm() { if command -v crm >/dev/null 2>&1; then command crm "$@"; else python3 -m crmcli "$@"; fi; }
if [ -z "${CRM_DB:-}" ]; then
    export CRM_DB="$work/crm.db" CRM_USER=${CRM_USER:-admin}
    export CRM_NOW=${CRM_NOW:-2026-03-06T21:30:00+00:00}
    crm init --example >/dev/null
fi
# shellcheck disable=SC2086  # the report name may carry its options
crm $report --html "$work/page.html"
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "chromium not found: apt-get install -y chromium" >&2; exit 2; }
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --window-size=1200,1600 --user-data-dir="$work/profile" \
    --screenshot="$png" "file://$work/page.html" 2>/dev/null
echo "$png"

#!/bin/sh
# Render report pages in headless Chromium at a desktop width (1280 px) and a phone width
# (390 px) and save PNGs, to check the pages by eye (the tests check the markup; they need no
# browser).
#
#   examples/reports/screenshot-report.sh [OUT_DIR] [REPORT ...]
#   examples/reports/screenshot-report.sh /tmp/screens
#   CRM_DB=/tmp/demo.db examples/reports/screenshot-report.sh /tmp/screens "report sources --by campaign"
#
# Without REPORT it renders the dashboard and the pipeline, forecast, win-rate and overdue
# reports. Each page is saved as OUT_DIR/NAME-1280.png and OUT_DIR/NAME-390.png (NAME: the
# report's words joined by "-"), next to the page itself (NAME.html).
#
# Needs chromium (Debian: apt-get install -y chromium). Uses CRM_DB / CRM_USER / CRM_NOW as
# crm does; without CRM_DB it builds a throw-away example database (crm init --example).
set -eu
out=${1:-$(pwd)/screens}
[ $# -gt 0 ] && shift
if [ $# -eq 0 ]; then
    set -- "dashboard" "report pipeline" "report forecast" "report win-rate" "report overdue"
fi
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
crm() { if command -v crm >/dev/null 2>&1; then command crm "$@"; else python3 -m crmcli "$@"; fi; }
if [ -z "${CRM_DB:-}" ]; then
    export CRM_DB="$work/crm.db" CRM_USER=${CRM_USER:-admin}
    export CRM_NOW=${CRM_NOW:-2026-03-06T21:30:00+00:00}
    crm init --example >/dev/null 2>&1
fi
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "chromium not found: apt-get install -y chromium" >&2; exit 2; }
for report in "$@"; do
    name=$(printf '%s' "$report" | tr -cs 'A-Za-z0-9' '-' | sed 's/-*$//')
    # shellcheck disable=SC2086  # the report's words carry its options
    crm $report --html "$out/$name.html" 2>/dev/null
    for width in 1280 390; do
        "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
            --disable-background-networking --disable-component-update --disable-sync \
            --hide-scrollbars --window-size="$width,2400" --user-data-dir="$work/profile" \
            --screenshot="$out/$name-$width.png" "file://$out/$name.html" >/dev/null 2>&1
        echo "$out/$name-$width.png"
    done
done

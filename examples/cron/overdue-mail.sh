#!/usr/bin/env bash
# Mail the overdue report when anything breached policy (SPEC §1, §5), after `crm tick`.
#
#   crm report overdue --check exits 0 when nothing is overdue (stay silent),
#   1 when something is (mail the report to $CRM_REPORT_TO, then exit 0), 2..6 on an error
#   (print to stderr and exit with the same code, so cron reports it).
#
# Environment: CRM_REPORT_TO (required), CRM_DB / CRM_USER / CRM_POLICY as for crm,
# CRM_BIN (optional, default: crm on PATH), CRM_REPORT_SUBJECT (optional).
set -euo pipefail

if [[ -z "${CRM_REPORT_TO:-}" ]]; then
  echo "overdue-mail: set CRM_REPORT_TO to the address that receives the overdue report" >&2
  exit 2  # bad input, as crm's exit codes (1 would read as "something is overdue")
fi
to="$CRM_REPORT_TO"
crm="${CRM_BIN:-crm}"
subject="${CRM_REPORT_SUBJECT:-CRM overdue report $(date +%F)}"

out="$(mktemp)"
err="$(mktemp)"
trap 'rm -f "$out" "$err"' EXIT

# the daily tick first: reminders for due cadence touches, inactive leads, stale records
code=0
"$crm" tick >/dev/null 2>"$err" || code=$?
if [[ "$code" -ne 0 ]]; then
  {
    echo "overdue-mail: '$crm tick' failed with exit code $code"
    cat "$err"
  } >&2
  exit "$code"
fi

"$crm" report overdue --check --format table >"$out" 2>"$err" || code=$?

case "$code" in
  0)
    exit 0
    ;;
  1)
    mail -s "$subject" "$to" <"$out"
    exit 0
    ;;
  *)
    {
      echo "overdue-mail: '$crm report overdue --check' failed with exit code $code"
      cat "$err"
    } >&2
    exit "$code"
    ;;
esac

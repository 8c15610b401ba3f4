#!/usr/bin/env bash
# Times Form 06 on generated data (docs/requirements.md, P3, P5).
#   scripts/bench-reports.sh sqlite 100000
#   scripts/bench-reports.sh postgres 1000000 postgres://postgres@127.0.0.1:5432/motcua_bench
# SKIP_GENERATE=1 reuses the database; COMPARE_ONLY=1 stops after the
# side-by-side reports and the audit report (issue #17).
# Uses the release binary (cargo build --release first). Prints the medians of
# five runs of the report for the whole province and for one commune, and,
# on PostgreSQL, of the hand-written SQL computing the same totals in psql.
set -euo pipefail
BACKEND=${1:?sqlite or postgres}
DOSSIERS=${2:-100000}
URL=${3:-}
BIN="${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target}/release/motcua"
WORK=$(mktemp -d)
trap 'kill "${SERVER:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"
export MOTCUA_LOG=warn MOTCUA_BIND=127.0.0.1:18080 MOTCUA_ADMIN_PASSWORD=report-timing-7
if [ "$BACKEND" = postgres ]; then export DATABASE_URL="$URL"; fi

if [ "${SKIP_GENERATE:-}" != 1 ]; then
  /usr/bin/time -f "generated in %e s" "$BIN" gen-data --dossiers "$DOSSIERS" --agencies 100 --months 12 --seed 7
fi
"$BIN" create-admin --agency 000.00.00.H99 --username bench 2>&1 | grep -v "already" || true
"$BIN" serve & SERVER=$!
for _ in $(seq 1 100); do curl -sf localhost:18080/readyz >/dev/null && break; sleep 0.1; done
API=localhost:18080/api/v1
TOKEN=$(curl -sf $API/auth/token -H 'content-type: application/json' \
  -d '{"username":"bench","password":"report-timing-7"}' | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
COMMUNE=$(curl -sf "$API/agencies?limit=3" -H "authorization: Bearer $TOKEN" | sed -n 's/.*"id":"\([^"]*\)","identifier":"000.00.01.H99".*/\1/p')
[ -n "$COMMUNE" ] || { echo "commune 000.00.01.H99 not found" >&2; exit 1; }
median() { sort -n | sed -n '3p'; }
time_report() { # query
  for _ in 1 2 3 4 5; do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$API/reports/kstt-06?$1" -H "authorization: Bearer $TOKEN"
  done | awk '$1 != 200 { print "HTTP " $1 > "/dev/stderr"; exit 1 } { print $2 }' | median
}
# Any report: the median of five requests of $1 (a path under /api/v1/reports/).
time_get() {
  for _ in 1 2 3 4 5; do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$API/reports/$1" -H "authorization: Bearer $TOKEN"
  done | awk '$1 != 200 { print "HTTP " $1 > "/dev/stderr"; exit 1 } { print $2 }' | median
}
echo "backend=$BACKEND dossiers=$DOSSIERS"
# Issue #17: the reports side by side against the single-period report of the
# same province and months (the ceiling: the same counting, one line), and
# the audit report of one commune (its figures, 12 months of charts, and its
# rank, which computes the indicators of every commune of the province).
YEAR='from=2025-11-01&to=2026-10-31'
for report in kstt-06 online-uptake indicators; do
  single=$(time_get "$report?$YEAR")
  by_agency=$(time_get "$report/compare?$YEAR")
  by_month=$(time_get "$report/compare?$YEAR&by=month")
  echo "$report, province, 12 months: single $single s; by agency (100 lines) $by_agency s;" \
    "by month (12 lines) $by_month s; ratios to single $(awk -v s="$single" -v a="$by_agency" -v m="$by_month" 'BEGIN { printf "%.2f and %.2f", a/s, m/s }')"
done
echo "audit report (HTML), one commune, 12 months: $(time_get "audit?$YEAR&agency_id=$COMMUNE") s"
if [ "${COMPARE_ONLY:-}" = 1 ]; then exit 0; fi
PROVINCE=$(time_report 'from=2025-11-01&to=2026-10-31')
echo "kstt-06 province, 12 months: $PROVINCE s"
echo "kstt-06 province, month 2026-10: $(time_report 'period=2026-10') s"
echo "kstt-06 one commune, 12 months: $(time_report "from=2025-11-01&to=2026-10-31&agency_id=$COMMUNE") s"
if [ "$BACKEND" = postgres ]; then
  # The same totals straight from the table, written as fast as we could: the
  # province's path as a literal (a subquery there makes the planner expect
  # one agency and walk the dossiers agency by agency, 3x slower), one
  # parallel pass with FILTER counts. "Overdue" here trusts the stored due
  # time; the report evaluates each open dossier's legal clock instead.
  ROOT=$(psql "$URL" -qAt -c "SELECT path FROM agencies WHERE identifier = '000.00.00.H99'")
  SQL="WITH p AS (SELECT timestamptz '2025-11-01 00:00+07' AS s, timestamptz '2026-11-01 00:00+07' AS e)
       SELECT count(*) FILTER (WHERE accepted_at IS NOT NULL AND accepted_at < e AND (finished_at IS NULL OR finished_at >= s)) AS taken_on,
              count(*) FILTER (WHERE accepted_at >= s AND accepted_at < e AND channel = 'online') AS new_online,
              count(*) FILTER (WHERE accepted_at >= s AND accepted_at < e AND channel <> 'online') AS new_direct,
              count(*) FILTER (WHERE accepted_at < s AND (finished_at IS NULL OR finished_at >= s)) AS carried_over,
              count(*) FILTER (WHERE state IN ('result_ready', 'returned') AND finished_at >= s AND finished_at < e) AS resolved,
              count(*) FILTER (WHERE outcome = 'early' AND finished_at >= s AND finished_at < e) AS early,
              count(*) FILTER (WHERE outcome = 'on_time' AND finished_at >= s AND finished_at < e) AS on_time,
              count(*) FILTER (WHERE outcome = 'late' AND finished_at >= s AND finished_at < e) AS late,
              count(*) FILTER (WHERE accepted_at < e AND (finished_at IS NULL OR finished_at >= e)) AS in_progress,
              count(*) FILTER (WHERE accepted_at < e AND (finished_at IS NULL OR finished_at >= e) AND due_at < e) AS overdue,
              count(*) FILTER (WHERE state = 'withdrawn' AND accepted_at IS NOT NULL AND finished_at >= s AND finished_at < e) AS withdrawn,
              count(*) FILTER (WHERE state = 'stopped' AND finished_at >= s AND finished_at < e) AS stopped,
              count(*) FILTER (WHERE state = 'refused' AND finished_at >= s AND finished_at < e) AS refused_at_intake
         FROM p, dossiers d JOIN agencies a ON a.id = d.receiving_agency_id
        WHERE a.path LIKE '$ROOT%'
          AND (accepted_at < e OR state = 'refused') AND (finished_at IS NULL OR finished_at >= s)"
  echo "hand-written SQL totals: $(psql "$URL" -qAt -F' ' -c "$SQL")"
  echo "report totals:           $(curl -sf "$API/reports/kstt-06?from=2025-11-01&to=2026-10-31" -H "authorization: Bearer $TOKEN" |
    sed 's/.*"total":{//' | tr ',' '\n' | sed -n 's/.*"\(taken_on\|new_online\|new_direct\|carried_over\|resolved\|early\|on_time\|late\|in_progress\|overdue\|withdrawn\|stopped\|refused_at_intake\)":\([0-9]*\).*/\2/p' | tr '\n' ' ')"
  # The faster of PostgreSQL's defaults and the report's own session settings.
  for settings in "" "SET jit = off; SET work_mem = '64MB';"; do
    for _ in 1 2 3 4 5; do
      psql "$URL" -qAt -c '\timing on' -c "$settings $SQL" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
    done | median
  done | sort -n | head -1 | awk -v report="$PROVINCE" \
    '{printf "hand-written SQL, province, 12 months: %.3f s (report / SQL: %.2f)\n", $1/1000, report*1000/$1}'
fi

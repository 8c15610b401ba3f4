#!/usr/bin/env bash
# The request path under load (docs/requirements.md, P1, P2, P6, P7, issue #12), each
# against a ceiling measured in the same run on the same machine:
#   P2  GET /dossiers/{code} as a clerk against GET /healthz (the server's own
#       hello), 16 connections; then the read's p99 at half its rate;
#   P7  the read's p99 at a steady rate alone, then during a storm of 50
#       concurrent logins (each from its own loopback address, sustained);
#   P1  online filing (POST /dossiers, two documents), 8 connections:
#       throughput, p50, p99, and p99 at half that rate; the same over 20
#       agencies; on PostgreSQL against the filing's own SQL (taken from
#       PostgreSQL's statement log) through pgbench with prepared statements;
#   P6  resident memory idle, and the peak of each phase.
#
# Usage: scripts/bench-api.sh [sqlite | postgres URL] [seconds per phase]
#   scripts/bench-api.sh                                  # a fresh SQLite file
#   scripts/bench-api.sh postgres postgres://postgres@127.0.0.1:5432/motcua_api_bench
# The PostgreSQL database must exist and be empty (the server seeds the demo
# province in it). Needs the release binary (cargo build --release), curl and
# python3; installs the load generators if they are missing: oha with cargo,
# wrk (for the login storm, whose addresses vary per request) with apt.
set -euo pipefail
BACKEND=${1:-sqlite}
URL=${2:-}
SECONDS_PER_PHASE=${3:-10}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/motcua"
OHA_VERSION=1.16.0
[ -x "$BIN" ] || { echo "build the release binary first: cargo build --release" >&2; exit 1; }
if ! command -v oha >/dev/null; then
  echo "installing oha $OHA_VERSION (cargo install)" >&2
  cargo install oha --locked --version "$OHA_VERSION" >&2
fi
if ! command -v wrk >/dev/null; then
  echo "installing wrk (apt) for the login storm" >&2
  apt-get install -y -q wrk >&2 || { apt-get update -q >&2 && apt-get install -y -q wrk >&2; }
fi
WORK=$(mktemp -d)
STORM=
trap 'kill $STORM "${SERVER:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"
PORT=18183
export MOTCUA_LOG=warn MOTCUA_BIND=127.0.0.1:$PORT MOTCUA_DATA_DIR="$WORK/data"
# The login storm comes "through a reverse proxy" on loopback: each of its
# 50 clients names its own address in X-Forwarded-For, as behind nginx.
export MOTCUA_TRUSTED_PROXIES=127.0.0.1
export MOTCUA_DEMO_PASSWORD=bench-api-7
if [ "$BACKEND" = postgres ]; then
  export DATABASE_URL="${URL:?postgres needs the URL of an empty database}"
fi
"$BIN" serve --demo >/dev/null & SERVER=$!
BASE=http://127.0.0.1:$PORT
for _ in $(seq 1 200); do curl -sf $BASE/readyz >/dev/null && break; sleep 0.1; done
API=$BASE/api/v1
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -n 1; }
login() {
  curl -sf "$API/auth/token" -H 'content-type: application/json' \
       -d "{\"username\":\"$1\",\"password\":\"$MOTCUA_DEMO_PASSWORD\"}" | field access_token
}
CLERK=$(login clerk)
CITIZEN=$(login 027090001234)
AGENCY=$(curl -sf "$API/me" -H "authorization: Bearer $CLERK" | sed -n 's/.*"agency":{"id":"\([^"]*\)".*/\1/p')
pdf() { printf '%%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\nxref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \ntrailer << /Size 3 /Root 1 0 R >>\nstartxref\n110\n%%%%EOF\n%% %s\n' "$1" > "$1.pdf"; }
pdf form; pdf proof
FORM=$(curl -sf "$API/files" -H "authorization: Bearer $CITIZEN" -F "file=@form.pdf" | field id)
PROOF=$(curl -sf "$API/files" -H "authorization: Bearer $CITIZEN" -F "file=@proof.pdf" | field id)
FILING="{\"procedure_code\":\"1.004194\",\"agency_id\":\"$AGENCY\",
 \"applicant\":{\"full_name\":\"Nguyễn Văn An\",\"phone\":\"0912345678\"},
 \"documents\":[{\"requirement_code\":\"TK\",\"file_id\":\"$FORM\"},{\"requirement_code\":\"CM\",\"file_id\":\"$PROOF\"}],
 \"result_delivery\":\"online\"}"
CODE=$(curl -sf "$API/dossiers" -H "authorization: Bearer $CITIZEN" -H 'content-type: application/json' -d "$FILING" | field code)
[ -n "$CODE" ] || { echo "the first filing failed" >&2; exit 1; }

kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$SERVER/status"; }
mib() { echo $(( $(kib "$1") / 1024 )); }
reset_peak() { echo 5 > "/proc/$SERVER/clear_refs"; }
# oha's JSON summary as "rate p50_ms p99_ms ok total" (ok: 2xx answers).
load() { # oha arguments…
  oha --no-tui --output-format json -z "${SECONDS_PER_PHASE}s" "$@" > oha.json
  python3 - <<'EOF'
import json
d = json.load(open("oha.json"))
codes = d.get("statusCodeDistribution", {})
ok = sum(n for code, n in codes.items() if str(code).startswith("2"))
total = sum(codes.values())
p = d["latencyPercentiles"]
print(f'{d["summary"]["requestsPerSec"]:.0f} {p["p50"] * 1000:.2f} {p["p99"] * 1000:.2f} {ok} {total}')
EOF
}
phase() { # name, then oha arguments: prints a row, keeps the figures in $ROW
  local name=$1; shift
  reset_peak
  ROW=$(load "$@")
  read -r rate p50 p99 ok total <<<"$ROW"
  printf '| %s | %s/s | %s ms | %s ms | %s of %s | %s MiB |\n' "$name" "$rate" "$p50" "$p99" "$ok" "$total" "$(mib VmHWM)"
}

sleep 1
IDLE=$(mib VmRSS)
echo "backend=$BACKEND, $(nproc) cores, ${SECONDS_PER_PHASE} s per phase; RSS idle $IDLE MiB"
echo
echo "| phase | rate | p50 | p99 | 2xx | RSS peak |"
echo "|---|---|---|---|---|---|"
AUTH=(-H "authorization: Bearer $CLERK")
phase "hello: GET /healthz, 16 connections" -c 16 "$BASE/healthz" >hello.row; cat hello.row
HELLO=$(echo "$ROW" | cut -d' ' -f1)
phase "P2 read: GET /dossiers/{code}, 16 connections" -c 16 "${AUTH[@]}" "$API/dossiers/$CODE" >read.row; cat read.row
READ=$(echo "$ROW" | cut -d' ' -f1)
HALF=$(( READ / 2 > 0 ? READ / 2 : 1 ))
phase "P2 read at half rate ($HALF/s)" -c 16 -q "$HALF" "${AUTH[@]}" "$API/dossiers/$CODE" >half.row; cat half.row
READ_HALF_P99=$(echo "$ROW" | cut -d' ' -f3)

# P7: reads at a steady rate, alone and during the storm, three rounds (a
# p99 over one phase moves by half from run to run on this machine; the
# summary gives each round's ratio and their median).
STEADY=$(( READ / 4 > 0 ? READ / 4 : 1 ))
storm() { # 50 connections logging in again and again, each login from one of
  # 50 addresses in turn: one wrk process (two threads) whose script sets
  # X-Forwarded-For per request, so the storm's own cost on the two cores is
  # the logins', not fifty load generators'
  cat > storm.lua <<LUA
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/api/v1/auth/token",
    {["content-type"] = "application/json", ["x-forwarded-for"] = "10.1.0." .. (10 + n % 50)},
    '{"username":"clerk","password":"$MOTCUA_DEMO_PASSWORD"}')
end
LUA
  wrk -t 2 -c 50 -d 1h -s storm.lua "$API/auth/token" >/dev/null 2>&1 &
  STORM=$!
}
# Logins answered so far, by status, from the server's own metrics.
logins() { # status
  curl -sf "$BASE/metrics" | sed -n "s/^motcua_http_requests_total{endpoint=\"\/api\/v1\/auth\/token\",method=\"POST\",status=\"$1\"} \([0-9]*\).*/\1/p" | head -n 1
}
ALONE_P99S=; STORM_P99S=; STORM_PEAK=0
for round in 1 2 3; do
  phase "P7 reads alone ($STEADY/s), round $round" -c 4 -q "$STEADY" "${AUTH[@]}" "$API/dossiers/$CODE"
  ALONE_P99S="$ALONE_P99S $(echo "$ROW" | cut -d' ' -f3)"
  storm
  sleep 1
  BEFORE_OK=$(logins 200); BEFORE_BUSY=$(logins 429)
  phase "P7 reads during 50 concurrent logins, round $round" -c 4 -q "$STEADY" "${AUTH[@]}" "$API/dossiers/$CODE"
  STORM_P99S="$STORM_P99S $(echo "$ROW" | cut -d' ' -f3)"
  AFTER_OK=$(logins 200); AFTER_BUSY=$(logins 429)
  echo "(the storm meanwhile: $(( (AFTER_OK - ${BEFORE_OK:-0}) / SECONDS_PER_PHASE )) logins/s answered 200, $(( AFTER_BUSY - ${BEFORE_BUSY:-0} )) answered 429 in all)"
  PEAK=$(mib VmHWM); STORM_PEAK=$(( PEAK > STORM_PEAK ? PEAK : STORM_PEAK ))
  kill $STORM 2>/dev/null || true; wait $STORM 2>/dev/null || true; STORM=
done

# P1: online filings as fast as they are answered, then at half that rate.
phase "P1 filing: POST /dossiers, 8 connections" -c 8 -m POST -H "authorization: Bearer $CITIZEN" \
  -H 'content-type: application/json' -d "$FILING" "$API/dossiers"
FILINGS=$(echo "$ROW" | cut -d' ' -f1)
FILE_HALF=$(( FILINGS / 2 > 0 ? FILINGS / 2 : 1 ))
phase "P1 filing at half rate ($FILE_HALF/s)" -c 8 -q "$FILE_HALF" -m POST -H "authorization: Bearer $CITIZEN" \
  -H 'content-type: application/json' -d "$FILING" "$API/dossiers"
FILE_HALF_P99=$(echo "$ROW" | cut -d' ' -f3)

# P1 spread over 20 agencies (each its own day's counter): 20 communes under
# the demo province, one filing body per agency, taken in turn by oha.
ADMIN=$(login admin)
PROVINCE=$(curl -sf "$API/me" -H "authorization: Bearer $ADMIN" | sed -n 's/.*"agency":{"id":"\([^"]*\)".*/\1/p')
: > bodies.txt
for n in $(seq 40 59); do
  ID=$(curl -sf "$API/agencies" -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' \
       -d "{\"identifier\":\"000.$n.27.H27\",\"name\":\"Xã $n\",\"kind\":\"commune\",\"parent_id\":\"$PROVINCE\"}" | field id)
  [ -n "$ID" ] || { echo "creating agency $n failed" >&2; exit 1; }
  echo "${FILING//$AGENCY/$ID}" | tr -d '\n' >> bodies.txt; echo >> bodies.txt
done
phase "P1 filing over 20 agencies, 8 connections" -c 8 -m POST -H "authorization: Bearer $CITIZEN" \
  -H 'content-type: application/json' -Z bodies.txt "$API/dossiers"
SPREAD=$(echo "$ROW" | cut -d' ' -f1)
phase "P1 over 20 agencies at half the one-agency rate ($FILE_HALF/s)" -c 8 -q "$FILE_HALF" -m POST \
  -H "authorization: Bearer $CITIZEN" -H 'content-type: application/json' -Z bodies.txt "$API/dossiers"
SPREAD_HALF_P99=$(echo "$ROW" | cut -d' ' -f3)

# The database's own ceilings (PostgreSQL): the SQL of one request, as
# PostgreSQL's statement log shows it, replayed by pgbench with prepared
# statements at the same concurrency (scripts/pgbench-replay.py). P1: the
# filing's transaction, 8 clients. P2: the read's own queries (not the access
# log's batch insert, which the server shares between reads), 16 clients —
# what the database allows a read that asks it anything at all. Reading the
# log needs the server's log file on this machine (Debian's /var/log/postgresql).
CEILING=0
READ_CEILING=0
PGLOG=$(ls -t /var/log/postgresql/postgresql-*.log 2>/dev/null | head -n 1 || true)
if [ "$BACKEND" = postgres ] && [ -r "$PGLOG" ] && command -v pgbench >/dev/null; then
  DB=${URL##*/}; DB=${DB%%\?*}
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
  psql "$URL" -qc "ALTER DATABASE \"$DB\" SET log_statement = 'all'"
  "$BIN" serve --demo >/dev/null & SERVER=$!
  for _ in $(seq 1 200); do curl -sf $BASE/readyz >/dev/null && break; sleep 0.1; done
  CITIZEN=$(login 027090001234)
  CLERK=$(login clerk)
  capture() { # name, then the curl arguments of one request; writes name.log
    local name=$1; shift
    curl -sf "$@" >/dev/null  # the connections have their statements prepared, as under load
    local from; from=$(wc -l < "$PGLOG")
    curl -sf "$@" >/dev/null
    for _ in $(seq 1 50); do tail -n +"$((from + 1))" "$PGLOG" | grep -q 'statement: COMMIT' && break; sleep 0.1; done
    tail -n +"$((from + 1))" "$PGLOG" > "$name.log"
  }
  capture filing "$API/dossiers" -H "authorization: Bearer $CITIZEN" -H 'content-type: application/json' -d "$FILING"
  capture read -H "authorization: Bearer $CLERK" "$API/dossiers/$CODE"
  psql "$URL" -qc "ALTER DATABASE \"$DB\" RESET log_statement"
  replay() { # name, clients: prints transactions per second
    python3 "$ROOT/scripts/pgbench-replay.py" "$1" "$1.variables" < "$1.log" > "$1.sql"
    local define=(); while IFS= read -r variable; do define+=(-D "$variable"); done < "$1.variables"
    pgbench -n -M prepared -c "$2" -j 2 -T "$SECONDS_PER_PHASE" -f "$1.sql" "${define[@]}" "$URL" 2>&1 \
      | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
  }
  CEILING=$(replay filing 8)
  echo "| P1 ceiling: the filing's $(grep -c ';$' filing.sql) statements through pgbench, 8 clients | ${CEILING%.*}/s | | | | |"
  READ_CEILING=$(replay read 16)
  echo "| P2 ceiling: the read's $(grep -c ';$' read.sql) statement(s) through pgbench, 16 clients | ${READ_CEILING%.*}/s | | | | |"
else
  echo "(The pgbench ceilings need PostgreSQL with its log file readable here: skipped)"
fi

echo
python3 - "$READ" "$HELLO" "$READ_HALF_P99" "$ALONE_P99S" "$STORM_P99S" "$IDLE" "$STORM_PEAK" "$FILINGS" "$FILE_HALF_P99" "${CEILING:-0}" "$SPREAD" "$SPREAD_HALF_P99" "${READ_CEILING:-0}" <<'EOF'
import sys
alone = [float(x) for x in sys.argv[4].split()]
storm = [float(x) for x in sys.argv[5].split()]
del sys.argv[4:6]
read, hello, half_p99, idle, storm_peak, filings, file_half_p99, ceiling, spread, spread_half_p99, read_ceiling = map(float, sys.argv[1:])
print(f"P2: read / hello = {read / hello:.1%} (bar: at least 30%); p99 at half rate {half_p99:.2f} ms (bar: under 10 ms)")
if read_ceiling:
    print(f"P2: read / the read's own queries through pgbench = {read / read_ceiling:.0%} ({read_ceiling:.0f}/s, which is itself {read_ceiling / hello:.1%} of hello)")
ratios = [s / a for a, s in zip(alone, storm)]
rounds = ", ".join(f"{s:.2f}/{a:.2f} ms = {r:.2f}x" for a, s, r in zip(alone, storm, ratios))
print(f"P7: read p99 during the login storm / alone, median of three rounds = {sorted(ratios)[1]:.2f}x (bar: at most 2x; rounds: {rounds})")
print(f"P6: RSS idle {idle:.0f} MiB (bar: under 40); peak in the storm {storm_peak:.0f} MiB (bar: under 150; the table has each phase's)")
versus = f" = {filings / ceiling:.0%} of the same SQL through pgbench ({ceiling:.0f}/s; bar: at least 50%)" if ceiling else " (no pgbench ceiling on this backend)"
print(f"P1: {filings:.0f} filings/s{versus}; p99 at half rate {file_half_p99:.2f} ms (bar: under 50 ms)")
print(f"P1 over 20 agencies: {spread:.0f} filings/s; p99 at half the one-agency rate {spread_half_p99:.2f} ms (bar: under 50 ms)")
EOF

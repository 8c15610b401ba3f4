#!/usr/bin/env bash
# A dossier's whole life over the REST API, against a server started with
# `cargo run --release -- serve --demo` (the README's walkthrough).
# Needs only bash and curl. Run with --help for usage.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/walkthrough.sh [BASE_URL]

Walks one dossier through its whole life over the REST API of a motcua
server started with `cargo run --release -- serve --demo`.

  BASE_URL   the server, default http://127.0.0.1:8080

Environment: MOTCUA_DEMO_PASSWORD, the demo accounts' password, if the
server was started with one (default motcua-demo).

Files (the two uploaded PDFs and the printed receipt) go to a new
temporary directory, named at the end. A failed step stops the walk,
prints the step and the server's answer, removes that directory and
exits with status 1.
EOF
}
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  -*) usage >&2; exit 2 ;;
esac
BASE="${1:-http://127.0.0.1:8080}"
BASE="${BASE%/}"
BASE="${BASE%/api/v1}" # the server's address, with or without the API's prefix
API="$BASE/api/v1"
PASSWORD="${MOTCUA_DEMO_PASSWORD:-motcua-demo}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/motcua-walkthrough.XXXXXX")
STEP="start"

fail() { echo "walkthrough: step \"$STEP\" failed: $*" >&2; rm -rf "$WORK"; exit 1; }

# The value of a top-level JSON field (string or number) in the text on stdin.
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" | head -n 1; }

# call PATH [curl arguments…]: prints the response body. Any answer but
# 2xx stops the walk with the step's name and the server's problem
# details; so does a server that cannot be reached, with curl's reason.
call() {
  local path=$1 out status
  shift
  out=$(curl -sS "$API$path" -w '\n%{http_code}' "$@" 2>"$WORK/curl-error") ||
    fail "cannot reach $BASE ($(tr -d '\n' <"$WORK/curl-error")); is the server running? Start it with: cargo run --release -- serve --demo"
  status=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "${status:0:1}" != 2 ]; then
    case "$STEP" in
      "log in as "*) fail "HTTP $status: $out (the walkthrough needs the accounts of serve --demo, and MOTCUA_DEMO_PASSWORD if the server was given one)" ;;
      *) fail "HTTP $status: $out" ;;
    esac
  fi
  printf '%s' "$out"
}
login() {
  STEP="log in as $1"
  call /auth/token -H 'content-type: application/json' \
       -d "{\"username\":\"$1\",\"password\":\"$PASSWORD\"}" | field access_token
}
# POST an action with the dossier's current version; prints the new state.
act() { # token action json-fields
  STEP="$2"
  local body
  body=$(call "/dossiers/$ID/$2" -H "authorization: Bearer $1" \
         -H 'content-type: application/json' -H "if-match: \"$VERSION\"" -d "{$3}")
  VERSION=$(echo "$body" | field version)
  echo "$2 -> $(echo "$body" | field status) (version $VERSION)"
}
# An instant of the API (RFC 3339, UTC) as read in Vietnam (UTC+7, no daylight saving).
vietnam_time() { TZ=ICT-7 date -d "$1" '+%H:%M %d/%m/%Y'; }

CITIZEN=$(login 027090001234)
CLERK=$(login clerk)
OFFICER=$(login officer)
STEP="read the clerk's agency"
AGENCY=$(call /me -H "authorization: Bearer $CLERK" | sed -n 's/.*"agency":{"id":"\([^"]*\)".*/\1/p')

# 1. The citizen uploads the two documents (PDF scans) and files a
#    temporary-residence registration online.
# (A minimal well-formed PDF: uploads must parse as PDF structure, with a
# cross-reference table at the offset the trailer names.)
pdf() {
  printf '%%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\nxref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \ntrailer << /Size 3 /Root 1 0 R >>\nstartxref\n110\n%%%%EOF\n' > "$1"
}
pdf "$WORK/to-khai.pdf"
pdf "$WORK/cho-o.pdf"
upload() {
  STEP="upload $1"
  call /files -H "authorization: Bearer $CITIZEN" -F "file=@$WORK/$1" | field id
}
FORM=$(upload to-khai.pdf)
PROOF=$(upload cho-o.pdf)
STEP="file online"
FILED=$(call /dossiers -H "authorization: Bearer $CITIZEN" \
  -H 'content-type: application/json' -H "idempotency-key: walkthrough-$(date +%s%N)" \
  -d "{\"procedure_code\":\"1.004194\",\"agency_id\":\"$AGENCY\",
       \"applicant\":{\"full_name\":\"Nguyễn Văn An\",\"phone\":\"0912345678\"},
       \"documents\":[{\"requirement_code\":\"TK\",\"file_id\":\"$FORM\"},
                      {\"requirement_code\":\"CM\",\"file_id\":\"$PROOF\"}],
       \"result_delivery\":\"online\"}")
ID=$(echo "$FILED" | field id)
CODE=$(echo "$FILED" | field code)
VERSION=1
echo "filed $CODE (the desk acknowledges it by $(vietnam_time "$(echo "$FILED" | field ack_due_at)"), Vietnam time)"

# 2. The desk accepts it; 3. hands it to the officer; 4. the officer asks for a
# supplement; 5. the citizen supplies it; 6. the officer records the result;
# 7. the desk returns it online; 8. the citizen rates the service.
act "$CLERK" accept ''
act "$CLERK" handover '"to_step":"Thẩm định"'
act "$OFFICER" request-supplement '"reason":"Giấy tờ chứng minh chỗ ở bị mờ","items":[{"requirement_code":"CM","name":"Giấy tờ chứng minh chỗ ở hợp pháp","problem":"ảnh mờ"}]'
act "$CITIZEN" supplement "\"documents\":[{\"requirement_code\":\"CM\",\"file_id\":\"$(upload cho-o.pdf)\"}]"
act "$OFFICER" complete '"outcome":"approved","electronic_result":true'
act "$CLERK" return '"delivery":"online"'
act "$CITIZEN" rating '"overall":"very_satisfied"'

# The printable receipt (A5 HTML) and the control slip (JSON).
STEP="print the receipt"
call "/dossiers/$ID/forms/receipt?format=html" -H "authorization: Bearer $CLERK" >"$WORK/receipt-$CODE.html"
echo "receipt written to $WORK/receipt-$CODE.html"
STEP="read the control slip"
call "/dossiers/$ID/forms/control_slip" -H "authorization: Bearer $CLERK"
echo
# The history is intact.
STEP="verify the history"
call "/audit/verify?dossier_id=$ID" -H "authorization: Bearer $CLERK"
echo
rm -f "$WORK/curl-error"
echo "files of this walk: $WORK"

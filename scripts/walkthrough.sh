#!/usr/bin/env bash
# A dossier's whole life over the REST API, against a server started with
# `cargo run --release -- serve --demo` (the README's walkthrough).
# Needs only bash and curl. Usage: scripts/walkthrough.sh [base URL]
set -euo pipefail
API="${1:-http://127.0.0.1:8080}/api/v1"
PASSWORD="${MOTCUA_DEMO_PASSWORD:-motcua-demo}"

# The value of a top-level JSON field (string or number) in the text on stdin.
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" | head -n 1; }
login() {
  curl -sf "$API/auth/token" -H 'content-type: application/json' \
       -d "{\"username\":\"$1\",\"password\":\"$PASSWORD\"}" | field access_token
}
# POST an action with the dossier's current version; prints the new state.
act() { # token action json-fields
  local body
  body=$(curl -sf "$API/dossiers/$ID/$2" -H "authorization: Bearer $1" \
         -H 'content-type: application/json' -H "if-match: \"$VERSION\"" -d "{$3}")
  VERSION=$(echo "$body" | field version)
  echo "$2 -> $(echo "$body" | field status) (version $VERSION)"
}

CITIZEN=$(login 027090001234)
CLERK=$(login clerk)
OFFICER=$(login officer)
AGENCY=$(curl -sf "$API/me" -H "authorization: Bearer $CLERK" | sed -n 's/.*"agency":{"id":"\([^"]*\)".*/\1/p')

# 1. The citizen uploads the two documents (PDF scans) and files a
#    temporary-residence registration online.
# (A minimal well-formed PDF: uploads must parse as PDF structure, with a
# cross-reference table at the offset the trailer names.)
pdf() {
  printf '%%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\nxref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \ntrailer << /Size 3 /Root 1 0 R >>\nstartxref\n110\n%%%%EOF\n' > "$1"
}
pdf to-khai.pdf
pdf cho-o.pdf
upload() {
  curl -sf "$API/files" -H "authorization: Bearer $CITIZEN" -F "file=@$1" | field id
}
FORM=$(upload to-khai.pdf)
PROOF=$(upload cho-o.pdf)
FILED=$(curl -sf "$API/dossiers" -H "authorization: Bearer $CITIZEN" \
  -H 'content-type: application/json' -H "idempotency-key: walkthrough-$(date +%s%N)" \
  -d "{\"procedure_code\":\"1.004194\",\"agency_id\":\"$AGENCY\",
       \"applicant\":{\"full_name\":\"Nguyễn Văn An\",\"phone\":\"0912345678\"},
       \"documents\":[{\"requirement_code\":\"TK\",\"file_id\":\"$FORM\"},
                      {\"requirement_code\":\"CM\",\"file_id\":\"$PROOF\"}],
       \"result_delivery\":\"online\"}")
ID=$(echo "$FILED" | field id)
CODE=$(echo "$FILED" | field code)
VERSION=1
echo "filed $CODE (acknowledge by $(echo "$FILED" | field ack_due_at))"

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
curl -sf "$API/dossiers/$ID/forms/receipt?format=html" -H "authorization: Bearer $CLERK" -o "receipt-$CODE.html"
echo "receipt written to receipt-$CODE.html"
curl -sf "$API/dossiers/$ID/forms/control_slip" -H "authorization: Bearer $CLERK"
echo
# The history is intact.
curl -sf "$API/audit/verify?dossier_id=$ID" -H "authorization: Bearer $CLERK"
echo

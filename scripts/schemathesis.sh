#!/usr/bin/env bash
# Property-based API testing from the OpenAPI document (docs/requirements.md, R6):
# schemathesis generates requests for every operation, as anonymous, citizen,
# clerk and admin, against a fresh `motcua serve --demo` on SQLite, and fails
# on any 5xx, any status the document does not list, and any response that
# does not match its schema.
#
# Usage: scripts/schemathesis.sh [MAX_SECONDS_PER_ROLE]   (default 60); set
# DATABASE_URL to run the server on PostgreSQL instead of a fresh SQLite file.
# Needs: python3 (schemathesis is installed in a virtual environment under
# ~/.cache/motcua, pinned below), and a built binary (cargo build).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
budget="${1:-60}"
venv="$HOME/.cache/motcua/schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -x "$venv/bin/st" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

binary="${CARGO_TARGET_DIR:-target}/debug/motcua"
[ -x "$binary" ] || cargo build --locked -q
work=$(mktemp -d)
log="$work/server.log"
cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

MOTCUA_DATA_DIR="$work/data" MOTCUA_BIND=127.0.0.1:0 MOTCUA_LOG=warn,motcua=info \
    MOTCUA_PAYMENT_SECRET=schemathesis-gateway-secret \
    "$binary" serve --demo >"$work/demo.txt" 2>"$log" &
server=$!
address=""
for _ in $(seq 1 200); do
    address=$(sed -n 's/.*listening on \(http:\/\/[^ ]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$address" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
done
[ -n "$address" ] || { echo "the server did not start:"; cat "$log"; exit 1; }
echo "motcua at $address"

token() {
    curl -sf "$address/api/v1/auth/token" -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"motcua-demo\"}" |
        sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}

# Every token first: fuzzing /auth/token with wrong passwords soon has the
# login throttle refuse this address (as it should). Access tokens live 10
# minutes; the whole run is well within that.
declare -A tokens
for role in 027090001234 clerk admin; do
    tokens[$role]=$(token "$role" || true)
    [ -n "${tokens[$role]}" ] || { echo "cannot log in as $role"; exit 1; }
done

# No automatic sign-up: the anonymous run stays anonymous (schemathesis would
# take POST /users, which only administrators may call, for a sign-up form,
# and 4.32.5 crashes on a sign-up body that refers to other schemas).
printf '[auth]\nauto-signup = false\n' >"$work/schemathesis.toml"

status=0
for role in anonymous 027090001234 clerk admin; do
    headers=()
    if [ "$role" != anonymous ]; then
        headers=(-H "Authorization: Bearer ${tokens[$role]}")
    fi
    echo "== schemathesis as $role (${budget}s)"
    if ! "$venv/bin/st" --config-file "$work/schemathesis.toml" run openapi/openapi.json --url "$address" "${headers[@]}" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
        --phases examples,coverage,fuzzing --max-time "$budget" --workers 1 \
        --suppress-health-check all --warnings off; then
        status=1
    fi
done
# motcua's own errors and any panic (actix logs clients' malformed requests
# at ERROR level too; those are not ours).
if grep -E ' ERROR motcua|panicked' "$log"; then
    echo "the server logged the errors above"
    status=1
fi
exit "$status"

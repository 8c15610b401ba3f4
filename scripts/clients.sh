#!/usr/bin/env bash
# Real client generators against the contract (docs/api-conventions.md, "The
# contract"): proof that openapi/openapi.json is something a client can be
# generated from, not only a document that validates.
#
#  1. TypeScript: openapi-typescript generates types from the document, and
#     `tsc --strict` checks clients/typescript/walkthrough.ts, which builds
#     every request body of scripts/walkthrough.sh through those types.
#  2. Python: openapi-python-client generates a client from the document, and
#     clients/python/walkthrough.py runs the walkthrough with it against a
#     fresh `motcua serve --demo` on SQLite (started here, as
#     scripts/schemathesis.sh does).
#
# Usage: scripts/clients.sh [typescript|python]   (default: both)
# Needs: node 20 with npm, python3.11 (or python3 ≥ 3.10), cargo. The
# generators are pinned (clients/typescript/package-lock.json,
# clients/python/requirements.txt) and installed once: node_modules in
# clients/typescript (git-ignored), a virtual environment under
# ~/.cache/motcua. Exits non-zero, saying which check failed and why.
set -euo pipefail
cd "$(dirname "$0")/.."

which="${1:-all}"
case "$which" in all | typescript | python) ;; *)
    echo "usage: scripts/clients.sh [typescript|python]" >&2
    exit 2
    ;;
esac
cache="$HOME/.cache/motcua"
work=$(mktemp -d)
failures=()
cleanup() {
    if [ -n "${server:-}" ]; then
        kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

typescript() {
    local dir=clients/typescript stamp=clients/typescript/node_modules/.motcua-package-lock.json
    command -v npm >/dev/null || { echo "npm is not installed (node 20 and npm are needed)"; return 1; }
    if ! cmp -s "$dir/package-lock.json" "$stamp"; then
        echo "installing the pinned openapi-typescript and typescript (npm ci)"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || return 1
        cp "$dir/package-lock.json" "$stamp"
    fi
    "$dir/node_modules/.bin/openapi-typescript" openapi/openapi.json -o "$dir/schema.d.ts" --silent ||
        { echo "openapi-typescript could not generate types from openapi/openapi.json"; return 1; }
    echo "generated $dir/schema.d.ts; type-checking $dir/walkthrough.ts (tsc --strict)"
    if ! "$dir/node_modules/.bin/tsc" -p "$dir" --strict --noEmit; then
        echo "the walkthrough's request bodies do not type-check against the generated types (above)"
        return 1
    fi
    echo "ok: every request body of the walkthrough type-checks"
}

# The interpreter for the virtual environment: python3.11 if present.
python_for_venv() {
    local python
    for python in python3.11 python3; do
        if command -v "$python" >/dev/null &&
            "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
            echo "$python"
            return
        fi
    done
    return 1
}

start_server() {
    local binary="${CARGO_TARGET_DIR:-target}/debug/motcua" log="$work/server.log" address=""
    # Built every time (a no-op when up to date), so the server is this code.
    cargo build --locked -q --bin motcua || return 1
    MOTCUA_DATA_DIR="$work/data" MOTCUA_BIND=127.0.0.1:0 MOTCUA_LOG=warn,motcua=info \
        "$binary" serve --demo >"$work/demo.txt" 2>"$log" &
    server=$!
    for _ in $(seq 1 200); do
        address=$(sed -n 's/.*listening on \(http:\/\/[^ ]*\).*/\1/p' "$log" | head -n 1)
        [ -n "$address" ] && break
        kill -0 "$server" 2>/dev/null || { echo "the server stopped:"; cat "$log"; return 1; }
        sleep 0.1
    done
    [ -n "$address" ] || { echo "the server did not start:"; cat "$log"; return 1; }
    echo "$address" >"$work/address"
}

python_client() {
    local requirements=clients/python/requirements.txt python venv generated="$work/python"
    local version
    version=$(sed -n 's/^openapi-python-client==//p' "$requirements")
    venv="$cache/openapi-python-client-$version"
    if ! cmp -s "$requirements" "$venv/requirements.txt"; then
        python=$(python_for_venv) || { echo "python 3.10 or later is not installed"; return 1; }
        echo "installing the pinned openapi-python-client $version in $venv"
        rm -rf "$venv"
        "$python" -m venv "$venv" && "$venv/bin/pip" install -q -r "$requirements" || return 1
        cp "$requirements" "$venv/requirements.txt"
    fi
    mkdir -p "$generated"
    # The generator succeeds with warnings when it must drop part of the
    # document (a schema it cannot turn into a class): that is a failure here.
    if ! "$venv/bin/openapi-python-client" generate --path openapi/openapi.json \
        --output-path "$generated/motcua_client" --meta none \
        --config clients/python/config.yaml >"$work/generate.log" 2>&1; then
        cat "$work/generate.log"
        echo "openapi-python-client refuses openapi/openapi.json (above)"
        return 1
    fi
    local status=0
    if grep -q "Warning(s) encountered" "$work/generate.log"; then
        sed -n '/Warning(s) encountered/,$p' "$work/generate.log" | grep -v '^$'
        echo "openapi-python-client dropped part of openapi/openapi.json (above)"
        status=1
    fi
    echo "generated the Python client; running clients/python/walkthrough.py against a fresh server"
    start_server || return 1
    if ! PYTHONPATH="$generated" "$venv/bin/python" clients/python/walkthrough.py "$(cat "$work/address")"; then
        echo "the generated Python client could not run the walkthrough (above)"
        status=1
    fi
    if grep -E ' ERROR motcua|panicked' "$work/server.log"; then
        echo "the server logged the errors above"
        status=1
    fi
    return "$status"
}

if [ "$which" != python ]; then
    echo "== TypeScript: openapi-typescript + tsc --strict"
    typescript || failures+=("TypeScript: the generated types do not type the walkthrough's bodies")
fi
if [ "$which" != typescript ]; then
    echo "== Python: openapi-python-client + the walkthrough against a live server"
    python_client || failures+=("Python: the generated client does not run the walkthrough")
fi
if [ "${#failures[@]}" -gt 0 ]; then
    printf 'clients.sh failed: %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "clients.sh: both generated clients work"

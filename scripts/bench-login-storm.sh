#!/usr/bin/env bash
# Memory under a storm of logins (issue #10, item 5; docs/requirements.md, P6): starts the
# release server (`serve --demo`, SQLite) and sends 50 correct logins at once,
# each from its own loopback address, then 40 wrong logins at once for one
# account from one address. Prints resident memory idle, at its peak and after,
# and how the wrong logins were answered. Runs twice: with the default bound on
# concurrent Argon2id hashes (one per two cores) and with the bound lifted
# (MOTCUA_PASSWORD_HASHERS=64), so the effect of the bound is measured in the
# same run.
#
# Usage: scripts/bench-login-storm.sh    (needs curl; builds the release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
binary="${CARGO_TARGET_DIR:-target}/release/motcua"

kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$2/status"; }

storm() {
    local hashers="$1" work server address log
    work=$(mktemp -d)
    log="$work/server.log"
    env ${hashers:+MOTCUA_PASSWORD_HASHERS=$hashers} MOTCUA_DATA_DIR="$work/data" \
        MOTCUA_BIND=127.0.0.1:0 MOTCUA_LOG=warn,motcua=info \
        "$binary" serve --demo >/dev/null 2>"$log" &
    server=$!
    for _ in $(seq 1 200); do
        address=$(sed -n 's/.*listening on \(http:\/\/[^ ]*\).*/\1/p' "$log" | head -n 1)
        [ -n "$address" ] && break
        sleep 0.1
    done
    login() { # address-suffix username password
        curl -s -o /dev/null -w '%{http_code}\n' --interface "127.0.0.$1" \
            "$address/api/v1/auth/token" -H 'content-type: application/json' \
            -d "{\"username\":\"$2\",\"password\":\"$3\"}"
    }
    export -f login
    export address
    login 2 clerk motcua-demo >/dev/null # warm-up
    local idle; idle=$(kib VmRSS "$server")
    local accounts=(admin clerk officer leader auditor clerk-2 auditor-province 027090001234)
    local started; started=$(date +%s.%N)
    for i in $(seq 0 49); do
        echo "$((10 + i)) ${accounts[$((i % 8))]} motcua-demo"
    done | xargs -P 50 -L 1 bash -c 'login "$@"' _ >"$work/right.txt"
    local took; took=$(awk "BEGIN { print $(date +%s.%N) - $started }")
    local peak; peak=$(kib VmHWM "$server")
    local after; after=$(kib VmRSS "$server")
    for _ in $(seq 1 40); do echo "200 admin wrong-password"; done |
        xargs -P 40 -L 1 bash -c 'login "$@"' _ >"$work/wrong.txt"
    printf '| %s | %s | %s MiB | %s MiB | %s MiB | %.2f s | %s | %s × 401, %s × 429 |\n' \
        "${hashers:-default (one per two cores)}" "$(nproc)" "$((idle / 1024))" "$((peak / 1024))" \
        "$((after / 1024))" "$took" "$(grep -c '^200$' "$work/right.txt") / 50" \
        "$(grep -c '^401$' "$work/wrong.txt")" "$(grep -c '^429$' "$work/wrong.txt")"
    kill "$server"; wait "$server" 2>/dev/null || true
    rm -rf "$work"
}

echo "| hashers | cores | RSS idle | RSS peak | RSS after | 50 logins took | logged in | 40 wrong at once |"
echo "|---|---|---|---|---|---|---|---|"
storm ""
storm 64

#!/usr/bin/env bash
# Online filings per second on the embedded SQLite database (docs/requirements.md, P5).
#   scripts/bench-filing.sh [filings] [concurrent clients]
# Uses the release binary (cargo build --release first) on a fresh SQLite file
# seeded by `serve --demo`. The demo citizen uploads two PDFs once; then the
# clients (python3, standard library only, one keep-alive connection each)
# file temporary-residence registrations (POST /dossiers, two documents, a new
# Idempotency-Key each) as fast as the server answers. Prints throughput and
# latency percentiles; every answer must be 201.
set -euo pipefail
FILINGS=${1:-3000}
CLIENTS=${2:-8}
BIN="$(cd "$(dirname "$0")/.." && pwd)/target/release/motcua"
WORK=$(mktemp -d)
trap 'kill "${SERVER:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"
export MOTCUA_LOG=warn MOTCUA_BIND=127.0.0.1:18082
"$BIN" serve --demo >/dev/null & SERVER=$!
for _ in $(seq 1 100); do curl -sf localhost:18082/readyz >/dev/null && break; sleep 0.1; done
API=localhost:18082/api/v1
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -n 1; }
login() {
  curl -sf "$API/auth/token" -H 'content-type: application/json' \
       -d "{\"username\":\"$1\",\"password\":\"${MOTCUA_DEMO_PASSWORD:-motcua-demo}\"}" | field access_token
}
CITIZEN=$(login 027090001234)
AGENCY=$(curl -sf "$API/me" -H "authorization: Bearer $(login clerk)" | sed -n 's/.*"agency":{"id":"\([^"]*\)".*/\1/p')
printf '%%PDF-1.4\n%% to khai\n%%%%EOF\n' > form.pdf
printf '%%PDF-1.4\n%% giay to cho o\n%%%%EOF\n' > proof.pdf
FORM=$(curl -sf "$API/files" -H "authorization: Bearer $CITIZEN" -F "file=@form.pdf" | field id)
PROOF=$(curl -sf "$API/files" -H "authorization: Bearer $CITIZEN" -F "file=@proof.pdf" | field id)
echo "backend=sqlite filings=$FILINGS clients=$CLIENTS"
python3 - "$FILINGS" "$CLIENTS" "$CITIZEN" "$AGENCY" "$FORM" "$PROOF" <<'EOF'
import http.client, json, sys, threading, time, uuid
filings, clients, token, agency, form, proof = sys.argv[1:]
filings, clients = int(filings), int(clients)
body = json.dumps({
    "procedure_code": "1.004194", "agency_id": agency,
    "applicant": {"full_name": "Nguyễn Văn An", "phone": "0912345678"},
    "documents": [{"requirement_code": "TK", "file_id": form},
                  {"requirement_code": "CM", "file_id": proof}],
    "result_delivery": "online",
}).encode()
latencies, statuses, lock = [], {}, threading.Lock()
left = [filings]

def client():
    conn = http.client.HTTPConnection("127.0.0.1", 18082)
    while True:
        with lock:
            if left[0] == 0:
                return
            left[0] -= 1
        headers = {"authorization": "Bearer " + token, "content-type": "application/json",
                   "idempotency-key": str(uuid.uuid4())}
        started = time.perf_counter()
        conn.request("POST", "/api/v1/dossiers", body, headers)
        response = conn.getresponse()
        response.read()
        took = time.perf_counter() - started
        with lock:
            latencies.append(took)
            statuses[response.status] = statuses.get(response.status, 0) + 1

threads = [threading.Thread(target=client) for _ in range(clients)]
started = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.perf_counter() - started
latencies.sort()
pct = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000
print(f"statuses: {statuses}")
print(f"{filings} filings in {elapsed:.2f} s: {filings / elapsed:.0f} filings/s; "
      f"latency p50 {pct(50):.1f} ms, p99 {pct(99):.1f} ms")
sys.exit(0 if statuses.get(201) == filings else 1)
EOF

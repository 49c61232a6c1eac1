#!/usr/bin/env bash
# Load benchmark of the example server on MySQL/MariaDB.
#
#   benches/load/run.sh [mysql://user:pass@host:3306/crm_load]
#   REDIS_URL=redis://127.0.0.1:6379 LABEL=redis benches/load/run.sh
#
# 1. builds the release binaries (crm-server, crm-load, crm-loadgen);
# 2. loads the database with CUSTOMERS customers and PURCHASES purchases
#    through the SDK's bulk importers, unless already loaded (crm-load resumes
#    a cut-off load and only checks a complete one);
# 3. starts the release server on it (--no-demo, a benchmark admin), logs in;
# 4. runs each scenario at a fixed RATE for DURATION seconds after a WARMUP:
#      get     GET /api/customers/{random id}                  (oha)
#      search  GET /api/customers?q={random name prefix}       (oha)
#      earn    POST /api/customers/{random id}/loyalty/earn,
#              a unique reference per request                  (crm-loadgen)
#    and records p50, p99, max, throughput, non-2xx and transport errors,
#    and the server's VmRSS / VmHWM (/proc/<pid>/status) after each;
# 5. writes results/<time>-<label>/summary.md (a Markdown table) and the raw
#    JSON of every run next to it, and stops the server.
#
# Why two generators: both are open-loop (a fixed rate, whatever the server
# does). oha (`cargo install oha --locked`) cannot give each request its own
# body (its -Z picks body lines at random, independently of the URL), and an
# earn needs a unique (reference_type, reference_id) per request: a repeated
# key on another customer is a 409. crm-loadgen (benches/src/bin) sends a
# prepared request per line. Set GEN=loadgen to run every scenario with
# crm-loadgen (to compare the two generators on the same reads).
#
# Settings (environment): CUSTOMERS (1000000), PURCHASES (10000000), SEED (42),
# RATE (1000), DURATION (30), WARMUP (5, seconds per scenario, not recorded),
# SCENARIOS ("get search earn"), CONNECTIONS (oha connections, 50),
# CRM_BIND (127.0.0.1:8088), CRM_ADMIN_EMAIL / CRM_ADMIN_PASSWORD,
# REDIS_URL (passed to the server when set), LABEL (redis / no-redis),
# NO_BUILD=1 (use the binaries already in target/release), GEN (oha|loadgen).
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
URL=${1:-${DATABASE_URL:-mysql://crm:crm@127.0.0.1:3306/crm_load}}
CUSTOMERS=${CUSTOMERS:-1000000}
PURCHASES=${PURCHASES:-10000000}
SEED=${SEED:-42}
RATE=${RATE:-1000}
DURATION=${DURATION:-30}
WARMUP=${WARMUP:-5}
SCENARIOS=${SCENARIOS:-get search earn}
CONNECTIONS=${CONNECTIONS:-50}
BIND=${CRM_BIND:-127.0.0.1:8088}
ADMIN_EMAIL=${CRM_ADMIN_EMAIL:-loadbench@crm.local}
ADMIN_PASSWORD=${CRM_ADMIN_PASSWORD:-loadbench-password-1}
GEN=${GEN:-oha}
if [[ -n "${REDIS_URL:-}" ]]; then LABEL=${LABEL:-redis}; else LABEL=${LABEL:-no-redis}; fi
BASE="http://$BIND"
OUT="$ROOT/benches/load/results/$(date -u +%Y%m%dT%H%M%SZ)-$LABEL"
BIN="$ROOT/target/release"

need() { command -v "$1" >/dev/null || { echo "run.sh: $1 is required ($2)" >&2; exit 1; }; }
need curl "apt-get install curl"
need jq "apt-get install jq"
[[ $GEN == loadgen ]] || need oha "cargo install oha --locked"
mkdir -p "$OUT"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log"; }

if [[ -z "${NO_BUILD:-}" ]]; then
    log "building release binaries"
    cargo build --release -p crm-server -p crm-benches --bins 2>&1 | tail -1
fi

log "loading $URL ($CUSTOMERS customers, $PURCHASES purchases, seed $SEED; skipped if loaded)"
"$BIN/crm-load" --url "$URL" --customers "$CUSTOMERS" --purchases "$PURCHASES" --seed "$SEED" \
    | tee -a "$OUT/load.log"

SERVER_PID=
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -INT "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap stop_server EXIT

log "starting crm-server on $BIND (label $LABEL${REDIS_URL:+, REDIS_URL=$REDIS_URL})"
env DATABASE_URL="$URL" CRM_BIND="$BIND" \
    CRM_ADMIN_EMAIL="$ADMIN_EMAIL" CRM_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    CRM_JWT_SECRET="${CRM_JWT_SECRET:-loadbench-secret-0123456789abcdef}" \
    ${REDIS_URL:+REDIS_URL="$REDIS_URL"} \
    "$BIN/crm-server" --no-demo >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 120); do
    curl -fsS "$BASE/health" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/server.log" >&2; exit 1; }
    sleep 0.5
done
curl -fsS "$BASE/health" >/dev/null

TOKEN=$(curl -fsS -X POST "$BASE/api/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .data.token)
[[ -n "$TOKEN" && "$TOKEN" != null ]] || { echo "run.sh: login failed" >&2; exit 1; }
AUTH="authorization: Bearer $TOKEN"

# Customer ids: the loader's customers have consecutive ids.
first_id=$(curl -fsS -H "$AUTH" "$BASE/api/customers?active=all&sort=id&direction=asc&limit=1" | jq '.data[0].id')
last=$(curl -fsS -H "$AUTH" "$BASE/api/customers?active=all&sort=id&direction=desc&limit=1")
last_id=$(jq '.data[0].id' <<<"$last")
total=$(jq '.meta.total' <<<"$last")
log "customers: $total (ids $first_id..$last_id)"
[[ $((last_id - first_id + 1)) == "$total" ]] || log "warning: ids are not consecutive; some GETs may be 404"

# Request files (seeded, so runs are repeatable).
REQUESTS=$(( RATE * (DURATION + WARMUP) + RATE ))
awk -v n=100000 -v lo="$first_id" -v hi="$last_id" -v base="$BASE" -v seed="$SEED" \
    'BEGIN { srand(seed); for (i = 0; i < n; i++) printf "%s/api/customers/%d\n", base, lo + int(rand() * (hi - lo + 1)) }' \
    >"$OUT/get.urls"
"$BIN/crm-load" prefixes --seed "$SEED" --count 2000 \
    | awk -v base="$BASE" '{ gsub(/ /, "%20"); printf "%s/api/customers?q=%s&limit=20\n", base, $0 }' >"$OUT/search.urls"
RUN_ID="lb$(date -u +%s)"
awk -v n="$REQUESTS" -v lo="$first_id" -v hi="$last_id" -v run="$RUN_ID" -v seed="$SEED" \
    'BEGIN { srand(seed + 1); for (i = 0; i < n; i++)
        printf "POST /api/customers/%d/loyalty/earn {\"points\":10,\"reference_type\":\"loadbench\",\"reference_id\":\"%s-%d\"}\n",
            lo + int(rand() * (hi - lo + 1)), run, i }' >"$OUT/earn.requests"
# The GET and search files in crm-loadgen's format too (for GEN=loadgen).
sed "s|^$BASE|GET |" "$OUT/get.urls" >"$OUT/get.requests"
sed "s|^$BASE|GET |" "$OUT/search.urls" >"$OUT/search.requests"
shuf --random-source=<(yes "$SEED") "$OUT/search.requests" -o "$OUT/search.requests"

# The busiest processes over one second (is anything else using the cores?).
busy() { top -b -n 2 -d 1 -o %CPU -w 200 | awk '/^ *PID/ { n++ } n == 2 && ++k > 1 && k <= 9'; }
rss() { awk '/^VmRSS|^VmHWM/ { printf "%s %s ", $1, $2 }' "/proc/$SERVER_PID/status"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# Runs one scenario with one generator for $2 seconds; JSON to $3.
generate() {
    local scenario=$1 seconds=$2 json=$3 offset=$4
    if [[ $GEN == oha && $scenario != earn ]]; then
        oha --no-tui -q "$RATE" -z "${seconds}s" -w -c "$CONNECTIONS" --latency-correction \
            --urls-from-file "$OUT/$scenario.urls" -H "$AUTH" \
            --output-format json -o "$json" >/dev/null
        jq -c '{generator: "oha", requests: ([.statusCodeDistribution[]] | add // 0),
                ok: ([.statusCodeDistribution | to_entries[] | select(.key | startswith("2")) | .value] | add // 0),
                non_2xx: ([.statusCodeDistribution | to_entries[] | select(.key | startswith("2") | not) | .value] | add // 0),
                transport_errors: ([.errorDistribution[]] | add // 0),
                throughput: .summary.requestsPerSec,
                p50_ms: .metrics.latency_ms.p50, p99_ms: .metrics.latency_ms.p99,
                max_ms: .metrics.latency_ms.max}' "$json"
    else
        # crm-loadgen takes lines in order: skip the ones a previous run used.
        local file="$OUT/$scenario.requests"
        tail -n +"$((offset + 1))" "$file" >"$file.run"
        "$BIN/crm-loadgen" --target "$BASE" --rate "$RATE" --duration "$seconds" \
            --requests "$file.run" -H "$AUTH" --json "$json" >/dev/null
        rm -f "$file.run"
        jq -c '{generator: "crm-loadgen", requests, ok, non_2xx, transport_errors, throughput,
                p50_ms, p99_ms, max_ms}' "$json"
    fi
}

echo "| scenario | generator | requests | throughput (req/s) | p50 (ms) | p99 (ms) | max (ms) | non-2xx | transport errors | server VmRSS / VmHWM (MB) | load avg (1/5/15 min, after) |" >"$OUT/summary.md"
echo "|---|---|---|---|---|---|---|---|---|---|---|" >>"$OUT/summary.md"
for scenario in $SCENARIOS; do
    log "$scenario: warm-up ${WARMUP}s at $RATE/s (load $(loadavg))"
    generate "$scenario" "$WARMUP" "$OUT/$scenario-warmup.json" 0 >/dev/null
    log "$scenario: ${DURATION}s at $RATE/s"
    # Earn references are used once: the measured run starts after the warm-up's.
    offset=0
    [[ $scenario == earn ]] && offset=$((RATE * WARMUP + RATE))
    (sleep $((DURATION / 2)); busy >"$OUT/$scenario.top") &
    busy_pid=$!
    result=$(generate "$scenario" "$DURATION" "$OUT/$scenario.json" "$offset")
    wait "$busy_pid"
    mem=$(rss)
    rss_mb=$(awk '{ printf "%.1f / %.1f", $4 / 1024, $2 / 1024 }' <<<"$mem")  # VmHWM comes first
    log "$scenario: $result; $mem; load $(loadavg)"
    log "$scenario: busiest processes mid-run: $(awk '{ printf "%s %s%%; ", $12, $9 }' "$OUT/$scenario.top")"
    jq -r --arg s "$scenario" --arg mem "$rss_mb" --arg load "$(loadavg)" \
        '"| \($s) | \(.generator) | \(.requests) | \(.throughput | floor) | \(.p50_ms * 100 | round / 100) | \(.p99_ms * 100 | round / 100) | \(.max_ms * 10 | round / 10) | \(.non_2xx) | \(.transport_errors) | \($mem) | \($load) |"' \
        <<<"$result" >>"$OUT/summary.md"
done

{
    echo
    echo "Command: $(printf '%q ' "$0" "$@")"
    echo "Settings: URL=${URL//:*@/:***@} CUSTOMERS=$CUSTOMERS PURCHASES=$PURCHASES RATE=$RATE DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS GEN=$GEN LABEL=$LABEL REDIS_URL=${REDIS_URL:-}"
    echo "Machine: $(nproc) cores, $(uname -r), $(date -u +%FT%TZ)"
    echo "Server log lines: $(wc -l <"$OUT/server.log")"
} >>"$OUT/summary.md"
log "results in $OUT"
cat "$OUT/summary.md"

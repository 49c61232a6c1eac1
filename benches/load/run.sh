#!/usr/bin/env bash
# Load benchmark of the example server on MySQL/MariaDB, through the HTTP API
# and as the equivalent raw SQL sent straight to the database.
#
#   benches/load/run.sh [mysql://user:pass@host:3306/crm_load]
#   REDIS_URL=redis://127.0.0.1:6379 LABEL=redis benches/load/run.sh
#   OLD_SERVER_BIN=/tmp/crm-server-old benches/load/run.sh   # also the old server
#
# 1. builds the release binaries (crm-server, crm-load, crm-loadgen);
# 2. loads the database with CUSTOMERS customers and PURCHASES purchases
#    through the SDK's bulk importers, unless already loaded (crm-load resumes
#    a cut-off load and only checks a complete one);
# 3. starts the release server on it (--no-demo, a benchmark admin), logs in,
#    reads the customer id range and draws seeded request streams;
# 4. for each scenario and each variant, climbs a ladder of fixed rates
#    (RATES): a WARMUP (not recorded) then DURATION seconds at each rate,
#    until p99 >= P99_MS, throughput < 95% of the rate or errors > 0.1%:
#      get     api      GET /api/customers/{random id}
#              raw      the store's customer SELECT (tags as a JSON array)
#              get-pk   SELECT * FROM customers WHERE id = ? (the floor)
#              api-http GET /crm/login.html, a 1.3 kB page the server answers
#                       from memory: its HTTP hop without the database (the
#                       API's floor is this hop plus get-pk)
#      search  api      GET /api/customers?q={random name prefix}&limit=20
#              raw      the store's listing SELECT (LIMIT 21) and its tag
#                       lookup (the page's ids, padded as the store pads them)
#              search+count  the same after the store's COUNT(*) (the old
#                       behaviour counted every listing)
#      earn    api      POST /api/customers/{random id}/loyalty/earn,
#                       a unique reference per request
#              raw      the minimal locking transaction: BEGIN; account row
#                       FOR UPDATE; ledger entry; lot; balance; outbox event;
#                       COMMIT (reference_type rawbench)
#              raw-full every statement the store sends for an earn, in its
#                       four round trips (BEGIN with the lock, the key check,
#                       the entry, and one batch: the audit row and lot held
#                       back, the account, the numbered event, COMMIT)
#      (api-old: the API variants against OLD_SERVER_BIN, when set)
#    The SQL is in benches/load/raw-sql.md (copied from the MariaDB general
#    log of the server answering one request of each kind). Every run takes
#    a fresh slice of its scenario's seeded stream (ids, prefixes), so no
#    variant reads rows an earlier run warmed up. The API runs record the
#    server's VmRSS / VmHWM (/proc/<pid>/status); the server is stopped
#    during the raw runs; one server at a time;
# 5. writes results/<time>-<label>/summary.md (per scenario: every run, the
#    capacities, the API / raw ratios; the database settings and the outbox
#    size), results.jsonl (one line per run) and the raw JSON of every run.
#
# Generators: both open-loop (a fixed rate, whatever the server does),
# latency from each request's scheduled time. crm-loadgen (benches/src/bin)
# sends a prepared request per line over HTTP (an earn needs a unique
# (reference_type, reference_id) per request, which oha's -Z cannot give) and
# runs the raw SQL (--mysql). GEN=oha runs the API reads with oha
# (`cargo install oha --locked`); the default is oha when it is installed,
# loadgen otherwise.
#
# Settings (environment): CUSTOMERS (1000000), PURCHASES (10000000), SEED (42),
# RATES ("200 400 600 800 1000 1400 1800 2400"), DURATION (15), WARMUP (3,
# seconds per run, not recorded), REPEAT (1: runs per rate, after one
# warm-up; with more, a rate is judged on the medians of p99 and throughput,
# every run's p99 listed), P99_MS (20), RATE (compare the variants at
# this rate when both sustained it; by default the highest rate both
# sustained), SCENARIOS ("get search earn"), VARIANTS (all of the above;
# e.g. "api raw"), CONNECTIONS (oha connections, 50), DB_CONNECTIONS (the
# server's pool, CRM_DB_MAX_CONNECTIONS, and the raw SQL pool: 10),
# CRM_BIND (127.0.0.1:8088), OLD_SERVER_BIN, OLD_BIND (127.0.0.1:8089),
# CRM_ADMIN_EMAIL / CRM_ADMIN_PASSWORD, REDIS_URL (passed to the servers when
# set), LABEL (redis / no-redis), NO_BUILD=1 (use the binaries already in
# target/release), NO_LOAD=1 (neither load nor check the database: crm-load
# migrates it to the new schema, which an old server's run must not have),
# BIN_DIR (where crm-load, crm-loadgen and crm-server are;
# default target/release), GEN (oha|loadgen).
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
URL=${1:-${DATABASE_URL:-mysql://crm:crm@127.0.0.1:3306/crm_load}}
CUSTOMERS=${CUSTOMERS:-1000000}
PURCHASES=${PURCHASES:-10000000}
SEED=${SEED:-42}
RATES=${RATES:-200 400 600 800 1000 1400 1800 2400}
RATE=${RATE:-}
DURATION=${DURATION:-15}
REPEAT=${REPEAT:-1}
WARMUP=${WARMUP:-3}
P99_MS=${P99_MS:-20}
SCENARIOS=${SCENARIOS:-get search earn}
VARIANTS=${VARIANTS:-}
CONNECTIONS=${CONNECTIONS:-50}
DB_CONNECTIONS=${DB_CONNECTIONS:-${CRM_DB_MAX_CONNECTIONS:-10}}
BIND=${CRM_BIND:-127.0.0.1:8088}
OLD_BIND=${OLD_BIND:-127.0.0.1:8089}
OLD_SERVER_BIN=${OLD_SERVER_BIN:-}
ADMIN_EMAIL=${CRM_ADMIN_EMAIL:-loadbench@crm.local}
ADMIN_PASSWORD=${CRM_ADMIN_PASSWORD:-loadbench-password-1}
if command -v oha >/dev/null; then GEN=${GEN:-oha}; else GEN=${GEN:-loadgen}; fi
if [[ -n "${REDIS_URL:-}" ]]; then LABEL=${LABEL:-redis}; else LABEL=${LABEL:-no-redis}; fi
OUT="$ROOT/benches/load/results/$(date -u +%Y%m%dT%H%M%SZ)-$LABEL"
BIN=${BIN_DIR:-$ROOT/target/release}

need() { command -v "$1" >/dev/null || { echo "run.sh: $1 is required ($2)" >&2; exit 1; }; }
need curl "apt-get install curl"
need jq "apt-get install jq"
[[ $GEN == loadgen ]] || need oha "cargo install oha --locked"
MYSQL_CLI=$(command -v mariadb || command -v mysql || true)
[[ -n $MYSQL_CLI ]] || { echo "run.sh: the mariadb (or mysql) client is required (apt-get install mariadb-client)" >&2; exit 1; }
[[ -z $OLD_SERVER_BIN || -x $OLD_SERVER_BIN ]] || { echo "run.sh: OLD_SERVER_BIN=$OLD_SERVER_BIN is not executable" >&2; exit 1; }
mkdir -p "$OUT/runs"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log"; }

# The database URL's parts, for the mariadb client (the password through
# MYSQL_PWD, not the command line).
if [[ $URL =~ ^(mysql|mariadb)://([^:@/]+)(:([^@]*))?@([^:/]+)(:([0-9]+))?/([^?]+) ]]; then
    DB_USER=${BASH_REMATCH[2]} DB_PASS=${BASH_REMATCH[4]} DB_HOST=${BASH_REMATCH[5]}
    DB_PORT=${BASH_REMATCH[7]:-3306} DB_NAME=${BASH_REMATCH[8]}
else
    echo "run.sh: cannot read $URL (mysql://user:pass@host:port/db)" >&2; exit 1
fi
sql() { MYSQL_PWD=$DB_PASS "$MYSQL_CLI" -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" -N -B "$DB_NAME" "$@"; }

if [[ -z "${NO_BUILD:-}" ]]; then
    log "building release binaries"
    cargo build --release -p crm-server -p crm-benches --bins 2>&1 | tail -1
fi

if [[ -z "${NO_LOAD:-}" ]]; then
    log "loading $URL ($CUSTOMERS customers, $PURCHASES purchases, seed $SEED; skipped if loaded)"
    "$BIN/crm-load" --url "$URL" --customers "$CUSTOMERS" --purchases "$PURCHASES" --seed "$SEED" \
        | tee -a "$OUT/load.log"
fi

# --- servers: one at a time -------------------------------------------------
SERVER_PID= SERVER_NAME= BASE= AUTH=
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -INT "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID= SERVER_NAME=
}
trap stop_server EXIT

# use_server api|api-old|none: stops the running server unless it is that one.
use_server() {
    local want=$1 bin bind
    [[ $want == "$SERVER_NAME" ]] && return 0
    stop_server
    [[ $want == none ]] && return 0
    if [[ $want == api-old ]]; then bin=$OLD_SERVER_BIN bind=$OLD_BIND; else bin=$BIN/crm-server bind=$BIND; fi
    BASE="http://$bind"
    log "starting $want ($bin) on $bind (label $LABEL${REDIS_URL:+, REDIS_URL=$REDIS_URL})"
    env DATABASE_URL="$URL" CRM_BIND="$bind" CRM_DB_MAX_CONNECTIONS="$DB_CONNECTIONS" \
        CRM_ADMIN_EMAIL="$ADMIN_EMAIL" CRM_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        CRM_JWT_SECRET="${CRM_JWT_SECRET:-loadbench-secret-0123456789abcdef}" \
        ${REDIS_URL:+REDIS_URL="$REDIS_URL"} \
        "$bin" --no-demo >>"$OUT/server-$want.log" 2>&1 &
    SERVER_PID=$! SERVER_NAME=$want
    for _ in $(seq 1 120); do
        curl -fsS "$BASE/health" >/dev/null 2>&1 && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/server-$want.log" >&2; exit 1; }
        sleep 0.5
    done
    curl -fsS "$BASE/health" >/dev/null
    local token
    token=$(curl -fsS -X POST "$BASE/api/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .data.token)
    [[ -n "$token" && "$token" != null ]] || { echo "run.sh: login to $want failed" >&2; exit 1; }
    AUTH="authorization: Bearer $token"
}

# The first server: the old one when no variant needs the new (its schema
# put back by hand; see benches/README.md), else the new one.
if [[ -n $VARIANTS && " $VARIANTS " == *" api-old "* && " $VARIANTS " != *" api "* && " $VARIANTS " != *" api-http "* ]]; then
    use_server api-old
else
    use_server api
fi

# Customer ids: the loader's customers have consecutive ids.
first_id=$(curl -fsS -H "$AUTH" "$BASE/api/customers?active=all&sort=id&direction=asc&limit=1" | jq '.data[0].id')
last_id=$(curl -fsS -H "$AUTH" "$BASE/api/customers?active=all&sort=id&direction=desc&limit=1" | jq '.data[0].id')
total=$(sql -e "SELECT COUNT(*) FROM customers")
log "customers: $total (ids $first_id..$last_id)"
[[ $((last_id - first_id + 1)) == "$total" ]] || log "warning: ids are not consecutive; some GETs may be 404"

# --- variants and seeded request streams ------------------------------------
variants_of() {
    local all
    case $1 in
        get) all="api api-old raw get-pk api-http" ;;
        search) all="api api-old raw search+count" ;;
        earn) all="api api-old raw raw-full" ;;
    esac
    local v
    for v in $all; do
        [[ $v == api-old && -z $OLD_SERVER_BIN ]] && continue
        [[ -n $VARIANTS && " $VARIANTS " != *" $v "* ]] && continue
        echo "$v"
    done
}
sum_rates=0
for r in $RATES; do sum_rates=$((sum_rates + r)); done
# Upper bound of the requests one scenario's runs take (5 variants, every
# rate: a warm-up and REPEAT runs, each of rate * (seconds + 1) requests).
STREAM=$(( 5 * sum_rates * (WARMUP + 1 + REPEAT * (DURATION + 1)) ))
RUN_ID="lb$(date -u +%s)"
NOW=$(date -u '+%F %T.%6N')
EXPIRES=$(date -u -d '+1 year' '+%F %T.%6N')
log "streams: $STREAM requests per scenario (run id $RUN_ID)"
awk -v n="$STREAM" -v lo="$first_id" -v hi="$last_id" -v seed="$SEED" \
    'BEGIN { srand(seed); for (i = 0; i < n; i++) print lo + int(rand() * (hi - lo + 1)) }' >"$OUT/get.stream"
awk -v n="$STREAM" -v lo="$first_id" -v hi="$last_id" -v seed="$SEED" \
    'BEGIN { srand(seed + 1); for (i = 0; i < n; i++) print lo + int(rand() * (hi - lo + 1)) }' >"$OUT/earn.stream"
# Search: the seeded prefixes, shuffled, each with the ids of its first page
# (LIMIT 21, what the store's tag lookup then asks for), cycled.
"$BIN/crm-load" prefixes --seed "$SEED" --count 2000 >"$OUT/prefixes.txt"
shuf --random-source=<(yes "$SEED") "$OUT/prefixes.txt" -o "$OUT/prefixes.txt"
sed "s/'/''/g; s/^\(.*\)\$/SELECT COALESCE(GROUP_CONCAT(id ORDER BY id), '') FROM (SELECT id FROM customers WHERE 1 = 1 AND +is_active = 1 AND (name LIKE '\1%' ESCAPE '!') ORDER BY id ASC LIMIT 21) t;/" \
    "$OUT/prefixes.txt" | sql >"$OUT/prefix-ids.txt"
paste "$OUT/prefixes.txt" "$OUT/prefix-ids.txt" >"$OUT/prefixes.tsv"
awk -v n="$STREAM" '{ line[k++] = $0 } END { for (i = 0; i < n; i++) print line[i % k] }' \
    "$OUT/prefixes.tsv" >"$OUT/search.stream"
rm -f "$OUT/prefix-ids.txt"

# The SQL (see raw-sql.md). Tags: the store's JSON array of a customer's tags.
COLUMNS="id, customer_code, name, email, phone, customer_type, credit_limit, address_line1, address_line2, city, province, postal_code, country, birthday, is_active, merged_into, merged_by, merged_at, version, created_at, updated_at"
GET_SQL="SELECT $COLUMNS, (SELECT CAST(JSON_ARRAYAGG(tag) AS CHAR) FROM customer_tags WHERE customer_tags.customer_id = customers.id) AS tags_json FROM customers WHERE id = ?"
GET_PK_SQL="SELECT * FROM customers WHERE id = ?"
SEARCH_FILTER="WHERE 1 = 1 AND +is_active = 1 AND (name LIKE ? ESCAPE '!')"
COUNT_SQL="SELECT COUNT(*) FROM customers $SEARCH_FILTER"
LIST_SQL="SELECT $COLUMNS FROM customers $SEARCH_FILTER ORDER BY id ASC LIMIT ? OFFSET ?"
# Today's store: the page and its rows' tags in one statement.
PAGE_SQL="SELECT customers.*, (SELECT CAST(JSON_ARRAYAGG(tag) AS CHAR) FROM customer_tags WHERE customer_tags.customer_id = customers.id) AS tags_json FROM ($LIST_SQL) AS customers ORDER BY id ASC"
TAGS_SQL="SELECT customer_id, tag FROM customer_tags WHERE customer_id IN "
NEXT_EXPIRY="(SELECT MIN(expires_at) FROM loyalty_lots WHERE loyalty_lots.customer_id = loyalty_accounts.customer_id AND remaining > 0)"
ACCOUNT_SQL="SELECT balance, debt, lifetime_earned, $NEXT_EXPIRY AS next_expiry FROM loyalty_accounts WHERE customer_id = ? FOR UPDATE"
# The store's first round trip of an earn: BEGIN and the account's lock,
# read into session variables (ACCOUNT_ID filled in per request) ...
BEGIN_LOCK_SQL="BEGIN;SET @crm_locked = 0;SELECT 1, balance, debt, lifetime_earned, $NEXT_EXPIRY INTO @crm_locked, @crm_balance, @crm_debt, @crm_earned, @crm_next FROM loyalty_accounts WHERE customer_id = ACCOUNT_ID FOR UPDATE"
# ... which its second, the key check, reads back.
LOCKED_COLUMNS="CAST(@crm_locked AS SIGNED) AS l_locked, CAST(@crm_balance AS SIGNED) AS balance, CAST(@crm_debt AS SIGNED) AS debt, CAST(@crm_earned AS SIGNED) AS lifetime_earned, CAST(@crm_next AS DATETIME(6)) AS next_expiry"
IDEMPOTENCY_SQL="SELECT c.id AS c_id, c.is_active AS c_active, c.merged_into AS c_merged, (SELECT r.id FROM loyalty_refusals r WHERE r.reference_type = ? AND r.reference_id = ?) AS refusal_id, e.*, $LOCKED_COLUMNS FROM customers c LEFT JOIN (SELECT id, customer_id, transaction_type, points, balance_after, reference_type, reference_id, transaction_date, created_at FROM loyalty_transactions WHERE reference_type = ? AND reference_id = ?) e ON 1 = 1 WHERE c.id = ?"
LEDGER_SQL="INSERT INTO loyalty_transactions (customer_id, transaction_type, points, balance_after, reference_type, reference_id, transaction_date, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
# The store binds the entry id it read back; LAST_INSERT_ID() is the same
# value without a round trip (right after the ledger insert).
LOT_SQL="INSERT INTO loyalty_lots (customer_id, entry_id, points, remaining, earned_at, expires_at) VALUES (?, LAST_INSERT_ID(), ?, ?, ?, ?)"
# The store writes the new absolute values it computed from the locked row.
BALANCE_SQL="UPDATE loyalty_accounts SET balance = balance + ?, debt = ?, lifetime_earned = lifetime_earned + ?, updated_at = ? WHERE customer_id = ?"
# Never sealed and never read: seq -1 (readers follow seq > last seen; a
# leftover seq 0 would sit among the rows transactions are sealing).
OUTBOX_SQL="INSERT INTO outbox_events (event_type, customer_id, payload, created_at, tx_token, seq) VALUES (?, ?, ?, ?, NULL, -1)"
# The store's last round trip, one batch with the numbers written in and
# every string as a hex literal (HEX(...) filled in by run.sh): the audit
# row and the lot it held back ({{insert_id:2}}: the entry's id, filled in
# by crm-loadgen), the account row, the outbox sequence, the event,
# numbered as it is inserted, and COMMIT (ACCOUNT_ID, NOW, EXPIRES filled
# in per request).
FINISH_SQL="INSERT INTO audit_log (created_at, actor, role, action, customer_id, detail) VALUES ('NOW', _utf8mb4 X'HEX_WHO', _utf8mb4 X'HEX_ROLE', _utf8mb4 X'HEX_ACTION', ACCOUNT_ID, _utf8mb4 X'HEX_DETAIL');\
INSERT INTO loyalty_lots (customer_id, entry_id, points, remaining, earned_at, expires_at) VALUES (ACCOUNT_ID, {{insert_id:2}}, 10, 10, 'NOW', 'EXPIRES');\
UPDATE loyalty_accounts SET balance = balance + 10, debt = 0, lifetime_earned = lifetime_earned + 10, updated_at = 'NOW' WHERE customer_id = ACCOUNT_ID;\
UPDATE outbox_sequence SET seq = LAST_INSERT_ID(seq + 1) WHERE id = 1;SET @crm_seq = LAST_INSERT_ID() - 1;\
INSERT INTO outbox_events (event_type, customer_id, payload, created_at, tx_token, seq) VALUES (_utf8mb4 X'HEX_TYPE', ACCOUNT_ID, _utf8mb4 X'HEX_PAYLOAD', 'NOW', CONNECTION_ID(), @crm_seq + 1);COMMIT"

# requests_file SCENARIO VARIANT FIRST N OUT: N requests from line FIRST of
# the scenario's stream, as crm-loadgen lines (HTTP or SQL) or oha URLs.
requests_file() {
    local scenario=$1 variant=$2 first=$3 n=$4 out=$5
    local slice=(awk -v a="$first" -v b="$((first + n - 1))" 'NR > b { exit } NR >= a' "$OUT/$scenario.stream")
    case $scenario/$variant in
        get/api-http)
            "${slice[@]}" | awk '{ print "GET /crm/login.html" }' ;;
        get/api*)
            "${slice[@]}" | awk '{ printf "GET /api/customers/%d\n", $1 }' ;;
        get/raw)
            "${slice[@]}" | jq -R -c --arg q "$GET_SQL" '[[$q, [tonumber]]]' ;;
        get/get-pk)
            "${slice[@]}" | jq -R -c --arg q "$GET_PK_SQL" '[[$q, [tonumber]]]' ;;
        search/api*)
            "${slice[@]}" | cut -f1 | jq -R -r '"GET /api/customers?q=\(@uri)&limit=20"' ;;
        search/raw)
            "${slice[@]}" | jq -R -c --arg pq "$PAGE_SQL" '
                split("\t")[0] as $p
                | ($p | gsub("(?<c>[%_!])"; "!\(.c)") + "%") as $like
                | [[$pq, [$like, 21, 0]]]' ;;
        search/search+count)
            # The statements of the listing before counting became optional:
            # the count, the page, then its rows' tags.
            "${slice[@]}" | jq -R -c --arg count 1 \
                --arg cq "$COUNT_SQL" --arg lq "$LIST_SQL" --arg tq "$TAGS_SQL" '
                split("\t") as [$p, $ids]
                | ($p | gsub("(?<c>[%_!])"; "!\(.c)") + "%") as $like
                | ([$ids | select(. != null and . != "") | split(",")[] | tonumber]) as $page
                | (if ($page | length) == 0 then [] else
                    # padded to the next power of two by repeating the last id
                    ([1, 2, 4, 8, 16, 32, 64, 128] | map(select(. >= ($page | length))) | first) as $len
                    | [$page + [range($len - ($page | length)) | $page[-1]]]
                    | map([$tq + "(" + (map("?") | join(", ")) + ")", .]) end) as $tags
                | (if $count == "1" then [[$cq, [$like]]] else [] end) + [[$lq, [$like, 21, 0]]] + $tags' ;;
        earn/api*)
            "${slice[@]}" | awk -v run="$RUN_ID" -v first="$first" \
                '{ printf "POST /api/customers/%d/loyalty/earn {\"points\":10,\"reference_type\":\"loadbench\",\"reference_id\":\"%s-%d\"}\n", $1, run, first + NR - 1 }' ;;
        earn/raw)
            "${slice[@]}" | jq -R -c --arg run "$RUN_ID" --argjson first "$first" \
                --arg now "$NOW" --arg exp "$EXPIRES" --arg a "$ACCOUNT_SQL" --arg l "$LEDGER_SQL" \
                --arg lot "$LOT_SQL" --arg b "$BALANCE_SQL" --arg o "$OUTBOX_SQL" '
                tonumber as $id | "\($run)-\($first + input_line_number - 1)" as $ref
                | [["BEGIN", []], [$a, [$id]],
                   [$l, [$id, "EARN", 10, 10, "rawbench", $ref, $now, $now]],
                   [$lot, [$id, 10, 10, $now, $exp]],
                   [$b, [10, 0, 10, $now, $id]],
                   [$o, ["loyalty_points", $id, "{\"customer_id\":\($id),\"delta\":10,\"entry_id\":0,\"entry_type\":\"EARN\",\"points\":10}", $now]],
                   ["COMMIT", []]]' ;;
        earn/raw-full)
            "${slice[@]}" | jq -R -c --arg run "$RUN_ID" --argjson first "$first" \
                --arg now "$NOW" --arg exp "$EXPIRES" --arg bl "$BEGIN_LOCK_SQL" --arg i "$IDEMPOTENCY_SQL" \
                --arg l "$LEDGER_SQL" --arg f "$FINISH_SQL" --arg who "$ADMIN_EMAIL" '
                def hex: explode | map(. as $b | "0123456789ABCDEF" as $d
                    | $d[($b / 16 | floor):($b / 16 | floor) + 1] + $d[($b % 16):($b % 16) + 1]) | join("");
                tonumber as $id | "\($run)-\($first + input_line_number - 1)" as $ref
                | [[$bl | gsub("ACCOUNT_ID"; "\($id)")],
                   [$i, ["rawbench", $ref, "rawbench", $ref, $id]],
                   [$l, [$id, "EARN", 10, 10, "rawbench", $ref, $now, $now]],
                   [$f | gsub("ACCOUNT_ID"; "\($id)") | gsub("EXPIRES"; $exp) | gsub("NOW"; $now)
                       | sub("HEX_WHO"; $who | hex) | sub("HEX_ROLE"; "admin" | hex)
                       | sub("HEX_ACTION"; "points.earn" | hex)
                       | sub("HEX_DETAIL"; "{\"balance_after\":10,\"entry_id\":0,\"points\":10,\"reference_id\":\"\($ref)\",\"reference_type\":\"rawbench\"}" | hex)
                       | sub("HEX_TYPE"; "loyalty_points" | hex)
                       | sub("HEX_PAYLOAD"; "{\"customer_id\":\($id),\"delta\":10,\"entry_id\":0,\"entry_type\":\"EARN\",\"points\":10}" | hex)]]' ;;
        *) echo "run.sh: no variant $variant of $scenario" >&2; return 1 ;;
    esac >"$out"
}

# The busiest processes over one second (is anything else using the cores?).
busy() { top -b -n 2 -d 1 -o %CPU -w 200 | awk '/^ *PID/ { n++ } n == 2 && ++k > 1 && k <= 9'; }
rss() { awk '/^VmRSS|^VmHWM/ { printf "%s %s ", $1, $2 }' "/proc/$SERVER_PID/status"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

declare -A CURSOR=()
# generate SCENARIO VARIANT RATE SECONDS JSON: one run; prints the summary JSON.
generate() {
    local scenario=$1 variant=$2 rate=$3 seconds=$4 json=$5
    local n=$((rate * seconds + rate)) first=$((${CURSOR[$scenario]:-0} + 1))
    CURSOR[$scenario]=$((first - 1 + n))
    local file="$json.requests"
    if [[ $variant == api* && $GEN == oha && $scenario != earn ]]; then
        requests_file "$scenario" "$variant" "$first" "$n" "$file"
        sed -i "s|^GET |$BASE|" "$file"
        oha --no-tui -q "$rate" -z "${seconds}s" -w -c "$CONNECTIONS" --latency-correction \
            --urls-from-file "$file" -H "$AUTH" --output-format json -o "$json" >/dev/null
        rm -f "$file"
        jq -c '{generator: "oha", requests: ([.statusCodeDistribution[]] | add // 0),
                ok: ([.statusCodeDistribution | to_entries[] | select(.key | startswith("2")) | .value] | add // 0),
                non_2xx: ([.statusCodeDistribution | to_entries[] | select(.key | startswith("2") | not) | .value] | add // 0),
                transport_errors: ([.errorDistribution[]] | add // 0),
                throughput: .summary.requestsPerSec,
                p50_ms: .metrics.latency_ms.p50, p99_ms: .metrics.latency_ms.p99,
                max_ms: .metrics.latency_ms.max}' "$json"
        return
    fi
    requests_file "$scenario" "$variant" "$first" "$n" "$file"
    if [[ $variant == api* ]]; then
        "$BIN/crm-loadgen" --target "$BASE" --rate "$rate" --duration "$seconds" \
            --requests "$file" -H "$AUTH" --json "$json" >/dev/null
    else
        "$BIN/crm-loadgen" --mysql "$URL" --connections "$DB_CONNECTIONS" --rate "$rate" \
            --duration "$seconds" --requests "$file" --json "$json" >/dev/null
    fi
    rm -f "$file"
    jq -c '{generator: "crm-loadgen", requests, ok, non_2xx, transport_errors, throughput,
            p50_ms, p99_ms, max_ms}' "$json"
}

# --- the ladders --------------------------------------------------------------
order=0
for scenario in $SCENARIOS; do
    order=$((order + 1)) vorder=0
    for variant in $(variants_of "$scenario"); do
        vorder=$((vorder + 1))
        case $variant in api | api-old) use_server "$variant" ;; api-http) use_server api ;; *) use_server none ;; esac
        for rate in $RATES; do
            tag="$scenario-$variant-$rate"
            log "$tag: warm-up ${WARMUP}s (load $(loadavg))"
            generate "$scenario" "$variant" "$rate" "$WARMUP" "$OUT/runs/$tag-warmup.json" >/dev/null
            results=()
            for ((k = 1; k <= REPEAT; k++)); do
                run=$tag && ((REPEAT > 1)) && run=$tag-$k
                log "$run: ${DURATION}s"
                (sleep $((DURATION / 2)); busy >"$OUT/runs/$run.top") &
                busy_pid=$!
                # Not in $(...): the stream cursor lives in this shell.
                generate "$scenario" "$variant" "$rate" "$DURATION" "$OUT/runs/$run.json" >"$OUT/runs/$run.line"
                results+=("$(cat "$OUT/runs/$run.line")") && rm -f "$OUT/runs/$run.line"
                wait "$busy_pid"
                ((REPEAT > 1)) && log "$run: ${results[-1]}"
            done
            # Several runs of a rate: the medians of p50, p99 and throughput
            # (each run's p99 kept in p99_runs), errors and requests summed.
            result=$(printf '%s\n' "${results[@]}" | jq -s -c 'def med: sort | .[(length - 1) / 2 | floor];
                if length == 1 then .[0] else
                {generator: .[0].generator, requests: (map(.requests) | add), ok: (map(.ok) | add),
                 non_2xx: (map(.non_2xx) | add), transport_errors: (map(.transport_errors) | add),
                 throughput: (map(.throughput) | med), p50_ms: (map(.p50_ms) | med),
                 p99_ms: (map(.p99_ms) | med), max_ms: (map(.max_ms) | max), p99_runs: map(.p99_ms)} end')
            mem=- memlog=
            if [[ -n $SERVER_PID ]]; then
                memlog=$(rss)
                mem=$(awk '{ printf "%.1f / %.1f", $4 / 1024, $2 / 1024 }' <<<"$memlog")  # VmHWM comes first
            fi
            line=$(jq -c --arg s "$scenario" --arg v "$variant" --argjson rate "$rate" --arg mem "$mem" \
                --arg load "$(loadavg)" --argjson p99 "$P99_MS" --argjson order "$order" --argjson vorder "$vorder" \
                '{scenario: $s, variant: $v, rate: $rate, order: $order, vorder: $vorder} + .
                 + {mem: $mem, load: $load,
                    pass: (.p99_ms < $p99 and .throughput >= 0.95 * $rate
                           and (.non_2xx + .transport_errors) <= 0.001 * .requests)}' <<<"$result")
            echo "$line" >>"$OUT/results.jsonl"
            log "$tag: $result; ${memlog:-no server}; load $(loadavg)"
            log "$tag: busiest processes mid-run: $(awk '{ printf "%s %s%%; ", $12, $9 }' "$OUT/runs/$run.top")"
            if [[ $(jq .pass <<<"$line") != true ]]; then
                log "$tag: not sustained; $variant stops climbing"
                break
            fi
        done
    done
done
use_server none

# --- summary ------------------------------------------------------------------
sql -e "ANALYZE TABLE outbox_events" >/dev/null
{
    echo "# Load benchmark: API and raw SQL ($LABEL)"
    echo
    jq -s -r --argjson p99 "$P99_MS" --arg ratio_rate "$RATE" -f "$ROOT/benches/load/summary.jq" "$OUT/results.jsonl"
    echo "### Database"
    echo
    echo '| version | innodb_buffer_pool_size | innodb_flush_log_at_trx_commit | innodb_log_file_size | max_connections |'
    echo '|---|---|---|---|---|'
    sql -e "SELECT @@version, @@innodb_buffer_pool_size, @@innodb_flush_log_at_trx_commit, @@innodb_log_file_size, @@max_connections" \
        | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }'
    echo
    echo 'Outbox (`information_schema` after `ANALYZE TABLE`; `COUNT(*)`, `AVG(LENGTH(payload))`):'
    echo
    echo '| table_rows | data_length | index_length | COUNT(*) | AVG(LENGTH(payload)) |'
    echo '|---|---|---|---|---|'
    paste <(sql -e "SELECT table_rows, data_length, index_length FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'outbox_events'") \
          <(sql -e "SELECT COUNT(*), AVG(LENGTH(payload)) FROM outbox_events") \
        | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }'
    echo
    echo "Command: $(printf '%q ' "$0" "$@")"
    echo "Settings: URL=${URL/:$DB_PASS@/:***@} CUSTOMERS=$CUSTOMERS PURCHASES=$PURCHASES RATES=\"$RATES\" DURATION=$DURATION REPEAT=$REPEAT WARMUP=$WARMUP P99_MS=$P99_MS RATE=${RATE:-} CONNECTIONS=$CONNECTIONS DB_CONNECTIONS=$DB_CONNECTIONS GEN=$GEN LABEL=$LABEL REDIS_URL=${REDIS_URL:-} OLD_SERVER_BIN=$OLD_SERVER_BIN"
    echo "Machine: $(nproc) cores, $(uname -r), $(date -u +%FT%TZ)"
    echo "Server log lines: $(cat "$OUT"/server-*.log 2>/dev/null | wc -l)"
} >"$OUT/summary.md"
gzip -f "$OUT"/*.stream  # the seeded inputs of every run (ids, prefixes with their first page)
log "results in $OUT"
cat "$OUT/summary.md"

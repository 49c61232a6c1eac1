#!/usr/bin/env bash
# Runs schemathesis, with every check, against the example server and its
# own OpenAPI document (`GET /api/openapi.json`).
#
#   bash tests/schemathesis.sh              # 100 cases per operation and phase
#   ST_MAX_EXAMPLES=500 ST_SEED=7 bash tests/schemathesis.sh
#
# Uses `$CARGO_TARGET_DIR/debug/crm-server` (default `target/`) when it is
# there, else builds it once (`CRM_SERVER_BIN` names another binary);
# installs schemathesis into a virtualenv under the target directory
# (`ST_VENV` names another); starts the server on a temporary SQLite file
# with a few records; runs; stops the server. Exits non-zero on any failure
# but one, which is by design and stated in the document: a customer
# deleted with `DELETE /api/customers/{id}` is deactivated (soft delete)
# and still answers `GET /api/customers/{id}` (check `use_after_free`).
# Schema-valid requests refused only for rules a JSON schema cannot state
# (a phone number's existence, dates relative to today, stored data,
# rules across fields) are dropped by `tests/schemathesis_hooks.py`.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

target="${CARGO_TARGET_DIR:-target}"
bin="${CRM_SERVER_BIN:-$target/debug/crm-server}"
venv="${ST_VENV:-$target/schemathesis-venv}"
max_examples="${ST_MAX_EXAMPLES:-100}"
seed="${ST_SEED:-20261202}"
version="${ST_VERSION:-4.32.5}"

if [ ! -x "$bin" ]; then
  echo "=== building crm-server"
  cargo build -p crm-server
fi
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "=== installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
email="admin@schemathesis.example"
password="schemathesis-admin-password"
server_pid=""
stop() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

echo "=== starting $bin on $base (SQLite $work/crm.db)"
DATABASE_URL="sqlite://$work/crm.db" CRM_BIND="127.0.0.1:$port" \
  CRM_ADMIN_EMAIL="$email" CRM_ADMIN_PASSWORD="$password" RUST_LOG=warn \
  "$bin" --no-demo >"$work/server.log" 2>&1 &
server_pid=$!
# http METHOD PATH [BODY]: a JSON request (as the admin once $token is
# set); prints the answer, fails on an error status.
http() {
  python3 - "$base" "$@" <<'PY'
import json, os, sys, urllib.request
base, method, path, *body = sys.argv[1:]
request = urllib.request.Request(base + path, method=method, data=body[0].encode() if body else None)
request.add_header("content-type", "application/json")
if os.environ.get("token"):
    request.add_header("authorization", "Bearer " + os.environ["token"])
with urllib.request.urlopen(request, timeout=10) as answer:
    print(answer.read().decode())
PY
}
for _ in $(seq 1 100); do
  http GET /health >/dev/null 2>&1 && break
  sleep 0.1
done
http GET /health >/dev/null || { cat "$work/server.log"; echo "the server did not start" >&2; exit 1; }

token="$(http POST /api/auth/login "{\"email\": \"$email\", \"password\": \"$password\"}" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["token"])')"
export token
api() { http "$@" >/dev/null; }
# A few records, so that the document's examples (receipt JKT-01/R-1001,
# customers 1 and 2, user 2) find something to work on.
api POST /api/users '{"email": "kasir@schemathesis.example", "password": "cashier-password", "role": "cashier"}'
api POST /api/customers '{"name": "Budi Santoso", "email": "budi@example.com", "phone": "0812-3456-7890"}'
api POST /api/customers '{"name": "Toko Sinar Jaya", "customer_type": "WHOLESALE"}'
api POST /api/customers/1/purchases \
  "{\"store_id\": \"JKT-01\", \"receipt_id\": \"R-1001\", \"total_amount\": \"150000.00\", \"purchase_date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"
api POST /api/customers/1/loyalty/earn '{"points": 500, "reference_type": "campaign", "reference_id": "WELCOME"}'

echo "=== schemathesis $version: --checks all, --max-examples $max_examples, --seed $seed"
report="$work/junit.xml"
hooks="$PWD/tests/schemathesis_hooks.py"
venv="$(cd "$venv" && pwd)"
set +e
# From the temporary directory: schemathesis keeps its caches (failures to
# replay, examples) in `.schemathesis/` of the working directory, and each
# run starts afresh.
(cd "$work" && SCHEMATHESIS_HOOKS="$hooks" "$venv/bin/schemathesis" run "$base/api/openapi.json" \
  --checks all --header "Authorization: Bearer $token" \
  --max-examples "$max_examples" --seed "$seed" --continue-on-failure \
  --no-color --report junit --report-junit-path "$report")
status=$?
set -e

# Every failure must be the soft delete of DELETE /api/customers/{id}.
"$venv/bin/python" - "$report" "$status" <<'EOF'
import sys
import xml.etree.ElementTree as ET

report, status = sys.argv[1], int(sys.argv[2])
accepted, other = [], []
for case in ET.parse(report).getroot().iter("testcase"):
    for failure in [*case.iter("failure"), *case.iter("error")]:
        text = " ".join(filter(None, [failure.get("message"), failure.text]))
        soft_delete = "Deleted resource still available" in text and "DELETE /api/customers/" in text
        (accepted if soft_delete else other).append(f"{case.get('name')}: {text.strip()[:300]}")
print(f"=== {len(accepted)} accepted failure(s): the soft delete of DELETE /api/customers/{{id}}")
for line in other:
    print("UNEXPECTED:", line)
if other or (status != 0 and not accepted):
    print(f"=== schemathesis found {len(other)} other failure(s) (exit {status})")
    sys.exit(1)
EOF
echo "=== done in $((SECONDS - started))s"

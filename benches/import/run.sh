#!/usr/bin/env bash
# Customer import from CSV at scale, as a user runs it: the whole
# `crm-admin import-customers` process on a realistic file, on MariaDB and
# on SQLite, beside the SDK's bulk import of the same customers without a
# file (`crm-load`, the peer); then the whole `crm-admin export-customers`
# process with its peak memory. Prints one line per run.
#
# Run from the project root:
#   cargo build --release -p crm-admin -p crm-benches --bin crm-admin --bin crm-customers-csv --bin crm-load
#   ROWS=1000000 benches/import/run.sh
#
# MariaDB: root over the local socket creates and drops the databases;
# the runs connect as crm:crm@127.0.0.1 (see .ci/run). Settings as found
# (innodb_buffer_pool_size is printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${ROWS:-1000000}
BATCH=${BATCH:-1000}
BIN=${BIN:-target/release}
WORK=${WORK:-/tmp/crm-import-bench}
SERVER=${SERVER:-mysql://crm:crm@127.0.0.1:3306}
mkdir -p "$WORK"
FILE="$WORK/customers-$ROWS.csv"

if [ ! -f "$FILE" ]; then
  "$BIN/crm-customers-csv" "$ROWS" "$FILE"
fi
echo "file: $FILE ($(stat -c %s "$FILE") bytes, $ROWS rows)"
echo "mariadb: $(mariadb -uroot -N -e 'SELECT VERSION()'), innodb_buffer_pool_size=$(mariadb -uroot -N -e 'SELECT @@innodb_buffer_pool_size')"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"

fresh_mysql() {
  mariadb -uroot -e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1"
}

# One timed process: prints seconds, rows/s and peak RSS.
timed() {
  local label=$1; shift
  local log="$WORK/$label.time"
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -v -o "$log" "$@" > "$WORK/$label.out" 2> "$WORK/$label.err" || true
  end=$(date +%s.%N)
  local secs rss
  secs=$(echo "$end - $start" | bc)
  rss=$(awk -F: '/Maximum resident/{gsub(/ /,"",$2); print int($2/1024)}' "$log")
  printf '%-28s %8.1f s  %9.0f rows/s  peak RSS %4d MB\n' "$label" "$secs" "$(echo "$ROWS / $secs" | bc -l)" "$rss"
}

# MariaDB
fresh_mysql crm_import_peer
timed mariadb-bulk-sdk-peer "$BIN/crm-load" --url "$SERVER/crm_import_peer" --customers "$ROWS" --purchases 0
fresh_mysql crm_import_csv
timed mariadb-csv-import "$BIN/crm-admin" --quiet --database-url "$SERVER/crm_import_csv" \
  import-customers "$FILE" --batch "$BATCH" --report "$WORK/rejected-mariadb.csv"
tail -n 3 "$WORK/mariadb-csv-import.err"
timed mariadb-csv-export "$BIN/crm-admin" --quiet --database-url "$SERVER/crm_import_csv" \
  export-customers --status all --out "$WORK/export-mariadb.csv"
echo "exported: $(($(wc -l < "$WORK/export-mariadb.csv") - 1)) rows"

# SQLite
rm -f "$WORK"/peer.db* "$WORK"/csv.db*
timed sqlite-bulk-sdk-peer "$BIN/crm-load" --url "sqlite://$WORK/peer.db" --customers "$ROWS" --purchases 0
timed sqlite-csv-import "$BIN/crm-admin" --quiet --database-url "sqlite://$WORK/csv.db" \
  import-customers "$FILE" --batch "$BATCH" --report "$WORK/rejected-sqlite.csv"
tail -n 3 "$WORK/sqlite-csv-import.err"
timed sqlite-csv-export "$BIN/crm-admin" --quiet --database-url "sqlite://$WORK/csv.db" \
  export-customers --status all --out "$WORK/export-sqlite.csv"

#!/usr/bin/env bash
# Two builds of crm-analytics, one run of each in turn, on the same file:
# the fair way to compare them on a machine whose speed drifts from minute
# to minute. Prints each build's median wall time per process and checks
# that both wrote the same scores.
#
#   benches/reference/alternate.sh OLD_BINARY NEW_BINARY [PAIRS] [INPUT]
#
# INPUT defaults to /tmp/tx_100k.csv (`crm-analytics simulate --customers
# 100000 --output /tmp/tx_100k.csv`).
set -euo pipefail
a=$1
b=$2
pairs=${3:-21}
input=${4:-/tmp/tx_100k.csv}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
args=(--quiet score --input "$input" --customer-col customer_id --date-col date
  --amount-col amount --period week --observation-end 2025-12-31)
run() { # binary output -> milliseconds
  local start end
  start=$(date +%s%N)
  "$1" "${args[@]}" --output "$2"
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}
for _ in 1 2; do run "$a" "$out/a.csv" >/dev/null; run "$b" "$out/b.csv" >/dev/null; done
ta=()
tb=()
for _ in $(seq "$pairs"); do
  ta+=("$(run "$a" "$out/a.csv")")
  tb+=("$(run "$b" "$out/b.csv")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
range() { printf '%s\n' "$@" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {print lo "-" hi}'; }
echo "$a: median $(median "${ta[@]}") ms ($(range "${ta[@]}"), $pairs runs)"
echo "$b: median $(median "${tb[@]}") ms ($(range "${tb[@]}"), $pairs runs)"
if cmp -s "$out/a.csv" "$out/b.csv"; then echo "outputs identical"; else echo "outputs differ"; exit 1; fi

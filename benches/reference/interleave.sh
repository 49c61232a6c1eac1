#!/usr/bin/env bash
# crm-analytics score against lifetimes, interleaved: one lifetimes run,
# then N runs of the CLI, R times over, so that both sides share the
# machine's slow and fast minutes. Prints every lifetimes run, both
# medians and their ratio (wall time per process).
#
#   benches/reference/interleave.sh [CLI_BINARY] [INPUT]
#
# Environment: R (rounds, default 5), N (CLI runs per round, default 10),
# PYTHON (default /tmp/ltvenv/bin/python, a venv with requirements.txt).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli=$(realpath "${1:-$here/../../target/release/crm-analytics}")
input=$(realpath "${2:-/tmp/tx_100k.csv}")
python=${PYTHON:-/tmp/ltvenv/bin/python}
rounds=${R:-5}
runs=${N:-10}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ms() { # command... -> milliseconds
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
lt=()
cl=()
cd "$here"
for _ in $(seq "$rounds"); do
  lt+=("$(ms "$python" score_process.py --input "$input" --output "$out/lt.csv")")
  for _ in $(seq "$runs"); do
    cl+=("$(ms "$cli" --quiet score --input "$input" --customer-col customer_id --date-col date \
      --amount-col amount --period week --observation-end 2025-12-31 --output "$out/cli.csv")")
  done
done
l=$(median "${lt[@]}")
c=$(median "${cl[@]}")
echo "lifetimes: ${lt[*]} ms, median $l ms"
echo "crm-analytics: median $c ms ($(printf '%s\n' "${cl[@]}" | sort -n | head -1)-$(printf '%s\n' "${cl[@]}" | sort -n | tail -1), ${#cl[@]} runs)"
echo "ratio: $(awk -v l="$l" -v c="$c" 'BEGIN {printf "%.1f", l / c}')x"

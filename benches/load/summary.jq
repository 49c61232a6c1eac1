# Turns results.jsonl (one object per measured run, `jq -s`) into the
# Markdown of summary.md. Arguments: --argjson p99 20 --arg ratio_rate ""
# (a rate to compare variants at; the highest rate both sustained otherwise).
def r2: . * 100 | round / 100;
def r1: . * 10 | round / 10;
def api: startswith("api");
# Capacity: the highest sustained rate; "N+" when the ladder's top was sustained.
def capacity($runs; $v):
  ([$runs[] | select(.variant == $v and .pass) | .rate] | max) as $c
  | { variant: $v, capacity: $c,
      topped: ($c != null and $c == ([$runs[] | .rate] | max)) };
def fmtcap: if .capacity == null then "< \(.lowest)" elif .topped then "\(.capacity)+" else "\(.capacity)" end;
def ratio($a; $b): if $a == null or $b == null or $b == 0 then "-" else ($a / $b | r2 | tostring) end;

group_by(.scenario) | sort_by(.[0].order) | map(
  . as $runs | $runs[0].scenario as $s
  | ([$runs[] | .variant] | unique | sort_by(if . == "api" then 0 elif . == "api-old" then 1 elif . == "raw" then 2 else 3 end)) as $variants
  | ([$runs[] | .rate] | min) as $lowest
  | ($variants | map(capacity($runs; .) + {lowest: $lowest})) as $caps
  | "### \($s)\n\n"
    + "| variant | rate (req/s) | requests | throughput (req/s) | p50 (ms) | p99 (ms; each run's with REPEAT) | max (ms) | errors (non-2xx or failed statements / transport) | server VmRSS / VmHWM (MB) | load avg (after) | sustained |\n"
    + "|---|---|---|---|---|---|---|---|---|---|---|\n"
    + ([$runs[] ] | sort_by(.vorder, .rate) | map(
        "| \(.variant) | \(.rate) | \(.requests) | \(.throughput | floor) | \(.p50_ms | r2) | \(.p99_ms | r2)\(if .p99_runs then " (" + (.p99_runs | map(r2 | tostring) | join(", ")) + ")" else "" end) | \(.max_ms | r1) | \(.non_2xx) / \(.transport_errors) | \(.mem // "-") | \(.load) | \(if .pass then "yes" else "no" end) |"
      ) | join("\n"))
    + "\n\nCapacity (highest rate with p99 < \($p99) ms, throughput >= 95% of the rate, errors <= 0.1%; `N+`: the top of the ladder held):\n\n"
    + "| variant | capacity (req/s) |\n|---|---|\n"
    + ($caps | map("| \(.variant) | \(fmtcap) |") | join("\n"))
    + "\n\nRatios (API over raw SQL at a rate both sustained"
    + (if $ratio_rate != "" then ", \($ratio_rate)/s when both sustained it" else "" end) + "):\n\n"
    + "| API variant | raw variant | at rate | p50 ratio | p99 ratio | capacity ratio |\n|---|---|---|---|---|---|\n"
    + ([ $variants[] | select(api) as $a | $variants[] | select(api | not) as $r
         | ([$runs[] | select(.variant == $a and .pass) | .rate]) as $ra
         | ([$runs[] | select(.variant == $r and .pass) | .rate]) as $rr
         | ([$ra[] | select(. as $x | $rr | index($x))]) as $both
         | (if $ratio_rate != "" and ($both | index($ratio_rate | tonumber)) then ($ratio_rate | tonumber)
            elif ($both | length) > 0 then ($both | max)
            else ([$runs[] | select(.variant == $a) | .rate] | min) end) as $at
         | ([$runs[] | select(.variant == $a and .rate == $at)][0]) as $x
         | ([$runs[] | select(.variant == $r and .rate == $at)][0]) as $y
         | ($caps[] | select(.variant == $a) | .capacity) as $ca
         | ($caps[] | select(.variant == $r) | .capacity) as $cr
         | ([$caps[] | select((.variant == $a or .variant == $r) and .topped)] | length > 0) as $top
         | "| \($a) | \($r) | \($at)\(if ($both | length) == 0 then " (not sustained)" else "" end) | \(ratio($x.p50_ms; $y.p50_ms)) | \(ratio($x.p99_ms; $y.p99_ms)) | \(ratio($ca; $cr))\(if $top then " (ladder top held)" else "" end) |"
       ] | join("\n"))
    + (if ($variants | index("api-http")) and ($variants | index("get-pk")) and ($variants | index("api")) then
        # The API's floor: the server's HTTP hop (a page from memory) plus
        # the raw point select, at the highest rate all three sustained.
        ([$runs[] | select(.variant == "api" and .pass) | .rate]) as $ra
        | ([$runs[] | select(.variant == "api-http" and .pass) | .rate]) as $rh
        | ([$runs[] | select(.variant == "get-pk" and .pass) | .rate]) as $rp
        | ([$ra[] | select(. as $x | ($rh | index($x)) and ($rp | index($x)))] | max) as $at
        | if $at == null then "\n\nHTTP floor: no rate sustained by api, api-http and get-pk" else
          ([$runs[] | select(.variant == "api" and .rate == $at)][0].p50_ms) as $a
          | ([$runs[] | select(.variant == "api-http" and .rate == $at)][0].p50_ms) as $h
          | ([$runs[] | select(.variant == "get-pk" and .rate == $at)][0].p50_ms) as $p
          | "\n\nHTTP floor at \($at)/s: p50 api-http \($h | r2) ms + get-pk \($p | r2) ms = \($h + $p | r2) ms, "
            + "\(ratio($h + $p; $p)) x get-pk; api p50 \($a | r2) ms = \(ratio($a; $p)) x get-pk, \(ratio($a; $h + $p)) x the floor"
          end
       else "" end)
    + (if ($variants | index("api-old")) then
        ($caps[] | select(.variant == "api") | .capacity) as $n
        | ($caps[] | select(.variant == "api-old") | .capacity) as $o
        | "\n\ncapacity(api) / capacity(api-old): \(ratio($n; $o)) (\($n // "-") / \($o // "-") req/s)"
       else "" end)
    + "\n"
) | join("\n")

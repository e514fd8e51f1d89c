#!/usr/bin/env bash
# expiry-pileup.sh - writers that give new keys short deadlines, on a running step 07 (or
# later) server: do the expired keys pile up, or does memory follow the keys alive?
# docs/benchmarks.md, section 13, uses it.
#
#   bench/expiry-pileup.sh PORT PID [SECONDS]         (default: 6 s)
#
# kvbench runs 6 connections, 4,000 requests a write, of SETs of keys drawn from a billion
# (so nearly all new), each followed by a PEXPIRE that makes the key expire 100 ms after
# kvbench started, and 1 ms after its SET from then on. Half a second before the end it
# reads DBSIZE and the server's resident memory (VmRSS of PID), then its peak (VmHWM).
# Run it from the repository's top.
set -euo pipefail

port=${1:?usage: $0 PORT PID [SECONDS]} pid=${2:?pid} secs=${3:-6}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rss() { awk -v f="$1:" '$1 == f { print int($2 / 1024) }' "/proc/$pid/status"; }

build/kvbench -p "$port" -c 6 -P 4000 -r 0:1 -k 1000000000 --expire 100 -d "$secs" -q \
    --format csv >"$out" &
bench=$!
sleep "$(awk -v s="$secs" 'BEGIN { print s - 0.5 }')"
size=$(build/kv -p "$port" dbsize) now=$(rss VmRSS)
wait "$bench"
awk -F, -v size="$size" -v now="$now" -v peak="$(rss VmHWM)" 'END {
    printf "%d keys set in %.1f s; %.1f s in: DBSIZE %d, resident %d MiB (peak %d MiB)\n",
           $7 / 2, $10, $10 - 0.5, size, now, peak
}' "$out"

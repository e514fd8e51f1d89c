#!/usr/bin/env bash
# mass-expiry.sh - KEYS keys that all expire at one moment, on a running server: how long
# after that moment the server has freed them all (DBSIZE back to its count before), and how
# long another client's GETs wait meanwhile. docs/benchmarks.md, section 13, uses it.
#
#   bench/mass-expiry.sh kv|resp PORT [KEYS] [TTL_MS]       (defaults: 1000000 keys, 5000 ms)
#
# kvbench SETs the keys with --expire TTL_MS, which times each PEXPIRE so that every key
# expires TTL_MS after kvbench started. From a second before that moment a second client
# sends GETs one at a time (kvbench -r 1:0 -c 1, runs of half a second, one after another)
# until DBSIZE is back; its worst latency is the largest "max" of those runs. DBSIZE is read
# every 10 ms, with build/kv (KV/1) or redis-cli (RESP). Run it from the repository's top.
set -euo pipefail

proto=${1:?usage: $0 kv\|resp PORT [KEYS] [TTL_MS]} port=${2:?port} keys=${3:-1000000}
ttl=${4:-5000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
dbsize() {
    if [ "$proto" = kv ]; then build/kv -p "$port" dbsize; else redis-cli -p "$port" dbsize; fi
}

base=$(dbsize)
start=$(now_ms)
build/kvbench -p "$port" --protocol "$proto" -k "$keys" --preload --expire "$ttl" -n 1 \
    -r 1:0 -q >/dev/null
loaded=$(now_ms)
deadline=$((start + ttl)) # kvbench starts a few ms after $start: the keys expire then
[ "$loaded" -lt $((deadline - 1000)) ] ||
    { echo "loading took $((loaded - start)) ms: use a longer TTL_MS" >&2; exit 1; }
sleep "$(awk -v ms=$((deadline - 1000 - $(now_ms))) 'BEGIN { printf "%.3f", ms / 1000 }')"

# The second client, in half-second runs until told to stop.
(
    while [ ! -e "$out/stop" ]; do
        build/kvbench -p "$port" --protocol "$proto" -r 1:0 -k 100 -d 0.5 -q --format csv |
            tail -1 >>"$out/probe.csv"
    done
) &
probe=$!
while [ "$(dbsize)" -gt "$base" ]; do sleep 0.01; done
freed=$(now_ms)
touch "$out/stop"
wait "$probe"

awk -F, -v keys="$keys" -v load=$((loaded - start)) -v freed=$((freed - deadline)) '
    { n += $7; if ($16 > max) max = $16; if ($15 > p999) p999 = $15 }
    END {
        printf "keys %d  loaded in %d ms  all freed %d ms after their deadline\n", keys, load, freed
        printf "other client: %d GETs, worst p99.9 of a half-second run %.0f us, worst %.0f us\n",
               n, p999, max
    }' "$out/probe.csv"

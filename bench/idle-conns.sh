#!/usr/bin/env bash
# bench/idle-conns.sh - what idle connections cost a server: step 07 (poll()) against step 08
# (epoll) and redis-server. docs/benchmarks.md, section 14, reports its figures.
#
#   bash bench/idle-conns.sh                 everything below, 3 runs per point (about 5 min)
#   bash bench/idle-conns.sh memory large    some sections only (busy, memory, large)
#   IDLE_RUNS=1 IDLE_SECONDS=1 bash bench/idle-conns.sh      a quick try (about 1 min)
#   IDLE_SERVERS="step-08 redis" bash bench/idle-conns.sh    fewer servers
#
# Three measurements, each on a fresh server, the servers taking turns run by run:
#
#   busy    50 connections of requests (kvbench -c 50 -P 1 -k 1000 --preload, GET:SET 1:1)
#           while 0, 1,000 and 10,000 idle connections are open (kvbench --idle N: each
#           answered once, then silent): throughput and p99 (idle-conns.csv, medians of the
#           runs; every run in idle-conns-runs.csv)
#   memory  the server's resident memory (VmRSS) with 10,000 idle connections open that
#           each sent one GET, and with 1,000 that each SET and GET a 64 KiB value, over
#           its memory before them, per connection (idle-memory.csv)
#   large   GETs of 1 MiB values: 50 connections, 100 keys, IDLE_LARGE_GETS (8,000) of them
#           after the keys are loaded: throughput, p99, the server's CPU time per GET
#           from /proc/PID/stat, and how far its resident memory rose above the loaded
#           store while it answered (sampled every 0.1 s) (idle-large.csv). kvbench checks
#           every byte of every value, so at these sizes it is the slower side: the CPU
#           time and the memory are the server's own figures.
#
# Results go to build/bench/idle/ (IDLE_OUT), the plots to its img/ folder: idle-rps.svg
# and idle-p99.svg. The servers are build/step-07, build/step-08 and redis-server (skipped
# if not installed). Each one is started with the descriptor limit raised to the hard
# limit (step 07 does not raise its own); step 08 gets --max-clients 11000 and redis-server
# --maxclients 11000, so that 10,050 connections are within their default-free limit. The
# server runs on CPU 0 and kvbench on CPU 1 when there are two (taskset).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
BUILD=$ROOT/build
KVBENCH=$BUILD/kvbench
SVGPLOT=$BUILD/svgplot
RUNS=${IDLE_RUNS:-3}
SECONDS_PER_RUN=${IDLE_SECONDS:-5}
WARMUP=${IDLE_WARMUP:-0.5}
LARGE_GETS=${IDLE_LARGE_GETS:-8000}
read -ra SERVERS <<<"${IDLE_SERVERS:-step-07 step-08 redis}"
read -ra IDLE_COUNTS <<<"${IDLE_COUNTS:-0 1000 10000}"
OUT=${IDLE_OUT:-$BUILD/bench/idle}
SECTIONS=("$@")
[ ${#SECTIONS[@]} -gt 0 ] || SECTIONS=(busy memory large)
for section in "${SECTIONS[@]}"; do
    case $section in
    busy | memory | large) ;;
    *) echo "usage: bash bench/idle-conns.sh [busy] [memory] [large]" >&2; exit 2 ;;
    esac
done
WORK=$OUT/tmp
mkdir -p "$OUT/img" "$WORK"

for tool in "$KVBENCH" "$SVGPLOT"; do
    [ -x "$tool" ] || { echo "bench/idle-conns.sh: $tool is missing: run make" >&2; exit 1; }
done
ulimit -Sn "$(ulimit -Hn)"
[ "$(ulimit -Sn)" = unlimited ] || [ "$(ulimit -Sn)" -ge 21000 ] ||
    echo "bench/idle-conns.sh: the hard limit on open files is $(ulimit -Hn): the server and" \
        "kvbench each need about 10,100 for 10,000 idle connections" >&2

if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    PIN_SERVER=(taskset -c 0) PIN_CLIENT=(taskset -c 1)
else
    PIN_SERVER=() PIN_CLIENT=()
fi

log() {
    printf '%s\n' "$*" | tee -a "$OUT/bench.log" >&2
}

# ---------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------

SERVER_PID='' SERVER_PORT='' SERVER_PROTO=kv

start_kv_server() {
    local bin=$1 line
    shift
    [ -x "$bin" ] || { log "ERROR: $bin is missing"; exit 1; }
    : >"$WORK/server.out"
    "${PIN_SERVER[@]}" "$bin" --port 0 "$@" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$! SERVER_PROTO=kv
    for _ in $(seq 200); do
        if IFS= read -r line <"$WORK/server.out" &&
            [[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
            SERVER_PORT=${BASH_REMATCH[1]}
            return 0
        fi
        sleep 0.025
    done
    log "ERROR: $bin printed no ready line; its stderr: $(cat "$WORK/server.err")"
    exit 1
}

# redis-server cannot take port 0 (it turns TCP off): a free port, and its log says ready.
start_redis() {
    local port
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 30000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
        : >"$WORK/redis.log"
        "${PIN_SERVER[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' \
            --appendonly no --maxclients 11000 --dir "$WORK" --logfile "$WORK/redis.log" &
        SERVER_PID=$! SERVER_PROTO=resp SERVER_PORT=$port
        for _ in $(seq 200); do
            grep -q 'Ready to accept connections' "$WORK/redis.log" && return 0
            sleep 0.025
        done
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    done
    log "ERROR: redis-server would not start: $(cat "$WORK/redis.log")"
    exit 1
}

start_server() {
    case $1 in
    redis) start_redis ;;
    step-08) start_kv_server "$BUILD/step-08" --max-clients 11000 ;;
    *) start_kv_server "$BUILD/$1" ;;
    esac
}

stop_server() {
    local status=0
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || status=$?
    [ "$status" -eq 0 ] || log "WARNING: server $SERVER_PID exited with status $status"
    SERVER_PID=
}

cleanup() {
    [ -z "$SERVER_PID" ] || stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT

servers() {
    local s
    for s in "${SERVERS[@]}"; do
        [ "$s" != redis ] || command -v redis-server >/dev/null ||
            { log "NOTICE: redis-server is not installed: skipped"; continue; }
        echo "$s"
    done
}

kvbench() {
    "${PIN_CLIENT[@]}" "$KVBENCH" -p "$SERVER_PORT" --protocol "$SERVER_PROTO" -q --format csv "$@"
}

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"
}


fd_count() {
    ls "/proc/$SERVER_PID/fd" | wc -l
}

# last_csv FILE: kvbench's result line (the last line of its csv output).
last_csv() {
    tail -n 1 "$1"
}


# ---------------------------------------------------------------------------------------
# busy: 50 connections beside 0, 1,000 and 10,000 idle ones
# ---------------------------------------------------------------------------------------

section_busy() {
    local run server idle f
    echo "server,idle,run,rps,p50_us,p99_us,max_us,requests,errors" >"$OUT/idle-conns-runs.csv"
    for run in $(seq "$RUNS"); do
        for idle in "${IDLE_COUNTS[@]}"; do
            for server in $(servers); do
                start_server "$server"
                kvbench --idle "$idle" -c 50 -P 1 -k 1000 --preload -w "$WARMUP" \
                    -d "$SECONDS_PER_RUN" --seed "$run" >"$WORK/bench.out" 2>"$WORK/bench.err" ||
                    log "WARNING: kvbench exited with an error: $(head -c 300 "$WORK/bench.err")"
                stop_server
                IFS=, read -ra f <<<"$(last_csv "$WORK/bench.out")"
                echo "$server,$idle,$run,${f[10]},${f[11]},${f[13]},${f[15]},${f[6]},${f[7]}" \
                    >>"$OUT/idle-conns-runs.csv"
                log "busy: $server, $idle idle, run $run: ${f[10]} req/s, p99 ${f[13]} us" \
                    "(idle open: ${f[16]}, errors: ${f[7]}; load $(cut -d' ' -f1 /proc/loadavg))"
            done
        done
    done
    median_of "$OUT/idle-conns-runs.csv" 2 | cut -d, -f1,2,4- >"$OUT/idle-conns.csv"
}

# ---------------------------------------------------------------------------------------
# memory: resident memory per idle connection
# ---------------------------------------------------------------------------------------

# idle_rss SERVER N VALUE: on a fresh server, N idle connections that each SET and GET a
# VALUE-byte value first (0: one GET of a missing key). Sets RSS_BEFORE and RSS_WITH (KiB).
idle_rss() {
    local server=$1 n=$2 value=$3 warm=$3 base want bench
    [ "$warm" -gt 0 ] || warm=16
    start_server "$server"
    # The server has answered requests of the value's size before RSS_BEFORE: what is
    # measured is the connections, not the first use of its buffers.
    kvbench -c 1 -n 100 -k 10 -s "$warm" >/dev/null 2>&1 || true
    sleep 0.2
    RSS_BEFORE=$(rss_kib)
    base=$(fd_count)
    kvbench --idle "$n" --idle-value "$value" -c 1 -k 1 -s "$warm" -r 1:0 -d 4 -t 30 \
        >"$WORK/bench.out" 2>"$WORK/bench.err" &
    bench=$!
    want=$((base + n))
    for _ in $(seq 600); do
        [ "$(fd_count)" -ge "$want" ] && break
        kill -0 "$bench" 2>/dev/null || break
        sleep 0.1
    done
    sleep 0.5
    RSS_WITH=$(rss_kib)
    wait "$bench" || log "WARNING: kvbench --idle $n: $(head -c 300 "$WORK/bench.err")"
    stop_server
}

section_memory() {
    local server n value n_value
    echo "server,idle,value_size,rss_before_kib,rss_with_kib,bytes_per_connection" \
        >"$OUT/idle-memory.csv"
    for server in $(servers); do
        for n_value in 10000:0 1000:65536; do
            n=${n_value%:*} value=${n_value#*:}
            idle_rss "$server" "$n" "$value"
            awk -v s="$server" -v n="$n" -v v="$value" -v b="$RSS_BEFORE" -v w="$RSS_WITH" \
                'BEGIN { printf "%s,%d,%d,%d,%d,%.0f\n", s, n, v, b, w, (w - b) * 1024 / n }' \
                >>"$OUT/idle-memory.csv"
            log "memory: $(tail -n 1 "$OUT/idle-memory.csv")"
        done
    done
}

# ---------------------------------------------------------------------------------------
# large: GETs of 1 MiB values
# ---------------------------------------------------------------------------------------

# large_run SERVER RUN: one run of section large on a fresh server; appends its line.
large_run() {
    local server=$1 run=$2 loaded peak rss bench before after cpu_us
    local -a f
    start_server "$server"
    kvbench -c 4 -k 100 -s 1048576 -r 1:0 --preload -n 1 >/dev/null 2>&1 ||
        log "WARNING: loading 100 values of 1 MiB failed"
    loaded=$(rss_kib) peak=0
    before=$(cpu_ticks)
    kvbench -c 50 -P 1 -k 100 -s 1048576 -r 1:0 -n "$LARGE_GETS" --seed "$run" \
        >"$WORK/bench.out" 2>"$WORK/bench.err" &
    bench=$!
    while kill -0 "$bench" 2>/dev/null; do
        rss=$(rss_kib)
        [ "$rss" -le "$peak" ] || peak=$rss
        sleep 0.1
    done
    wait "$bench" || log "WARNING: kvbench exited with an error: $(head -c 300 "$WORK/bench.err")"
    after=$(cpu_ticks)
    stop_server
    cpu_us=$(((after - before) * 1000000 / $(getconf CLK_TCK) / LARGE_GETS))
    IFS=, read -ra f <<<"$(last_csv "$WORK/bench.out")"
    echo "$server,$run,${f[10]},${f[11]},${f[13]},${f[15]},${f[6]},${f[7]},$cpu_us,$loaded,$((peak - loaded))" \
        >>"$OUT/idle-large-runs.csv"
    log "large: $server run $run: ${f[10]} req/s, p99 ${f[13]} us, server CPU $cpu_us us per" \
        "GET, resident $((loaded / 1024)) MiB loaded, up to $(((peak - loaded) / 1024)) MiB more" \
        "(errors: ${f[7]})"
}

section_large() {
    local run server
    echo "server,run,rps,p50_us,p99_us,max_us,requests,errors,server_cpu_us_per_get,rss_loaded_kib,rss_rise_kib" \
        >"$OUT/idle-large-runs.csv"
    for run in $(seq "$RUNS"); do
        for server in $(servers); do
            large_run "$server" "$run"
        done
    done
    median_of "$OUT/idle-large-runs.csv" 1 | cut -d, -f1,3- >"$OUT/idle-large.csv"
}

# ---------------------------------------------------------------------------------------
# Plots: the busy section's medians, one line per server, idle connections across
# ---------------------------------------------------------------------------------------

plot_busy() {
    local column=$1 name=$2 ylabel=$3 title=$4
    awk -F, -v col="$column" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        {
            s = $1 == "redis" ? "redis-server" : $1; sub(/^step-/, "step ", s)
            printf "%s\t%s\t%s\n", s, $2, $(c[col])
        }' "$OUT/idle-conns.csv" |
        "$SVGPLOT" --categories --logy --xlabel "idle connections open beside the 50 busy ones" \
            --ylabel "$ylabel" --title "$title" \
            --note "bash bench/idle-conns.sh    (data: ${OUT#"$ROOT"/}/idle-conns.csv)" \
            >"$OUT/img/$name.svg"
    log "wrote ${OUT#"$ROOT"/}/img/$name.svg"
}

main() {
    local start=$SECONDS section
    log "== bench/idle-conns.sh $(date -u +%Y-%m-%dT%H:%M:%SZ): $RUNS runs of $SECONDS_PER_RUN s;" \
        "servers: $(servers | tr '\n' ' '); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    for section in "${SECTIONS[@]}"; do "section_$section"; done
    [ -s "$OUT/idle-conns.csv" ] || { log "done in $((SECONDS - start)) s"; return 0; }
    plot_busy rps idle-rps "throughput (requests/s, log)" \
        "50 busy connections (depth 1) beside idle ones"
    plot_busy p99_us idle-p99 "p99 latency (microseconds, log)" \
        "p99 latency of 50 busy connections beside idle ones"
    log "done in $((SECONDS - start)) s; results in ${OUT#"$ROOT"/}/"
}

main

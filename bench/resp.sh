#!/usr/bin/env bash
# bench/resp.sh - step 09's RESP against redis-server 7, and what RESP costs against KV/1 on
# the same server. docs/benchmarks.md, section 15, reports its figures.
#
#   bash bench/resp.sh                       every section below, 3 runs a point (about 12 min)
#   bash bench/resp.sh kvbench proto         some sections only (rb, kvbench, proto, instr)
#   RESP_RUNS=1 RESP_SECONDS=1 RESP_RB_SCALE=0.2 bash bench/resp.sh     a quick try
#   RESP_STEP09=build/other-step-09 bash bench/resp.sh kvbench     another build as "step-09"
#
# Four measurements. The servers take turns run by run, each run on a fresh server, the
# server on CPU 0 and the client on CPU 1 (taskset) when there are two; medians of the runs.
#
#   rb       redis-benchmark itself (the client Redis's own figures come from), tests ping,
#            set, get, incr and mset in that order on one server, 50 connections, depth 1
#            and 16, -r 1000 keys, -d 16-byte values, enough requests for about 5 s a
#            test here (RESP_RB_REQUESTS_1: 300,000; RESP_RB_REQUESTS_16: 3,000,000; mset a
#            quarter as many: each MSET sets 10 keys). rb-runs.csv, rb.csv.
#   kvbench  build/kvbench --protocol resp: GET (every key SET first, --preload) and SET,
#            50 connections, depth 1 and 16, 1,000 keys, 16-byte values, -w 0.3 -d
#            RESP_SECONDS (3). kvbench checks every reply. kvbench-runs.csv, kvbench.csv.
#   proto    on step 09 itself, KV/1 against RESP (and step 08 with KV/1, the step before):
#            a fixed number of requests (300,000 at depth 1, 3,000,000 at depth 16; GET and
#            SET, 50 connections), the throughput, and the server's own CPU time per request
#            from /proc/PID/stat, which waiting for a CPU does not inflate. proto-runs.csv,
#            proto.csv.
#   instr    instructions the server executes per request, counted by valgrind's callgrind
#            (exact and repeatable; this machine has no hardware counters for perf stat):
#            step 09 under callgrind, 1,000 keys loaded, counters zeroed, then
#            RESP_INSTR_REQUESTS (100,000) GETs or SETs on one connection at depth 16, over
#            KV/1 and over RESP, counters dumped. Per request: the whole server (user space;
#            the kernel is not counted), the parser (parse_request or resp_parse), the
#            command (command_execute: the table, the store, and for RESP the reply), and the
#            reply's encoding. instr.csv.
#
# Results go to build/bench/resp/ (RESP_OUT), the plot to its img/ folder: resp.svg
# (throughput by depth, GET and SET, step 09 and redis-server, both clients). The load
# average is logged with every run and kept in each runs file's last column.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
BUILD=$ROOT/build
KVBENCH=$BUILD/kvbench
SVGPLOT=$BUILD/svgplot
STEP09=${RESP_STEP09:-$BUILD/step-09}
STEP08=$BUILD/step-08
RUNS=${RESP_RUNS:-3}
SECONDS_PER_RUN=${RESP_SECONDS:-3}
WARMUP=${RESP_WARMUP:-0.3}
RB_SCALE=${RESP_RB_SCALE:-1}
RB_REQUESTS_1=$(awk -v s="$RB_SCALE" -v n="${RESP_RB_REQUESTS_1:-300000}" 'BEGIN { print int(n * s) }')
RB_REQUESTS_16=$(awk -v s="$RB_SCALE" -v n="${RESP_RB_REQUESTS_16:-3000000}" 'BEGIN { print int(n * s) }')
INSTR_REQUESTS=${RESP_INSTR_REQUESTS:-100000}
read -ra DEPTHS <<<"${RESP_DEPTHS:-1 16}"
read -ra SERVERS <<<"${RESP_SERVERS:-step-09 redis}"
OUT=${RESP_OUT:-$BUILD/bench/resp}
SECTIONS=("$@")
[ ${#SECTIONS[@]} -gt 0 ] || SECTIONS=(rb kvbench proto instr)
for section in "${SECTIONS[@]}"; do
    case $section in
    rb | kvbench | proto | instr) ;;
    *) echo "usage: bash bench/resp.sh [rb] [kvbench] [proto] [instr]" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT/img"
OUT=$(cd "$OUT" && pwd) # redis-server changes its directory: its log path must be absolute
WORK=$OUT/tmp
mkdir -p "$WORK"

for tool in "$KVBENCH" "$SVGPLOT" "$STEP09" "$STEP08"; do
    [ -x "$tool" ] || { echo "bench/resp.sh: $tool is missing: run make" >&2; exit 1; }
done

if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    PIN_SERVER=(taskset -c 0) PIN_CLIENT=(taskset -c 1)
else
    PIN_SERVER=() PIN_CLIENT=()
fi

log() {
    printf '%s\n' "$*" | tee -a "$OUT/bench.log" >&2
}

load1() {
    cut -d' ' -f1 /proc/loadavg
}

# ---------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------

SERVER_PID='' SERVER_PORT=''

# start_kv_server BIN [WRAPPER...]: BIN --port 0, ready when it prints its port.
start_kv_server() {
    local bin=$1 line
    shift
    : >"$WORK/server.out"
    "$@" "$bin" --port 0 >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 800); do
        if IFS= read -r line <"$WORK/server.out" &&
            [[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
            SERVER_PORT=${BASH_REMATCH[1]}
            return 0
        fi
        sleep 0.025
    done
    log "ERROR: $bin printed no ready line; its stderr: $(head -c 500 "$WORK/server.err")"
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
            --appendonly no --dir "$WORK" --logfile "$WORK/redis.log" &
        SERVER_PID=$! SERVER_PORT=$port
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
    step-09) start_kv_server "$STEP09" "${PIN_SERVER[@]}" ;;
    step-08) start_kv_server "$STEP08" "${PIN_SERVER[@]}" ;;
    *) log "ERROR: no server called $1"; exit 2 ;;
    esac
}

stop_server() {
    local status=0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
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

protocol_of() {
    [ "$1" = redis ] && echo resp || echo "${2:-resp}"
}

kvbench() {
    "${PIN_CLIENT[@]}" "$KVBENCH" -p "$SERVER_PORT" -q --format csv "$@"
}



# ---------------------------------------------------------------------------------------
# rb: redis-benchmark
# ---------------------------------------------------------------------------------------

# rb_test DEPTH TEST REQUESTS RUN SERVER: one redis-benchmark test; appends its lines.
rb_test() {
    local depth=$1 test=$2 n=$3 run=$4 server=$5 start elapsed load
    load=$(load1)
    start=$EPOCHREALTIME
    "${PIN_CLIENT[@]}" redis-benchmark -p "$SERVER_PORT" -c 50 -P "$depth" -n "$n" -r 1000 \
        -d 16 -t "$test" --csv >"$WORK/rb.out" 2>"$WORK/rb.err" ||
        log "WARNING: redis-benchmark -t $test failed: $(head -c 300 "$WORK/rb.err")"
    elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",...
    tail -n +2 "$WORK/rb.out" | tr -d '"' | while IFS=, read -r name rps _ _ p50 _ p99 _; do
        name=$(echo "$name" | cut -d' ' -f1 | tr 'A-Z' 'a-z')
        echo "$server,$name,$depth,$run,$rps,$p50,$p99,$n,$elapsed,$load" >>"$OUT/rb-runs.csv"
        log "rb: $server $name depth $depth run $run: $rps req/s, p50 $p50 ms, p99 $p99 ms" \
            "($n requests in $elapsed s; load $load)"
    done
}

section_rb() {
    local run server depth n
    command -v redis-benchmark >/dev/null ||
        { log "NOTICE: redis-benchmark is not installed: section rb skipped"; return 0; }
    echo "server,test,pipeline,run,rps,p50_ms,p99_ms,requests,seconds,load1" >"$OUT/rb-runs.csv"
    for run in $(seq "$RUNS"); do
        for depth in "${DEPTHS[@]}"; do
            n=$RB_REQUESTS_1
            [ "$depth" -eq 1 ] || n=$RB_REQUESTS_16
            for server in $(servers); do
                start_server "$server"
                rb_test "$depth" ping "$n" "$run" "$server"
                rb_test "$depth" set "$n" "$run" "$server"
                rb_test "$depth" get "$n" "$run" "$server"
                rb_test "$depth" incr "$n" "$run" "$server"
                rb_test "$depth" mset $((n / 4)) "$run" "$server"
                stop_server
            done
        done
    done
    median_of "$OUT/rb-runs.csv" 3 | cut -d, -f1-3,5- >"$OUT/rb.csv"
}

# ---------------------------------------------------------------------------------------
# kvbench: GET and SET over RESP
# ---------------------------------------------------------------------------------------

section_kvbench() {
    local run server depth op ratio preload load
    local -a f
    echo "server,op,pipeline,run,rps,p50_us,p99_us,requests,errors,load1" >"$OUT/kvbench-runs.csv"
    for run in $(seq "$RUNS"); do
        for depth in "${DEPTHS[@]}"; do
            for op in get set; do
                ratio=1:0 preload=--preload
                [ "$op" = get ] || ratio=0:1 preload=
                for server in $(servers); do
                    start_server "$server"
                    load=$(load1)
                    kvbench --protocol resp -c 50 -P "$depth" -k 1000 -s 16 -r "$ratio" $preload \
                        -w "$WARMUP" -d "$SECONDS_PER_RUN" --seed "$run" \
                        >"$WORK/bench.out" 2>"$WORK/bench.err" ||
                        log "WARNING: kvbench exited with an error: $(head -c 300 "$WORK/bench.err")"
                    stop_server
                    IFS=, read -ra f <<<"$(tail -n 1 "$WORK/bench.out")"
                    echo "$server,$op,$depth,$run,${f[10]},${f[11]},${f[13]},${f[6]},${f[7]},$load" \
                        >>"$OUT/kvbench-runs.csv"
                    log "kvbench: $server $op depth $depth run $run: ${f[10]} req/s," \
                        "p99 ${f[13]} us (errors ${f[7]}; load $load)"
                done
            done
        done
    done
    median_of "$OUT/kvbench-runs.csv" 3 | cut -d, -f1-3,5- >"$OUT/kvbench.csv"
}

# ---------------------------------------------------------------------------------------
# proto: KV/1 against RESP on step 09 (and step 08 with KV/1)
# ---------------------------------------------------------------------------------------

# proto_run SERVER PROTOCOL OP DEPTH RUN: a fixed number of requests on a fresh server.
proto_run() {
    local server=$1 proto=$2 op=$3 depth=$4 run=$5 n=300000 ratio=1:0 before after ns load
    local -a f
    [ "$depth" -eq 1 ] || n=3000000
    [ "$op" = get ] || ratio=0:1
    start_server "$server"
    kvbench --protocol "$proto" -c 50 -k 1000 -s 16 --preload -n 1000 >/dev/null 2>&1 ||
        log "WARNING: loading the keys failed"
    load=$(load1)
    before=$(cpu_ticks)
    kvbench --protocol "$proto" -c 50 -P "$depth" -k 1000 -s 16 -r "$ratio" -n "$n" \
        --seed "$run" >"$WORK/bench.out" 2>"$WORK/bench.err" ||
        log "WARNING: kvbench exited with an error: $(head -c 300 "$WORK/bench.err")"
    after=$(cpu_ticks)
    stop_server
    ns=$(((after - before) * 1000000000 / $(getconf CLK_TCK) / n))
    IFS=, read -ra f <<<"$(tail -n 1 "$WORK/bench.out")"
    echo "$server,$proto,$op,$depth,$run,${f[10]},$ns,${f[6]},${f[7]},$load" >>"$OUT/proto-runs.csv"
    log "proto: $server $proto $op depth $depth run $run: ${f[10]} req/s, server CPU $ns ns" \
        "per request (errors ${f[7]}; load $load)"
}

section_proto() {
    local run depth op
    echo "server,protocol,op,pipeline,run,rps,server_ns_per_request,requests,errors,load1" \
        >"$OUT/proto-runs.csv"
    for run in $(seq "$RUNS"); do
        for depth in "${DEPTHS[@]}"; do
            for op in get set; do
                proto_run step-08 kv "$op" "$depth" "$run"
                proto_run step-09 kv "$op" "$depth" "$run"
                proto_run step-09 resp "$op" "$depth" "$run"
            done
        done
    done
    median_of "$OUT/proto-runs.csv" 4 | cut -d, -f1-4,6- >"$OUT/proto.csv"
}

# ---------------------------------------------------------------------------------------
# instr: instructions per request under callgrind
# ---------------------------------------------------------------------------------------

# inclusive FILE FUNCTION: the function's inclusive instruction count in a callgrind dump
# (its line "COUNT (PERCENT)  FILE:FUNCTION [BINARY]"; 0 if it never ran).
inclusive() {
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
        awk -v fn=":$2 [" '!found && index($0, fn) { gsub(/,/, "", $1); n = $1; found = 1 }
            END { print n + 0 }' # no exit: callgrind_annotate would die of SIGPIPE
}

# instr_run PROTOCOL OP: step 09 under callgrind; one line of instr.csv.
instr_run() {
    local proto=$1 op=$2 ratio=1:0 dump total parse command encode
    [ "$op" = get ] || ratio=0:1
    rm -f "$WORK"/callgrind.out.*
    start_kv_server "$STEP09" valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out.%p"
    "$KVBENCH" -p "$SERVER_PORT" --protocol "$proto" -c 4 -k 1000 -s 16 --preload -n 1000 -q \
        >/dev/null 2>&1 || log "WARNING: loading the keys failed"
    callgrind_control -z "$SERVER_PID" >/dev/null
    "$KVBENCH" -p "$SERVER_PORT" --protocol "$proto" -c 1 -P 16 -k 1000 -s 16 -r "$ratio" \
        -n "$INSTR_REQUESTS" -t 120 -q --format csv >"$WORK/bench.out" 2>"$WORK/bench.err" ||
        log "WARNING: kvbench exited with an error: $(head -c 300 "$WORK/bench.err")"
    callgrind_control -d "$SERVER_PID" >/dev/null
    stop_server
    dump=$(ls "$WORK"/callgrind.out.*.1 2>/dev/null | head -n 1)
    [ -n "$dump" ] || { log "ERROR: callgrind wrote no dump"; return 1; }
    total=$(callgrind_annotate "$dump" 2>/dev/null |
        awk '/PROGRAM TOTALS/ && !n { gsub(/,/, "", $1); n = $1 } END { print n + 0 }')
    command=$(inclusive "$dump" command_execute)
    if [ "$proto" = resp ]; then
        parse=$(inclusive "$dump" resp_parse)
        # The reply functions the table calls through resp_reply_ops, all of resp.c's output.
        encode=0
        for fn in reply_status reply_error reply_integer reply_bulk reply_value reply_null \
            reply_array; do
            encode=$((encode + $(inclusive "$dump" "$fn")))
        done
    else
        parse=$(inclusive "$dump" parse_request)
        # KV/1's reply is made after the command: kv1_answer less the command it runs.
        encode=$(($(inclusive "$dump" kv1_answer) - command))
    fi
    awk -v p="$proto" -v o="$op" -v n="$INSTR_REQUESTS" -v t="$total" -v pa="$parse" \
        -v c="$command" -v e="$encode" \
        'BEGIN { printf "%s,%s,%d,%.0f,%.0f,%.0f,%.0f\n", p, o, n, t / n, pa / n, c / n, e / n }' \
        >>"$OUT/instr.csv"
    log "instr: $(tail -n 1 "$OUT/instr.csv") (load $(load1))"
}

section_instr() {
    command -v callgrind_control >/dev/null ||
        { log "NOTICE: valgrind is not installed: section instr skipped"; return 0; }
    echo "protocol,op,requests,total_per_request,parse_per_request,command_per_request,encode_per_request" \
        >"$OUT/instr.csv"
    instr_run kv get
    instr_run resp get
    instr_run kv set
    instr_run resp set
}

# ---------------------------------------------------------------------------------------
# The plot: throughput by depth, step 09 and redis-server, GET and SET, both clients
# ---------------------------------------------------------------------------------------

plot_resp() {
    {
        [ -s "$OUT/kvbench.csv" ] && awk -F, 'NR > 1 {
                s = $1 == "redis" ? "redis-server" : "step 09"
                printf "%s %s (kvbench)\t%s\t%s\n", s, toupper($2), $3, $4 }' "$OUT/kvbench.csv"
        [ -s "$OUT/rb.csv" ] && awk -F, 'NR > 1 && ($2 == "get" || $2 == "set") {
                s = $1 == "redis" ? "redis-server" : "step 09"
                printf "%s %s (redis-benchmark)\t%s\t%s\n", s, toupper($2), $3, $4 }' "$OUT/rb.csv"
    } | sort -s -t"$(printf '\t')" -k1,1 >"$WORK/points.tsv"
    [ -s "$WORK/points.tsv" ] || return 0
    "$SVGPLOT" --logx --logy --xlabel "pipeline depth (requests per write)" \
        --ylabel "throughput (requests/s, log)" \
        --title "Step 09 vs redis-server over RESP: 50 connections, 16-byte values" \
        --note "bash bench/resp.sh    (data: ${OUT#"$ROOT"/}/kvbench.csv, rb.csv)" \
        <"$WORK/points.tsv" >"$OUT/img/resp.svg"
    log "wrote ${OUT#"$ROOT"/}/img/resp.svg"
}

main() {
    local start=$SECONDS section
    log "== bench/resp.sh $(date -u +%Y-%m-%dT%H:%M:%SZ): $RUNS runs; step 09: $STEP09;" \
        "servers: $(servers | tr '\n' ' '); sections: ${SECTIONS[*]};" \
        "load average $(cut -d' ' -f1-3 /proc/loadavg)"
    for section in "${SECTIONS[@]}"; do "section_$section"; done
    plot_resp
    log "done in $((SECONDS - start)) s; results in ${OUT#"$ROOT"/}/"
}

main

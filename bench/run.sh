#!/usr/bin/env bash
# bench/run.sh - the benchmark runner: starts each server, aims build/kvbench at it, stops it,
# and writes every result as CSV under build/bench/MODE/. It is the only runner: `make bench`
# and `make bench-quick` (bench/bench.mk) call it, and docs/benchmarks.md explains its output.
#
#   bench/run.sh --quick       a smoke run of the whole pipeline: 1 run per point, 0.2 s each,
#                              16-byte values only, smaller key counts (well under a minute)
#   bench/run.sh --full        every point 3 times (median kept), 2 s each after 0.3 s warm-up
#   SERVER=path bench/run.sh --quick     the throughput matrix against your own server only
#
# The matrix (section "matrix", file matrix.csv):
#   servers       build/step-02 .. build/step-05, build/nullserver (stores nothing: the ceiling
#                 of one poll() thread), redis-server (if installed; skipped with a notice if not)
#   connections   1 and 50; step 02 serves one connection at a time, so 1 only
#   pipeline      1, 16, 128 requests per write
#   values        16 B and 1 KiB (quick: 16 B only)
#   operations    GET (every key SET once first, not measured: --preload) and SET, 1000 keys
#
# The other sections, each with its own CSV file:
#   rerun      (full only) the matrix's noisy points measured again: those where, in the median
#              of their runs, others used more than 10% of the machine (see Load control)
#   keys       GET throughput as the key count grows: 1k, 10k, 100k, 1M keys (quick: 1k, 10k),
#              50 connections, depth 16. Step 04's linked list stops at 100k: filling it is
#              quadratic (each SET walks the list): 21 s for 100k here, so about 35 min for 1M.
#   rehash     worst request latency while 2,000,000 new keys go into step 05, as it is and
#              built with -DHT_REHASH_ALL_AT_ONCE=1 (quick: 100,000 keys), plus the in-process
#              bench/rehash_latency numbers for both designs (full only)
#   memory     server RSS (VmRSS in /proc/PID/status) before and after SETting 1M keys with
#              16-byte values into step 05 and redis-server, 100k into step 04 (quick: 100k, 10k)
#   syscalls   system calls per request, counted by `perf stat -e syscalls:...` on the server
#              (strace -c -f if perf cannot), 1 and 50 connections, depth 1, 16, 128
#
# Load control (full run): the machine's other work steals CPU from the server and the client.
# Before each run the script waits until others use at most BENCH_MAX_OTHER_PERCENT (10) % of
# the machine (at most 60 s each time, BENCH_WAIT_BUDGET = 900 s in all). During each run it reads
# /proc/stat and subtracts the CPU time of its own processes; if others used more than 10%,
# the run is done again (up to 2 more times, while the budget lasts). What others used is
# kept in the column other_cpu. The runs of a point take turns between the servers, so load
# that comes and goes falls on all of them alike. The server runs on CPU 0 and kvbench on
# CPU 1 (taskset), when the machine has two or more. A quick run neither waits nor reruns.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
KVBENCH=$BUILD/kvbench

# ---------------------------------------------------------------------------------------
# Command line and settings
# ---------------------------------------------------------------------------------------

usage() {
    echo "usage: bench/run.sh --quick|--full [SECTION ...]" >&2
    echo "  sections: matrix rerun keys rehash memory syscalls (default: all; quick: no rerun)" >&2
    echo "  SERVER=path/to/server runs only the matrix, on that server" >&2
    exit 2
}

MODE=
SECTIONS=()
for arg in "$@"; do
    case $arg in
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    matrix | rerun | keys | rehash | memory | syscalls) SECTIONS+=("$arg") ;;
    *) usage ;;
    esac
done
[ -n "$MODE" ] || usage
if [ ${#SECTIONS[@]} -eq 0 ]; then
    SECTIONS=(matrix keys rehash memory syscalls)
    [ "$MODE" = quick ] || SECTIONS=(matrix rerun keys rehash memory syscalls)
fi
[ -z "${SERVER:-}" ] || SECTIONS=(matrix)

if [ "$MODE" = quick ]; then
    RUNS=1 DURATION=0.2 WARMUP=0 RETRIES=0 QUIET_WAIT=0 WAIT_BUDGET=0
    VALUE_SIZES=(16) KEY_COUNTS=(1000 10000) LIST_MAX_KEYS=10000
    REHASH_KEYS=100000 MEMORY_KEYS=100000 LIST_MEMORY_KEYS=10000 SYSCALL_REQUESTS=10000
    SYSCALL_SERVERS=step-05 SYSCALL_CONNECTIONS=1
else
    RUNS=3 DURATION=2 WARMUP=0.3 RETRIES=2 QUIET_WAIT=60 WAIT_BUDGET=${BENCH_WAIT_BUDGET:-900}
    VALUE_SIZES=(16 1024) KEY_COUNTS=(1000 10000 100000 1000000) LIST_MAX_KEYS=100000
    REHASH_KEYS=2000000 MEMORY_KEYS=1000000 LIST_MEMORY_KEYS=100000 SYSCALL_REQUESTS=50000
    SYSCALL_SERVERS="step-02 step-03 step-04 step-05 nullserver" SYSCALL_CONNECTIONS="1 50"
fi
# A smaller matrix, e.g. to measure a few points again more carefully (the chapter does):
#   BENCH_SERVERS="step-05 redis" BENCH_CONNECTIONS=50 BENCH_VALUE_SIZES=16 BENCH_RUNS=5 \
#   BENCH_OUT=build/bench/targets bash bench/run.sh --full matrix
RUNS=${BENCH_RUNS:-$RUNS}
read -ra VALUE_SIZES <<<"${BENCH_VALUE_SIZES:-${VALUE_SIZES[*]}}"
read -ra CONNECTIONS <<<"${BENCH_CONNECTIONS:-1 50}"
read -ra DEPTHS <<<"${BENCH_DEPTHS:-1 16 128}"
OUT=${BENCH_OUT:-$BUILD/bench/$MODE}
WORK=$OUT/tmp
LOG=$OUT/bench.log
mkdir -p "$OUT" "$WORK"

# Two or more CPUs: the server on CPU 0, kvbench on CPU 1, so they never queue for one core.
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    PIN_SERVER=(taskset -c 0) PIN_CLIENT=(taskset -c 1)
else
    PIN_SERVER=() PIN_CLIENT=()
fi

log() {
    printf '%s\n' "$*" | tee -a "$LOG" >&2
}

# Every series starts with a line saying how busy the machine was.
log_load() {
    log "== $1 ($(date +%T); load average $(cut -d' ' -f1-3 /proc/loadavg))"
}

# ---------------------------------------------------------------------------------------
# Starting and stopping servers
#
# Our servers are started with --port 0 and tell us their port on their first line.
# redis-server cannot (port 0 turns TCP off), so it gets a port nobody listens on and
# reports readiness in its log instead.
# ---------------------------------------------------------------------------------------

SERVER_PID='' SERVER_PORT='' SERVER_PROTO=kv

have_redis() {
    command -v redis-server >/dev/null
}

# server_binary NAME: the program behind a server name used in the CSV files.
server_binary() {
    case $1 in
    step-0[1-9]) echo "$BUILD/$1" ;;
    step-05-all-at-once) echo "$BUILD/bench/step-05-all-at-once" ;;
    nullserver) echo "$BUILD/nullserver" ;;
    mine) echo "$SERVER" ;;
    esac
}

start_kv_server() {
    local bin=$1 out=$WORK/server.out line
    : >"$out"
    "${PIN_SERVER[@]}" "$bin" --port 0 >"$out" 2>"$WORK/server.err" &
    SERVER_PID=$! SERVER_PROTO=kv
    for _ in $(seq 200); do
        if IFS= read -r line <"$out" && [[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
            SERVER_PORT=${BASH_REMATCH[1]}
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.025
    done
    log "ERROR: $bin printed no ready line; its stderr:"
    cat "$WORK/server.err" >&2
    exit 1
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_redis() {
    local port
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 30000))
        port_in_use "$port" && continue
        : >"$WORK/redis.log"
        "${PIN_SERVER[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' \
            --appendonly no --dir "$WORK" --logfile "$WORK/redis.log" &
        SERVER_PID=$! SERVER_PROTO=resp SERVER_PORT=$port
        for _ in $(seq 200); do
            grep -q 'Ready to accept connections' "$WORK/redis.log" && return 0
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.025
        done
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    done
    log "ERROR: redis-server would not start; its log:"
    cat "$WORK/redis.log" >&2
    exit 1
}

start_server() {
    if [ "$1" = redis ]; then start_redis; else start_kv_server "$(server_binary "$1")"; fi
}

# SIGTERM, and every server must then exit with status 0 (docs/testing.md, "Testing your own server").
stop_server() {
    local status=0
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || status=$?
    [ "$status" -eq 0 ] || log "WARNING: server $SERVER_PID exited with status $status"
    SERVER_PID=
}

cleanup() {
    [ -z "$SERVER_PID" ] || stop_server
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------
# CPU accounting: how much of the machine did someone else use during a run?
#
# Every figure here comes from bash builtins and /proc, without starting a process: on a
# loaded machine each fork costs tens of milliseconds, a lot next to a 0.2 s quick run.
# ---------------------------------------------------------------------------------------

TICK_HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
MAX_OTHER_PERMILLE=$(( ${BENCH_MAX_OTHER_PERCENT:-10} * 10 ))

# "1m2.345s" (the format of `times`) in microseconds, into REPLY.
times_to_us() {
    [[ $1 =~ ^([0-9]+)m([0-9]+)\.([0-9]+)s$ ]] || { REPLY=0; return; }
    local frac=${BASH_REMATCH[3]}000000
    REPLY=$(( (10#${BASH_REMATCH[1]} * 60 + 10#${BASH_REMATCH[2]}) * 1000000 + 10#${frac:0:6} ))
}

# Sets SNAP_MACHINE (busy time of all CPUs: user + nice + system), SNAP_OURS (our server's
# threads and this shell's finished children, kvbench among them) and SNAP_TIME, all in
# microseconds. `times` must run in this shell, not in a $(...) subshell: hence the file.
cpu_snapshot() {
    local user nice system rest line cu cs
    local -a f
    SNAP_TIME=${EPOCHREALTIME/./}
    read -r _ user nice system rest </proc/stat
    SNAP_MACHINE=$(( (user + nice + system) * 1000000 / TICK_HZ ))
    SNAP_OURS=0
    if [ -n "$SERVER_PID" ] && read -r line 2>/dev/null <"/proc/$SERVER_PID/stat"; then
        read -ra f <<<"${line##*) }"
        SNAP_OURS=$(( (f[11] + f[12]) * 1000000 / TICK_HZ ))
    fi
    times >"$WORK/times"
    { read -r line; read -r cu cs; } <"$WORK/times"
    times_to_us "$cu"
    SNAP_OURS=$((SNAP_OURS + REPLY))
    times_to_us "$cs"
    SNAP_OURS=$((SNAP_OURS + REPLY))
}

# The share of the machine that others used since the snapshot (m0, o0, t0), in per mille.
others_permille() {
    local wall=$(( (SNAP_TIME - $3) * NCPU )) other=$(( SNAP_MACHINE - $1 - SNAP_OURS + $2 ))
    [ "$other" -gt 0 ] || other=0
    [ "$wall" -gt 0 ] || wall=1
    REPLY=$(( other * 1000 / wall ))
}

permille_text() {
    printf -v REPLY '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}

# ---------------------------------------------------------------------------------------
# One kvbench run, with its load check
# ---------------------------------------------------------------------------------------

KV_ROW=         # the fields of kvbench's CSV line that the result files keep (KV_FIELDS)
KV_RPS='' KV_MAX_US='' KV_REQUESTS=''
OTHER_PERMILLE= # the share of the machine others used during the run, in per mille
OTHER_CPU=      # the same as a fraction (0.000 .. 1.000), for the CSV files
ATTEMPTS=       # how many times it ran before it was quiet enough

KV_FIELDS=rps,p50_us,p90_us,p99_us,p999_us,max_us,requests,errors,misses,seconds

# kvbench --format csv prints protocol,connections,pipeline,value_size,keys,get_ratio,
# requests,errors,misses,seconds,rps,p50_us,p90_us,p99_us,p999_us,max_us,idle.
read_kvbench_csv() {
    local line last=
    local -a f
    while IFS= read -r line; do last=$line; done <"$WORK/kvbench.out"
    IFS=, read -ra f <<<"$last"
    KV_ROW="${f[10]:-0},${f[11]:-0},${f[12]:-0},${f[13]:-0},${f[14]:-0},${f[15]:-0}"
    KV_ROW+=",${f[6]:-0},${f[7]:-0},${f[8]:-0},${f[9]:-0}"
    KV_RPS=${f[10]:-0} KV_MAX_US=${f[15]:-0} KV_REQUESTS=${f[6]:-0}
}

kvbench_once() {
    local m0 o0 t0 rc=0
    cpu_snapshot
    m0=$SNAP_MACHINE o0=$SNAP_OURS t0=$SNAP_TIME
    "${PIN_CLIENT[@]}" "$KVBENCH" -p "$SERVER_PORT" --protocol "$SERVER_PROTO" -q \
        --format csv "$@" >"$WORK/kvbench.out" 2>"$WORK/kvbench.err" || rc=$?
    cpu_snapshot
    others_permille "$m0" "$o0" "$t0"
    OTHER_PERMILLE=$REPLY
    permille_text "$OTHER_PERMILLE"
    OTHER_CPU=$REPLY
    read_kvbench_csv
    if [ "$rc" -ne 0 ]; then
        log "WARNING: kvbench $* exited with status $rc: $(head -c 300 "$WORK/kvbench.err")"
    fi
}

# Waits until others use at most BENCH_MAX_OTHER_PERCENT of the machine, judged over a third
# of a second in which our server sits idle: at most QUIET_WAIT seconds each time, and at
# most WAIT_BUDGET seconds in all, so that a machine that never calms down is still measured.
wait_for_quiet() {
    local waited=0 m0 o0 t0
    while [ "$WAIT_BUDGET" -gt 0 ]; do
        cpu_snapshot
        m0=$SNAP_MACHINE o0=$SNAP_OURS t0=$SNAP_TIME
        sleep 0.3
        cpu_snapshot
        others_permille "$m0" "$o0" "$t0"
        [ "$REPLY" -gt "$MAX_OTHER_PERMILLE" ] || break
        permille_text "$REPLY"
        if [ "$waited" -ge "$QUIET_WAIT" ]; then
            log "   still busy after $waited s (others use $REPLY of the CPU): measuring anyway"
            break
        fi
        [ "$waited" -gt 0 ] || log "   busy (others use $REPLY of the CPU): waiting for quiet"
        sleep 2
        waited=$((waited + 2))
        WAIT_BUDGET=$((WAIT_BUDGET - 2))
        [ "$WAIT_BUDGET" -gt 0 ] ||
            log "   NOTICE: the time allowed for waiting is used up: no more waiting or reruns"
    done
    [ "$waited" -eq 0 ] || log "   waited $waited s for quiet"
}

# kvbench_run ARGS...: a run, repeated while others used more than their share of the CPU.
kvbench_run() {
    ATTEMPTS=0
    while :; do
        ATTEMPTS=$((ATTEMPTS + 1))
        wait_for_quiet
        kvbench_once "$@"
        [ "$OTHER_PERMILLE" -gt "$MAX_OTHER_PERMILLE" ] || return 0
        if [ "$ATTEMPTS" -gt "$RETRIES" ] || [ "$WAIT_BUDGET" -le 0 ]; then
            [ "$MODE" = quick ] ||
                log "   noisy: others used $OTHER_CPU of the CPU (attempt $ATTEMPTS); kept it"
            return 0
        fi
        log "   noisy (others used $OTHER_CPU of the CPU): running it again"
    done
}

# ---------------------------------------------------------------------------------------
# Medians: one line per point, each numeric column the median of that point's runs
# ---------------------------------------------------------------------------------------

# median_csv RAW OUT KEYCOLS: groups RAW by its first KEYCOLS columns; column "run" dropped.
median_csv() {
    awk -F, -v keys="$3" '
        NR == 1 {
            for (i = 1; i <= NF; i++) if ($i == "run") runcol = i
            head = ""
            for (i = 1; i <= NF; i++) if (i != runcol) head = head (head == "" ? "" : ",") $i
            print head ",runs"; ncol = NF; next
        }
        {
            k = ""; for (i = 1; i <= keys; i++) k = k $i ","
            if (!(k in n)) order[++groups] = k
            n[k]++
            for (i = keys + 1; i <= NF; i++) v[k, i, n[k]] = $i
        }
        function median(k, i,    m, j, l, t, a) {
            m = n[k]
            for (j = 1; j <= m; j++) a[j] = v[k, i, j] + 0
            for (j = 2; j <= m; j++)    # insertion sort: a handful of runs
                for (l = j; l > 1 && a[l - 1] > a[l]; l--) {
                    t = a[l]; a[l] = a[l - 1]; a[l - 1] = t
                }
            return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
        }
        END {
            for (g = 1; g <= groups; g++) {
                k = order[g]; line = substr(k, 1, length(k) - 1)
                for (i = keys + 1; i <= ncol; i++) if (i != runcol) line = line "," median(k, i)
                print line "," n[k]
            }
        }' "$1" >"$2"
}

# ---------------------------------------------------------------------------------------
# Section: the matrix
# ---------------------------------------------------------------------------------------

matrix_servers() {
    if [ -n "${SERVER:-}" ]; then
        echo mine
        return
    fi
    local server
    for server in ${BENCH_SERVERS:-step-02 step-03 step-04 step-05 nullserver redis}; do
        [ "$server" != redis ] || have_redis || continue
        echo "$server"
    done
}

# matrix_run SERVER OP CONNECTIONS DEPTH VALUE_SIZE RUN: one run on a fresh server.
matrix_run() {
    local server=$1 op=$2 conns=$3 depth=$4 size=$5 run=$6 ratio=1:0 preload=--preload
    [ "$op" = get ] || { ratio=0:1; preload=; }
    start_server "$server"
    kvbench_run -c "$conns" -P "$depth" -s "$size" -k 1000 -r "$ratio" $preload \
        -w "$WARMUP" -d "$DURATION" --seed "$run"
    stop_server
    echo "$server,$op,$conns,$depth,$size,1000,$run,$ATTEMPTS,$OTHER_CPU,$KV_ROW" \
        >>"$OUT/matrix-runs.csv"
}

# matrix_point OP CONNECTIONS DEPTH VALUE_SIZE: RUNS runs of each server. The runs take turns
# between the servers (run 1 of each, then run 2 ...), so a change in the machine's load
# between runs falls on every server alike.
matrix_point() {
    local op=$1 conns=$2 depth=$3 size=$4 run server line=
    log_load "matrix: $op c=$conns P=$depth ${size}B"
    for run in $(seq "$RUNS"); do
        for server in $(matrix_servers); do
            [ "$server" = step-02 ] && [ "$conns" -gt 1 ] && continue
            matrix_run "$server" "$op" "$conns" "$depth" "$size" "$run"
        done
    done
    for server in $(matrix_servers); do
        line+=" $server $(awk -F, -v s="$server" -v o="$op" -v c="$conns" -v p="$depth" \
            -v z="$size" '$1 == s && $2 == o && $3 == c && $4 == p && $5 == z {
                printf "%s%s", sep, $10; sep = "/" }' "$OUT/matrix-runs.csv")"
    done
    log "  $line req/s"
}

section_matrix() {
    local op conns depth size
    echo "server,op,connections,pipeline,value_size,keys,run,attempts,other_cpu,$KV_FIELDS" \
        >"$OUT/matrix-runs.csv"
    have_redis || [ -n "${SERVER:-}" ] ||
        log "NOTICE: redis-server is not installed: its rows are skipped" \
            "(apt-get install redis-server to add them)"
    for size in "${VALUE_SIZES[@]}"; do
        for op in get set; do
            for conns in "${CONNECTIONS[@]}"; do
                for depth in "${DEPTHS[@]}"; do
                    matrix_point "$op" "$conns" "$depth" "$size"
                done
            done
        done
    done
    median_csv "$OUT/matrix-runs.csv" "$OUT/matrix.csv" 6
}

# ---------------------------------------------------------------------------------------
# Section: the matrix's noisy points, measured again
#
# A point is noisy when, in the median of its runs, others used more than their share of the
# machine. Its runs are thrown away and measured again, with a fresh waiting budget.
# ---------------------------------------------------------------------------------------

noisy_points() {
    awk -F, -v max="$MAX_OTHER_PERMILLE" 'NR > 1 {
            k = $2 " " $3 " " $4 " " $5
            if (!(k in n)) order[++groups] = k
            v[k, ++n[k]] = $9 * 1000
        }
        END {
            for (g = 1; g <= groups; g++) {
                k = order[g]; m = n[k]
                for (j = 1; j <= m; j++) a[j] = v[k, j]
                for (j = 2; j <= m; j++)
                    for (l = j; l > 1 && a[l - 1] > a[l]; l--) {
                    t = a[l]; a[l] = a[l - 1]; a[l - 1] = t
                }
                if (a[int((m + 1) / 2)] > max) print k
            }
        }' "$OUT/matrix-runs.csv"
}

section_rerun() {
    local op conns depth size points
    [ -s "$OUT/matrix-runs.csv" ] || { log "rerun: no matrix-runs.csv to look at"; return 0; }
    WAIT_BUDGET=${BENCH_WAIT_BUDGET:-900}
    points=$(noisy_points)
    log "== rerun: $(grep -c . <<<"$points" || true) noisy points of the matrix"
    while read -r op conns depth size; do
        [ -n "$op" ] || continue
        awk -F, -v o="$op" -v c="$conns" -v p="$depth" -v z="$size" \
            '!($2 == o && $3 == c && $4 == p && $5 == z)' "$OUT/matrix-runs.csv" \
            >"$WORK/matrix-runs.csv"
        mv "$WORK/matrix-runs.csv" "$OUT/matrix-runs.csv"
        matrix_point "$op" "$conns" "$depth" "$size"
    done <<<"$points"
    median_csv "$OUT/matrix-runs.csv" "$OUT/matrix.csv" 6
}

# ---------------------------------------------------------------------------------------
# Section: throughput as the key count grows
# ---------------------------------------------------------------------------------------

# Fills the store with keys 0..N-1 (16-byte values) and prints how long that took, in seconds.
preload_keys() {
    local t0=${EPOCHREALTIME/./} us
    kvbench_once -c 4 -k "$1" -s 16 -r 0:1 --preload -n 1 -t 3600
    us=$((${EPOCHREALTIME/./} - t0))
    printf '%d.%03d' $((us / 1000000)) $((us / 1000 % 1000))
}

section_keys() {
    local server keys run preload_s
    echo "server,keys,preload_s,run,attempts,other_cpu,$KV_FIELDS" >"$OUT/keys-runs.csv"
    for server in step-04 step-05 nullserver redis; do
        [ "$server" != redis ] || have_redis || continue
        log_load "keys: $server"
        for keys in "${KEY_COUNTS[@]}"; do
            if [ "$server" = step-04 ] && [ "$keys" -gt "$LIST_MAX_KEYS" ]; then
                log "   step-04 $keys keys: skipped (filling a list is quadratic; see the chapter)"
                continue
            fi
            start_server "$server"
            preload_s=$(preload_keys "$keys")
            for run in $(seq "$RUNS"); do
                kvbench_run -c 50 -P 16 -s 16 -k "$keys" -r 1:0 -w "$WARMUP" -d "$DURATION" \
                    --seed "$run"
                echo "$server,$keys,$preload_s,$run,$ATTEMPTS,$OTHER_CPU,$KV_ROW" \
                    >>"$OUT/keys-runs.csv"
            done
            stop_server
            log "   $server $keys keys: filled in $preload_s s; $KV_RPS req/s"
        done
    done
    median_csv "$OUT/keys-runs.csv" "$OUT/keys.csv" 3
}

# ---------------------------------------------------------------------------------------
# Section: rehashing, in the server and in process
# ---------------------------------------------------------------------------------------

# The key space is 10^12 keys, so REHASH_KEYS random SETs are almost all new keys: every
# one is an insert, and the table passes every doubling up to the one at 1,048,576 keys.
section_rehash() {
    local server run
    echo "server,inserts,run,attempts,other_cpu,$KV_FIELDS" >"$OUT/rehash-runs.csv"
    log_load "rehash under load"
    for run in $(seq "$RUNS"); do
        for server in step-05 step-05-all-at-once; do
            start_server "$server"
            kvbench_run -c 50 -P 1 -s 16 -k 1000000000000 -r 0:1 -n "$REHASH_KEYS" \
                --seed "$run"
            echo "$server,$REHASH_KEYS,$run,$ATTEMPTS,$OTHER_CPU,$KV_ROW" \
                >>"$OUT/rehash-runs.csv"
            stop_server
            log "   $server run $run: max $KV_MAX_US us"
        done
    done
    median_csv "$OUT/rehash-runs.csv" "$OUT/rehash.csv" 2
    [ "$MODE" = full ] || return 0
    rehash_in_process
}

# bench/rehash_latency times each of 2,000,000 inserts into the bare table.
rehash_in_process() {
    local mode bin run
    echo "mode,run,other_cpu,mean_ns,p50_ns,p99_ns,p999_ns,p9999_ns,worst_ns" \
        >"$OUT/rehash-inprocess-runs.csv"
    for mode in progressive all-at-once; do
        bin=$BUILD/rehash_latency
        [ "$mode" = progressive ] || bin=$BUILD/rehash_latency-all-at-once
        log_load "rehash in process: $mode"
        for run in $(seq "$RUNS"); do
            local m0 o0 t0
            wait_for_quiet
            cpu_snapshot
            m0=$SNAP_MACHINE o0=$SNAP_OURS t0=$SNAP_TIME
            "${PIN_CLIENT[@]}" "$bin" >"$WORK/rehash.out"
            cpu_snapshot
            others_permille "$m0" "$o0" "$t0"
            permille_text "$REPLY"
            cat "$WORK/rehash.out" >>"$LOG"
            awk -v mode="$mode" -v run="$run" -v other="$REPLY" '
                /^inserts:/ { mean = $(NF - 1) }
                /^p50 /     { p50 = $2 }   /^p99 /   { p99 = $2 }
                /^p99.9 /   { p999 = $2 }  /^p99.99 / { p9999 = $2 }
                /^worst /   { worst = $2 }
                END {
                    printf "%s,%d,%s,%s,%s,%s,%s,%s,%s\n", mode, run, other, mean, p50, p99,
                        p999, p9999, worst
                }' "$WORK/rehash.out" >>"$OUT/rehash-inprocess-runs.csv"
        done
    done
    median_csv "$OUT/rehash-inprocess-runs.csv" "$OUT/rehash-inprocess.csv" 1
}

# ---------------------------------------------------------------------------------------
# Section: memory per key
# ---------------------------------------------------------------------------------------

rss_kib() {
    awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"
}

section_memory() {
    local server keys before after
    echo "server,keys,value_size,rss_before_kib,rss_after_kib,bytes_per_key" >"$OUT/memory.csv"
    log_load "memory"
    for server in step-04 step-05 redis; do
        [ "$server" != redis ] || have_redis || continue
        keys=$MEMORY_KEYS
        [ "$server" != step-04 ] || keys=$LIST_MEMORY_KEYS
        start_server "$server"
        before=$(rss_kib "$SERVER_PID")
        preload_keys "$keys" >/dev/null
        after=$(rss_kib "$SERVER_PID")
        stop_server
        awk -v s="$server" -v k="$keys" -v b="$before" -v a="$after" \
            'BEGIN { printf "%s,%d,16,%d,%d,%.1f\n", s, k, b, a, (a - b) * 1024 / k }' \
            >>"$OUT/memory.csv"
        log "   $server: $(tail -n 1 "$OUT/memory.csv")"
    done
}

# ---------------------------------------------------------------------------------------
# Section: system calls per request
# ---------------------------------------------------------------------------------------

SYSCALL_EVENTS=(read write poll ppoll)

# Counts the server's system calls while kvbench sends SYSCALL_REQUESTS requests.
count_syscalls() {
    local counter_pid events=()
    local e
    for e in "${SYSCALL_EVENTS[@]}"; do events+=(-e "syscalls:sys_enter_$e"); done
    if [ "$SYSCALL_TOOL" = perf ]; then
        perf stat -x, -o "$WORK/syscalls.txt" -e raw_syscalls:sys_enter "${events[@]}" \
            -p "$SERVER_PID" &
    else
        strace -c -f -o "$WORK/syscalls.txt" -p "$SERVER_PID" 2>/dev/null &
    fi
    counter_pid=$!
    sleep 0.3 # attaching takes a moment; requests sent before it would go uncounted
    kvbench_once "$@"
    sleep 0.1
    kill -INT "$counter_pid"
    wait "$counter_pid" || true
}

# Prints "total,read,write,poll" from the counter's output.
syscall_counts() {
    if [ "$SYSCALL_TOOL" = perf ]; then
        awk -F, '$3 == "raw_syscalls:sys_enter" { t = $1 }
                 $3 ~ /sys_enter_read$/ { r = $1 } $3 ~ /sys_enter_write$/ { w = $1 }
                 $3 ~ /sys_enter_p?poll$/ { p += $1 }
                 END { print t + 0 "," r + 0 "," w + 0 "," p + 0 }' "$WORK/syscalls.txt"
    else
        awk '$NF == "total" { t = $4 } $NF == "read" { r = $4 } $NF == "write" { w = $4 }
             $NF == "poll" || $NF == "ppoll" { p += $4 }
             END { print t + 0 "," r + 0 "," w + 0 "," p + 0 }' "$WORK/syscalls.txt"
    fi
}

section_syscalls() {
    local server conns depth counts requests
    if perf stat -e syscalls:sys_enter_read true >/dev/null 2>&1; then
        SYSCALL_TOOL=perf
    elif command -v strace >/dev/null; then
        SYSCALL_TOOL=strace
    else
        log "NOTICE: neither perf nor strace works here: syscalls section skipped"
        return 0
    fi
    echo "server,connections,pipeline,tool,requests,syscalls,read,write,poll,per_request" \
        >"$OUT/syscalls.csv"
    log_load "syscalls (counted with $SYSCALL_TOOL)"
    for server in $SYSCALL_SERVERS; do
        for conns in $SYSCALL_CONNECTIONS; do
            [ "$server" = step-02 ] && [ "$conns" -gt 1 ] && continue
            for depth in 1 16 128; do
                start_server "$server"
                count_syscalls -c "$conns" -P "$depth" -k 1000 -r 1:1 -n "$SYSCALL_REQUESTS"
                stop_server
                requests=$KV_REQUESTS
                counts=$(syscall_counts)
                awk -F, -v pre="$server,$conns,$depth,$SYSCALL_TOOL,$requests" \
                    -v n="$requests" '{ printf "%s,%s,%.3f\n", pre, $0, $1 / n }' \
                    <<<"$counts" >>"$OUT/syscalls.csv"
                log "   $(tail -n 1 "$OUT/syscalls.csv")"
            done
        done
    done
}

# ---------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------

describe_machine() {
    {
        echo "=== bench/run.sh --$MODE ${SECTIONS[*]}"
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "mode: $MODE (runs per point: $RUNS, seconds per run: $DURATION, warm-up: $WARMUP)"
        echo "kernel: $(uname -sr)"
        echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $NCPU CPUs"
        echo "pinning: server ${PIN_SERVER[*]:-none}, kvbench ${PIN_CLIENT[*]:-none}"
        echo "compiler: $(${CC:-cc} --version | head -n 1)"
        if have_redis; then echo "redis: $(redis-server --version)"; fi
        echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
        if git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1; then
            local changed=
            git -C "$ROOT" diff --quiet HEAD -- steps common 2>/dev/null ||
                changed=' (steps/ or common/ changed since)'
            echo "commit: $(git -C "$ROOT" rev-parse --short HEAD)$changed"
        fi
    } >"$WORK/machine.txt"
    # Appended, like the log: a later `bench/run.sh --full rerun` adds to what the run said.
    cat "$WORK/machine.txt" >>"$OUT/machine.txt"
    cat "$WORK/machine.txt" >>"$LOG"
}

main() {
    local start=$SECONDS section
    [ -x "$KVBENCH" ] || { echo "bench/run.sh: build/kvbench is missing: run make" >&2; exit 1; }
    describe_machine
    for section in "${SECTIONS[@]}"; do "section_$section"; done
    rm -rf "$WORK"
    log "done in $((SECONDS - start)) s; results in ${OUT#"$ROOT"/}/"
}

main

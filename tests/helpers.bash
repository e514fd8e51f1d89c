# helpers.bash - what every test suite loads: start a server, talk to it, check replies.
#
# The server under test is $KV_SERVER (the Makefile sets it: build/step-NN, or your own
# binary with SERVER=...). Any server that keeps the command line docs/testing.md describes
# works: it must accept --port 0, print "listening on 127.0.0.1:PORT" once ready, and exit
# 0 on SIGTERM.
#
# Each test gets a fresh server (setup) that is stopped and checked (teardown): a server
# that crashed, leaked under ASan, or ignored SIGTERM fails the test it happened in.

bats_require_minimum_version 1.5.0

KV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) # the repository, wherever the test lives
KV_SERVER=${KV_SERVER:?set KV_SERVER to the server binary to test (make test-NN does)}
KV_CLIENT=${KV_CLIENT:-$KV_ROOT/build/kv}
KV_BENCH=${KV_BENCH:-$KV_ROOT/build/kvbench}
KV_HASHTABLE_TEST=${KV_HASHTABLE_TEST:-$KV_ROOT/build/hashtable_test}
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-60}

# ---------------------------------------------------------------------------------------
# Failing with a message that says what was expected and what came back
# ---------------------------------------------------------------------------------------

fail() {
    printf '%s\n' "$@" >&2
    note_server_death
    return 1
}

# signal_name STATUS: for an exit status above 128 (a death by signal), the signal's name
# and what it usually means; otherwise nothing.
signal_name() {
    local name
    [ "$1" -gt 128 ] || return 0
    name=$(kill -l $(($1 - 128)) 2>/dev/null) || name="signal $(($1 - 128))"
    case $name in
    SEGV) echo "SIGSEGV (a bad pointer: run it under ASan, see docs/testing.md)" ;;
    ABRT) echo "SIGABRT (abort(): a failed assert, or the C library found a corrupt heap)" ;;
    BUS | FPE | ILL) echo "SIG$name" ;;
    KILL) echo "SIGKILL (killed from outside: out of memory?)" ;;
    PIPE) echo "SIGPIPE (a write to a client that had gone: ignore SIGPIPE, chapter 01)" ;;
    *) echo "SIG$name" ;;
    esac
}

# note_server_death: if the test's server has died while the test ran, says so once, with
# the signal or status and its stderr: the usual reason for a reply that never came.
note_server_death() {
    local status=0
    # Only the shell that started the server can wait for it (not a $(...) subshell).
    [ -n "${SERVER_PID:-}" ] && [ "$BASHPID" = "${SERVER_SHELL:-}" ] && ! server_alive ||
        return 0
    wait "$SERVER_PID" 2>/dev/null || status=$?
    SERVER_PID=
    SERVER_DIED=1
    if [ "$status" -gt 128 ]; then
        printf '%s\n' "the server died during this test, of $(signal_name "$status")," \
            "exit status $status; its stderr:" "$(server_log)" >&2
    else
        printf '%s\n' "the server exited during this test with status $status," \
            "before anything stopped it; its stderr:" "$(server_log)" >&2
    fi
}

# expect_output WANT: the last `run` printed exactly WANT.
expect_output() {
    [ "$output" = "$1" ] ||
        fail "expected output:" "$1" "got (exit status $status):" "$output"
}

# expect_status N: the last `run` exited with status N.
expect_status() {
    [ "$status" -eq "$1" ] ||
        fail "expected exit status $1, got $status; output:" "$output"
}

# expect_same_lines WANT_FILE GOT_FILE: line-by-line equal; on failure, the first difference.
expect_same_lines() {
    cmp -s "$1" "$2" && return 0
    fail "replies differ from what was expected; first difference (diff expected got):" \
        "$(diff "$1" "$2" | head -6)" \
        "lines: $(wc -l <"$1") expected, $(wc -l <"$2") received"
}

# expect_error_then_close: the last `run kv raw` printed an ERROR, then "(closed)": the
# server explained itself and hung up.
expect_error_then_close() {
    [[ ${lines[0]:-} == "(error) "* ]] || fail "expected an (error) line first, got:" "$output"
    [ "${lines[1]:-}" = "(closed)" ] || fail "expected the server to close next, got:" "$output"
}

# expect_same_file WANT GOT: byte-for-byte equal files.
expect_same_file() {
    cmp -s "$1" "$2" ||
        fail "$2 differs from $1: $(cmp "$1" "$2" 2>&1 | head -1)" \
            "sizes: $(wc -c <"$1") expected, $(wc -c <"$2") received"
}

# ---------------------------------------------------------------------------------------
# The server's life: start on a free port, stop with SIGTERM, demand exit status 0
# ---------------------------------------------------------------------------------------

# close_inherited_descriptors: closes every descriptor of this shell above 2. bats keeps a
# few open for itself, and a server started from here would inherit them: harmless, except
# that they count against a small descriptor limit (ulimit -n) the test sets.
close_inherited_descriptors() {
    local fd
    for fd in $(ls "/proc/$BASHPID/fd"); do
        [ "$fd" -le 2 ] || eval "exec $fd>&-"
    done
}

# start_server [FD_LIMIT]: starts $KV_SERVER on a free port, optionally with a lower limit
# on open file descriptors (ulimit -n), and sets PORT and SERVER_PID. Flags in
# KV_SERVER_FLAGS (e.g. "--idle-timeout 1", from step 06) are passed after --port 0.
start_server() {
    local out=$BATS_TEST_TMPDIR/server.out line fd_limit=${1:-}
    # Emptied here, not only by the redirection below, which the child makes in its own
    # time: until then the loop below would read an earlier server's ready line.
    : >"$out"
    : >"$BATS_TEST_TMPDIR/server.err"
    # 3>&- : bats waits for fd 3 to close; a server holding it would hang the suite.
    (
        [ -z "$fd_limit" ] || ulimit -n "$fd_limit"
        close_inherited_descriptors
        exec "$KV_SERVER" --port 0 ${KV_SERVER_FLAGS:-}
    ) >"$out" 2>"$BATS_TEST_TMPDIR/server.err" 3>&- &
    SERVER_PID=$!
    SERVER_SHELL=$BASHPID
    SERVER_DIED=
    for _ in $(seq 100); do
        if IFS= read -r line <"$out" && [ -n "$line" ]; then
            [[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] ||
                fail "server's first line should be 'listening on 127.0.0.1:PORT', got: $line"
            PORT=${BASH_REMATCH[1]}
            export KV_PORT=$PORT
            SERVER_BASE_FDS=$(server_fd_count)
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null ||
            fail "server exited before printing its ready line:" "$(server_log)"
        sleep 0.05
    done
    fail "server printed no ready line within 5 seconds"
}

server_log() {
    cat "$BATS_TEST_TMPDIR/server.err" 2>/dev/null
}

# bash reaps a dead child at once, so kill -0 fails as soon as the server has died.
server_alive() {
    kill -0 "$SERVER_PID" 2>/dev/null
}

# stop_server [SECONDS]: stops the server with SIGTERM and fails unless it exits with
# status 0 within SECONDS (5 by default). A server that had already died fails the test
# with the signal that killed it: that is a crash during the test, not at SIGTERM.
stop_server() {
    local status=0 wait_for=${1:-5}
    if [ -z "${SERVER_PID:-}" ]; then
        [ -z "${SERVER_DIED:-}" ] || return 1 # already reported by note_server_death
        return 0
    fi
    if ! server_alive; then
        fail "(the server was no longer running when the test ended)"
        return 1
    fi
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq "$((wait_for * 20))"); do
        server_alive || break
        sleep 0.05
    done
    if server_alive; then
        kill -KILL "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
        fail "server did not exit within $wait_for s of SIGTERM"
        return 1
    fi
    wait "$SERVER_PID" || status=$?
    SERVER_PID=
    [ "$status" -le 128 ] ||
        fail "server was killed by $(signal_name "$status") (exit status $status) on" \
            "its way out after SIGTERM; its stderr:" "$(server_log)" || return 1
    [ "$status" -eq 0 ] ||
        fail "server exited with status $status after SIGTERM (want 0); its stderr:" "$(server_log)"
}

# expect_exit_0_within SECONDS [WHY...]: after a SIGTERM the test sent itself, the server
# exits with status 0 within SECONDS (teardown's stop_server then has nothing left to do).
# WHY is what a server still running at that point is probably doing wrong.
expect_exit_0_within() {
    local seconds=$1 status=0
    shift
    for _ in $(seq $((seconds * 10))); do
        server_alive || break
        sleep 0.1
    done
    server_alive && fail "the server was still running $seconds s after SIGTERM" "$@"
    wait "$SERVER_PID" || status=$?
    SERVER_PID=
    [ "$status" -eq 0 ] ||
        fail "server exited with status $status after SIGTERM (want 0); its stderr:" "$(server_log)"
}

# ---------------------------------------------------------------------------------------
# Talking to it
# ---------------------------------------------------------------------------------------

# kv ARGS...: the shared client, pointed at the server under test.
kv() {
    "$KV_CLIENT" -p "$PORT" -t 10 "$@"
}

# Bytes of a frame written as hex, e.g. frame 0001 00000001 6b  (GET "k").
frame() {
    local hex
    hex=$(printf '%s' "$*" | tr -d ' \n')
    printf "$(sed 's/../\\x&/g' <<<"$hex")"
}

# The server still answers a fresh client: the proof that an earlier abuse cost only
# the abuser's own connection and no stored key.
expect_server_serves() {
    server_alive || fail "the server should still be running after that"
    run kv set canary alive
    expect_output "OK"
    run kv get canary
    expect_output "alive"
}

# ---------------------------------------------------------------------------------------
# Many connections at once, held open by this shell (steps 03 and later)
# ---------------------------------------------------------------------------------------

# open_clients N: opens N more connections, all at once; their descriptors are appended
# to CLIENT_FDS.
open_clients() {
    local fd
    for _ in $(seq "$1"); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || fail "could not open connection #$((${#CLIENT_FDS[@]} + 1))"
        CLIENT_FDS+=("$fd")
    done
}

close_clients() {
    local fd
    for fd in "${CLIENT_FDS[@]}"; do
        exec {fd}>&-
    done
    CLIENT_FDS=()
}

# send_frame FD HEX...: writes the bytes HEX describes to connection FD.
send_frame() {
    local fd=$1
    shift
    frame "$@" >&"$fd"
}

# expect_reply FD HEX...: the next bytes from connection FD are exactly HEX (5 s at most).
expect_reply() {
    local fd=$1 want got
    shift
    want=$(printf '%s' "$*" | tr -d ' \n')
    got=$(timeout 5 head -c $((${#want} / 2)) <&"$fd" | od -An -v -tx1 | tr -d ' \n')
    [ "$got" = "$want" ] || fail "connection $fd: expected reply bytes $want" "got: ${got:-nothing}"
}

# hex_of STRING: the bytes of STRING as hex; u32_of N: N as a 4-byte big-endian hex.
hex_of() {
    printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'
}

u32_of() {
    printf '%08x' "$1"
}

# get_frame KEY / set_frame KEY VALUE: the hex of one GET or SET (KEY, VALUE in plain ASCII).
get_frame() {
    echo "0001 $(u32_of ${#1}) $(hex_of "$1")"
}

set_frame() {
    echo "0002 $(u32_of ${#1}) $(hex_of "$1") $(u32_of ${#2}) $(hex_of "$2")"
}

# server_rss_kib, server_vm_kib: the server's resident and virtual memory, in KiB.
server_rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"
}

server_vm_kib() {
    awk '/^VmSize:/ { print $2 }' "/proc/$SERVER_PID/status"
}

# not_for_memory_measures: skips a test that reads the server's resident memory where a
# checker keeps freed memory for itself (valgrind, AddressSanitizer's quarantine).
not_for_memory_measures() {
    [ -z "${KV_UNDER_VALGRIND:-}" ] || skip "it measures memory, and memcheck keeps its own"
    [[ ${KV_TEST_CFLAGS:-} != *sanitize=address* ]] ||
        skip "it measures memory, and AddressSanitizer keeps freed memory in quarantine"
}

# server_hwm_kib: the server's peak resident memory so far, in KiB.
server_hwm_kib() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status"
}

# server_cpu_ticks: CPU time the server has used so far, user + system, in clock ticks
# (fields 14 and 15 of /proc/PID/stat; the name in field 2 has no spaces here).
server_cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"
}

# expect_server_idle SECONDS: the server uses under a tenth of a CPU over that time.
expect_server_idle() {
    local before after hz
    hz=$(getconf CLK_TCK)
    before=$(server_cpu_ticks)
    sleep "$1"
    after=$(server_cpu_ticks)
    [ $((after - before)) -lt $((hz * $1 / 10)) ] ||
        fail "the server used $((after - before)) CPU ticks ($hz a second) in $1 s" \
            "while it had nothing to do: it is spinning"
}

# server_fd_count: how many descriptors the server holds open.
server_fd_count() {
    ls "/proc/$SERVER_PID/fd" | wc -l
}

# expect_server_recovers: after a client that broke the protocol, vanished, or was cut
# off, the server is back where it started. Its descriptors return to the count it had
# once ready (every connection that ended was closed), within a deadline, and it then
# goes idle (no connection left spinning in the poll loop). Call it once the test's own
# connections are all closed. The CPU part is skipped under valgrind, whose own threads
# and slower clock make an idle server look busy.
expect_server_recovers() {
    local start=$SECONDS deadline=$((SECONDS + 5)) fds
    [ -z "${KV_UNDER_VALGRIND:-}" ] || deadline=$((SECONDS + 10))
    server_alive || fail "the server should still be running after that"
    while fds=$(server_fd_count) && [ "$fds" -gt "$SERVER_BASE_FDS" ] &&
        [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.1
    done
    [ "$fds" -le "$SERVER_BASE_FDS" ] ||
        fail "the server held $SERVER_BASE_FDS descriptors once ready, and still holds $fds" \
            "$((deadline - start)) s after the test's clients left: a connection that ended" \
            "was never closed, and its descriptor leaked" \
            "(docs/02-protocol.md, 'Hanging up, seen from the server'; for steps 03 on," \
            "the connection states of docs/03-event-loop.md)" || return 1
    [ -n "${KV_UNDER_VALGRIND:-}" ] || expect_server_idle_ms 300
}

# expect_server_idle_ms MS: over MS milliseconds, the server uses under a quarter of a
# CPU (a loaded machine may slow a spinning server down, never make it use nothing).
expect_server_idle_ms() {
    local before after hz
    hz=$(getconf CLK_TCK)
    before=$(server_cpu_ticks)
    sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
    after=$(server_cpu_ticks)
    [ $((after - before)) -lt $((hz * $1 / 4000 + 1)) ] ||
        fail "the server used $((after - before)) CPU ticks ($hz a second) in $1 ms with" \
            "nothing to do: something is spinning, such as a connection that reached EOF" \
            "and was never closed, so poll() reports it readable again at once"
}

# speaks_resp: true if the server answers RESP's PING (step 09 on). Such a server reads a
# first byte that is a letter as RESP, not as the start of a KV/1 request type
# (docs/protocol.md, "Choosing a protocol").
speaks_resp() {
    local fd reply=
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || return 1
    printf 'PING\r\n' >&"$fd"
    IFS= read -r -t 5 reply <&"$fd" || true
    exec {fd}>&-
    [ "$reply" = $'+PONG\r' ]
}

# ---------------------------------------------------------------------------------------
# Tests of this implementation, not of the behaviour every server must have
# ---------------------------------------------------------------------------------------

# is_this_implementation: true if the server under test is one of this repository's own
# builds (build/step-NN, build/san/step-NN, either under valgrind), false for any other
# server, such as yours passed with SERVER=. KV_IMPLEMENTATION_TESTS=1 or 0 overrides.
is_this_implementation() {
    local server=${VALGRIND_SERVER:-$KV_SERVER}
    case ${KV_IMPLEMENTATION_TESTS:-} in
    1) return 0 ;;
    0) return 1 ;;
    esac
    server=$(realpath -q "$server" 2>/dev/null || command -v "$server" || echo "$server")
    [[ $server == "$KV_ROOT"/build/step-[0-9][0-9] ||
        $server == "$KV_ROOT"/build/san/step-[0-9][0-9] ]]
}

# implementation_test WHY: called first in a test that checks how this project's servers
# do something (e.g. how many write() calls), not what any correct server must do. For
# another server it skips the test, saying why.
implementation_test() {
    is_this_implementation ||
        skip "a test of this project's own implementation, not of behaviour: $1"
}

# ---------------------------------------------------------------------------------------
# Watching the server's system calls (strace, attached to the running server)
# ---------------------------------------------------------------------------------------

# trace_server: starts strace on the server, logging its wait for events (poll(), ppoll()
# from step 06, epoll_pwait() from step 08) and its writes (write(), writev() from step 08)
# to TRACE_LOG.
trace_server() {
    TRACE_LOG=$BATS_TEST_TMPDIR/trace
    strace -p "$SERVER_PID" -e trace=poll,ppoll,epoll_pwait,write,writev -o "$TRACE_LOG" \
        3>&- 2>/dev/null &
    TRACER_PID=$!
    sleep 1 # strace needs a moment to attach
}

untrace_server() {
    kill -INT "$TRACER_PID"
    wait "$TRACER_PID" || true
    grep -Eq '^([0-9]+ +)?writev?\(' "$TRACE_LOG" ||
        fail "strace saw no write(): the test itself is broken"
}

# most_writes_per_round TRACE: from an strace log of poll and write calls, the largest
# number of write() calls made to one client's descriptor between two poll() calls.
# writev() counts as a write(), epoll_pwait() as a poll().
most_writes_per_round() {
    awk '{ sub(/^[0-9]+ +/, "") } # a process id, when strace prints one
         /^(p?poll|epoll_pwait)\(/ { delete writes; next }
         /^writev?\([0-9]+,/ {
             fd = substr($0, index($0, "(") + 1) + 0
             if (fd > 2 && ++writes[fd] > most) most = writes[fd]
         }
         END { print most + 0 }' "$1"
}

# client_writes TRACE: how many write() (or writev()) calls went to clients (descriptors
# above 2).
client_writes() {
    awk '{ sub(/^[0-9]+ +/, "") }
         /^writev?\([0-9]+,/ && substr($0, index($0, "(") + 1) + 0 > 2 { n++ }
         END { print n + 0 }' "$1"
}

# ---------------------------------------------------------------------------------------
# Where a failing test sends the reader
# ---------------------------------------------------------------------------------------

# explained_in WHERE: names the chapter section that explains what this test checks, e.g.
# 'docs/02-protocol.md, section 3, "net.c: reading exactly n bytes"'. If the test fails,
# its output ends with "see WHERE": the suite's teardown calls say_where_explained.
explained_in() {
    EXPLAINED_IN=$1
}

say_where_explained() {
    [ -n "${BATS_TEST_COMPLETED:-}" ] || [ -z "${EXPLAINED_IN:-}" ] ||
        printf 'see %s\n' "$EXPLAINED_IN" >&2
}

# ---------------------------------------------------------------------------------------
# A real Redis beside the server under test (step 09 on: the RESP replies are Redis's)
# ---------------------------------------------------------------------------------------

# The tests' Python: the system's own, which the redis-py package (python3-redis) is
# installed for. tests/resp_diff.py needs nothing but its standard library.
PYTHON3=${PYTHON3:-/usr/bin/python3}
REDIS_SERVER=${REDIS_SERVER:-redis-server}

# free_port: a TCP port on 127.0.0.1 that nothing listened on a moment ago. (Redis has
# no --port 0 with a ready line, so the test picks its port; start_redis retries if
# someone else takes it first.)
free_port() {
    "$PYTHON3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# redis_answers PORT: true if a RESP server on PORT answers PING with +PONG. (The braces
# keep 2>/dev/null to the connect: on exec itself it would silence the test's stderr for good.)
redis_answers() {
    local fd line
    { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf 'PING\r\n' >&"$fd"
    IFS= read -r -t 2 line <&"$fd" || line=
    exec {fd}>&-
    [ "$line" = $'+PONG\r' ]
}

# start_redis: starts a real redis-server on a free port for this test, with nothing saved
# to disk, the same 32 MiB bulk limit as ours, and one database (so SELECT 1 fails, as it
# does on our server); sets REDIS_PORT and REDIS_PID. stop_redis, in teardown, stops it.
# Skips the test when redis-server is not installed.
start_redis() {
    local port
    command -v "$REDIS_SERVER" >/dev/null ||
        skip "redis-server is not installed (Debian: apt-get install redis-server): this test compares our replies with Redis's"
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --proto-max-bulk-len 32mb --databases 1 --daemonize no \
            --dir "$BATS_TEST_TMPDIR" --logfile "$BATS_TEST_TMPDIR/redis.log" \
            >/dev/null 2>&1 3>&- &
        REDIS_PID=$!
        for _ in $(seq 100); do
            if redis_answers "$port"; then
                REDIS_PORT=$port
                return 0
            fi
            kill -0 "$REDIS_PID" 2>/dev/null || break # its port was taken: try another
            sleep 0.05
        done
        stop_redis
    done
    fail "redis-server did not start; its log:" "$(cat "$BATS_TEST_TMPDIR/redis.log" 2>/dev/null)"
}

stop_redis() {
    [ -n "${REDIS_PID:-}" ] || return 0
    kill -TERM "$REDIS_PID" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=
}

# need_command NAME PACKAGE: skips the test when NAME is not installed.
need_command() {
    command -v "$1" >/dev/null ||
        skip "$1 is not installed (Debian: apt-get install $2)"
}

# resp_raw PORT BYTES [--quiet SECONDS]: sends BYTES (Python escapes: \r \n \x00) on a new
# connection and prints what comes back, one escaped line per CRLF-ended piece, then
# "(closed)" if the server hung up, "(open)" if it was still open after a second of
# silence.
resp_raw() {
    local port=$1 bytes=$2
    shift 2
    "$PYTHON3" "$KV_ROOT/tests/resp_diff.py" raw --port "$port" "$@" -- "$bytes"
}

# shown_sent BYTES: "sent: BYTES" for a failure message; past 200 characters only the
# first 200 are shown, then the number of bytes in all: a 64 KiB request would flood it.
shown_sent() {
    local n
    if [ "${#1}" -le 200 ]; then
        printf 'sent: %s\n' "$1"
        return
    fi
    n=$("$PYTHON3" -c 'import sys; print(len(sys.argv[1].encode("latin1").decode("unicode_escape")))' "$1")
    printf 'sent: %s... (%s bytes in all)\n' "${1:0:200}" "$n"
}

# expect_like_redis BYTES: BYTES (Python escapes), sent on a new connection to our server
# and to Redis, get the same bytes back, and the same ending: both close, or neither.
expect_like_redis() {
    local ours redis
    ours=$(resp_raw "$PORT" "$1")
    redis=$(resp_raw "$REDIS_PORT" "$1")
    [ "$ours" = "$redis" ] ||
        fail "$(shown_sent "$1")" "expected (what Redis 7 answers, one line per CRLF):" "$redis" \
            "got:" "$ours"
}

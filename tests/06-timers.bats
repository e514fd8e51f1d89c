#!/usr/bin/env bats
# 06-timers.bats - step 06's timeouts: no client can hold a connection for ever, and the
# server keeps time without a tick. These tests run against step 06 and every later step.
#
# Most tests start a server with a short timeout (--idle-timeout 1), so they take seconds,
# not minutes. Their margins are wide on purpose: a close due at T + 1 s is accepted up to
# T + 3 s, because on a loaded machine the test itself may be late to notice it. Each test
# is tagged with the stage of chapter 06's "Build it yourself" at which it first passes
# (make check-06 STAGE=K), and its name starts with the part of the step it checks.

load helpers

# Where each behaviour is explained: a failing test names its section last (explained_in).
SEE_FLAG='docs/06-timers.md, section 3, "server.c: the flag"'
SEE_HEAP='docs/06-timers.md, section 2, "Where to keep thousands of deadlines: a min-heap"'
SEE_IDLE='docs/06-timers.md, section 3, "server.c: when a connection'"'"'s timer fires"'
SEE_SLEEP='docs/06-timers.md, section 2, "Sleeping until the next deadline"'
SEE_REQUEST='docs/06-timers.md, section 3, "server.c: noting the time"'
SEE_READER='docs/06-timers.md, section 3, "server.c: noting the time" (a client that reads slowly)'
SEE_LINGER='docs/06-timers.md, section 3, "server.c: a connection'"'"'s deadlines"'
SEE_SIGNALS='docs/06-timers.md, section 2, "Signals: why ppoll()"'
SEE_REHASH='docs/06-timers.md, section 2, "The resize task"'

KV_HEAP_TEST=${KV_HEAP_TEST:-$KV_ROOT/build/heap_test}
SLACK=2 # seconds a close may come after its latest allowed moment, for a loaded machine

setup() {
    CLIENT_FDS=()
    BACKGROUND=()
}

teardown() {
    say_where_explained
    local pid
    for pid in "${BACKGROUND[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    close_clients
    stop_server
}

# start_with FLAGS...: a server on a free port with these flags after --port 0.
start_with() {
    KV_SERVER_FLAGS="$*" start_server
}

# elapsed_since START: seconds since START (an $EPOCHREALTIME), e.g. 1.034.
elapsed_since() {
    awk -v start="$1" -v now="$EPOCHREALTIME" 'BEGIN { printf "%.3f", now - start }'
}

# expect_between WHAT SECONDS LOW HIGH: LOW <= SECONDS <= HIGH, or a message naming WHAT.
expect_between() {
    awk -v s="$2" -v lo="$3" -v hi="$4" 'BEGIN { exit !(s >= lo && s <= hi) }' ||
        fail "$1 after $2 s; expected between $3 and $4 s"
}

# closed_within FD SECONDS: reads and drops what connection FD receives until the server
# closes it (end of file or a reset); fails if it is still open after SECONDS.
closed_within() {
    local status=0
    timeout "$2" cat <&"$1" >/dev/null 2>&1 || status=$?
    [ "$status" -ne 124 ]
}

# wait_for_fd_count N SECONDS: waits until the server holds N descriptors; fails if it
# still holds another number after SECONDS. For connections the test must not read from.
wait_for_fd_count() {
    local deadline
    deadline=$(awk -v now="$EPOCHREALTIME" -v s="$2" 'BEGIN { printf "%.3f", now + s }')
    while [ "$(server_fd_count)" -ne "$1" ]; do
        awk -v now="$EPOCHREALTIME" -v d="$deadline" 'BEGIN { exit !(now < d) }' || return 1
        sleep 0.05
    done
}

# server_wakeups: how many times the server has gone to sleep and been woken.
server_wakeups() {
    awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$SERVER_PID/status"
}

# trickle FD BYTES_HEX SECONDS...: in the background, writes the bytes HEX describes to
# connection FD one byte at a time, SECONDS apart, until they run out or the server hangs up.
trickle() {
    local fd=$1 hex=$2 gap=$3
    (
        hex=$(tr -d ' ' <<<"$hex")
        while [ -n "$hex" ]; do
            printf "\\x${hex:0:2}" >&"$fd" || exit 0
            hex=${hex:2}
            sleep "$gap"
        done
    ) 2>/dev/null 3>&- &
    BACKGROUND+=($!)
}

# ---------------------------------------------------------------------------------------
# The flag
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:1
@test "flags: --idle-timeout takes whole or decimal seconds, before or after --port" {
    explained_in "$SEE_FLAG"
    local value
    for value in 0 1 0.25 300 2.500 007; do
        start_with --idle-timeout "$value"
        stop_server
    done
    : >"$BATS_TEST_TMPDIR/server.out" # no earlier server's ready line to mistake for this one's
    "$KV_SERVER" --idle-timeout 1 --port 0 >"$BATS_TEST_TMPDIR/server.out" 3>&- 2>/dev/null &
    SERVER_PID=$!
    for _ in $(seq 100); do
        [ -s "$BATS_TEST_TMPDIR/server.out" ] && break
        sleep 0.05
    done
    run cat "$BATS_TEST_TMPDIR/server.out"
    [[ $output =~ ^listening\ on\ 127\.0\.0\.1:[0-9]+$ ]] ||
        fail "with --idle-timeout 1 --port 0 the server should start; it printed:" "$output"
}

# bats test_tags=stage:1
@test "flags: a bad --idle-timeout value is a bad command line: usage on stderr, exit 2" {
    explained_in "$SEE_FLAG"
    local bad
    for bad in abc -1 12x .5 1. "" " 1" +1 1e3 0x10 1.2.3; do
        # timeout: a server that accepts the value would run until stopped (status 124).
        run --separate-stderr timeout 5 "$KV_SERVER" --port 0 --idle-timeout "$bad"
        [ "$status" -eq 2 ] || fail "--idle-timeout '$bad': expected exit status 2, got $status"
        [[ $stderr == *usage* ]] || fail "--idle-timeout '$bad': expected usage on stderr, got: $stderr"
    done
    run timeout 5 "$KV_SERVER" --port 0 --idle-timeout
    [ "$status" -eq 2 ] || fail "--idle-timeout without a value: expected exit status 2, got $status"
}

# ---------------------------------------------------------------------------------------
# The heap
# ---------------------------------------------------------------------------------------

# bats test_tags=implementation
@test "heap: the timer heap's own test program passes" {
    explained_in "$SEE_HEAP"
    implementation_test "the heap is this server's own data structure"
    run "$KV_HEAP_TEST"
    expect_status 0
}

# ---------------------------------------------------------------------------------------
# Idle connections
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:2,slow
@test "idle: a client that says nothing is closed T seconds after it connected, not before" {
    explained_in "$SEE_IDLE"
    start_with --idle-timeout 1
    local start=$EPOCHREALTIME took
    open_clients 1
    closed_within "${CLIENT_FDS[0]}" 10 || fail "a silent client was still connected after 10 s"
    took=$(elapsed_since "$start")
    expect_between "a silent client was closed" "$took" 0.99 $((2 + SLACK))
}

# bats test_tags=stage:2,slow
@test "idle: a client that stops half-way through a frame is closed after T seconds" {
    explained_in "$SEE_IDLE"
    start_with --idle-timeout 1
    open_clients 1
    local start=$EPOCHREALTIME took
    send_frame "${CLIENT_FDS[0]}" 0002 00000005 6b65 # SET, key length 5, 2 of its bytes
    closed_within "${CLIENT_FDS[0]}" 10 || fail "a stalled half frame was still connected after 10 s"
    took=$(elapsed_since "$start")
    expect_between "a client stalled mid-frame was closed" "$took" 0.99 $((2 + SLACK))
}

# bats test_tags=stage:2,slow
@test "idle: a client that never reads the replies it is owed is closed" {
    explained_in "$SEE_IDLE"
    start_with --idle-timeout 1
    local baseline start
    baseline=$(server_fd_count)
    head -c 1048576 /dev/zero | tr '\0' 'x' >"$BATS_TEST_TMPDIR/value"
    kv set big @"$BATS_TEST_TMPDIR/value"
    wait_for_fd_count "$baseline" 5 || fail "kv's connection was not closed after it left"
    open_clients 1
    start=$EPOCHREALTIME
    # 50 GETs of a 1 MiB value, never read: the output stops moving once the socket is full.
    send_frame "${CLIENT_FDS[0]}" "$(printf "$(get_frame big) %.0s" $(seq 50))"
    sleep 0.5
    [ "$(server_fd_count)" -gt "$baseline" ] ||
        fail "the client was closed within 0.5 s; the idle timeout is 1 s"
    wait_for_fd_count "$baseline" $((2 + SLACK)) ||
        fail "a client that never reads was still connected $(elapsed_since "$start") s after" \
            "its output stopped (--idle-timeout 1)"
}

# bats test_tags=stage:2,slow
@test "idle: a client reading one large reply slowly for longer than T gets every byte" {
    explained_in "$SEE_READER"
    start_with --idle-timeout 1
    VALUE=$BATS_TEST_TMPDIR/value
    head -c 4194304 /dev/zero | tr '\0' 'r' >"$VALUE"
    kv set big @"$VALUE"
    open_clients 1
    # One GET of 4 MiB, read 64 KiB every 0.1 s or so: 7 s or more in all. The socket
    # holds megabytes, so the server gets no POLLOUT, and writes nothing, for more than T
    # at a time while the client drains them: yet bytes keep moving.
    send_frame "${CLIENT_FDS[0]}" "$(get_frame big)"
    read_slowly "${CLIENT_FDS[0]}" "$BATS_TEST_TMPDIR/got" 65536
    frame 0000 00400000 >"$BATS_TEST_TMPDIR/want"
    cat "$VALUE" >>"$BATS_TEST_TMPDIR/want"
    local got want ending
    got=$(wc -c <"$BATS_TEST_TMPDIR/got")
    want=$(wc -c <"$BATS_TEST_TMPDIR/want")
    ending=$([ -n "$READ_CLOSED" ] && echo "the server closed it" || echo "nothing came for 3 s")
    [ "$got" -ge "$want" ] ||
        fail "a client reading steadily got $got of the $want bytes of its reply, then $ending" \
            "(--idle-timeout 1); a client that keeps reading is not idle"
    cmp -s "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got" ||
        fail "the reply came back wrong: $(cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got")"
}

# bats test_tags=stage:1,slow
@test "idle: --idle-timeout 0 leaves a silent connection open" {
    explained_in "$SEE_IDLE"
    start_with --idle-timeout 0
    open_clients 1
    sleep 3
    send_frame "${CLIENT_FDS[0]}" "$(get_frame nothing)"
    expect_reply "${CLIENT_FDS[0]}" 0001 00000000
}

# bats test_tags=stage:2,slow
@test "idle: 1,000 idle connections waiting on their timers cost no CPU and no wake-ups" {
    explained_in "$SEE_SLEEP"
    ulimit -n 4096 2>/dev/null || skip "cannot raise the descriptor limit to 4096"
    start_with --idle-timeout 60
    open_clients 1000
    sleep 1 # every connection accepted, every timer armed
    local before after
    before=$(server_wakeups)
    expect_server_idle 3
    after=$(server_wakeups)
    [ $((after - before)) -le 1 ] ||
        fail "the server woke up $((after - before)) times in 3 s with nothing due:" \
            "it should sleep until the earliest deadline, 60 s away"
    send_frame "${CLIENT_FDS[999]}" "$(get_frame nothing)"
    expect_reply "${CLIENT_FDS[999]}" 0001 00000000
}

# ---------------------------------------------------------------------------------------
# The request deadline
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:3,slow
@test "request: a client trickling a byte every 0.2 s is closed T seconds after its request began" {
    explained_in "$SEE_REQUEST"
    start_with --idle-timeout 1
    open_clients 1
    local start=$EPOCHREALTIME took
    # A SET of a 100-byte key: 106 bytes, 21 s at this pace, and bytes always moving.
    trickle "${CLIENT_FDS[0]}" "0002 00000064 $(printf '61%.0s' $(seq 100))" 0.2
    closed_within "${CLIENT_FDS[0]}" 10 ||
        fail "a client trickling one byte every 0.2 s was still connected after 10 s"
    took=$(elapsed_since "$start")
    expect_between "a trickling client was closed" "$took" 0.99 $((2 + SLACK))
}

# bats test_tags=stage:1,slow
@test "request: a client whose requests each arrive in pieces within T is never closed" {
    explained_in "$SEE_REQUEST"
    start_with --idle-timeout 1
    open_clients 1
    local fd=${CLIENT_FDS[0]} start=$EPOCHREALTIME
    # Ten GETs, each in three pieces 0.15 s apart: 3 s in all, each request whole in 0.3 s.
    for _ in $(seq 10); do
        send_frame "$fd" 0001
        sleep 0.15
        send_frame "$fd" 00000001
        sleep 0.15
        send_frame "$fd" 6b
        expect_reply "$fd" 0001 00000000 ||
            fail "$(elapsed_since "$start") s in, a client busy with requests got no reply"
    done
}

# read_slowly FD FILE [BYTES]: reads connection FD into FILE, BYTES (512 KiB unless given)
# every 0.1 s or so, until the server closes it (READ_CLOSED=yes) or sends nothing for 3 s
# (READ_CLOSED=).
read_slowly() {
    local fd=$1 file=$2 block=${3:-524288} size=0 status
    READ_CLOSED=
    : >"$file"
    for _ in $(seq 400); do
        status=0
        timeout 3 dd bs="$block" count=1 iflag=fullblock status=none <&"$fd" >>"$file" \
            2>/dev/null || status=$?
        [ "$status" -ne 124 ] || return 0 # nothing for 3 s: not closed
        if [ "$status" -ne 0 ] || [ "$(wc -c <"$file")" -eq "$size" ]; then
            READ_CLOSED=yes # end of file, or a reset
            return 0
        fi
        size=$(wc -c <"$file")
        sleep 0.1
    done
}

# expect_big_replies N FILE: FILE starts with N replies OK, each the 1 MiB value in $VALUE.
expect_big_replies() {
    local n=$1 got=$2 want=$BATS_TEST_TMPDIR/want
    for _ in $(seq "$n"); do
        frame 0000 00100000 && cat "$VALUE"
    done >"$want"
    [ "$(wc -c <"$got")" -ge "$(wc -c <"$want")" ] ||
        fail "got $(wc -c <"$got") of the $(wc -c <"$want") bytes of replies owed"
    cmp -s -n "$(wc -c <"$want")" "$want" "$got" ||
        fail "the replies owed came back wrong: $(cmp -n "$(wc -c <"$want")" "$want" "$got")"
}

# bats test_tags=stage:2,slow
@test "request: replies owed are all sent before a request-deadline close" {
    explained_in "$SEE_REQUEST"
    start_with --idle-timeout 2
    VALUE=$BATS_TEST_TMPDIR/value
    head -c 1048576 /dev/zero | tr '\0' 'v' >"$VALUE"
    kv set big @"$VALUE"
    open_clients 1
    # 24 MiB of replies owed, then half a request that will never be finished. The client
    # reads nothing for 1.2 s, then about 5 MiB a second: when the request deadline comes,
    # 2 s after the half request, most replies are still owed, and they keep moving.
    send_frame "${CLIENT_FDS[0]}" "$(printf "$(get_frame big) %.0s" $(seq 24)) 0001 0000"
    sleep 1.2
    read_slowly "${CLIENT_FDS[0]}" "$BATS_TEST_TMPDIR/got"
    expect_big_replies 24 "$BATS_TEST_TMPDIR/got"
    local rest
    rest=$(tail -c +$((24 * 1048582 + 1)) "$BATS_TEST_TMPDIR/got" | head -c 2 | od -An -tx1 |
        tr -d ' \n')
    [ -z "$rest" ] || [ "$rest" = 0002 ] ||
        fail "after the replies owed, expected nothing or an ERROR, got bytes $rest"
    [ -n "$READ_CLOSED" ] || fail "the server did not close the connection after the replies owed"
}

# ---------------------------------------------------------------------------------------
# The lingering close
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:4,slow
@test "linger: after an ERROR, a client that keeps sending is cut off within 5 s, even with --idle-timeout 0" {
    explained_in "$SEE_LINGER"
    start_with --idle-timeout 0
    local baseline start
    baseline=$(server_fd_count)
    open_clients 1
    start=$EPOCHREALTIME
    send_frame "${CLIENT_FDS[0]}" ffff # an unknown type: ERROR, then a lingering close
    trickle "${CLIENT_FDS[0]}" "$(printf '78%.0s' $(seq 100))" 0.2 # 20 s of bytes
    wait_for_fd_count "$baseline" $((5 + SLACK)) ||
        fail "the lingering close still held the connection $(elapsed_since "$start") s" \
            "after the ERROR; it may last 5 s at most"
}

# bats test_tags=stage:4,slow
@test "linger: with --idle-timeout 1 the lingering close lasts about 1 s at most" {
    explained_in "$SEE_LINGER"
    start_with --idle-timeout 1
    local baseline start
    baseline=$(server_fd_count)
    open_clients 1
    start=$EPOCHREALTIME
    send_frame "${CLIENT_FDS[0]}" ffff
    trickle "${CLIENT_FDS[0]}" "$(printf '78%.0s' $(seq 100))" 0.2
    wait_for_fd_count "$baseline" $((1 + SLACK)) ||
        fail "the lingering close still held the connection $(elapsed_since "$start") s" \
            "after the ERROR; with --idle-timeout 1 it may last 1 s"
}

# ---------------------------------------------------------------------------------------
# Signals
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:1
@test "signals: SIGTERM stops a server with no timer pending at once" {
    explained_in "$SEE_SIGNALS"
    start_with --idle-timeout 0 # no connection, no timer: the server sleeps with no timeout
    sleep 0.5
    local start=$EPOCHREALTIME took status=0 limit=0.5
    [ -z "${KV_UNDER_VALGRIND:-}" ] || limit=3 # memcheck's leak check runs at exit
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || status=$?
    took=$(elapsed_since "$start")
    SERVER_PID=
    [ "$status" -eq 0 ] || fail "expected exit status 0 after SIGTERM, got $status"
    expect_between "the server exited" "$took" 0 "$limit"
}

# ---------------------------------------------------------------------------------------
# The resize task
# ---------------------------------------------------------------------------------------

# bats test_tags=implementation,slow
@test "rehash: a resize left half-done by the last request finishes without requests" {
    explained_in "$SEE_REHASH"
    implementation_test "how this server gives its bucket arrays back to the kernel"
    [ -z "${KV_UNDER_VALGRIND:-}" ] || skip "memcheck keeps freed blocks; VmSize cannot drop"
    # Freed 2 MiB bucket arrays must go back to the kernel for VmSize to show it: a fixed
    # mmap threshold for glibc, no quarantine for AddressSanitizer.
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072 \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0" start_server
    local t=$BATS_TEST_TMPDIR before after
    # 200,000 keys: 262,144 buckets (2 MiB of them) once the growth is over.
    seq 200000 | awk '{ print "set key:" $1 " v" }' >"$t/set"
    kv -t 60 pipe <"$t/set" | uniq -c >"$t/replies"
    expect_same_lines <(echo "$(printf '%7d' 200000) OK") "$t/replies"
    sleep 0.5
    before=$(server_vm_kib)
    # Deleting all but 32,767 leaves fewer than one key per 8 buckets: the last DEL starts
    # a shrink to 65,536 buckets, and no request follows to move the keys across.
    seq 167233 | awk '{ print "del key:" $1 }' >"$t/del"
    kv -t 60 pipe <"$t/del" | uniq -c >"$t/replies"
    expect_same_lines <(echo "$(printf '%7d' 167233) OK") "$t/replies"
    sleep 1.5
    after=$(server_vm_kib)
    [ $((before - after)) -ge 1536 ] ||
        fail "VmSize went from $before KiB to $after KiB in the 1.5 s after the last DEL;" \
            "expected the old 2 MiB bucket array to be freed once the shrink finished" \
            "without requests"
    run kv get key:200000
    expect_output "v"
}

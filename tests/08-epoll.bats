#!/usr/bin/env bats
# 08-epoll.bats - step 08's connections and memory: 10,000 clients at once, the server
# raising its own descriptor limit (or lowering --max-clients to fit a hard limit too low),
# refusing the client past --max-clients, closing the client that holds the most bytes
# when all of them together pass --max-client-memory, and idle connections that hold no
# buffers. These tests run against step 08 and every later step.
#
# The test names start with the part of chapter 08 they check (flags, limits, refuse,
# memory, idle), so `bats -f '^memory'` runs one part. Many connections are opened by
# kvbench --idle, which checks that the server answers a request on each, then keeps them
# open and silent; it raises its own descriptor limit as far as it needs.

load helpers

SEE_FLAGS='docs/08-epoll.md, section 3, "The new flags"'
SEE_10K='docs/08-epoll.md, section 2, "Ten thousand connections"'
SEE_RLIMIT='docs/08-epoll.md, section 3, "Raising the descriptor limit"'
SEE_REFUSE='docs/08-epoll.md, section 3, "Refusing past --max-clients"'
SEE_CEILING='docs/08-epoll.md, section 3, "The memory ceiling"'
SEE_IDLE='docs/08-epoll.md, section 3, "Idle connections hold no buffers"'

# What an idle connection may cost the server, at most, in resident memory (KiB): its
# connection record and its share of the server's tables, generously (step 08's own cost is
# under 1 KiB). A server that keeps the buffers a 64 KiB SET and GET grew keeps over 100.
IDLE_KIB_MAX=8

setup() {
    CLIENT_FDS=()
}

teardown() {
    say_where_explained
    close_clients
    stop_server
}

# start_with FLAGS...: a server on a free port with these flags after --port 0.
start_with() {
    KV_SERVER_FLAGS="$*" start_server
}

# kvbench ARGS...: build/kvbench against the server under test.
kvbench() {
    "$KV_BENCH" -p "$PORT" "$@"
}

# csv_field N: field N of the last line kvbench printed with --format csv (in $output).
csv_field() {
    tail -n 1 <<<"$output" | cut -d, -f"$1"
}

# send_set_head FD KEY LEN: the start of a SET of KEY whose value is LEN bytes, no value yet.
send_set_head() {
    send_frame "$1" "0002 $(u32_of ${#2}) $(hex_of "$2") $(u32_of "$3")"
}

# send_zeros FD N: N zero bytes to connection FD (a value's bytes). A server that closes
# the connection meanwhile ends the write: that is not this helper's failure.
send_zeros() {
    timeout 10 head -c "$2" /dev/zero >&"$1" 2>/dev/null || true
}

# closed_within FD SECONDS: reads and drops what connection FD receives until the server
# closes it (end of file or a reset); fails if it is still open after SECONDS.
closed_within() {
    local status=0
    timeout "$2" cat <&"$1" >/dev/null 2>&1 || status=$?
    [ "$status" -ne 124 ]
}

# ---------------------------------------------------------------------------------------
# The flags
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:1
@test "flags: --max-clients and --max-client-memory take good values, in any order" {
    explained_in "$SEE_FLAGS"
    local value
    for value in 1 10 10000 0010; do
        start_with --max-clients "$value"
        stop_server
    done
    for value in 1 4096 512k 64m 2g 1g; do
        start_with --max-client-memory "$value"
        stop_server
    done
    : >"$BATS_TEST_TMPDIR/server.out" # no earlier server's ready line to mistake for this one's
    "$KV_SERVER" --max-client-memory 1m --max-clients 5 --port 0 \
        >"$BATS_TEST_TMPDIR/server.out" 2>"$BATS_TEST_TMPDIR/server.err" 3>&- &
    SERVER_PID=$!
    SERVER_SHELL=$BASHPID
    for _ in $(seq 100); do
        [ -s "$BATS_TEST_TMPDIR/server.out" ] && break
        sleep 0.05
    done
    run cat "$BATS_TEST_TMPDIR/server.out"
    [[ $output =~ ^listening\ on\ 127\.0\.0\.1:[0-9]+$ ]] ||
        fail "with --max-client-memory 1m --max-clients 5 --port 0 the server should start;" \
            "it printed: $output" "stderr: $(server_log)"
}

# bats test_tags=stage:1
@test "flags: a bad --max-clients or --max-client-memory is a bad command line: usage on stderr, exit 2" {
    explained_in "$SEE_FLAGS"
    local bad
    for bad in abc -1 0 12x 1k 1K "" " 1" +1 1e3 0x10; do
        # timeout: a server that accepts the value would run until stopped (status 124).
        run --separate-stderr timeout 5 "$KV_SERVER" --port 0 --max-clients "$bad"
        [ "$status" -eq 2 ] || fail "--max-clients '$bad': expected exit status 2, got $status"
        [[ $stderr == *usage* ]] || fail "--max-clients '$bad': expected usage on stderr, got: $stderr"
    done
    for bad in abc -1 0 0k 12x 1K 1M 1kb 1t k "" " 1" +1 1.5m; do
        run --separate-stderr timeout 5 "$KV_SERVER" --port 0 --max-client-memory "$bad"
        [ "$status" -eq 2 ] || fail "--max-client-memory '$bad': expected exit status 2, got $status"
        [[ $stderr == *usage* ]] ||
            fail "--max-client-memory '$bad': expected usage on stderr, got: $stderr"
    done
    for flag in --max-clients --max-client-memory; do
        run timeout 5 "$KV_SERVER" --port 0 "$flag"
        [ "$status" -eq 2 ] || fail "$flag without a value: expected exit status 2, got $status"
    done
}

# ---------------------------------------------------------------------------------------
# Descriptors: 10,000 clients, and a hard limit too low for them
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:2,slow
@test "limits: 10,000 connections at once are each answered, from a soft descriptor limit of 1024" {
    explained_in "$SEE_10K"
    local hard
    # Memcheck keeps the descriptor limit the server started with, whatever it asks for.
    [ -z "${KV_UNDER_VALGRIND:-}" ] || skip "memcheck does not let the server raise its descriptor limit"
    hard=$(ulimit -Hn)
    [ "$hard" = unlimited ] || [ "$hard" -ge 11000 ] ||
        skip "the hard limit on open files here is $hard; this test needs 11,000 (ulimit -Hn)"
    # The server starts with the usual soft limit, 1024, and must raise its own; this
    # shell gets its own back, and kvbench raises its own too.
    ulimit -Sn 1024
    start_server
    ulimit -Sn "$hard"
    # 9,999 idle connections, each answered once, then 1,000 requests on one more: 10,000,
    # exactly the default --max-clients.
    run --separate-stderr kvbench --idle 9999 -c 1 -n 1000 -t 5 -q --format csv
    [ "$status" -eq 0 ] && [ "$(csv_field 17)" = 9999 ] ||
        fail "expected 9,999 idle connections each answered, then 1,000 requests answered on" \
            "a 10,000th connection while they stayed open (kvbench exit status 0);" \
            "got exit status $status, idle connections open: $(csv_field 17)" \
            "kvbench said: $stderr" \
            "the server's limits now: $(grep 'open files' "/proc/$SERVER_PID/limits")"
}

# bats test_tags=stage:5
@test "limits: a hard descriptor limit too low for --max-clients lowers it, says so on stderr, and refuses the rest" {
    explained_in "$SEE_RLIMIT"
    local allowed
    KV_SERVER_FLAGS="--max-clients 10000" start_server 200 # ulimit -n 200: soft and hard
    expect_server_serves
    [ -s "$BATS_TEST_TMPDIR/server.err" ] ||
        fail "with a hard limit of 200 descriptors and --max-clients 10000, expected a line on" \
            "stderr saying how many clients the server will accept; stderr was empty"
    # 250 connections, all at once: those past what 200 descriptors allow must be refused
    # with an ERROR, not left waiting in the listen backlog.
    run --separate-stderr kvbench --idle 250 -c 1 -n 1 -t 5 -q --format csv
    allowed=$(csv_field 17)
    [[ $allowed =~ ^[0-9]+$ ]] && [ "$allowed" -ge 1 ] && [ "$allowed" -lt 200 ] ||
        fail "expected between 1 and 199 of 250 connections accepted under a hard limit of 200;" \
            "got ${allowed:-none}; kvbench said:" "$stderr"
    [[ $stderr == *'"max clients reached"'* ]] ||
        fail "expected the connections past the limit to get ERROR \"max clients reached\";" \
            "kvbench said:" "$stderr"
    grep -qw "$allowed" "$BATS_TEST_TMPDIR/server.err" ||
        fail "the server accepted $allowed clients; expected its stderr to say that number;" \
            "its stderr:" "$(server_log)"
    expect_server_recovers
}

# bats test_tags=stage:5
@test "limits: under a tiny descriptor limit, every client admitted is served and the next one refused" {
    explained_in "$SEE_RLIMIT"
    local allowed
    # ulimit -n 12: stdio, the listener and epoll take 5, so the server must admit at most 6
    # clients and keep one descriptor for refusing the next. Admitting more leaves the extra
    # clients waiting in the backlog with no answer at all.
    # Memcheck needs descriptors of its own, and does not start under a limit this small.
    [ -z "${KV_UNDER_VALGRIND:-}" ] || skip "memcheck does not start under ulimit -n 12"
    KV_SERVER_FLAGS="--max-clients 10000" start_server 12
    run --separate-stderr kvbench --idle 12 -c 1 -n 1 -t 3 -q --format csv
    allowed=$(csv_field 17)
    [[ $stderr == *'"max clients reached"'* ]] ||
        fail "under ulimit -n 12, expected the client past what the server admits to get ERROR" \
            "\"max clients reached\"; $allowed were answered, and kvbench said:" "$stderr" \
            "the server said:" "$(server_log)"
    grep -qw "$allowed" "$BATS_TEST_TMPDIR/server.err" ||
        fail "$allowed clients were answered; expected the server's stderr to say that number;" \
            "its stderr:" "$(server_log)"
}

# ---------------------------------------------------------------------------------------
# Refusing past --max-clients
# ---------------------------------------------------------------------------------------

# expect_clients_answered: each connection in CLIENT_FDS answers a GET of a missing key.
expect_clients_answered() {
    local fd
    for fd in "${CLIENT_FDS[@]}"; do
        send_frame "$fd" "$(get_frame missing)"
        expect_reply "$fd" 0001 00000000 || return 1
    done
}

# bats test_tags=stage:5
@test "refuse: the connection past --max-clients gets ERROR \"max clients reached\" and is closed; the others keep working" {
    explained_in "$SEE_REFUSE"
    start_with --max-clients 5
    open_clients 5
    expect_clients_answered
    run kv raw --hex <<<"$(get_frame k)"
    [ "${lines[0]:-}" = "(error) max clients reached" ] && [ "${lines[1]:-}" = "(closed)" ] ||
        fail "with 5 clients connected and --max-clients 5, a 6th should get ERROR" \
            "\"max clients reached\", then the server should close it; it got:" "$output"
    expect_clients_answered
    close_clients
    expect_server_recovers
}

# bats test_tags=stage:5,slow
@test "refuse: 40 silent clients past --max-clients are each refused, and the admitted one is still served" {
    explained_in "$SEE_REFUSE"
    local fd i
    start_with --max-clients 1
    open_clients 1
    expect_clients_answered
    # 40 connections that send nothing and never read: more than linger at once, so some are
    # refused at once. Refusing one must not wait for it (it will never send a byte), and
    # each lingering one holds a timer of its own.
    for i in $(seq 40); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || fail "could not open silent connection #$i"
        CLIENT_FDS+=("$fd")
    done
    sleep 0.5
    send_frame "${CLIENT_FDS[0]}" "$(get_frame missing)"
    expect_reply "${CLIENT_FDS[0]}" 0001 00000000 ||
        fail "after 40 silent clients were refused (--max-clients 1), the one admitted client" \
            "should still be answered at once; it was not (see the reply above)" \
            "the server said:" "$(server_log)"
    for fd in "${CLIENT_FDS[@]:1}"; do
        closed_within "$fd" 10 ||
            fail "a silent client refused past --max-clients 1 was still open after 10 s"
    done
}

# bats test_tags=stage:1
@test "refuse: once a client leaves, a new one is accepted in its place" {
    explained_in "$SEE_REFUSE"
    local fd
    start_with --max-clients 5
    open_clients 5
    expect_clients_answered
    fd=${CLIENT_FDS[0]}
    exec {fd}>&-
    CLIENT_FDS=("${CLIENT_FDS[@]:1}")
    # The server learns of the leaving client when it reads its end of file: give it 2 s.
    for _ in $(seq 20); do
        run kv set after leave
        [ "$output" = OK ] && break
        sleep 0.1
    done
    [ "$output" = OK ] ||
        fail "after one of 5 clients left (--max-clients 5), a new client should be served;" \
            "for 2 s it got: $output"
    expect_clients_answered
}

# ---------------------------------------------------------------------------------------
# The memory ceiling
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:4
@test "memory: past --max-client-memory the client holding the most is closed; the others and every key stay" {
    explained_in "$SEE_CEILING"
    local a b c
    start_with --max-client-memory 1m
    kv set before kept >/dev/null
    open_clients 3
    a=${CLIENT_FDS[0]} b=${CLIENT_FDS[1]} c=${CLIENT_FDS[2]}
    # Three SETs of 600 KiB values, each sent in part: 500 KiB from a, then 300 KiB from b
    # and from c. Their sum passes 1 MiB while c sends; a holds the most.
    send_set_head "$a" a 614400
    send_zeros "$a" 512000
    sleep 0.5 # the server reads it all before the next client starts
    send_set_head "$b" b 614400
    send_zeros "$b" 307200
    sleep 0.5
    send_set_head "$c" c 614400
    send_zeros "$c" 307200
    closed_within "$a" 5 ||
        fail "a, b and c held 500, 300 and 300 KiB of unfinished SETs (1,100 KiB) with" \
            "--max-client-memory 1m: expected a, which holds the most, closed; it was still" \
            "open 5 s later"
    # b and c finish their SETs: 600 + 300 KiB then, under the ceiling.
    send_zeros "$b" 307200
    expect_reply "$b" 0000 00000000 ||
        fail "b, which held less than a, should still be served: its SET got no OK"
    send_zeros "$c" 307200
    expect_reply "$c" 0000 00000000 ||
        fail "c, which held less than a, should still be served: its SET got no OK"
    run kv get before
    [ "$output" = kept ] || fail "a key stored before should still be there; GET before gave: $output"
    run kv dbsize
    [ "$output" = 3 ] ||
        fail "expected 3 keys (before, b and c; a never finished its SET); DBSIZE gave: $output"
    close_clients
    expect_server_recovers
}

# bats test_tags=stage:4,slow
@test "memory: 40 clients each sending 500 KiB of a SET leave the server's peak within a few MiB of --max-client-memory" {
    not_for_memory_measures
    explained_in "$SEE_CEILING"
    local base peak fd
    start_with --max-client-memory 1m
    expect_server_serves
    base=$(server_rss_kib)
    open_clients 40
    # 20,000 KiB offered in all; the server may hold 1 MiB of it, and pass that by one read.
    for fd in "${CLIENT_FDS[@]}"; do
        send_set_head "$fd" "k$fd" 614400
        send_zeros "$fd" 512000
    done
    sleep 0.5
    expect_server_serves
    peak=$(server_hwm_kib)
    [ $((peak - base)) -lt 6144 ] ||
        fail "40 clients sent 500 KiB each of unfinished SETs, with --max-client-memory 1m;" \
            "the server's resident memory peaked $(((peak - base) / 1024)) MiB above where" \
            "it started; expected under 6 MiB: it should close the largest clients as" \
            "their sum passes 1 MiB"
    close_clients
    expect_server_recovers
}

# ---------------------------------------------------------------------------------------
# Idle connections
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:3,slow
@test "idle: 1,000 idle connections that each moved a 64 KiB value hold no buffers" {
    not_for_memory_measures
    explained_in "$SEE_IDLE"
    local base rss bench want deadline status=0
    start_server
    # The value is stored once, and the server has read a 64 KiB request, before the base.
    head -c 65536 /dev/zero | tr '\0' v >"$BATS_TEST_TMPDIR/value"
    kv set kvbench:idle "@$BATS_TEST_TMPDIR/value" >/dev/null
    kv get kvbench:idle >/dev/null
    base=$(server_rss_kib)
    # One connection at a time: a SET of a 64 KiB value and a GET of it, then silence.
    # kvbench then runs 3 s of requests on one more connection, while this test looks.
    kvbench --idle 1000 --idle-value 65536 -c 1 -k 1 -r 1:0 -d 3 -t 5 -q --format csv \
        >"$BATS_TEST_TMPDIR/bench.out" 2>"$BATS_TEST_TMPDIR/bench.err" &
    bench=$!
    want=$((SERVER_BASE_FDS + 1001))
    deadline=$((SECONDS + 20))
    while [ "$(server_fd_count)" -lt "$want" ] && [ "$SECONDS" -lt "$deadline" ] &&
        kill -0 "$bench" 2>/dev/null; do
        sleep 0.1
    done
    sleep 0.2
    rss=$(server_rss_kib)
    wait "$bench" || status=$?
    [ "$status" -eq 0 ] ||
        fail "kvbench could not hold 1,000 idle connections that each SET and GET a 64 KiB" \
            "value (exit status $status):" "$(cat "$BATS_TEST_TMPDIR/bench.err")"
    [ $(((rss - base) / 1000)) -lt "$IDLE_KIB_MAX" ] ||
        fail "with 1,000 idle connections that each moved a 64 KiB value, the server's" \
            "resident memory grew by $((rss - base)) KiB, $(((rss - base) / 1000)) KiB a" \
            "connection; expected under $IDLE_KIB_MAX KiB: an idle connection should hold" \
            "no input or output buffer"
}

# bats test_tags=stage:1,slow
@test "idle: after 1,000 clients leave, the server's descriptors are back where they started" {
    explained_in "$SEE_10K"
    start_server
    run --separate-stderr kvbench --idle 1000 -c 1 -n 100 -t 5 -q --format csv
    [ "$status" -eq 0 ] && [ "$(csv_field 17)" = 1000 ] ||
        fail "expected 1,000 idle connections each answered (kvbench exit status 0); got" \
            "exit status $status:" "$stderr"
    expect_server_recovers
}

#!/usr/bin/env bats
# 03-event-loop.bats - one poll() loop serves many clients at once, and no client can
# stall, starve or break the others. These tests run against step 03 and every later step.

load helpers

# Where each behaviour is explained: a failing test names its section last (explained_in).
SEE_LOOP='docs/03-event-loop.md, section 3, "server.c: the loop"'
SEE_INPUT='docs/03-event-loop.md, section 2, "The input buffer", then section 3, "server.c: the read path"'
SEE_READ_PATH='docs/03-event-loop.md, section 3, "server.c: the read path"'
SEE_WRITE_PATH='docs/03-event-loop.md, section 3, "server.c: the write path"'
SEE_STATES='docs/03-event-loop.md, section 2, "The connection state machine"'
SEE_ACCEPTING='docs/03-event-loop.md, section 3, "server.c: accepting"'
SEE_SIGNALS='docs/03-event-loop.md, section 3, "server.c: the loop", then "Going deeper", "server.c: signals"'

setup() {
    start_server
    CLIENT_FDS=()
}

teardown() {
    say_where_explained
    close_clients
    stop_server
}

# expect_clean_load N_CONNECTIONS N_REQUESTS: kvbench opens every connection first, then
# sends SETs and GETs of its own keys over all of them and checks every single reply.
expect_clean_load() {
    run "$KV_BENCH" -p "$PORT" -c "$1" -n "$2" -k 1000 --preload -t 10 -q --format csv
    expect_status 0
    local requests errors
    requests=$(awk -F, 'NR == 2 { print $7 }' <<<"$output")
    errors=$(awk -F, 'NR == 2 { print $8 }' <<<"$output")
    [ "$requests" = "$2" ] && [ "$errors" = 0 ] ||
        fail "expected $2 requests with 0 errors over $1 connections, got:" "$output"
}

# bats test_tags=stage:1,slow
@test "200 clients connected at once all get correct replies to their SETs and GETs" {
    explained_in "$SEE_LOOP"
    expect_clean_load 200 4000
}

# bats test_tags=stage:1,slow
@test "1,000 simultaneous connections are all served" {
    explained_in "$SEE_LOOP"
    expect_clean_load 1000 20000
}

# bats test_tags=stage:2
@test "a client that sent half a frame and stalls does not delay others" {
    explained_in "$SEE_INPUT"
    open_clients 1
    send_frame "${CLIENT_FDS[0]}" 0002 00000005 6b65 # SET, key length 5, 2 of its bytes
    run kv -t 2 set other "served at once"
    expect_output "OK"
    run kv -t 2 get other
    expect_output "served at once"
    # The stalled client finishes its frame later and is answered then.
    send_frame "${CLIENT_FDS[0]}" 797331 00000001 76 # "ys1", value "v"
    expect_reply "${CLIENT_FDS[0]}" 0000 00000000
    run kv get keys1
    expect_output "v"
}

# bats test_tags=stage:1
@test "two clients sending byte by byte, interleaved, both get the right replies" {
    explained_in "$SEE_INPUT"
    printf 'set left L\nget left\n' >"$BATS_TEST_TMPDIR/left"
    printf 'set right R\nget right\n' >"$BATS_TEST_TMPDIR/right"
    kv --trickle 3000 pipe <"$BATS_TEST_TMPDIR/left" >"$BATS_TEST_TMPDIR/left.out" &
    local left=$!
    kv --trickle 3000 pipe <"$BATS_TEST_TMPDIR/right" >"$BATS_TEST_TMPDIR/right.out"
    wait "$left" || fail "the left client failed"
    run cat "$BATS_TEST_TMPDIR/left.out"
    expect_output $'OK\n"L"'
    run cat "$BATS_TEST_TMPDIR/right.out"
    expect_output $'OK\n"R"'
}

# bats test_tags=stage:1
@test "one client's protocol error closes only that client's connection" {
    explained_in "$SEE_STATES"
    open_clients 2
    local good=${CLIENT_FDS[0]} bad=${CLIENT_FDS[1]} status=0
    send_frame "$bad" ffff
    # The offender keeps its side open: only the server's hang-up ends this read.
    timeout 5 cat <&"$bad" >"$BATS_TEST_TMPDIR/bad.reply" || status=$?
    [ "$status" -ne 124 ] ||
        fail "the offending client got no end of stream within 5 s: its connection stayed open"
    [ "$(head -c 2 "$BATS_TEST_TMPDIR/bad.reply" | od -An -tx1 | tr -d ' ')" = "0002" ] ||
        fail "expected an ERROR status (0002) for the offender, got:" \
            "$(od -An -tx1 "$BATS_TEST_TMPDIR/bad.reply")"
    send_frame "$good" "$(get_frame nothing)"
    expect_reply "$good" 0001 00000000
    close_clients
    expect_server_recovers
}

# bats test_tags=stage:4,slow
@test "a slow reader cut off for a bad frame gets every reply and the ERROR; others are served" {
    explained_in "$SEE_STATES (DRAINING), then \"server.c: the write path\""
    head -c 1048576 /dev/zero | tr '\0' 'x' >"$BATS_TEST_TMPDIR/value"
    kv set big @"$BATS_TEST_TMPDIR/value"
    local fd got want=$((3 * (6 + 1048576) + 6 + 22)) # 3 values, then "unknown request type 9"
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    {
        frame "$(get_frame big)" "$(get_frame big)" "$(get_frame big)" 0009
        head -c 200000 /dev/zero # bytes the server will never parse
    } >&"$fd" || true # a server that resets the connection is caught below
    # While this client neither reads nor closes, the loop goes on serving everyone else.
    run kv -t 2 set other "served meanwhile"
    expect_output "OK"
    sleep 1
    got=$(timeout 10 cat <&"$fd" | wc -c)
    exec {fd}>&-
    [ "$got" -eq "$want" ] ||
        fail "expected $want bytes (three 1 MiB replies, then the ERROR), got $got:" \
            "a server that close()s with unread input resets the connection, and the" \
            "reset throws away the replies still queued for the client"
    expect_server_recovers
}

# bats test_tags=stage:1
@test "a client that resets mid-request does not disturb a client mid-frame" {
    explained_in "$SEE_READ_PATH"
    open_clients 1
    send_frame "${CLIENT_FDS[0]}" 0001 00000003 # GET, key length 3, no key yet
    frame 0002 00000003 6b6579 00100000 6162 | kv raw --reset
    send_frame "${CLIENT_FDS[0]}" "$(hex_of abc)"
    expect_reply "${CLIENT_FDS[0]}" 0001 00000000
    expect_server_serves
    close_clients
    expect_server_recovers
}

# bats test_tags=stage:1
@test "a client that half-closes after its requests still gets every reply" {
    explained_in "$SEE_READ_PATH"
    # kv raw shuts down its sending side once stdin is sent, then reads until the close.
    run kv raw --hex <<<"0002 00000001 61 00000001 31
                         0002 00000001 62 00000001 32
                         0001 00000001 61
                         0001 00000001 62"
    expect_output $'OK\nOK\n"1"\n"2"\n(closed)'
    expect_server_recovers
}

# bats test_tags=stage:3,slow
@test "a client that never reads its replies costs bounded memory, and others are served" {
    explained_in "$SEE_WRITE_PATH"
    head -c 1048576 /dev/zero | tr '\0' 'x' >"$BATS_TEST_TMPDIR/value"
    kv set big @"$BATS_TEST_TMPDIR/value"
    local before after requests
    before=$(server_rss_kib)
    # 300 GETs of a 1 MiB value: 300 MiB of replies, if the server answered them all.
    requests=$(printf "$(get_frame big) %.0s" $(seq 300))
    open_clients 1
    send_frame "${CLIENT_FDS[0]}" "$requests"
    sleep 1
    run kv -t 2 get canary-absent
    expect_status 1
    after=$(server_rss_kib)
    [ $((after - before)) -lt 65536 ] ||
        fail "server memory grew by $(((after - before) / 1024)) MiB for a client that" \
            "does not read; expected under 64 MiB (its replies would be 300 MiB)"
    # Once it reads, it gets every reply: 300 x (6-byte header + 1 MiB).
    local got
    got=$(timeout 20 head -c $((300 * 1048582)) <&"${CLIENT_FDS[0]}" | wc -c)
    [ "$got" -eq $((300 * 1048582)) ] ||
        fail "expected $((300 * 1048582)) bytes of replies, got $got"
    close_clients
    expect_server_recovers
}

# ---------------------------------------------------------------------------------------
# Hostile crowds: memory, descriptors, storms, and stopping under load
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:2,slow
@test "300 clients declaring 32 MiB values cost what they sent, not what they declared" {
    explained_in "$SEE_INPUT"
    local before after sent partial=$BATS_TEST_TMPDIR/partial
    {
        frame 0002 00000001 6b 02000000 # SET "k", a value of 32 MiB to come
        head -c 65536 /dev/zero         # ... of which only 64 KiB ever arrive
    } >"$partial"
    before=$(server_vm_kib)
    open_clients 300
    for fd in "${CLIENT_FDS[@]}"; do
        cat "$partial" >&"$fd"
    done
    expect_server_serves
    after=$(server_vm_kib)
    sent=$((300 * 64))
    [ $((after - before)) -lt $((sent * 4)) ] ||
        fail "the server's memory grew by $(((after - before) / 1024)) MiB for" \
            "$((sent / 1024)) MiB received; declared values would be 9600 MiB." \
            "Expected under $((sent * 4 / 1024)) MiB: buffers must grow with bytes that arrive."
    close_clients
    expect_server_recovers
}

# bats test_tags=stage:5,slow
@test "out of file descriptors, the server neither spins nor dies, and recovers" {
    explained_in "$SEE_ACCEPTING"
    stop_server
    start_server 40 # under valgrind, memcheck keeps 12 of these for itself
    open_clients 16 # served: well under the limit
    open_clients 30 # the limit is reached: accept() fails with EMFILE
    sleep 0.5
    expect_server_idle 2
    for fd in "${CLIENT_FDS[@]:0:16}"; do
        send_frame "$fd" 0001 00000001 78 # GET "x"
        expect_reply "$fd" 0001 00000000
    done
    close_clients
    run kv -t 5 set after "the storm"
    expect_output "OK"
    expect_server_recovers
}

# bats test_tags=stage:1,slow
@test "thousands of connects and closes, and resets, leak no descriptor" {
    explained_in "$SEE_ACCEPTING"
    local fd
    for _ in $(seq 2000); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
        exec {fd}>&-
    done
    for _ in $(seq 100); do
        kv raw --reset </dev/null
    done
    expect_server_recovers
    expect_server_serves
}

# bats test_tags=implementation,slow
@test "a client pulling 1 MiB values through a deep pipeline gets one write() per round" {
    explained_in "$SEE_WRITE_PATH"
    implementation_test "a server that writes until EAGAIN is just as correct"
    command -v strace >/dev/null || skip "strace is not installed"
    [ -z "${KV_UNDER_VALGRIND:-}" ] || skip "memcheck's own write() calls would be counted"
    head -c 1048576 /dev/zero | tr '\0' 'x' >"$BATS_TEST_TMPDIR/value"
    kv set big @"$BATS_TEST_TMPDIR/value"
    trace_server
    printf "$(get_frame big) %.0s" $(seq 200) >"$BATS_TEST_TMPDIR/gets.hex"
    kv raw --hex <"$BATS_TEST_TMPDIR/gets.hex" >/dev/null &
    local hog=$!
    run kv -t 20 get canary-absent
    expect_status 1
    wait "$hog" || fail "the client pulling large values failed"
    untrace_server
    local most
    most=$(most_writes_per_round "$TRACE_LOG")
    [ "$most" -le 1 ] ||
        fail "one client got $most write() calls between two poll() calls; every" \
            "other client waited meanwhile. Expected at most one per round."
}

# bats test_tags=stage:1,slow
@test "SIGTERM in the middle of a load stops the server at once, with status 0" {
    explained_in "$SEE_SIGNALS"
    "$KV_BENCH" -p "$PORT" -c 50 -P 16 -d 10 -q >/dev/null 2>&1 3>&- &
    local load=$! start ms limit=1500
    # Under memcheck, the exit's leak check alone takes seconds.
    [ -z "${KV_UNDER_VALGRIND:-}" ] || limit=10000
    sleep 1
    start=$EPOCHREALTIME
    stop_server $((limit / 1000 + 2))
    ms=$(((${EPOCHREALTIME/./} - ${start/./}) / 1000))
    wait "$load" || true # the load generator loses its server: its errors are expected
    [ "$ms" -lt "$limit" ] ||
        fail "the server took $ms ms to exit after SIGTERM under load; expected under" \
            "$limit ms: the loop must notice the signal at its next poll() (chapter 03)"
}

# bats test_tags=stage:5
@test "500 clients that each sent 2 bytes cost a few KiB each, not a 64 KiB read buffer" {
    explained_in "$SEE_READ_PATH"
    # Buffers grow with the bytes that arrive, never with the room a read() might fill:
    # each connection holds one 2-byte fragment of a request header, sent a byte at a time.
    local before after per_conn fd
    expect_server_serves
    before=$(server_rss_kib)
    open_clients 500
    for fd in "${CLIENT_FDS[@]}"; do
        send_frame "$fd" 00
    done
    sleep 0.5
    for fd in "${CLIENT_FDS[@]}"; do
        send_frame "$fd" 02
    done
    expect_server_serves # every fragment has been read once a later client is served
    after=$(server_rss_kib)
    per_conn=$(((after - before) / 500))
    [ "$per_conn" -lt 16 ] ||
        fail "the server's resident memory grew by $(((after - before) / 1024)) MiB" \
            "($per_conn KiB per connection) for 500 clients that sent 2 bytes each." \
            "Expected under 16 KiB per connection: a read goes into one scratch buffer and" \
            "only the bytes that arrived are kept (chapter 03, 'The input buffer')."
}

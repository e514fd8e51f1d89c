#!/usr/bin/env bats
# 04-pipelining.bats - deep pipelines: every request answered, in order, however many
# arrive in one write. These tests run against step 04 and every later step.

load helpers

# Where each behaviour is explained: a failing test names its section last (explained_in).
SEE_BATCH='docs/04-pipelining.md, section 3, "server.c: answering a batch"'
SEE_BACKPRESSURE='docs/04-pipelining.md, section 2, "Backpressure: OUTPUT_LIMIT"'
SEE_WRITE_PATH='docs/04-pipelining.md, section 3, "server.c: the write path is the read path"'

setup() {
    start_server
}

teardown() {
    say_where_explained
    stop_server
}

# skip_if_instrumented: CPU-time tests mean nothing under valgrind or a sanitizer, which
# multiply the cost of every instruction (an ASan build carries __asan_init).
skip_if_instrumented() {
    [ -z "${KV_UNDER_VALGRIND:-}" ] || skip "memcheck multiplies every CPU cost"
    ! grep -qa __asan_init "$KV_SERVER" || skip "a sanitizer build multiplies every CPU cost"
}

# bats test_tags=stage:1,slow
@test "20,000 pipelined requests in one write all come back, correct and in order" {
    explained_in "$SEE_BATCH"
    seq 10000 | awk '{ print "set key:" $1 " value:" $1; print "get key:" $1 }' \
        >"$BATS_TEST_TMPDIR/commands"
    seq 10000 | awk '{ print "OK"; print "\"value:" $1 "\"" }' >"$BATS_TEST_TMPDIR/expected"
    kv -t 30 pipe <"$BATS_TEST_TMPDIR/commands" >"$BATS_TEST_TMPDIR/replies"
    expect_same_lines "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/replies"
}

# bats test_tags=stage:1
@test "four clients pipelining at once each get their own replies in order" {
    explained_in "$SEE_BATCH"
    local c pids=()
    for c in a b c d; do
        # 1,000 keys each: step 04's list store walks every key on every request, and
        # under valgrind 20,000 keys would make that, not the pipelining, the test.
        seq 1000 | awk -v c=$c '{ print "set " c $1 " " c "-" $1; print "get " c $1 }' \
            >"$BATS_TEST_TMPDIR/commands.$c"
        seq 1000 | awk -v c=$c '{ print "OK"; print "\"" c "-" $1 "\"" }' \
            >"$BATS_TEST_TMPDIR/expected.$c"
        kv pipe <"$BATS_TEST_TMPDIR/commands.$c" >"$BATS_TEST_TMPDIR/replies.$c" &
        pids+=($!)
    done
    for c in 0 1 2 3; do
        wait "${pids[$c]}" || fail "pipelining client #$c failed"
    done
    for c in a b c d; do
        expect_same_lines "$BATS_TEST_TMPDIR/expected.$c" "$BATS_TEST_TMPDIR/replies.$c"
    done
}

# bats test_tags=stage:3,slow
@test "large values in a pipeline come back whole and in order" {
    explained_in "$SEE_WRITE_PATH (requests held back by OUTPUT_LIMIT)"
    local value
    value=$(head -c 262144 /dev/zero | tr '\0' 'v')
    for i in $(seq 40); do
        printf 'set big%d %d%s\n' "$i" "$i" "$value"
    done >"$BATS_TEST_TMPDIR/commands"
    for i in $(seq 40); do
        printf 'get big%d\n' "$i"
    done >>"$BATS_TEST_TMPDIR/commands"
    for i in $(seq 40); do echo OK; done >"$BATS_TEST_TMPDIR/expected"
    for i in $(seq 40); do
        printf '"%d%s"\n' "$i" "$value"
    done >>"$BATS_TEST_TMPDIR/expected"
    kv pipe <"$BATS_TEST_TMPDIR/commands" >"$BATS_TEST_TMPDIR/replies"
    expect_same_lines "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/replies"
}

# bats test_tags=stage:1
@test "bad input at the end of a pipeline: every earlier reply, then ERROR, then close" {
    explained_in "$SEE_BATCH"
    for _ in $(seq 1000); do echo "0001 00000001 78"; done >"$BATS_TEST_TMPDIR/frames"
    echo "00ff" >>"$BATS_TEST_TMPDIR/frames"
    kv raw --hex <"$BATS_TEST_TMPDIR/frames" >"$BATS_TEST_TMPDIR/replies"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/replies")" -eq 1002 ] ||
        fail "expected 1000 replies, an ERROR and the close: 1002 lines," \
            "got $(wc -l <"$BATS_TEST_TMPDIR/replies"); the last ones:" \
            "$(tail -n 3 "$BATS_TEST_TMPDIR/replies")"
    [ "$(head -n 1000 "$BATS_TEST_TMPDIR/replies" | grep -c '^(nil)$')" -eq 1000 ] ||
        fail "the first 1000 replies should all be (nil)"
    run tail -n 2 "$BATS_TEST_TMPDIR/replies"
    [[ ${lines[0]} == "(error) "* ]] || fail "expected ERROR after the 1000 replies, got: $output"
    [ "${lines[1]}" = "(closed)" ] || fail "expected the close last, got: $output"
    expect_server_recovers
}

# bats test_tags=stage:1,slow
@test "300,000 pipelined GETs cost the server under 0.4 s of CPU, not a round each" {
    explained_in 'docs/04-pipelining.md, section 2, "Pipelining, on the wire and in the server"'
    skip_if_instrumented
    local before after hz
    hz=$(getconf CLK_TCK)
    yes 'get a' | head -n 300000 >"$BATS_TEST_TMPDIR/commands"
    before=$(server_cpu_ticks)
    kv -t 60 pipe <"$BATS_TEST_TMPDIR/commands" >"$BATS_TEST_TMPDIR/replies"
    after=$(server_cpu_ticks)
    [ "$(grep -c '^(nil)$' "$BATS_TEST_TMPDIR/replies")" -eq 300000 ] ||
        fail "expected 300,000 NOT_FOUND replies, got $(wc -l <"$BATS_TEST_TMPDIR/replies") lines"
    # One round (a poll() and a write()) per request costs well over a second here; a
    # batch per read, under a tenth of one.
    [ $(((after - before) * 10)) -lt $((4 * hz)) ] ||
        fail "the server used $(((after - before) * 1000 / hz)) ms of CPU for 300,000" \
            "pipelined GETs; expected under 400 ms: answer every whole request of a read" \
            "at once, not one per trip around the loop"
}

# bats test_tags=stage:2,slow
@test "a client that pipelines 1,000 GETs of a 256 KiB value and never reads: memory stays bounded" {
    explained_in "$SEE_BACKPRESSURE"
    head -c 262144 /dev/zero | tr '\0' 'x' >"$BATS_TEST_TMPDIR/value"
    kv set big @"$BATS_TEST_TMPDIR/value"
    local before after requests
    before=$(server_rss_kib)
    # 250 MiB of replies, if the server answered every request it has read.
    requests=$(printf "$(get_frame big) %.0s" $(seq 1000))
    open_clients 1
    send_frame "${CLIENT_FDS[0]}" "$requests"
    sleep 2
    run kv -t 5 get canary-absent
    expect_status 1
    after=$(server_rss_kib)
    [ $((after - before)) -lt 32768 ] ||
        fail "server memory grew by $(((after - before) / 1024)) MiB for a client that" \
            "does not read; expected under 32 MiB (its replies would be 250 MiB): stop" \
            "answering while OUTPUT_LIMIT bytes are owed"
    close_clients
    expect_server_recovers
}

# bats test_tags=stage:4,slow
@test "1,000,000 pipelined GETs cost the server under 0.1 s of CPU: no copying per request" {
    explained_in 'docs/04-pipelining.md, section 3, "buffer.c: consuming without moving"'
    skip_if_instrumented
    local before after hz
    hz=$(getconf CLK_TCK)
    yes 'get a' | head -n 1000000 >"$BATS_TEST_TMPDIR/commands"
    before=$(server_cpu_ticks)
    kv -t 60 pipe <"$BATS_TEST_TMPDIR/commands" >"$BATS_TEST_TMPDIR/replies"
    after=$(server_cpu_ticks)
    [ "$(grep -c '^(nil)$' "$BATS_TEST_TMPDIR/replies")" -eq 1000000 ] ||
        fail "expected 1,000,000 NOT_FOUND replies, got $(wc -l <"$BATS_TEST_TMPDIR/replies") lines"
    # Sliding the rest of a 64 KiB read to the front after each of its 9,000 requests
    # costs about a quarter of a second here; consuming by moving a pointer, a hundredth.
    [ $(((after - before) * 10)) -lt "$hz" ] ||
        fail "the server used $(((after - before) * 1000 / hz)) ms of CPU for 1,000,000" \
            "pipelined GETs; expected under 100 ms: consume a request without moving the" \
            "bytes after it"
}

# bats test_tags=implementation,slow
@test "1,000 pipelined requests are answered with a handful of write() calls, not 1,000" {
    implementation_test "how a server batches its write() calls is its own choice"
    command -v strace >/dev/null || skip "strace is not installed"
    [ -z "${KV_UNDER_VALGRIND:-}" ] || skip "memcheck's own write() calls would be counted"
    for _ in $(seq 1000); do echo "0001 00000001 78"; done >"$BATS_TEST_TMPDIR/frames"
    trace_server
    kv raw --hex <"$BATS_TEST_TMPDIR/frames" >"$BATS_TEST_TMPDIR/replies"
    untrace_server
    [ "$(grep -c '^(nil)$' "$BATS_TEST_TMPDIR/replies")" -eq 1000 ] ||
        fail "expected 1000 NOT_FOUND replies"
    local writes
    writes=$(client_writes "$TRACE_LOG")
    [ "$writes" -le 50 ] ||
        fail "the server made $writes write() calls for 1,000 pipelined requests:" \
            "replies to the requests of one read should leave in one write()"
}

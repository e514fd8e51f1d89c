#!/usr/bin/env bats
# 04-pipelining.bats - deep pipelines: every request answered, in order, however many
# arrive in one write. These tests run against step 04 and every later step.

load helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

# bats test_tags=slow
@test "20,000 pipelined requests in one write all come back, correct and in order" {
    seq 10000 | awk '{ print "set key:" $1 " value:" $1; print "get key:" $1 }' \
        >"$BATS_TEST_TMPDIR/commands"
    seq 10000 | awk '{ print "OK"; print "\"value:" $1 "\"" }' >"$BATS_TEST_TMPDIR/expected"
    kv -t 30 pipe <"$BATS_TEST_TMPDIR/commands" >"$BATS_TEST_TMPDIR/replies"
    expect_same_lines "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/replies"
}

@test "four clients pipelining at once each get their own replies in order" {
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

# bats test_tags=slow
@test "large values in a pipeline come back whole and in order" {
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

@test "bad input at the end of a pipeline: every earlier reply, then ERROR, then close" {
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

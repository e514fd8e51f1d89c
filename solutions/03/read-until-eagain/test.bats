#!/usr/bin/env bats
# Exercise 2 of chapter 03, "Read until EAGAIN": when poll() says a client is readable,
# the server reads until read() fails with EAGAIN, not once. strace shows the difference:
# step 03 makes one read() per readable socket and never meets an EAGAIN from a client.

load ../../../tests/helpers

setup() {
    command -v strace >/dev/null || skip "strace is not installed"
    [ -z "${KV_UNDER_VALGRIND:-}" ] || skip "memcheck's own calls would be traced"
    start_server
}

teardown() {
    [ -z "${TRACER_PID:-}" ] || { kill -INT "$TRACER_PID" 2>/dev/null; wait "$TRACER_PID"; } || true
    stop_server
}

@test "a readable client is read until read() says EAGAIN" {
    TRACE_LOG=$BATS_TEST_TMPDIR/trace
    strace -p "$SERVER_PID" -e trace=read -o "$TRACE_LOG" 3>&- 2>/dev/null &
    TRACER_PID=$!
    sleep 1 # strace needs a moment to attach
    run kv set colour blue
    expect_output "OK"
    run kv get colour
    expect_output "blue"
    kill -INT "$TRACER_PID"
    wait "$TRACER_PID" || true
    TRACER_PID=
    grep -q '^read(' "$TRACE_LOG" || fail "strace saw no read(): the test itself is broken"
    grep -q '^read(.* = -1 EAGAIN' "$TRACE_LOG" ||
        fail "expected a read() that failed with EAGAIN after each request; the reads were:" \
            "$(grep '^read(' "$TRACE_LOG" | cut -c1-60)"
}

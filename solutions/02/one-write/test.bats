#!/usr/bin/env bats
# Exercise 2 of chapter 02, "One write per response": every response, header and payload
# together, leaves the server in a single system call. strace, attached to the running
# server, counts the write() and writev() calls that go to clients.

load ../../../tests/helpers

setup() {
    command -v strace >/dev/null || skip "strace is not installed"
    start_server
}

teardown() {
    [ -z "${TRACER_PID:-}" ] || kill -INT "$TRACER_PID" 2>/dev/null || true
    stop_server
}

@test "three responses, one with a payload, leave in three system calls" {
    local trace=$BATS_TEST_TMPDIR/trace calls
    run kv set k "a value"
    expect_output "OK"
    strace -p "$SERVER_PID" -e trace=write,writev -o "$trace" 3>&- 2>/dev/null &
    TRACER_PID=$!
    sleep 1 # strace needs a moment to attach
    run kv pipe <<<$'get k\nget missing\nset k2 v'
    expect_output $'"a value"\n(nil)\nOK'
    kill -INT "$TRACER_PID"
    wait "$TRACER_PID" || true
    TRACER_PID=
    calls=$(grep -Ec '^writev?\(([3-9]|[1-9][0-9]+),' "$trace")
    [ "$calls" -eq 3 ] ||
        fail "expected 3 write()/writev() calls for 3 responses, got $calls:" "$(cat "$trace")"
}

#!/usr/bin/env bats
# Exercise 6 of chapter 03, "epoll": the loop waits in epoll_wait() and never calls
# poll(), and it still serves a busy client among hundreds of idle connections. The
# protocol and event-loop suites run against the solution as they do against step 03:
#   KV_SERVER=build/solutions/03/epoll/server bats tests/02-protocol.bats tests/03-event-loop.bats

load ../../../tests/helpers

setup() {
    command -v strace >/dev/null || skip "strace is not installed"
    [ -z "${KV_UNDER_VALGRIND:-}" ] || skip "memcheck's own calls would be traced"
    start_server
    CLIENT_FDS=()
}

teardown() {
    [ -z "${TRACER_PID:-}" ] || { kill -INT "$TRACER_PID" 2>/dev/null; wait "$TRACER_PID"; } || true
    close_clients
    stop_server
}

@test "the loop waits in epoll_wait(), never in poll(), and serves one client among 300 idle" {
    local trace=$BATS_TEST_TMPDIR/trace
    open_clients 300
    strace -p "$SERVER_PID" -e trace=poll,ppoll,epoll_wait,epoll_pwait -o "$trace" 3>&- 2>/dev/null &
    TRACER_PID=$!
    sleep 1 # strace needs a moment to attach
    run kv set busy yes
    expect_output "OK"
    run kv get busy
    expect_output "yes"
    kill -INT "$TRACER_PID"
    wait "$TRACER_PID" || true
    TRACER_PID=
    ! grep -q '^p\{1,2\}oll(' "$trace" ||
        fail "the server called poll(): expected it to wait in epoll_wait() only;" \
            "the first calls: $(head -3 "$trace" | cut -c1-100)"
    grep -q '^epoll_p\?wait(' "$trace" ||
        fail "strace saw no epoll_wait(): expected the loop to wait there; it saw:" \
            "$(head -3 "$trace" | cut -c1-100)"
}

#!/usr/bin/env bats
# Exercise 3 of chapter 01, "Restart": with SA_RESTART on the SIGTERM handler, a server
# blocked in accept() does not stop when the signal comes: the kernel runs the handler
# and resumes accept(). It stops once a client connects and accept() returns, and then
# the loop finds the flag set. This test checks that answer on the changed server.

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

@test "with SA_RESTART, an idle server stops only when the next client connects" {
    local status=0
    kill -TERM "$SERVER_PID"
    sleep 1
    server_alive ||
        fail "the server stopped on SIGTERM while it waited for a client: the handler" \
            "was installed without SA_RESTART, so accept() failed with EINTR" \
            "(docs/01-echo.md, 'server.c: signals', and exercise 3)"
    kv raw --dump </dev/null >/dev/null 2>&1 || true
    for _ in $(seq 50); do
        server_alive || break
        sleep 0.1
    done
    server_alive && fail "the server still ran 5 s after a client connected, SIGTERM pending"
    wait "$SERVER_PID" || status=$?
    SERVER_PID=
    [ "$status" -eq 0 ] || fail "expected exit status 0, got $status; its stderr:" "$(server_log)"
}

#!/usr/bin/env bats
# Exercise 2 of chapter 06, "Log the timeouts": each connection closed for time gets a
# line on stderr naming the rule that closed it (idle, request or linger deadline). Step
# 06 closes them silently: there the test fails, as it should.

load ../../../tests/helpers

setup() {
    CLIENT_FDS=()
    KV_SERVER_FLAGS="--idle-timeout 1" start_server
}

teardown() {
    close_clients
    stop_server
}

# logged_within SECONDS PATTERN: waits until the server's stderr has a line matching PATTERN.
logged_within() {
    for _ in $(seq $(($1 * 20))); do
        server_log | grep -q -- "$2" && return 0
        sleep 0.05
    done
    return 1
}

@test "a silent client's close is logged as the idle deadline" {
    open_clients 1
    logged_within 6 'idle deadline' ||
        fail "expected a line naming the idle deadline on stderr within 6 s; stderr was:" \
            "$(server_log)"
}

@test "a trickling client's close is logged as the request deadline" {
    kv -t 60 --trickle 300000 get abcdefghijklmnopqrst >/dev/null 2>&1 || true
    logged_within 2 'request deadline' ||
        fail "expected a line naming the request deadline on stderr; stderr was:" "$(server_log)"
}

#!/usr/bin/env bats
# Exercise 4 of chapter 01, "Let SIGPIPE in": with SIGPIPE at its default action, a
# client that sends and closes without reading its echo sooner or later kills the server,
# and the shell reports the death by signal 13 as exit status 128 + 13 = 141. Whether a
# given client does it depends on which comes first, the server's write or the client's
# reset, so the test sends up to 50 of them.

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

@test "with SIGPIPE at its default action, a client that does not read kills the server" {
    local status=0
    for _ in $(seq 50); do
        server_alive || break
        head -c 65536 /dev/zero | kv raw --no-read 2>/dev/null || true
    done
    for _ in $(seq 20); do
        server_alive || break
        sleep 0.1
    done
    server_alive &&
        fail "the server survived 50 clients that closed without reading their echo:" \
            "SIGPIPE is still ignored (docs/01-echo.md, 'server.c: signals', and exercise 4)"
    wait "$SERVER_PID" || status=$?
    SERVER_PID=
    [ "$status" -eq 141 ] ||
        fail "expected death by SIGPIPE, exit status 141; got $status; its stderr:" "$(server_log)"
}

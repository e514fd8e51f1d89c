#!/usr/bin/env bats
# Exercise 5 of chapter 01, "Do not wait for the client": with a time limit of five
# seconds or so on every write, a client that sends a lot and never reads its echo holds
# the server that long and no longer; the next client in the backlog is then served.

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    [ -z "${WRITER:-}" ] || kill "$WRITER" 2>/dev/null || true
    stop_server
}

@test "a client that never reads is dropped, and the next client is served" {
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    # 64 MiB, far more than the socket buffers hold: the server blocks in write().
    head -c 67108864 /dev/zero >&"$fd" 2>/dev/null 3>&- &
    WRITER=$!
    sleep 1
    # kv -t 20: the next client waits up to 20 s for its echo, four times the limit.
    run kv -t 20 raw --dump <<<"next"
    exec {fd}>&-
    expect_output "next" ||
        fail "a client that does not read held the server for 20 s; a time limit on each" \
            "write lets the server give up on it (docs/01-echo.md, section 7, and exercise 5)"
    server_alive || fail "the server died; its stderr:" "$(server_log)"
    [ ! -s "$BATS_TEST_TMPDIR/server.err" ] ||
        fail "a client dropped for not reading is no failure of the server's; it logged:" \
            "$(server_log)"
}

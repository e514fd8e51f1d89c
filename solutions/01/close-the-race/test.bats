#!/usr/bin/env bats
# Exercise 6 of chapter 01, "Close the race": a SIGTERM that arrives after the server has
# checked its stop flag, but before it has started to wait for a client, must still stop
# it. The window is a few instructions wide, so the test widens it: widen.c, preloaded
# into the server, sleeps before the server's first wait (accept, select, poll and their
# p- variants) and the test sends SIGTERM during that sleep.

load ../../../tests/helpers

# The server under test, started through a wrapper that preloads widen.so.
setup_file() {
    local shim=$BATS_FILE_TMPDIR/widen.so
    ${CC:-cc} -shared -fPIC -o "$shim" "$BATS_TEST_DIRNAME/widen.c" -ldl ||
        fail "test bug: could not build widen.so"
    printf '#!/bin/sh\nLD_PRELOAD=%s exec %s "$@"\n' "$shim" "$(realpath "$KV_SERVER")" \
        >"$BATS_FILE_TMPDIR/server"
    chmod +x "$BATS_FILE_TMPDIR/server"
}

setup() {
    KV_SERVER=$BATS_FILE_TMPDIR/server
    export KV_RACE_MARK=$BATS_TEST_TMPDIR/window-open KV_RACE_DELAY=2
}

teardown() {
    stop_server
}

@test "a SIGTERM just before the server starts to wait for a client still stops it" {
    start_server
    for _ in $(seq 100); do
        [ -e "$KV_RACE_MARK" ] && break
        sleep 0.05
    done
    [ -e "$KV_RACE_MARK" ] ||
        fail "test bug: the server never called accept, select, poll, pselect or ppoll"
    # stop_server fails the test unless the server exits with status 0 within 5 s.
    stop_server ||
        fail "the SIGTERM came after the server's last check of its stop flag, before it" \
            "started to wait for a client: the handler ran first, and the wait never saw" \
            "the signal (docs/01-echo.md, section 7, and exercise 6)"
}

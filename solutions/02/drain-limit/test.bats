#!/usr/bin/env bats
# Exercise 5 of chapter 02, "Linger, and for how long": besides its 5 s in all, the
# lingering close after an ERROR stops once it has read and dropped 1 MiB. A client that
# sends without pause after its ERROR then holds the server for far less than 5 s.

load ../../../tests/helpers

setup() {
    start_server
    WRITER_PID=
}

teardown() {
    [ -z "$WRITER_PID" ] || kill "$WRITER_PID" 2>/dev/null || true
    [ -z "${CLIENT:-}" ] || exec {CLIENT}>&-
    stop_server
}

@test "a client that keeps sending after its ERROR is cut off after 1 MiB, not after 5 s" {
    local start elapsed_ms
    exec {CLIENT}<>"/dev/tcp/127.0.0.1/$PORT"
    # An unknown type, then 64 MiB the server will drop; the connection stays open.
    { frame 0009; head -c 67108864 /dev/zero; } >&"$CLIENT" 2>/dev/null 3>&- &
    WRITER_PID=$!
    sleep 0.5 # the ERROR is written and the drain under way
    start=$EPOCHREALTIME
    run kv set next served
    elapsed_ms=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
    expect_output "OK"
    [ "$elapsed_ms" -le 2500 ] ||
        fail "the next client waited ${elapsed_ms} ms; want at most 2500 ms: the drain should" \
            "stop after 1 MiB, long before its 5 s are up"
}

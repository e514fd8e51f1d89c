#!/usr/bin/env bats
# Exercise 2 of chapter 01, "Fill the queue": with a backlog of 1, the kernel completes
# the handshake of at most two waiting clients (Linux queues one more connection than the
# backlog) while the server is busy with another; the rest stay in connect(), their
# handshakes ignored, until there is room.

load ../../../tests/helpers

setup() {
    start_server
    WAITING=()
}

teardown() {
    local pid
    for pid in "${WAITING[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    stop_server
}

@test "with a backlog of 1, at most two waiting clients connect while one is served" {
    local busy reply connected
    exec {busy}<>"/dev/tcp/127.0.0.1/$PORT"
    echo busy >&"$busy"
    read -r -t 5 reply <&"$busy" || fail "the first client got no echo within 5 s"
    # Six more clients, each in its own process: one that connects leaves a file behind
    # and sleeps, holding its connection; one that does not stays blocked in connect().
    for i in 1 2 3 4 5 6; do
        (exec 2>/dev/null {c}<>"/dev/tcp/127.0.0.1/$PORT" &&
            touch "$BATS_TEST_TMPDIR/connected.$i" && exec sleep 30) 3>&- &
        WAITING+=($!)
    done
    sleep 2
    connected=$(find "$BATS_TEST_TMPDIR" -name 'connected.*' | wc -l)
    exec {busy}>&-
    [ "$connected" -ge 1 ] && [ "$connected" -le 2 ] ||
        fail "expected 1 or 2 of 6 waiting clients to connect with a backlog of 1;" \
            "$connected did (docs/01-echo.md, section 2, 'The idea', and exercise 2)"
}

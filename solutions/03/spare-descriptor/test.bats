#!/usr/bin/env bats
# Exercise 5 of chapter 03, "A spare descriptor": out of file descriptors, the server
# accepts each waiting client with the descriptor it keeps in reserve and hangs up on it
# at once. Step 03 instead leaves them in the backlog (accept_paused), where they wait.

load ../../../tests/helpers

setup() {
    start_server 40 # the same limit as the event-loop suite's descriptor test
    CLIENT_FDS=()
}

teardown() {
    close_clients
    stop_server
}

@test "out of descriptors, a client over the limit is turned away at once, not kept waiting" {
    local start ms
    open_clients 16 # served: well under the limit
    open_clients 30 # the limit is reached: accept() fails with EMFILE
    sleep 0.5
    start=$EPOCHREALTIME
    run kv -t 4 get x
    ms=$(((${EPOCHREALTIME/./} - ${start/./}) / 1000))
    [ "$status" -ne 0 ] && [ "$status" -ne 1 ] ||
        fail "a client over the limit was served (status $status): the test needs a full server"
    [ "$ms" -lt 2000 ] ||
        fail "a client over the limit waited $ms ms ($output); expected to be turned away" \
            "at once (under 2000 ms), not left in the backlog"
    # The clients the server holds are still served.
    send_frame "${CLIENT_FDS[0]}" 0001 00000001 78 # GET "x"
    expect_reply "${CLIENT_FDS[0]}" 0001 00000000
    close_clients
    run kv -t 5 set after "the storm"
    expect_output "OK"
}

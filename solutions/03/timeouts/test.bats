#!/usr/bin/env bats
# Exercise 3 of chapter 03, "Timeouts": a connection that moves no byte for 10 s is
# closed, and a DRAINING one after 2 s whatever its client does. Step 03 keeps both for
# as long as their clients keep their sockets open.

load ../../../tests/helpers

setup() {
    start_server
    CLIENT_FDS=()
}

teardown() {
    close_clients
    stop_server
}

# bats test_tags=slow
@test "a client that connects and says nothing is hung up on after 10 s, not before" {
    local start ms status=0
    open_clients 1
    start=$EPOCHREALTIME
    timeout 15 cat <&"${CLIENT_FDS[0]}" >/dev/null || status=$?
    ms=$(((${EPOCHREALTIME/./} - ${start/./}) / 1000))
    [ "$status" -ne 124 ] ||
        fail "a silent client was still connected after 15 s; expected the server to close" \
            "it after 10 s of nothing"
    [ "$ms" -ge 9000 ] ||
        fail "a silent client was hung up on after $ms ms; expected about 10 s, not sooner"
}

@test "a client that keeps its socket open after an ERROR is closed 2 s later" {
    local n
    open_clients 1
    send_frame "${CLIENT_FDS[0]}" 0009 # an unknown type: ERROR, then DRAINING
    for _ in $(seq 40); do # up to 4 s
        n=$(server_fd_count)
        [ "$n" -gt "$SERVER_BASE_FDS" ] || break
        sleep 0.1
    done
    [ "$n" -le "$SERVER_BASE_FDS" ] ||
        fail "4 s after the ERROR the server still holds the connection ($n descriptors," \
            "$SERVER_BASE_FDS when idle); expected it closed 2 s after it began to drain"
}

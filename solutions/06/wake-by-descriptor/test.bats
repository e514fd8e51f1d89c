#!/usr/bin/env bats
# Exercise 4 of chapter 06, "Wake by descriptor": the loop's deadline comes from a timerfd
# and the stop signals from a signalfd, both in the poll set, so that everything the loop
# waits for is a readable descriptor. The server must still close a silent client on time
# and stop at once on SIGTERM. Step 06 has neither descriptor: there the test fails.

load ../../../tests/helpers

setup() {
    CLIENT_FDS=()
    KV_SERVER_FLAGS="--idle-timeout 1" start_server
}

teardown() {
    close_clients
    stop_server
}

# server_has_fd KIND: the server holds an anonymous descriptor of KIND (timerfd, signalfd).
server_has_fd() {
    local link
    for link in /proc/"$SERVER_PID"/fd/*; do
        [ "$(readlink "$link" 2>/dev/null)" = "anon_inode:[$1]" ] && return 0
    done
    return 1
}

@test "the server waits on a timerfd and a signalfd" {
    server_has_fd timerfd || fail "expected the server to hold a timerfd; it holds:" \
        "$(ls -l /proc/"$SERVER_PID"/fd | awk 'NR > 1 { print $NF }')"
    server_has_fd signalfd || fail "expected the server to hold a signalfd; it holds:" \
        "$(ls -l /proc/"$SERVER_PID"/fd | awk 'NR > 1 { print $NF }')"
}

@test "with the timerfd, a silent client is still closed after T, and SIGTERM still stops it" {
    open_clients 1
    timeout 6 cat <&"${CLIENT_FDS[0]}" >/dev/null 2>&1 ||
        [ $? -ne 124 ] || fail "a silent client was still connected after 6 s (--idle-timeout 1)"
    server_has_fd timerfd || fail "expected the server to hold a timerfd"
    local start=$EPOCHREALTIME
    stop_server
    awk -v s="$start" -v n="$EPOCHREALTIME" 'BEGIN { exit !(n - s < 1) }' ||
        fail "SIGTERM took more than a second to stop the server"
}

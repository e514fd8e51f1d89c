#!/usr/bin/env bats
# Exercise 1 of chapter 01, "Who is there?": the server logs each client's address and
# port to standard error when it accepts it. Any wording will do, as long as the line
# holds 127.0.0.1 and, after it, the client's port: "server: client 127.0.0.1:41522".

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

# client_port FD: the local port of this shell's connection FD. The socket's inode (from
# /proc/PID/fd) finds its line in /proc/net/tcp, whose second field is ADDRESS:PORT in hex.
client_port() {
    local inode hex
    inode=$(readlink "/proc/$BASHPID/fd/$1")
    inode=${inode//[^0-9]/}
    hex=$(awk -v inode="$inode" '$10 == inode { split($2, a, ":"); print a[2] }' /proc/net/tcp)
    [ -n "$hex" ] || fail "test bug: connection $1 (inode $inode) is not in /proc/net/tcp"
    echo $((16#$hex))
}

@test "each client's address and port are logged when it is accepted" {
    local fd port reply ports=()
    for client in first second; do
        exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
        echo "$client" >&"$fd"
        read -r -t 5 reply <&"$fd" || fail "the $client client got no echo within 5 s"
        [ "$reply" = "$client" ] || fail "the $client client got '$reply' back"
        port=$(client_port "$fd")
        exec {fd}>&-
        ports+=("$port")
    done
    for port in "${ports[@]}"; do
        grep -Eq "127\.0\.0\.1[^0-9]+$port([^0-9]|\$)" "$BATS_TEST_TMPDIR/server.err" ||
            fail "expected a line on standard error with 127.0.0.1 and the client's port $port;" \
                "the server's standard error was:" "$(server_log)"
    done
}

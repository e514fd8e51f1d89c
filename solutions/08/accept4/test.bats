#!/usr/bin/env bats
# Exercise 1 of chapter 08, "accept4": client sockets are accepted non-blocking and
# close-on-exec in one call. The test reads each socket's flags where the kernel shows
# them, in /proc/PID/fdinfo/FD ("flags:", octal: O_CLOEXEC is 02000000, O_NONBLOCK 04000).

load ../../../tests/helpers

setup() {
    CLIENT_FDS=()
    start_server
}

teardown() {
    close_clients
    stop_server
}

# client_socket_flags: the octal flags of each of the server's sockets but the listener
# (the lowest-numbered socket), one a line.
client_socket_flags() {
    local fd listener=
    for fd in $(ls "/proc/$SERVER_PID/fd" | sort -n); do
        [[ $(readlink "/proc/$SERVER_PID/fd/$fd") == socket:* ]] || continue
        if [ -z "$listener" ]; then
            listener=$fd
            continue
        fi
        awk '/^flags:/ { print $2 }' "/proc/$SERVER_PID/fdinfo/$fd"
    done
}

@test "every client socket is close-on-exec and non-blocking" {
    local flags count=0
    open_clients 3
    for fd in "${CLIENT_FDS[@]}"; do
        send_frame "$fd" "$(get_frame k)"
        expect_reply "$fd" 0001 00000000
    done
    while read -r flags; do
        count=$((count + 1))
        (((8#$flags & 8#2000000) != 0)) ||
            fail "a client socket's flags are $flags (octal): expected O_CLOEXEC (02000000) set"
        (((8#$flags & 8#4000) != 0)) ||
            fail "a client socket's flags are $flags (octal): expected O_NONBLOCK (04000) set"
    done < <(client_socket_flags)
    [ "$count" -eq 3 ] || fail "expected 3 client sockets in /proc/$SERVER_PID/fd, found $count"
}

@test "a client that sends half a request holds up no one" {
    open_clients 1
    send_frame "${CLIENT_FDS[0]}" "0001 0000"
    run kv set k v
    [ "$output" = OK ] || fail "with another client holding half a request, expected OK for SET, got: $output"
    run kv get k
    [ "$output" = v ] || fail "expected GET k to give v, got: $output"
}

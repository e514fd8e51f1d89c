#!/usr/bin/env bats
# Exercise 3 of chapter 08, "edge-triggered": every client is registered with EPOLLET, and
# no client is left waiting for an edge that will not come: not one that pipelines more
# than one read's worth of requests, not one whose requests are held back by OUTPUT_LIMIT,
# not one that half-closes behind its requests.

load ../../../tests/helpers

setup() {
    CLIENT_FDS=()
    start_server
}

teardown() {
    close_clients
    stop_server
}

# epoll_events FD: the events the server's epoll instance watches for its descriptor FD,
# in hex, from /proc/PID/fdinfo of the instance ("tfd: FD events: HEX ...").
epoll_events() {
    local fd
    for fd in $(ls "/proc/$SERVER_PID/fd"); do
        [ "$(readlink "/proc/$SERVER_PID/fd/$fd")" = "anon_inode:[eventpoll]" ] || continue
        awk -v want="$1" '$1 == "tfd:" && $2 == want { print $4 }' "/proc/$SERVER_PID/fdinfo/$fd"
    done
}

@test "client sockets are registered edge-triggered (EPOLLET)" {
    local fd events
    open_clients 1
    send_frame "${CLIENT_FDS[0]}" "$(get_frame k)"
    expect_reply "${CLIENT_FDS[0]}" 0001 00000000
    # The server's highest-numbered socket is that client's (the listener comes first).
    for fd in $(ls "/proc/$SERVER_PID/fd" | sort -rn); do
        [[ $(readlink "/proc/$SERVER_PID/fd/$fd") == socket:* ]] && break
    done
    events=$(epoll_events "$fd")
    [ -n "$events" ] || fail "descriptor $fd is not in the server's epoll set"
    (((16#$events & 16#80000000) != 0)) ||
        fail "descriptor $fd is watched for events $events (hex); expected EPOLLET (80000000) set"
}

@test "a client pipelining 20,000 requests (far more than one read) gets every reply" {
    for i in $(seq 10000); do
        printf 'set k%d %d\nget k%d\n' "$i" "$i" "$i"
    done >"$BATS_TEST_TMPDIR/commands"
    for i in $(seq 10000); do
        printf 'OK\n"%d"\n' "$i"
    done >"$BATS_TEST_TMPDIR/expected"
    kv pipe <"$BATS_TEST_TMPDIR/commands" >"$BATS_TEST_TMPDIR/replies"
    expect_same_lines "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/replies"
}

@test "requests held back by OUTPUT_LIMIT are answered, then the half-close is seen" {
    head -c 262144 /dev/zero | tr '\0' v >"$BATS_TEST_TMPDIR/value"
    kv set big "@$BATS_TEST_TMPDIR/value" >/dev/null
    # 40 GETs of 256 KiB: 10 MiB of replies, held back 1 MiB at a time.
    for _ in $(seq 40); do get_frame big; done >"$BATS_TEST_TMPDIR/frames"
    kv raw --hex <"$BATS_TEST_TMPDIR/frames" >"$BATS_TEST_TMPDIR/replies"
    [ "$(grep -c "^\"v" "$BATS_TEST_TMPDIR/replies")" -eq 40 ] ||
        fail "expected 40 values back, got $(grep -c "^\"v" "$BATS_TEST_TMPDIR/replies")"
    [ "$(tail -n 1 "$BATS_TEST_TMPDIR/replies")" = "(closed)" ] ||
        fail "after the replies, expected the server to close the half-closed connection;" \
            "the last line was: $(tail -n 1 "$BATS_TEST_TMPDIR/replies" | cut -c1-60)"
}

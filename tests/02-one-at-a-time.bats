#!/usr/bin/env bats
# 02-one-at-a-time.bats - behaviour of a server that serves one connection at a time
# (step 02): while it lingers after an ERROR, the next client waits, so the lingering
# close must end on its own. docs/02-protocol.md, "One client at a time" and section 3's
# "lingering close", explain why and how. Steps 03-05 serve every connection at once and
# do not run this suite.

load helpers

# Where each behaviour is explained: a failing test names its section last (explained_in).
SEE_HANGING_UP='docs/02-protocol.md, section 3, "net.c: hanging up without losing what was sent"'

setup() {
    start_server
    WRITER_PID=
}

teardown() {
    say_where_explained
    [ -z "$WRITER_PID" ] || kill "$WRITER_PID" 2>/dev/null || true
    close_clients
    stop_server
}

# bad_frame_client: opens a connection, sends an unknown request type, and reads the ERROR's
# status field; the connection stays open, in CLIENT_FDS[0].
bad_frame_client() {
    open_clients 1
    send_frame "${CLIENT_FDS[0]}" 0009
    expect_reply "${CLIENT_FDS[0]}" 0002
}

# expect_next_client_served_within SECONDS: a fresh client's SET is answered, and within
# SECONDS of now (the bound on the lingering close, 5 s, plus a margin).
expect_next_client_served_within() {
    local start=$EPOCHREALTIME elapsed_ms
    run kv set next "served"
    elapsed_ms=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
    [ "$status" -eq 0 ] && [ "$output" = "OK" ] ||
        fail "the next client was not served (exit status $status, output: $output)," \
            "${elapsed_ms} ms after the first one got its ERROR: the lingering close has" \
            "no time limit, or one per read instead of 5 s in all (docs/02-protocol.md, section 3)"
    [ "$elapsed_ms" -le $(($1 * 1000)) ] ||
        fail "the next client was served only ${elapsed_ms} ms after the first one got its" \
            "ERROR; want at most $1 s: the lingering close should last 5 s in all"
}

# bats test_tags=stage:5
@test "a client that keeps its socket open after an ERROR holds the server 5 s at most" {
    explained_in "$SEE_HANGING_UP"
    bad_frame_client
    expect_next_client_served_within 8
}

# bats test_tags=stage:5
@test "a client that sends a byte every 0.5 s after an ERROR is still cut off after 5 s" {
    explained_in "$SEE_HANGING_UP"
    bad_frame_client
    (
        for _ in $(seq 40); do
            printf x || exit 0 # the server hung up: its job is done
            sleep 0.5
        done
    ) >&"${CLIENT_FDS[0]}" 2>/dev/null 3>&- &
    WRITER_PID=$!
    expect_next_client_served_within 8
}

# bats test_tags=stage:4
@test "SIGTERM during the lingering close after an ERROR stops the server at once" {
    explained_in "$SEE_HANGING_UP"
    bad_frame_client
    # While the server lingers, the next client waits: proof that SIGTERM lands in the drain.
    run kv -t 1 set next "answered at once"
    [ "$status" -ne 0 ] || fail "another client was answered at once after the ERROR: the" \
        "server did not linger after hanging up, so there was no lingering close to stop"
    kill -TERM "$SERVER_PID"
    expect_exit_0_within 2 "while it lingered after an ERROR: a signal must interrupt the" \
        "lingering close (docs/02-protocol.md)"
}

#!/usr/bin/env bats
# 00-command-line.bats - the server's command line, which every step keeps (docs/testing.md,
# "Testing your own server"):
# --port, the ready line, exit status 0 on SIGINT and SIGTERM, status 2 for bad usage.

load helpers

# Where each behaviour is explained: a failing test names its section last (explained_in).
SEE_MAIN="docs/01-echo.md, section 3, 'server.c: main'"
SEE_LISTEN="docs/01-echo.md, section 3, 'net.c: the listening socket' and 'server.c: main'"
SEE_SIGNALS="docs/01-echo.md, section 3, 'server.c: signals' and 'server.c: the accept loop'"
SEE_COMMAND_LINE="docs/01-echo.md, section 3, 'server.c: the command line'"

teardown() {
    say_where_explained
    stop_server
}

# bats test_tags=stage:2
@test "--port 0 gets a free port and announces it on one line" {
    explained_in "$SEE_MAIN"
    start_server
    [ "$PORT" -gt 0 ] || fail "announced port should be above 0, got $PORT"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/server.out")" -eq 1 ] ||
        fail "standard output should hold exactly one line, got:" \
            "$(cat "$BATS_TEST_TMPDIR/server.out")"
}

# bats test_tags=stage:2
@test "--port PORT listens on exactly that port" {
    explained_in "$SEE_LISTEN"
    start_server
    local free=$PORT
    stop_server
    run "$KV_SERVER" --port "$free" --bogus
    expect_status 2
    : >"$BATS_TEST_TMPDIR/server.out" # no earlier server's ready line to mistake for this one's
    "$KV_SERVER" --port "$free" >"$BATS_TEST_TMPDIR/server.out" 3>&- 2>/dev/null &
    SERVER_PID=$!
    for _ in $(seq 100); do
        [ -s "$BATS_TEST_TMPDIR/server.out" ] && break
        sleep 0.05
    done
    run cat "$BATS_TEST_TMPDIR/server.out"
    expect_output "listening on 127.0.0.1:$free"
    # And it answers there: a GET frame comes back echoed (step 01) or answered (02 on).
    PORT=$free
    run kv raw --dump --hex <<<"0001 00000001 6b"
    [ "$status" -eq 0 ] && [ -n "$output" ] ||
        fail "the server said it listens on port $free, but a client connecting there got" \
            "no reply (exit status $status): $output"
}

# bats test_tags=stage:2
@test "SIGTERM stops the server with exit status 0" {
    explained_in "$SEE_SIGNALS"
    start_server
    stop_server
}

# bats test_tags=stage:2
@test "SIGINT stops the server with exit status 0" {
    explained_in "$SEE_SIGNALS"
    start_server
    kill -INT "$SERVER_PID"
    local status=0
    wait "$SERVER_PID" || status=$?
    SERVER_PID=
    [ "$status" -eq 0 ] || fail "expected exit status 0 after SIGINT, got $status"
}

# bats test_tags=stage:1
@test "an unknown option prints usage to stderr and exits 2" {
    explained_in "$SEE_COMMAND_LINE"
    run --separate-stderr "$KV_SERVER" --bogus
    expect_status 2
    [ -z "$output" ] || fail "nothing should go to standard output, got: $output"
    [[ $stderr == *usage* ]] || fail "expected a usage message on stderr, got: $stderr"
}

# bats test_tags=stage:1
@test "a port that is not a number from 0 to 65535 exits 2" {
    explained_in "$SEE_COMMAND_LINE"
    for bad in 65536 -1 12ab "" " 7401" +7401; do
        run "$KV_SERVER" --port "$bad"
        [ "$status" -eq 2 ] || fail "--port '$bad': expected exit status 2, got $status"
    done
    run "$KV_SERVER" --port
    expect_status 2
}

#!/usr/bin/env bats
# 01-echo.bats - step 01's echo server writes back every byte, unchanged and in order,
# and one misbehaving client costs only its own connection.

load helpers

setup() {
    start_server
}

# Where each behaviour is explained: a failing test names its section last (explained_in).
SEE_ACCEPT="docs/01-echo.md, section 3, 'server.c: the accept loop'"
SEE_RESET="docs/01-echo.md, section 3, 'server.c: serving one client'; section 7"
SEE_SIGPIPE="docs/01-echo.md, section 3, 'server.c: signals' (SIGPIPE); section 7"
SEE_STOP="docs/01-echo.md, section 7, 'A stop request during a blocked write'; section 3, 'net.c: writing everything'"
SEE_ECHO="docs/01-echo.md, section 3, 'server.c: serving one client' and 'net.c: writing everything'"

teardown() {
    say_where_explained
    stop_server
}

# echo_file FILE: sends FILE, closes our sending side, and saves all that comes back.
echo_file() {
    kv raw --dump <"$1" >"$BATS_TEST_TMPDIR/echoed"
}

# bats test_tags=stage:3
@test "a line comes back unchanged" {
    explained_in "$SEE_ECHO"
    run kv raw --dump <<<"hello, server"
    expect_output "hello, server"
}

# bats test_tags=stage:3
@test "all 256 byte values come back unchanged, NUL and 0xFF included" {
    explained_in "$SEE_ECHO"
    local all=$BATS_TEST_TMPDIR/all-bytes
    local escapes
    printf -v escapes '\\x%02x' {0..255}
    printf "$escapes" >"$all"
    [ "$(wc -c <"$all")" -eq 256 ] || fail "test bug: expected 256 bytes in $all"
    echo_file "$all"
    expect_same_file "$all" "$BATS_TEST_TMPDIR/echoed"
}

# bats test_tags=stage:3
@test "1 MiB of random bytes comes back identical" {
    explained_in "$SEE_ECHO"
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/random"
    echo_file "$BATS_TEST_TMPDIR/random"
    expect_same_file "$BATS_TEST_TMPDIR/random" "$BATS_TEST_TMPDIR/echoed"
}

# bats test_tags=stage:3
@test "bytes sent one write at a time come back in order" {
    explained_in "$SEE_ECHO"
    run kv --trickle 1000 raw --dump <<<"one byte at a time"
    expect_output "one byte at a time"
}

# bats test_tags=stage:3
@test "a second client is served after the first one leaves" {
    explained_in "$SEE_ACCEPT"
    local first second=$BATS_TEST_TMPDIR/second
    exec {first}<>"/dev/tcp/127.0.0.1/$PORT"
    printf 'first\n' >&"$first"
    run timeout 5 head -n 1 <&"$first"
    expect_output "first"
    # While the first client stays connected, a second one waits in the listen backlog:
    # the kernel completes its connection, but this server serves one client at a time.
    kv raw --dump <<<"second" >"$second" {first}>&- &
    local waiting=$!
    sleep 0.5
    [ ! -s "$second" ] ||
        fail "the second client was answered while the first was still connected;" \
            "step 01 serves one connection at a time (chapter 01)"
    exec {first}>&-
    # Once the first leaves, the server accepts the one waiting: it is served, not dropped.
    wait "$waiting" || fail "the waiting client failed once the first had left"
    run cat "$second"
    expect_output "second"
    expect_server_recovers
}

# bats test_tags=stage:4
@test "a client that resets its connection costs only that connection" {
    explained_in "$SEE_RESET"
    head -c 65536 /dev/urandom | kv raw --reset
    run kv raw --dump <<<"still here"
    expect_output "still here"
}

# bats test_tags=stage:4
@test "a client that closes without reading its echo costs only that connection" {
    explained_in "$SEE_SIGPIPE"
    head -c 262144 /dev/zero | kv raw --no-read
    run kv raw --dump <<<"still here"
    expect_output "still here"
}

# bats test_tags=stage:3
@test "SIGTERM stops the server promptly while it echoes to a client that does not read" {
    explained_in "$SEE_STOP"
    local fd writer
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    # 64 MiB, far more than the socket buffers hold: the echo fills them, since we never
    # read, and the server blocks in write().
    head -c 67108864 /dev/zero >&"$fd" 2>/dev/null 3>&- &
    writer=$!
    sleep 1
    kill -TERM "$SERVER_PID"
    expect_exit_0_within 3 "it waits in a write() for a client that does not read, and" \
        "never looks at the stop request (docs/01-echo.md, section 7)"
    kill "$writer" 2>/dev/null || true
    exec {fd}>&-
}

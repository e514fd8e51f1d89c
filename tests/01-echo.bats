#!/usr/bin/env bats
# 01-echo.bats - step 01's echo server writes back every byte, unchanged and in order,
# and one misbehaving client costs only its own connection.

load helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

# echo_file FILE: sends FILE, closes our sending side, and saves all that comes back.
echo_file() {
    kv raw --dump <"$1" >"$BATS_TEST_TMPDIR/echoed"
}

# bats test_tags=stage:3
@test "a line comes back unchanged" {
    run kv raw --dump <<<"hello, server"
    expect_output "hello, server"
}

# bats test_tags=stage:3
@test "all 256 byte values come back unchanged, NUL and 0xFF included" {
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
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/random"
    echo_file "$BATS_TEST_TMPDIR/random"
    expect_same_file "$BATS_TEST_TMPDIR/random" "$BATS_TEST_TMPDIR/echoed"
}

# bats test_tags=stage:3
@test "bytes sent one write at a time come back in order" {
    run kv --trickle 1000 raw --dump <<<"one byte at a time"
    expect_output "one byte at a time"
}

# bats test_tags=stage:3
@test "a second client is served after the first one leaves" {
    run kv raw --dump <<<"first"
    expect_output "first"
    run kv raw --dump <<<"second"
    expect_output "second"
}

# bats test_tags=stage:4
@test "a client that resets its connection costs only that connection" {
    head -c 65536 /dev/urandom | kv raw --reset
    run kv raw --dump <<<"still here"
    expect_output "still here"
}

# bats test_tags=stage:4
@test "a client that closes without reading its echo costs only that connection" {
    head -c 262144 /dev/zero | kv raw --no-read
    run kv raw --dump <<<"still here"
    expect_output "still here"
}

#!/usr/bin/env bats
# Exercise 2 of chapter 04, "Tune the limit": with OUTPUT_LIMIT at 64 KiB, a pipeline of
# GETs of a 16 KiB value is answered 64 KiB (plus one reply) at a time: no write() ever
# asks the kernel to take more, and every reply still arrives whole and in order.

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

@test "with a 64 KiB limit, no write() carries more than 64 KiB plus one reply" {
    command -v strace >/dev/null || skip "strace is not installed"
    [ -z "${KV_UNDER_VALGRIND:-}" ] || skip "memcheck's own write() calls would be counted"
    local value
    value=$(head -c 16384 /dev/zero | tr '\0' 'v')
    run kv set k "$value"
    expect_output "OK"
    for _ in $(seq 200); do echo "get k"; done >"$BATS_TEST_TMPDIR/commands"
    trace_server
    kv pipe <"$BATS_TEST_TMPDIR/commands" >"$BATS_TEST_TMPDIR/replies"
    untrace_server
    [ "$(grep -cx "\"$value\"" "$BATS_TEST_TMPDIR/replies")" -eq 200 ] ||
        fail "expected 200 replies of the 16 KiB value, got $(wc -l <"$BATS_TEST_TMPDIR/replies") lines"
    # write(fd, "...", COUNT) = N: COUNT is what the server asked the kernel to take.
    local largest limit=$((65536 + 16384 + 6))
    largest=$(awk '{ sub(/^[0-9]+ +/, "") }
        /^write\([0-9]+,/ && substr($0, 7) + 0 > 2 && match($0, /, [0-9]+\) +=/) {
            n = substr($0, RSTART + 2, RLENGTH - 5) + 0; if (n > max) max = n }
        END { print max + 0 }' "$TRACE_LOG")
    [ "$largest" -gt 0 ] || fail "strace saw no write() to a client"
    [ "$largest" -le "$limit" ] ||
        fail "one write() asked for $largest bytes; expected at most $limit:" \
            "64 KiB owed, plus the one reply that crossed the limit"
}

#!/usr/bin/env bats
# Exercise 1 of chapter 04, "Fair by count": a batch ends after 256 requests as well as at
# OUTPUT_LIMIT, so 1,000 small GETs that arrive in one read are answered in four rounds,
# with at most 256 replies in any one write(), and all of them, in order.

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

@test "1,000 pipelined GETs leave in writes of at most 256 replies each" {
    command -v strace >/dev/null || skip "strace is not installed"
    [ -z "${KV_UNDER_VALGRIND:-}" ] || skip "memcheck's own write() calls would be counted"
    for _ in $(seq 1000); do echo "0001 00000001 78"; done >"$BATS_TEST_TMPDIR/frames"
    trace_server
    kv raw --hex <"$BATS_TEST_TMPDIR/frames" >"$BATS_TEST_TMPDIR/replies"
    untrace_server
    [ "$(grep -c '^(nil)$' "$BATS_TEST_TMPDIR/replies")" -eq 1000 ] ||
        fail "expected 1000 NOT_FOUND replies, got:" "$(sort "$BATS_TEST_TMPDIR/replies" | uniq -c)"
    # A NOT_FOUND is 6 bytes: 256 of them are 1,536. write(fd, "...", COUNT) = N
    local largest
    largest=$(awk '{ sub(/^[0-9]+ +/, "") }
        /^write\([0-9]+,/ && substr($0, 7) + 0 > 2 && match($0, /, [0-9]+\) +=/) {
            n = substr($0, RSTART + 2, RLENGTH - 5) + 0; if (n > max) max = n }
        END { print max + 0 }' "$TRACE_LOG")
    [ "$largest" -gt 0 ] || fail "strace saw no write() to a client"
    [ "$largest" -le 1536 ] ||
        fail "one write() carried $largest bytes, $((largest / 6)) replies;" \
            "expected a batch to stop after 256 requests (1,536 bytes)"
}

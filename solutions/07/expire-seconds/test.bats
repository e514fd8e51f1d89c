#!/usr/bin/env bats
# Exercise 1 of chapter 07, "EXPIRE": request type 8 is PEXPIRE with the ttl in seconds, at
# most 2^62 / 1000. A bad ttl gets an ERROR and the connection stays open, as for PEXPIRE.

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

@test "EXPIRE k 60 (type 8) leaves k a PTTL of about 60,000 ms" {
    kv set k v >/dev/null
    run kv raw --hex <<<"0008 00000001 6b 00000008 000000000000003c"
    [ "${lines[0]:-}" = OK ] || fail "expected OK for EXPIRE k 60, got:" "$output"
    run kv pttl k
    [[ $output =~ ^[0-9]+$ ]] && [ "$output" -gt 50000 ] && [ "$output" -le 60000 ] ||
        fail "expected PTTL k between 50000 and 60000 after EXPIRE k 60, got: $output"
}

@test "EXPIRE of a missing key is NOT_FOUND; a ttl over 2^62 / 1000 s gets ERROR, not a close" {
    kv set k v >/dev/null
    # 2^62 / 1000 = 4611686018427387 is accepted, one more is not; then GET k.
    run kv raw --hex <<<"0008 00000007 6d697373696e67 00000008 000000000000003c
                         0008 00000001 6b 00000008 0010624dd2f1a9fc
                         0008 00000001 6b 00000008 0010624dd2f1a9fb
                         0001 00000001 6b"
    [ "${lines[0]:-}" = "(nil)" ] || fail "expected NOT_FOUND for EXPIRE of a missing key:" "$output"
    [[ ${lines[1]:-} == "(error) "* ]] || fail "expected ERROR for a ttl of 2^62 / 1000 + 1 s:" "$output"
    [ "${lines[2]:-}" = OK ] || fail "expected OK for a ttl of 2^62 / 1000 s:" "$output"
    [ "${lines[3]:-}" = '"v"' ] || fail "expected the GET answered on the same connection:" "$output"
}

#!/usr/bin/env bats
# Exercise 3 of chapter 07, "SETPX": request type 10 takes a key, a value and an 8-byte ttl
# (1 to 2^62 ms), and sets the key with its deadline in one request. A bad ttl gets an ERROR
# that leaves the connection open, and leaves the key as it was.

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

@test "SETPX k v 60000 (type 10) sets k with a PTTL of about 60,000 ms" {
    run kv raw --hex <<<"000a 00000001 6b 00000001 76 00000008 000000000000ea60"
    [ "${lines[0]:-}" = OK ] || fail "expected OK for SETPX k v 60000, got:" "$output"
    run kv get k
    expect_output v
    run kv pttl k
    [[ $output =~ ^[0-9]+$ ]] && [ "$output" -gt 50000 ] && [ "$output" -le 60000 ] ||
        fail "expected PTTL k between 50000 and 60000 after SETPX, got: $output"
}

@test "SETPX with a ttl of 0 or 7 bytes gets ERROR, keeps the old value, and the connection" {
    kv set k old >/dev/null
    run kv raw --hex <<<"000a 00000001 6b 00000001 76 00000008 0000000000000000
                         000a 00000001 6b 00000001 76 00000007 00000000000001
                         0001 00000001 6b"
    [[ ${lines[0]:-} == "(error) "* && ${lines[1]:-} == "(error) "* ]] ||
        fail "expected ERROR for a ttl of 0 and a 7-byte ttl, got:" "$output"
    [ "${lines[2]:-}" = '"old"' ] || fail "expected the old value, on the same connection:" "$output"
}

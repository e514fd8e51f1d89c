#!/usr/bin/env bats
# Exercise 4 of chapter 09, "INCR for KV/1": request type 11, one argument, carried out by
# the table's INCR. The reply is the new count as an 8-byte big-endian integer; a value that
# is not an integer gets an ERROR that leaves the connection open.

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

@test "KV/1 INCR (type 11) counts from 0 and shares the counter with RESP" {
    run kv raw --hex <<<"000b 00000001 6e  000b 00000001 6e"
    expect_output "$(printf '%s\n' '"\x00\x00\x00\x00\x00\x00\x00\x01"' \
        '"\x00\x00\x00\x00\x00\x00\x00\x02"' '(closed)')"
    run resp_raw "$PORT" 'INCRBY n 40\r\nQUIT\r\n'
    expect_output "$(printf '%s\n' ':42\r\n' '+OK\r\n' '(closed)')"
}

@test "KV/1 INCR of a value that is not an integer is an ERROR; the connection goes on" {
    kv set s abc >/dev/null
    kv set m -1 >/dev/null
    run kv raw --hex <<<"000b 00000001 73  000b 00000001 6d  0001 00000001 6d"
    [[ ${lines[0]:-} == "(error) value is not an integer or out of range" ]] &&
        [ "${lines[1]:-}" = '"\x00\x00\x00\x00\x00\x00\x00\x00"' ] &&
        [ "${lines[2]:-}" = '"0"' ] ||
        fail "expected an ERROR for INCR s, 0 for INCR m (was -1), then \"0\"; got:" "$output"
}

#!/usr/bin/env bats
# Exercise 3 of chapter 09, "APPEND": the value grows by the argument, a missing key
# starts empty, the reply is the new length, and the key keeps its deadline (as INCR does).

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_redis
    stop_server
}

@test "APPEND answers as Redis 7 does: new lengths, binary bytes, a counter that grows" {
    start_redis
    expect_like_redis 'APPEND a hello\r\nAPPEND a " world"\r\nGET a\r\nAPPEND a ""\r\nAPPEND b "\\x00\\r\\n"\r\nGET b\r\nAPPEND n 1\r\nAPPEND n 2\r\nINCR n\r\nAPPEND\r\nAPPEND a\r\nQUIT\r\n'
}

@test "APPEND keeps the key's deadline" {
    run resp_raw "$PORT" 'SET a x EX 100000\r\nAPPEND a yz\r\nGET a\r\nQUIT\r\n'
    expect_output "$(printf '%s\n' '+OK\r\n' ':3\r\n' '$3\r\n' 'xyz\r\n' '+OK\r\n' '(closed)')"
    run kv pttl a
    [[ $output =~ ^[0-9]+$ ]] && [ "$output" -gt 90000000 ] ||
        fail "expected KV/1's PTTL of a above 90,000,000 ms after APPEND, got:" "$output"
}

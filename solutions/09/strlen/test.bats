#!/usr/bin/env bats
# Exercise 1 of chapter 09, "STRLEN": a command of one argument, the length of the key's
# value in bytes, 0 for a missing key; Redis's own replies, errors included.

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_redis
    stop_server
}

@test "STRLEN counts bytes, binary ones too, and says 0 for a missing key" {
    run resp_raw "$PORT" '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\r\n\x00b\r\nSTRLEN k\r\nSTRLEN missing\r\nQUIT\r\n'
    expect_output "$(printf '%s\n' '+OK\r\n' ':5\r\n' ':0\r\n' '+OK\r\n' '(closed)')"
}

@test "STRLEN answers as Redis 7 does, wrong arity included" {
    start_redis
    expect_like_redis 'SET a hello\r\nSTRLEN a\r\nSTRLEN nothing\r\nSET e ""\r\nSTRLEN e\r\nstrlen a\r\nSTRLEN\r\nSTRLEN a b\r\nQUIT\r\n'
}

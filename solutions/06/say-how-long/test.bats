#!/usr/bin/env bats
# Exercise 1 of chapter 06, "Say how long": the ERROR sent when a request misses its
# deadline says how long the request had been arriving, in milliseconds. Step 06 says only
# "request not received in time": there the test fails, as it should.

load ../../../tests/helpers

setup() {
    KV_SERVER_FLAGS="--idle-timeout 1" start_server
}

teardown() {
    stop_server
}

@test "a request-deadline ERROR says how many milliseconds the request took" {
    # One byte every 0.3 s: a 26-byte GET would take 7.8 s; the deadline comes after 1 s.
    run kv -t 60 --trickle 300000 get abcdefghijklmnopqrst
    [[ $output =~ \(error\)\ request\ not\ received\ in\ time.*\ ([0-9]+)\ ms ]] ||
        fail "expected an ERROR that names the milliseconds the request took, got:" "$output"
    local ms=${BASH_REMATCH[1]}
    [ "$ms" -ge 990 ] && [ "$ms" -le 4000 ] ||
        fail "the request took $ms ms by the ERROR; with --idle-timeout 1 expected 990 to 4000"
}

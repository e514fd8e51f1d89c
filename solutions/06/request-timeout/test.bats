#!/usr/bin/env bats
# Exercise 3 of chapter 06, "A flag of its own": --request-timeout SECONDS gives the request
# deadline its own value, apart from --idle-timeout. Step 06 has no such flag and refuses
# the command line: there the tests fail, as they should.

load ../../../tests/helpers

setup() {
    CLIENT_FDS=()
}

teardown() {
    close_clients
    stop_server
}

@test "--request-timeout 1 with --idle-timeout 60 closes a trickling client after about 1 s" {
    KV_SERVER_FLAGS="--idle-timeout 60 --request-timeout 1" start_server
    local start=$EPOCHREALTIME took
    run kv -t 60 --trickle 300000 get abcdefghijklmnopqrst
    took=$(awk -v s="$start" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.1f", n - s }')
    [[ $output == *"request not received in time"* ]] ||
        fail "expected the request-deadline ERROR, got:" "$output"
    awk -v t="$took" 'BEGIN { exit !(t >= 0.9 && t <= 5) }' ||
        fail "the trickling client was closed after $took s; expected 1 to 5 s"
}

@test "--request-timeout 1 leaves a silent client to the idle timeout" {
    KV_SERVER_FLAGS="--idle-timeout 60 --request-timeout 1" start_server
    open_clients 1
    sleep 2.5
    send_frame "${CLIENT_FDS[0]}" 0001 00000001 6b
    expect_reply "${CLIENT_FDS[0]}" 0001 00000000
}

@test "--request-timeout 0 is refused: usage on stderr, exit 2" {
    run --separate-stderr timeout 5 "$KV_SERVER" --port 0 --request-timeout 0
    [ "$status" -eq 2 ] || fail "expected exit status 2, got $status"
    [[ $stderr == *usage* ]] || fail "expected usage on stderr, got: $stderr"
}

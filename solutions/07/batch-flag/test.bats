#!/usr/bin/env bats
# Exercise 2 of chapter 07, "The batch as a flag": --expire-batch N (1 to 10,000,000) sets
# how many expired keys the expiry task frees per round. With 10, 20,000 keys that expire
# together take 2,000 rounds, and are still all freed within a few seconds; a bad value is a
# bad command line.

load ../../../tests/helpers

teardown() {
    stop_server
}

@test "with --expire-batch 10, 20,000 keys that expire together are all freed" {
    local size
    KV_SERVER_FLAGS="--expire-batch 10" start_server
    "$KV_BENCH" -p "$PORT" -k 20000 --preload --expire 500 -n 1 -r 1:0 -q >/dev/null ||
        fail "kvbench could not load the keys"
    for _ in $(seq 100); do
        size=$(kv dbsize)
        [ "$size" = 0 ] && return 0
        sleep 0.1
    done
    fail "DBSIZE was still $size 10 s after the keys' deadline"
}

@test "--expire-batch takes a number from 1 to 10,000,000; anything else exits 2" {
    local bad
    for bad in 0 -1 abc 1x "" 10000001; do
        run --separate-stderr timeout 5 "$KV_SERVER" --port 0 --expire-batch "$bad"
        [ "$status" -eq 2 ] || fail "--expire-batch '$bad': expected exit status 2, got $status"
    done
}

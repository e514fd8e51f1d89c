#!/usr/bin/env bats
# Exercise 2 of chapter 08, "STATS": request type 11, no arguments, answered with three
# 8-byte big-endian integers: the clients connected, the refused connections still
# lingering, and the bytes all clients hold (client_bytes).

load ../../../tests/helpers

setup() {
    CLIENT_FDS=()
}

teardown() {
    close_clients
    stop_server
}

# stats_reply CLIENTS REFUSED BYTES: the hex of the reply STATS should get.
stats_reply() {
    printf '0000 00000018 %016x %016x %016x' "$1" "$2" "$3"
}

@test "STATS counts the clients, and the bytes of a SET half received" {
    local a b
    start_server
    open_clients 2
    a=${CLIENT_FDS[0]} b=${CLIENT_FDS[1]}
    # a: the 11-byte head of a SET of k with a 300 KiB value, and 150 KiB of the value.
    send_frame "$a" "0002 00000001 6b $(u32_of 307200)"
    head -c 153600 /dev/zero >&"$a"
    sleep 0.5
    send_frame "$b" 000b 00000000
    expect_reply "$b" "$(stats_reply 2 0 153611)" ||
        fail "with a holding 153,611 bytes of an unfinished SET, STATS on b should say 2" \
            "clients, 0 refused, 153611 bytes"
}

@test "STATS counts a refused connection while it lingers, apart from the clients" {
    KV_SERVER_FLAGS="--max-clients 2" start_server
    open_clients 3 # the third is refused, and lingers while we keep it open
    sleep 0.3
    send_frame "${CLIENT_FDS[0]}" 000b 00000000
    expect_reply "${CLIENT_FDS[0]}" "$(stats_reply 2 1 0)" ||
        fail "with --max-clients 2, two clients and a third refused, STATS should say 2 clients," \
            "1 refused, 0 bytes"
}

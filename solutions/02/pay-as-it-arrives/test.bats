#!/usr/bin/env bats
# Exercise 4 of chapter 02, "Pay for what arrives": the server's memory follows the bytes
# a client has sent, not the length it declared. Six bytes that announce a 32 MiB key must
# not grow the server by 32 MiB; arguments that do arrive must still come through whole.

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    [ -z "${CLIENT:-}" ] || exec {CLIENT}>&-
    stop_server
}

@test "a SET that declares a 32 MiB key and sends nothing costs less than 4 MiB" {
    local before after
    before=$(server_vm_kib)
    exec {CLIENT}<>"/dev/tcp/127.0.0.1/$PORT"
    frame 0002 02000000 >&"$CLIENT" # SET, key of 32 MiB: then nothing more
    sleep 1
    after=$(server_vm_kib)
    [ $((after - before)) -lt 4096 ] ||
        fail "the server's address space grew by $((after - before)) KiB (VmSize) after six" \
            "bytes that declared a 32 MiB key; want under 4096 KiB: allocate as bytes arrive"
}

@test "values of 4 MiB and of exactly 32 MiB still round-trip" {
    local size
    for size in 4194304 33554432; do
        head -c "$size" /dev/urandom >"$BATS_TEST_TMPDIR/value"
        run kv set "v$size" @"$BATS_TEST_TMPDIR/value"
        expect_output "OK"
        kv get "v$size" >"$BATS_TEST_TMPDIR/got"
        expect_same_file "$BATS_TEST_TMPDIR/value" "$BATS_TEST_TMPDIR/got"
    done
}

#!/usr/bin/env bats
# Exercise 1 of chapter 02, "A new request type": type 4, EXISTS key, answers OK with an
# empty payload when the key is stored and NOT_FOUND when it is not, and leaves the
# connection open for the next request, as every well-formed request does.

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

@test "EXISTS answers OK (empty) for a stored key, NOT_FOUND for a missing one" {
    run kv set here value
    expect_output "OK"
    # EXISTS here, EXISTS gone, then a GET on the same connection: the stream stays in step.
    run kv raw --hex <<<"0004 00000004 68657265
                         0004 00000004 676f6e65
                         0001 00000004 68657265"
    [ "${lines[0]:-}" = "OK" ] ||
        fail "expected OK (an empty payload) for EXISTS of a stored key, got:" "$output"
    [ "${lines[1]:-}" = "(nil)" ] ||
        fail "expected (nil), NOT_FOUND, for EXISTS of a missing key, got:" "$output"
    [ "${lines[2]:-}" = '"value"' ] ||
        fail "expected the GET after the two EXISTS to be answered, got:" "$output"
}

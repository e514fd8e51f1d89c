#!/usr/bin/env bats
# Exercise 1 of chapter 03, "Watch the states": every change of a connection's state
# leaves one line on the server's stderr, "fd N: FROM -> TO", each an arrow of the
# diagram in docs/03-event-loop.md, section 2, "The connection state machine".

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

# expect_transition FROM TO: the log holds that arrow, for some descriptor.
expect_transition() {
    server_log | grep -Eq "^fd [0-9]+: $1 -> $2\$" ||
        fail "expected a line 'fd N: $1 -> $2' on the server's stderr; it wrote:" \
            "$(server_log | head -20)"
}

@test "a request answered logs READING -> WRITING -> READING, and the client's close -> DONE" {
    run kv set colour blue
    expect_output "OK"
    expect_server_serves
    expect_transition READING WRITING
    expect_transition WRITING READING
    expect_transition READING DONE
}

@test "a protocol error logs WRITING -> DRAINING, then DRAINING -> DONE when the client closes" {
    run kv raw --hex <<<"0009"
    expect_server_serves
    expect_transition WRITING DRAINING
    expect_transition DRAINING DONE
}

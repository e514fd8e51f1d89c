#!/usr/bin/env bats
# Exercise 4 of chapter 03, "Close the signal race": with SIGINT and SIGTERM unblocked
# only inside ppoll(), the loop needs no timeout to notice a stop, so an idle server
# sleeps until something happens. Step 03 wakes up once a second to look at its flag.
# The kernel counts the wake-ups: voluntary_ctxt_switches in /proc/PID/status.

load ../../../tests/helpers

setup() {
    [ -r /proc/self/status ] || skip "no /proc: the wake-ups cannot be counted"
    start_server
}

teardown() {
    stop_server
}

wakeups() {
    awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$SERVER_PID/status"
}

@test "an idle server sleeps: no wake-up in 3.5 s, and SIGTERM still stops it at once" {
    local before after
    expect_server_serves
    sleep 0.5
    before=$(wakeups)
    sleep 3.5
    after=$(wakeups)
    [ $((after - before)) -le 1 ] ||
        fail "an idle server woke up $((after - before)) times in 3.5 s; expected at most" \
            "once: with the race closed, a stop no longer needs a timeout to be noticed"
    stop_server 2 # the helpers fail the test if it takes longer than 2 s
}

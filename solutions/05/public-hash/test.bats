#!/usr/bin/env bats
# Exercise 2 of chapter 05, "Flood a table with a public hash": with FNV-1a, which has no
# key, 30,000 keys chosen offline (flood.c) all land in one bucket, and setting them costs
# the server many times the CPU time of 30,000 ordinary keys. On step 05, keyed with
# SipHash, the same keys are as cheap as any others: there the test fails, as it should.
# The cost is the server's CPU time (from /proc), which other work on the machine does
# not inflate.

load ../../../tests/helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

# cpu_ticks_for FILE: the server's CPU ticks while `kv pipe` sends FILE's commands.
cpu_ticks_for() {
    local before after
    before=$(server_cpu_ticks)
    kv -t 60 pipe <"$1" >"$BATS_TEST_TMPDIR/replies"
    after=$(server_cpu_ticks)
    [ "$(sort -u "$BATS_TEST_TMPDIR/replies")" = OK ] ||
        fail "expected every SET in $1 to answer OK, got:" \
            "$(sort "$BATS_TEST_TMPDIR/replies" | uniq -c | head -5)"
    echo $((after - before))
}

@test "30,000 keys chosen for FNV-1a cost far more than 30,000 ordinary keys" {
    local t=$BATS_TEST_TMPDIR flood ordinary hz
    hz=$(getconf CLK_TCK)
    ${CC:-cc} -std=c11 -Wall -Wextra -Werror -pedantic -O2 -o "$t/flood" \
        "$BATS_TEST_DIRNAME/flood.c" || fail "flood.c does not build"
    "$t/flood" 30000 >"$t/flood.txt"
    seq 30000 | awk '{ print "set o:" $1 ":xy v" }' >"$t/ordinary.txt"
    ordinary=$(cpu_ticks_for "$t/ordinary.txt")
    flood=$(cpu_ticks_for "$t/flood.txt")
    [ "$flood" -ge $((5 * ordinary + hz / 4)) ] ||
        fail "30,000 flooding SETs took $flood CPU ticks ($hz a second), 30,000 ordinary" \
            "ones $ordinary: expected the flood to cost at least 5 times as much, plus a quarter" \
            "second (does the store still use a keyed hash?)"
}

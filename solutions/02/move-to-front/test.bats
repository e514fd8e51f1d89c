#!/usr/bin/env bats
# Exercise 6 of chapter 02, "How slow is slow?": store_get() moves each key it finds to
# the head of the list. Then 20,000 GETs of the oldest of 30,000 keys cost the server about
# what 20,000 GETs of the newest cost; in step 02 each one walks the whole list. The cost
# is the server's CPU time (from /proc), which other work on the machine does not inflate.

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
    kv pipe <"$1" >"$BATS_TEST_TMPDIR/replies"
    after=$(server_cpu_ticks)
    [ "$(sort -u "$BATS_TEST_TMPDIR/replies")" = '"value"' ] ||
        fail "expected every GET in $1 to return \"value\", got:" \
            "$(sort "$BATS_TEST_TMPDIR/replies" | uniq -c | head -5)"
    echo $((after - before))
}

@test "GETs of the oldest key cost no more than GETs of the newest, once it is found" {
    local newest oldest hz
    hz=$(getconf CLK_TCK)
    seq 1 30000 | sed 's/.*/set key:& value/' | kv pipe >/dev/null
    yes 'get key:30000' | head -20000 >"$BATS_TEST_TMPDIR/newest"
    yes 'get key:1' | head -20000 >"$BATS_TEST_TMPDIR/oldest"
    newest=$(cpu_ticks_for "$BATS_TEST_TMPDIR/newest")
    oldest=$(cpu_ticks_for "$BATS_TEST_TMPDIR/oldest")
    [ "$oldest" -le $((2 * newest + hz / 4)) ] ||
        fail "20,000 GETs of the oldest key took $oldest CPU ticks ($hz a second), those of" \
            "the newest $newest: each GET of the oldest still walks the whole list"
}

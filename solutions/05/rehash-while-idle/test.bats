#!/usr/bin/env bats
# Exercise 1 of chapter 05, "Resize while idle": ht_rehash_for(table, nanoseconds) moves the
# buckets of a resize under way until it ends or the time is up. The test builds idle_test.c
# against the table the server under test was built from, and runs it.

load ../../../tests/helpers

# The folder of the server's sources: a solution's src/ beside it, or step 05's folder.
sources() {
    case $KV_SERVER in
    */server) echo "$(dirname "$KV_SERVER")/src" ;;
    *) compgen -G "$KV_ROOT/steps/05-*" | head -1 ;;
    esac
}

@test "ht_rehash_for() finishes a resize under way, and a budget of 0 stops after a slice" {
    local src program=$BATS_TEST_TMPDIR/idle_test
    src=$(sources)
    ${CC:-cc} -std=c11 -Wall -Wextra -Werror -pedantic -O2 -I"$src" -o "$program" \
        "$BATS_TEST_DIRNAME/idle_test.c" "$src/hashtable.c" \
        >"$BATS_TEST_TMPDIR/cc.log" 2>&1 ||
        fail "idle_test.c does not build against $src/hashtable.c (is ht_rehash_for() declared" \
            "in hashtable.h?):" "$(cat "$BATS_TEST_TMPDIR/cc.log")"
    run "$program"
    [ "$status" -eq 0 ] || fail "expected idle_test to pass, got status $status:" "$output"
}

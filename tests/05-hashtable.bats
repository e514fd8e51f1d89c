#!/usr/bin/env bats
# 05-hashtable.bats - step 05's hash table: its own test program, and a server that keeps
# every key right through many resizes. These tests run against step 05 and later steps.

load helpers

setup() {
    start_server
}

teardown() {
    stop_server
}

# pipe_expect COMMANDS EXPECTED: sends the commands pipelined and compares every reply.
pipe_expect() {
    kv -t 30 pipe <"$1" >"$BATS_TEST_TMPDIR/replies"
    expect_same_lines "$2" "$BATS_TEST_TMPDIR/replies"
}

# bats test_tags=implementation
@test "the hash table's own test program passes" {
    implementation_test "it runs this project's own table (tests/hashtable_test.c), not yours"
    run "$KV_HASHTABLE_TEST"
    expect_status 0
}

# bats test_tags=slow
@test "200,000 keys set, all read back, half deleted, and the other half intact" {
    local t=$BATS_TEST_TMPDIR
    seq 200000 | awk '{ print "set key:" $1 " value:" $1 }' >"$t/set"
    seq 200000 | awk '{ print "OK" }' >"$t/ok"
    pipe_expect "$t/set" "$t/ok"

    seq 200000 | awk '{ print "get key:" $1 }' >"$t/get"
    seq 200000 | awk '{ print "\"value:" $1 "\"" }' >"$t/values"
    pipe_expect "$t/get" "$t/values"

    seq 2 2 200000 | awk '{ print "del key:" $1 }' >"$t/del"
    seq 2 2 200000 | awk '{ print "OK" }' >"$t/deleted"
    pipe_expect "$t/del" "$t/deleted"

    seq 200000 | awk '{ print ($1 % 2) ? "\"value:" $1 "\"" : "(nil)" }' >"$t/half"
    pipe_expect "$t/get" "$t/half"
}

@test "1,000 keys that differ only after a NUL byte are 1,000 different keys" {
    local t=$BATS_TEST_TMPDIR
    seq 1000 | awk '{ print "set k\\x00" $1 " v" $1 }' >"$t/set"
    seq 1000 | awk '{ print "OK" }' >"$t/ok"
    pipe_expect "$t/set" "$t/ok"
    seq 1000 | awk '{ print "get k\\x00" $1 }' >"$t/get"
    seq 1000 | awk '{ print "\"v" $1 "\"" }' >"$t/values"
    pipe_expect "$t/get" "$t/values"
    run kv get k
    expect_status 1
}

# bats test_tags=slow
@test "a key set, deleted and set again through many resizes keeps its latest value" {
    local t=$BATS_TEST_TMPDIR
    {
        seq 50000 | awk '{ print "set grow:" $1 " x" }'
        echo "set survivor first"
        seq 50000 | awk '{ print "del grow:" $1 }'
        echo "del survivor"
        echo "set survivor second"
        echo "get survivor"
    } >"$t/commands"
    {
        seq 100003 | awk '{ print "OK" }' # 50,001 SETs, 50,001 DELs, one more SET
        echo '"second"'
    } >"$t/expected"
    pipe_expect "$t/commands" "$t/expected"
}

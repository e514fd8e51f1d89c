#!/usr/bin/env bats
# 05-hashtable.bats - step 05's hash table. From outside, a server with a hash table behaves
# like one with a list, only faster; so most of these tests build the table's own test
# programs (tests/siphash_test.c, tests/hashtable_test.c) against the server's sources and
# run groups of them. The sources are in the folder KV_SOURCES names (make test-05 and
# make check-05 set it; sources_of_server guesses it when bats is run by hand). The rest
# check the server: many keys, fast; keys that differ after a NUL byte; one key through
# many resizes. These tests run against step 05 and later steps.

load helpers

# Where each behaviour is explained: a failing test names its section last (explained_in).
SEE_SIPHASH='docs/05-hashtable.md, section 3, "siphash.c: SipHash-2-4"'
SEE_TABLE='docs/05-hashtable.md, section 3, "hashtable.c: lookup" and what follows'
SEE_ITERATION='docs/05-hashtable.md, section 3, "hashtable.c: iteration"'
SEE_STORE='docs/05-hashtable.md, section 3, "store.c: the store over the table"'
SEE_GROW='docs/05-hashtable.md, section 3, "hashtable.c: progressive resizing"'
SEE_PROGRESSIVE='docs/05-hashtable.md, section 2, "Resizing a little at a time"'
SEE_SHRINK='docs/05-hashtable.md, section 2, "Load factor" (shrinking)'

# The server's sources: KV_SOURCES, or else the folder the server under test was built
# from, when its path says (build/step-NN, build/san/step-NN, build/workspace-NN, or a
# solution's build/solutions/NN/NAME/server beside its src/).
sources_of_server() {
    local server=$KV_SERVER nn
    case $server in
    */build/solutions/*/server | build/solutions/*/server) echo "$(dirname "$server")/src" ;;
    *build/workspace-[0-9][0-9]) echo "$KV_ROOT/workspace/${server##*-}" ;;
    *build/step-[0-9][0-9] | *build/san/step-[0-9][0-9])
        nn=${server##*-}
        compgen -G "$KV_ROOT/steps/$nn-*" | head -1
        ;;
    esac
}
KV_SOURCES=${KV_SOURCES:-$(sources_of_server)}

setup() {
    start_server
}

teardown() {
    say_where_explained
    stop_server
}

# pipe_expect COMMANDS EXPECTED: sends the commands pipelined and compares every reply.
pipe_expect() {
    kv -t 30 pipe <"$1" >"$BATS_TEST_TMPDIR/replies"
    expect_same_lines "$2" "$BATS_TEST_TMPDIR/replies"
}

# build_test NAME SOURCE...: builds tests/NAME.c with the given .c files of $KV_SOURCES
# (once per suite run) and sets TEST_PROGRAM. Fails, showing the compiler's messages, if
# that does not build.
build_test() {
    local name=$1 sources=() source
    shift
    [ -n "${KV_SOURCES:-}" ] ||
        skip "KV_SOURCES names no source folder (set it to the folder of your hashtable.c)"
    for source in "$@"; do
        [ -f "$KV_SOURCES/$source" ] ||
            fail "tests/$name.c needs $KV_SOURCES/$source, which does not exist yet"
        sources+=("$KV_SOURCES/$source")
    done
    TEST_PROGRAM=$BATS_FILE_TMPDIR/$name
    [ -x "$TEST_PROGRAM" ] && return 0
    # shellcheck disable=SC2086 # KV_TEST_CFLAGS is a list of flags
    ${CC:-cc} -std=c11 -Wall -Wextra -Werror -pedantic ${KV_TEST_CFLAGS:--O2 -g} \
        -I"$KV_SOURCES" -o "$TEST_PROGRAM" "$KV_ROOT/tests/$name.c" "${sources[@]}" \
        >"$BATS_TEST_TMPDIR/cc.log" 2>&1 ||
        fail "tests/$name.c does not build with ${sources[*]} (keep step 05's" \
            "header: tests/$name.c uses the table through it):" \
            "$(cat "$BATS_TEST_TMPDIR/cc.log")"
}

# table_groups GROUP[,GROUP...]: runs those groups of tests/hashtable_test.c against the
# table in $KV_SOURCES.
table_groups() {
    build_test hashtable_test hashtable.c siphash.c
    run "$TEST_PROGRAM" -g "$1"
    [ "$status" -eq 0 ] ||
        fail "tests/hashtable_test.c -g $1 against $KV_SOURCES/hashtable.c: expected every" \
            "group to pass (exit status 0), got status $status:" "$output"
}

# bats test_tags=implementation
@test "the hash table's own test program passes" {
    implementation_test "it runs this project's own table (tests/hashtable_test.c), not yours"
    run "$KV_HASHTABLE_TEST"
    expect_status 0
}

# bats test_tags=stage:1
@test "siphash24() gives the 64 reference outputs of SipHash-2-4" {
    explained_in "$SEE_SIPHASH"
    build_test siphash_test siphash.c
    run "$TEST_PROGRAM"
    [ "$status" -eq 0 ] ||
        fail "tests/siphash_test.c against $KV_SOURCES/siphash.c: expected the reference" \
            "outputs (exit status 0), got status $status:" "$output"
}

# bats test_tags=stage:2
@test "the table finds, overwrites and removes keys, byte strings included" {
    explained_in "$SEE_TABLE"
    table_groups basics,byte-keys,equal-hashes
}

# bats test_tags=stage:2
@test "iterating over the table visits every node once and can stop early" {
    explained_in "$SEE_ITERATION"
    table_groups iteration
}

# bats test_tags=stage:2,slow
@test "200,000 keys are set and read back in under 15 seconds" {
    explained_in "$SEE_STORE"
    local t=$BATS_TEST_TMPDIR
    {
        seq 200000 | awk '{ print "set key:" $1 " value:" $1 }'
        seq 200000 | awk '{ print "get key:" $1 }'
    } >"$t/commands"
    {
        seq 200000 | awk '{ print "OK" }'
        seq 200000 | awk '{ print "\"value:" $1 "\"" }'
    } >"$t/expected"
    # A store that searches a list of every key needs over a minute of CPU time for this
    # (chapter 05, "Going deeper"); a hash table a fifth of a second.
    timeout 15 "$KV_CLIENT" -p "$PORT" -t 15 pipe <"$t/commands" >"$t/replies" ||
        fail "400,000 pipelined requests on 200,000 keys: expected every reply within" \
            "15 seconds, got $(wc -l <"$t/replies") replies (does each request still" \
            "search every key?)"
    expect_same_lines "$t/expected" "$t/replies"
}

# bats test_tags=stage:2
@test "1,000 keys that differ only after a NUL byte are 1,000 different keys" {
    explained_in "$SEE_STORE"
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

# bats test_tags=stage:3
@test "the table doubles as keys arrive: 100,000 keys in 131,072 buckets" {
    explained_in "$SEE_GROW"
    table_groups grow
}

# bats test_tags=stage:4
@test "a resize moves a few buckets per call, and lookups and iteration see both arrays" {
    explained_in "$SEE_PROGRESSIVE"
    table_groups iteration-mid-resize
}

# bats test_tags=stage:5
@test "the table shrinks as keys go: from 131,072 buckets back to 8" {
    explained_in "$SEE_SHRINK"
    table_groups shrink
}

# bats test_tags=stage:5
@test "200,000 random operations agree with a simple model, through many resizes" {
    explained_in "$SEE_SHRINK"
    table_groups random
}

# bats test_tags=stage:2,slow
@test "200,000 keys set, all read back, half deleted, and the other half intact" {
    explained_in "$SEE_STORE"
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

# bats test_tags=stage:2,slow
@test "a key set, deleted and set again through many resizes keeps its latest value" {
    explained_in "$SEE_STORE"
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

#!/usr/bin/env bats
# c-programs-valgrind.bats - the data structures' own C test programs under valgrind's
# memcheck: the hash table (tests/hashtable_test.c, step 05) and the timer and expiry heap
# (tests/heap_test.c, step 06). `make valgrind` runs this suite once, beside the servers.
#
# Each program checks its structure against a simple model after every operation; memcheck
# adds what a model cannot see: a read of freed or uninitialised memory, a write past an
# array, a block never freed. These are this project's own structures, so the tests are
# implementation tests: a learner's server has no part in them.

KV_ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
KV_HASHTABLE_TEST=${KV_HASHTABLE_TEST:-$KV_ROOT/build/hashtable_test}
KV_HEAP_TEST=${KV_HEAP_TEST:-$KV_ROOT/build/heap_test}

fail() {
    printf '%s\n' "$@" >&2
    return 1
}

# expect_memcheck_clean PROGRAM: it passes its own checks, and memcheck reports nothing.
expect_memcheck_clean() {
    run valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all "$1"
    [ "$status" -eq 0 ] ||
        fail "$1 under valgrind exited with status $status (99: memcheck found an error;" \
            "anything else: the program's own checks failed); its output:" "$output"
}

# bats test_tags=implementation
@test "the hash table's test program is clean under memcheck" {
    expect_memcheck_clean "$KV_HASHTABLE_TEST"
}

# bats test_tags=implementation
@test "the heap's test program is clean under memcheck" {
    expect_memcheck_clean "$KV_HEAP_TEST"
}

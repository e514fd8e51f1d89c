#!/usr/bin/env bats
# 07-expiry.bats - step 07's keys that expire: PEXPIRE, PTTL, PERSIST and DBSIZE, lazy
# expiry on every request, and the server freeing expired keys by itself, in bounded
# rounds. These tests run against step 07 and every later step.
#
# The test names start with the part of chapter 07 they check (types, ttl, deadlines, lazy,
# active),
# so `bats -f '^active'` runs one part. Deadlines are short (a few hundred milliseconds)
# and the margins wide: a test that waits for something to expire waits well past it, and
# one that needs a key alive gives it a minute. The slow tests load 200,000 keys with
# kvbench (--preload --expire), which times them to expire at one moment.

load helpers

SEE_TYPES='docs/07-expiry.md, section 3, "protocol.c: four request types"'
SEE_TTL='docs/07-expiry.md, section 3, "server.c: answering the new requests"'
SEE_DEADLINE='docs/07-expiry.md, section 3, "store.c: a deadline per key"'
SEE_LAZY='docs/07-expiry.md, section 3, "store.c: lazy expiry"'
SEE_ACTIVE='docs/07-expiry.md, section 3, "server.c: the expiry task"'
SEE_BATCH='docs/07-expiry.md, section 2, "Freeing in rounds"'
SEE_PILEUP='docs/07-expiry.md, section 2, "Keeping up with the writers"'

MASS_KEYS=200000

setup() {
    start_server
}

teardown() {
    say_where_explained
    stop_server
}

# pipe_in LINES...: sends the lines to the server with kv pipe, one command each.
pipe_in() {
    printf '%s\n' "$@" | kv pipe
}

# expect_lines WANT...: the last `run` printed exactly these lines.
expect_lines() {
    local want
    want=$(printf '%s\n' "$@")
    [ "$output" = "$want" ] || fail "expected these replies:" "$want" "got (exit status $status):" "$output"
}

# expect_in_range WHAT N LOW HIGH: LOW <= N <= HIGH.
expect_in_range() {
    [[ $2 =~ ^-?[0-9]+$ ]] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] ||
        fail "$1: expected a number from $3 to $4, got: $2"
}

# dbsize: the server's DBSIZE, as a decimal number.
dbsize() {
    kv dbsize
}

# now_ms: this machine's clock, in milliseconds.
now_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

# not_under_valgrind: skips a test that measures time, which memcheck slows 10 to 50 times.
not_under_valgrind() {
    [ -z "${KV_UNDER_VALGRIND:-}" ] || skip "it measures time, and memcheck slows the server down"
}

# load_expiring N MS: SETs key:000000000000 ... key:N-1, each followed by a PEXPIRE timed
# so that every one of them expires MS milliseconds after kvbench starts. Prints, in ms on
# now_ms's clock, the earliest and the latest moment that can be, in EARLIEST and LATEST.
# Skips the test if loading took longer than MS: the machine is too slow for its timing.
load_expiring() {
    local before after
    before=$(now_ms)
    "$KV_BENCH" -p "$PORT" -k "$1" --preload --expire "$2" -n 1 -r 1:0 -q >"$BATS_TEST_TMPDIR/load.out" 2>&1 ||
        fail "kvbench could not load $1 expiring keys:" "$(cat "$BATS_TEST_TMPDIR/load.out")"
    after=$(now_ms)
    [ $((after - before)) -lt "$2" ] ||
        skip "loading $1 keys took $((after - before)) ms, longer than their $2 ms ttl: the machine is too slow (or too loaded) for this test's timing"
    EARLIEST=$((before + $2))
    LATEST=$((after + $2))
}

# wait_for_dbsize N SECONDS: polls DBSIZE until it is N; fails after SECONDS.
wait_for_dbsize() {
    local deadline=$(($(now_ms) + $2 * 1000)) size
    while size=$(dbsize) && [ "$size" != "$1" ]; do
        [ "$(now_ms)" -lt "$deadline" ] ||
            fail "DBSIZE was still $size after $2 s; expected it to reach $1" || return 1
        sleep 0.01
    done
}

# ---------------------------------------------------------------------------------------
# The four request types
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:1
@test "types: DBSIZE counts the keys held" {
    explained_in "$SEE_TYPES"
    run pipe_in dbsize "set a 1" "set b 2" "set a 3" dbsize "del a" dbsize
    expect_lines 0 OK OK OK 2 OK 1
}

# bats test_tags=stage:1
@test "types: PTTL of a key without an expiry is -1; of a missing key, NOT_FOUND" {
    explained_in "$SEE_TYPES"
    run pipe_in "set k v" "pttl k" "pttl missing"
    expect_lines OK -1 "(nil)"
}

# bats test_tags=stage:1
@test "types: PEXPIRE and PERSIST of a missing key get NOT_FOUND" {
    explained_in "$SEE_TYPES"
    run pipe_in "pexpire missing 60000" "persist missing" "set k v" "persist k" "get k"
    expect_lines "(nil)" "(nil)" OK OK '"v"'
}

# bats test_tags=stage:1
@test "types: the replies' integers are 8 bytes, big-endian" {
    explained_in "$SEE_TYPES"
    run pipe_in "set a 1" "set b 2" "set c 3"
    # DBSIZE (type 7, no arguments), then PTTL of c (type 5): 3, then -1 in two's complement.
    run kv raw --hex <<<"0007 0005 00000001 63"
    expect_lines '"\x00\x00\x00\x00\x00\x00\x00\x03"' '"\xff\xff\xff\xff\xff\xff\xff\xff"' "(closed)"
}

# bats test_tags=stage:1
@test "ttl: a ttl of 7 or 9 bytes gets ERROR, and the connection stays open" {
    explained_in "$SEE_TTL"
    kv set k v >/dev/null
    # PEXPIRE k with a 7-byte ttl, then a 9-byte one, then GET k on the same connection.
    run kv raw --hex <<<"0004 00000001 6b 00000007 00000000000001
                         0004 00000001 6b 00000009 000000000000000001
                         0001 00000001 6b"
    [[ ${lines[0]:-} == "(error) "* && ${lines[1]:-} == "(error) "* ]] ||
        fail "expected two ERRORs for the two bad ttls, got:" "$output"
    [ "${lines[2]:-}" = '"v"' ] ||
        fail "expected the GET after them answered on the same connection (\"v\"), got:" "$output"
    run kv pttl k
    expect_output "-1"
}

# bats test_tags=stage:1
@test "ttl: a ttl above 2^62 gets ERROR whether or not the key exists; 2^62 is accepted" {
    explained_in "$SEE_TTL"
    # 2^62 + 1 = 4611686018427387905 = 0x4000000000000001, to a key that exists and one that
    # does not, then DBSIZE on the same connection.
    kv set k v >/dev/null
    run kv raw --hex <<<"0004 00000001 6b 00000008 4000000000000001
                         0004 00000007 6d697373696e67 00000008 4000000000000001
                         0007"
    [[ ${lines[0]:-} == "(error) "* && ${lines[1]:-} == "(error) "* ]] ||
        fail "expected ERROR for a ttl of 2^62 + 1, for an existing and a missing key; got:" "$output"
    [ "${lines[2]:-}" = '"\x00\x00\x00\x00\x00\x00\x00\x01"' ] ||
        fail "expected DBSIZE (1) answered on the same connection after them, got:" "$output"
    run pipe_in "pttl k" "pexpire k 4611686018427387904" "pexpire missing 4611686018427387904"
    expect_lines -1 OK "(nil)"
}

# ---------------------------------------------------------------------------------------
# Deadlines, and lazy expiry
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:3,slow
@test "lazy: a key with a ttl answers GET before its deadline, NOT_FOUND after it" {
    explained_in "$SEE_LAZY"
    run pipe_in "set k v" "pexpire k 1000" "get k"
    expect_lines OK OK '"v"'
    sleep 1.5
    run kv get k
    [ "$output" = "(nil)" ] || fail "1.5 s after PEXPIRE k 1000, GET k should be NOT_FOUND; got: $output"
}

# bats test_tags=stage:2
@test "deadlines: PTTL shows the time left, and PEXPIRE replaces an earlier expiry" {
    explained_in "$SEE_DEADLINE"
    local ttl
    pipe_in "set k v" "pexpire k 100000" >/dev/null
    ttl=$(kv pttl k)
    expect_in_range "PTTL just after PEXPIRE k 100000" "$ttl" 90000 100000
    kv pexpire k 50000 >/dev/null
    ttl=$(kv pttl k)
    expect_in_range "PTTL after a sooner PEXPIRE k 50000" "$ttl" 40000 50000
    kv pexpire k 200000 >/dev/null
    ttl=$(kv pttl k)
    expect_in_range "PTTL after a later PEXPIRE k 200000" "$ttl" 190000 200000
}

# bats test_tags=stage:2,slow
@test "deadlines: PERSIST takes the expiry away: the key outlives its old deadline" {
    explained_in "$SEE_DEADLINE"
    pipe_in "set k v" "pexpire k 500" >/dev/null
    expect_in_range "PTTL just after PEXPIRE k 500" "$(kv pttl k)" 1 500
    run pipe_in "persist k" "pttl k"
    expect_lines OK -1
    sleep 1
    run kv get k
    [ "$output" = "v" ] || fail "a key PERSISTed before its deadline should still be there; GET gave: $output"
}

# bats test_tags=stage:2,slow
@test "deadlines: SET replaces the value and drops the expiry" {
    explained_in "$SEE_DEADLINE"
    pipe_in "set k v" "pexpire k 500" >/dev/null
    expect_in_range "PTTL just after PEXPIRE k 500" "$(kv pttl k)" 1 500
    run pipe_in "set k w" "pttl k"
    expect_lines OK -1
    sleep 1
    run kv get k
    [ "$output" = "w" ] || fail "a key SET again after PEXPIRE should not expire; GET gave: $output"
}

# bats test_tags=stage:2
@test "deadlines: DEL removes the key and its expiry; PEXPIRE 0 deletes at once" {
    explained_in "$SEE_DEADLINE"
    pipe_in "set k v" "pexpire k 60000" >/dev/null
    expect_in_range "PTTL just after PEXPIRE k 60000" "$(kv pttl k)" 50000 60000
    run pipe_in "del k" "get k" "set k w" "pttl k" "pexpire k 0" "get k" "pttl k" dbsize
    expect_lines OK "(nil)" OK -1 OK "(nil)" "(nil)" 0
}

# bats test_tags=stage:3,slow
@test "lazy: an expired key is NOT_FOUND for GET, DEL, PEXPIRE, PTTL and PERSIST" {
    explained_in "$SEE_LAZY"
    pipe_in "set a 1" "set b 2" "set c 3" "set d 4" "set e 5" "pexpire a 300" "pexpire b 300" \
        "pexpire c 300" "pexpire d 300" "pexpire e 300" >/dev/null
    sleep 1
    run pipe_in "get a" "del b" "pexpire c 60000" "pttl d" "persist e" "set a new" "pttl a"
    expect_lines "(nil)" "(nil)" "(nil)" "(nil)" "(nil)" OK -1
}

# bats test_tags=implementation,slow
@test "lazy: an expired key is NOT_FOUND even while DBSIZE still counts it" {
    implementation_test "when the expiry task frees a key is this server's choice"
    not_under_valgrind
    explained_in "$SEE_LAZY"
    local attempt size
    # The probe is one of the keys kvbench times to expire at one moment. Freeing them takes
    # the task hundreds of rounds, so when the probe first reads NOT_FOUND, DBSIZE (asked in
    # the same write, so answered in the same round) still counts many of them. Only if
    # this shell was held up past all those rounds does it find DBSIZE 0: then it tries
    # again, up to 3 times. A server that frees every expired key before answering finds 0
    # each time.
    for attempt in 1 2 3; do
        load_expiring $((MASS_KEYS * 3 / 2)) 1500
        size=$(dbsize_when_gone key:000000000000 $((LATEST + 5000)))
        [ "$size" -gt 0 ] && return 0
    done
    fail "3 times, the probe was already freed, with every key that expired with it," \
        "when it first read NOT_FOUND: expected many of the $((MASS_KEYS * 3 / 2)) keys" \
        "that expired at the same moment still counted by DBSIZE"
}

# dbsize_when_gone KEY UNTIL: sends PTTL KEY and DBSIZE in one write, on one connection,
# until PTTL is NOT_FOUND; prints the DBSIZE answered beside it. Fails after UNTIL (ms).
dbsize_when_gone() {
    local fd got frame="0005 $(u32_of ${#1}) $(hex_of "$1") 0007"
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    while :; do
        send_frame "$fd" "$frame"
        got=$(timeout 5 head -c 6 <&"$fd" | od -An -v -tx1 | tr -d ' \n')
        [ "${got:0:4}" = 0001 ] && break # NOT_FOUND, and DBSIZE's 14 bytes to come
        timeout 5 head -c 22 <&"$fd" >/dev/null # PTTL's 8 bytes, and DBSIZE's reply
        [ "$(now_ms)" -lt "$2" ] || fail "$1 never expired" || return 1
    done
    got=$(timeout 5 head -c 14 <&"$fd" | od -An -v -tx1 | tr -d ' \n')
    exec {fd}>&-
    echo $((16#${got:12:16}))
}

# ---------------------------------------------------------------------------------------
# Active expiry
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:4,slow
@test "active: expired keys that no request touches are freed: DBSIZE reaches 0" {
    explained_in "$SEE_ACTIVE"
    run pipe_in "set a 1" "set b 2" "set c 3" "set keep 4" "pexpire a 300" "pexpire b 400" \
        "pexpire c 500" dbsize
    expect_lines OK OK OK OK OK OK OK 4
    sleep 1.5 # well past every deadline, then one DBSIZE: nothing touched a, b or c
    run dbsize
    [ "$output" = 1 ] ||
        fail "1 s after the last deadline DBSIZE was $output; expected 1 (only 'keep')"
}

# bats test_tags=stage:4,slow
@test "active: 200,000 keys expiring at once are all freed within a second" {
    not_under_valgrind
    explained_in "$SEE_ACTIVE"
    local deadline took
    load_expiring $MASS_KEYS 2000
    deadline=$LATEST
    [ "$(dbsize)" = $MASS_KEYS ] || fail "expected DBSIZE $MASS_KEYS after loading, got $(dbsize)"
    sleep 1.5
    wait_for_dbsize 0 10
    took=$(($(now_ms) - deadline))
    # A second, and another for the test itself to notice on a loaded machine.
    [ "$took" -le 2000 ] ||
        fail "DBSIZE reached 0 $took ms after the last key's deadline; expected within 1000 ms" \
            "(and the test allows 2000)"
}

# bats test_tags=stage:4,slow
@test "active: while 200,000 keys expire, another client never waits 50 ms" {
    not_under_valgrind
    explained_in "$SEE_BATCH"
    local attempt deadline result max_us all=""
    # One preemption of the server on a loaded machine can stall a GET by itself: the
    # measurement runs up to 3 times, and the test passes if one run stays under 50 ms.
    # A server that frees all the keys in one go stalls every run.
    for attempt in 1 2 3; do
        load_expiring $MASS_KEYS 2500
        deadline=$LATEST
        # GETs one at a time, from 1 s before the deadline to 1.5 s after it.
        sleep "$(awk -v ms=$((deadline - $(now_ms) - 1000)) 'BEGIN { printf "%.3f", (ms > 0 ? ms / 1000 : 0) }')"
        result=$("$KV_BENCH" -p "$PORT" -r 1:0 -k 100 -d 2.5 -q --format csv | tail -1)
        max_us=$(cut -d, -f16 <<<"$result")
        [ "$(dbsize)" = 0 ] || fail "the keys should all be freed by now; DBSIZE is $(dbsize)"
        awk -v m="$max_us" 'BEGIN { exit !(m < 50000) }' && return 0
        all+="$result"$'\n'
    done
    fail "while $MASS_KEYS keys expired, a GET waited 50,000 us or more, in each of 3 runs" \
        "(kvbench, one line a run):" "$all"
}

# bats test_tags=stage:4,slow
@test "active: the memory of large expired values goes back without any request" {
    not_under_valgrind
    [[ ${KV_TEST_CFLAGS:-} != *sanitize=address* ]] ||
        skip "AddressSanitizer keeps freed memory in quarantine"
    explained_in "$SEE_ACTIVE"
    local before loaded after
    before=$(server_rss_kib)
    # 400 values of 256 KiB, 100 MiB: each one a block of its own that glibc's malloc
    # returns to the system (munmap) once it is freed.
    "$KV_BENCH" -p "$PORT" -k 400 -s 262144 --preload --expire 1000 -n 1 -r 1:0 -q \
        >"$BATS_TEST_TMPDIR/load.out" 2>&1 ||
        fail "kvbench could not load 400 values of 256 KiB:" "$(cat "$BATS_TEST_TMPDIR/load.out")"
    loaded=$(server_rss_kib)
    [ $((loaded - before)) -gt 81920 ] ||
        fail "loading 100 MiB of values grew the server by only $(((loaded - before) / 1024)) MiB"
    sleep 3 # 2 s past the deadline, and no request at all: only the server's own task frees
    after=$(server_rss_kib)
    [ $((loaded - after)) -gt 51200 ] ||
        fail "2 s after 100 MiB of values expired, with no request since, the server's" \
            "resident memory went from $((loaded / 1024)) to $((after / 1024)) MiB; expected" \
            "it to drop by more than 50 MiB: the expiry task should have freed them"
}

# bats test_tags=stage:4,slow
@test "active: keys given short deadlines under sustained writes do not pile up" {
    not_under_valgrind
    explained_in "$SEE_PILEUP"
    local bench size sets
    # 6 connections, 4,000 requests a write: SETs of new keys (from a billion), each followed
    # by a PEXPIRE that makes it expire within 100 ms of the start, 1 ms after that.
    "$KV_BENCH" -p "$PORT" -c 6 -P 4000 -r 0:1 -k 1000000000 --expire 100 -d 3 -q \
        --format csv >"$BATS_TEST_TMPDIR/bench.csv" 2>&1 &
    bench=$!
    sleep 2.5
    size=$(dbsize)
    # kvbench's exit status is not checked: among millions of keys drawn at random a few
    # come up twice, and a PEXPIRE can then find its key expired by another connection's
    # (a NOT_FOUND kvbench counts as an error). Its count of requests is what is needed.
    wait "$bench" || true
    sets=$(tail -1 "$BATS_TEST_TMPDIR/bench.csv" | cut -d, -f7)
    [[ $sets =~ ^[0-9]+$ ]] && [ "$sets" -gt 0 ] ||
        fail "kvbench did not run:" "$(cat "$BATS_TEST_TMPDIR/bench.csv")"
    sets=$((sets / 2))
    # At most about 1 ms of keys is alive at a time; allow a tenth of all keys set.
    [ "$size" -lt $((sets / 10)) ] ||
        fail "after 2.5 s of SET + PEXPIRE (ttl 1 ms) on $sets new keys in 3 s, DBSIZE was" \
            "$size; expected under $((sets / 10)): expired keys should be freed as fast as" \
            "they are made"
}

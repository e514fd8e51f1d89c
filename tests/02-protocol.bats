#!/usr/bin/env bats
# 02-protocol.bats - KV/1 as docs/protocol.md defines it: GET, SET and DEL on byte-string
# keys and values, the 32 MiB limit, and what happens to clients that break the protocol.
# These tests run against step 02 and every later step.

load helpers

# Where each behaviour is explained: a failing test names its section last (explained_in).
SEE_READING='docs/02-protocol.md, section 3, "protocol.c: reading a request"'
SEE_ANSWERING='docs/02-protocol.md, section 3, "server.c: answering requests"'
SEE_STORE='docs/02-protocol.md, section 3, "store.h and store.c: bytes, not strings"'
SEE_WRITING='docs/02-protocol.md, section 3, "protocol.c: writing a response"'
SEE_READ_FULL='docs/02-protocol.md, section 3, "net.c: reading exactly n bytes"'
SEE_HANGING_UP='docs/02-protocol.md, section 3, "net.c: hanging up without losing what was sent"'
SEE_SIGPIPE='docs/01-echo.md, section 3, "server.c: signals" (SIGPIPE)'
SEE_STOP='docs/01-echo.md, section 7, "A stop request during a blocked write"'

setup() {
    start_server
}

teardown() {
    say_where_explained
    stop_server
}

# A key stored before an abusive client arrives must survive it.
store_a_key() {
    run kv set kept "safe"
    expect_output "OK"
}

# ... and the abuser's connection must be gone: closed, not left open or spinning.
expect_key_kept() {
    run kv get kept
    expect_output "safe"
    expect_server_serves
    expect_server_recovers
}

# ---------------------------------------------------------------------------------------
# GET, SET, DEL
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:1
@test "GET of a key never set is NOT_FOUND" {
    explained_in "$SEE_READING, then \"protocol.c: writing a response\""
    run kv get nosuchkey
    expect_status 1
    expect_output "(nil)"
}

# bats test_tags=stage:1
@test "an empty OK and a NOT_FOUND are six bytes each: status, then a length of 0" {
    explained_in "$SEE_WRITING"
    local fd got
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    frame 0002 00000001 6b 00000001 76 0001 00000007 6d697373696e67 >&"$fd" # SET k v, GET missing
    got=$(timeout 5 head -c 12 <&"$fd" | od -An -v -tx1 | tr -d ' \n')
    exec {fd}>&-
    [ "$got" = "000000000000000100000000" ] ||
        fail "expected the SET's OK (00 00, length 0) and the GET's NOT_FOUND (00 01, length 0)," \
            "12 bytes: 000000000000000100000000; got: ${got:-nothing}"
}

# bats test_tags=stage:2
@test "SET then GET returns the value" {
    explained_in "$SEE_ANSWERING"
    run kv set greeting hello
    expect_output "OK"
    run kv get greeting
    expect_status 0
    expect_output "hello"
}

# bats test_tags=stage:2
@test "SET on an existing key replaces its value" {
    explained_in "$SEE_STORE"
    kv set color red
    kv set color blue
    run kv get color
    expect_output "blue"
}

# bats test_tags=stage:2
@test "DEL removes the key" {
    explained_in "$SEE_STORE"
    kv set doomed yes
    run kv del doomed
    expect_output "OK"
    run kv get doomed
    expect_status 1
}

# bats test_tags=stage:2
@test "DEL of a key already deleted is NOT_FOUND" {
    explained_in "$SEE_STORE"
    kv set twice yes
    run kv del twice
    expect_output "OK"
    run kv del twice
    expect_status 1
    expect_output "(nil)"
}

# bats test_tags=stage:2
@test "an empty value is stored and returned as empty, not as missing" {
    explained_in "$SEE_STORE"
    kv set empty ""
    run kv pipe <<<'get empty'
    expect_output '""'
}

# bats test_tags=stage:2
@test "an empty key is a key like any other" {
    explained_in "$SEE_STORE"
    kv set "" "for the empty key"
    run kv get ""
    expect_output "for the empty key"
    run kv del ""
    expect_output "OK"
}

# bats test_tags=stage:2
@test "keys that differ only after a NUL byte are different keys" {
    explained_in "$SEE_STORE"
    kv set 'a\x00b' first
    kv set 'a\x00c' second
    run kv get 'a\x00b'
    expect_output "first"
    run kv get 'a\x00c'
    expect_output "second"
    run kv get 'a'
    expect_status 1
}

# bats test_tags=stage:2
@test "a value holding every byte value, NUL and 0xFF included, round-trips" {
    explained_in "$SEE_STORE"
    local all=$BATS_TEST_TMPDIR/all-bytes
    local escapes
    printf -v escapes '\\x%02x' {0..255} {255..0}
    printf "$escapes" >"$all"
    kv set binary @"$all"
    kv get binary >"$BATS_TEST_TMPDIR/got"
    expect_same_file "$all" "$BATS_TEST_TMPDIR/got"
}

# bats test_tags=stage:2
@test "a 4 MiB value round-trips" {
    explained_in "$SEE_READING"
    head -c 4194304 /dev/urandom >"$BATS_TEST_TMPDIR/big"
    kv set big - <"$BATS_TEST_TMPDIR/big"
    kv get big >"$BATS_TEST_TMPDIR/got"
    expect_same_file "$BATS_TEST_TMPDIR/big" "$BATS_TEST_TMPDIR/got"
}

# bats test_tags=stage:2,slow
@test "an argument of exactly 32 MiB, the limit, is accepted" {
    explained_in "$SEE_READING"
    head -c 33554432 /dev/urandom >"$BATS_TEST_TMPDIR/limit"
    run kv set at-limit @"$BATS_TEST_TMPDIR/limit"
    expect_output "OK"
    kv get at-limit >"$BATS_TEST_TMPDIR/got"
    expect_same_file "$BATS_TEST_TMPDIR/limit" "$BATS_TEST_TMPDIR/got"
}

# ---------------------------------------------------------------------------------------
# Framing: TCP is a byte stream, and frames arrive split or merged
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:2
@test "a request sent one byte per write is understood" {
    explained_in "$SEE_READ_FULL"
    kv set slow "arrived in pieces"
    run kv --trickle 2000 get slow
    expect_output "arrived in pieces"
}

# bats test_tags=stage:2
@test "several requests in one write get their replies in order" {
    explained_in "$SEE_READ_FULL"
    # SET k v1, GET k, DEL k, GET k
    run kv raw --hex <<<"0002 00000001 6b 00000002 7631
                         0001 00000001 6b
                         0003 00000001 6b
                         0001 00000001 6b"
    expect_output $'OK\n"v1"\nOK\n(nil)\n(closed)'
}

# ---------------------------------------------------------------------------------------
# Clients that break the protocol get ERROR, then a close
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:3
@test "an unknown request type gets ERROR, then the connection closes" {
    explained_in "$SEE_ANSWERING"
    store_a_key
    run kv raw --hex <<<"0009 00000001 6b"
    expect_status 0
    expect_error_then_close
    expect_key_kept
}

# bats test_tags=stage:3
@test "an HTTP request gets ERROR (its 'GE' is type 0x4745), then the connection closes" {
    explained_in "$SEE_ANSWERING"
    ! speaks_resp ||
        skip "from step 09 a first byte 'G' selects RESP, where HTTP is refused (docs/protocol.md)"
    store_a_key
    run kv raw <<<$'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'
    expect_error_then_close
    expect_key_kept
}

# bats test_tags=stage:3
@test "a declared length of 4 GiB gets ERROR at once, without sending the bytes" {
    explained_in "$SEE_READING"
    store_a_key
    run kv -t 5 raw --hex <<<"0002 ffffffff"
    expect_status 0
    expect_error_then_close
    expect_key_kept
}

# bats test_tags=stage:3
@test "a length of 32 MiB + 1 byte is refused from the length field alone" {
    explained_in "$SEE_READING"
    store_a_key
    run kv -t 5 raw --hex <<<"0002 00000001 6b 02000001"
    expect_error_then_close
    expect_key_kept
}

# bats test_tags=stage:3
@test "replies owed to earlier requests come before the ERROR" {
    explained_in "$SEE_ANSWERING"
    run kv raw --hex <<<"0002 00000001 6b 00000001 76
                         0001 00000001 6b
                         7777"
    [ "${lines[0]}" = "OK" ] || fail "expected the SET's OK first, got: $output"
    [ "${lines[1]}" = '"v"' ] || fail "expected the GET's value second, got: $output"
    [[ ${lines[2]} == "(error) "* ]] || fail "expected the ERROR third, got: $output"
    [ "${lines[3]}" = "(closed)" ] || fail "expected the server to close last, got: $output"
    expect_server_recovers
}

# bats test_tags=stage:3
@test "after an ERROR the server closes the connection itself, even if the client does not" {
    explained_in "$SEE_ANSWERING"
    local fd status=0
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    frame 0009 >&"$fd"
    # The client keeps its side open: only the server's close can end this read.
    timeout 5 cat <&"$fd" >"$BATS_TEST_TMPDIR/reply" || status=$?
    exec {fd}>&-
    [ "$status" -ne 124 ] || fail "the server sent its ERROR but did not close within 5 s"
    [ "$(head -c 2 "$BATS_TEST_TMPDIR/reply" | od -An -tx1 | tr -d ' ')" = "0002" ] ||
        fail "expected an ERROR status (0002) first, got: $(od -An -tx1 "$BATS_TEST_TMPDIR/reply")"
    # Our close ends the server's draining: it must now close its side too.
    expect_server_recovers
}

# bats test_tags=stage:4,slow
@test "a slow reader gets every reply and the ERROR, though it sent more after the bad frame" {
    explained_in "$SEE_HANGING_UP"
    head -c 1048576 /dev/zero | tr '\0' 'x' >"$BATS_TEST_TMPDIR/value"
    kv set big @"$BATS_TEST_TMPDIR/value"
    local fd got want=$((3 * (6 + 1048576) + 6 + 22)) # 3 values, then "unknown request type 9"
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    {
        frame 0001 00000003 626967 0001 00000003 626967 0001 00000003 626967 0009
        head -c 200000 /dev/zero # bytes the server will never parse
    } >&"$fd" || true # a server that resets the connection is caught below
    sleep 1 # the replies queue up in the kernel while we do not read
    got=$(timeout 10 cat <&"$fd" | wc -c)
    exec {fd}>&-
    [ "$got" -eq "$want" ] ||
        fail "expected $want bytes (three 1 MiB replies, then the ERROR), got $got:" \
            "a server that close()s with unread input resets the connection, and the" \
            "reset throws away the replies still queued for the client"
    expect_server_recovers
}

# ---------------------------------------------------------------------------------------
# Clients that vanish
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:2
@test "a client that closes mid-frame costs only its own connection" {
    explained_in "$SEE_READING"
    store_a_key
    frame 0002 00000005 6b6579 | kv raw --no-read
    expect_key_kept
}

# bats test_tags=stage:2
@test "a client that resets mid-request costs only its own connection" {
    explained_in "$SEE_READING"
    store_a_key
    frame 0002 00000003 6b6579 00001000 616263 | kv raw --reset
    expect_key_kept
}

# bats test_tags=stage:2
@test "a client that closes before reading its replies costs only its own connection" {
    explained_in "$SEE_SIGPIPE"
    store_a_key
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/value"
    kv set big @"$BATS_TEST_TMPDIR/value"
    for _ in $(seq 20); do frame 0001 00000003 626967; done | kv raw --no-read
    expect_key_kept
}

# ---------------------------------------------------------------------------------------
# Stopping while a client does not read
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:2
@test "SIGTERM stops the server promptly while it writes to a client that does not read" {
    explained_in "$SEE_STOP"
    local fd
    head -c 4194304 /dev/urandom >"$BATS_TEST_TMPDIR/value"
    kv set big @"$BATS_TEST_TMPDIR/value"
    kv get big | cmp -s - "$BATS_TEST_TMPDIR/value" ||
        fail "GET big did not return the 4 MiB value just stored, so the GETs below" \
            "would not fill the socket buffers"
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    # 16 GETs: 64 MiB of replies, far more than the socket buffers hold. We never read.
    for _ in $(seq 16); do frame 0001 00000003 626967; done >&"$fd"
    sleep 1
    kill -TERM "$SERVER_PID"
    expect_exit_0_within 3 "it waits in a write() for a client that does not read, and" \
        "never looks at the stop request (docs/02-protocol.md)"
    exec {fd}>&-
}

# bats test_tags=stage:3,slow
@test "2,000 clients that send garbage and vanish do not fill the server's log" {
    explained_in "$SEE_ANSWERING"
    # Each sends 8 random bytes (almost surely an unknown request type: the server answers
    # ERROR and shuts down its side), then leaves at once, half of them with a close and
    # half with a reset. The ERROR, the shutdown() and the client's departure race, and
    # every way that race ends (EPIPE, ECONNRESET, ENOTCONN) is a client leaving: no news.
    local i lines
    for i in $(seq 2000); do
        if ((i % 2)); then
            head -c 8 /dev/urandom | kv raw --no-read
        else
            head -c 8 /dev/urandom | kv raw --reset
        fi
    done
    sleep 1
    lines=$(server_log | wc -l)
    [ "$lines" -lt 10 ] ||
        fail "2,000 clients that left made the server write $lines lines to its log;" \
            "expected fewer than 10: a client leaving is not an error worth a line." \
            "The first lines:" "$(server_log | head -5)"
    expect_server_serves
}

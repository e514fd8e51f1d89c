#!/usr/bin/env bats
# 09-resp.bats - step 09's second protocol: RESP2, Redis's, on the same port as KV/1. These
# tests run against step 09 and every later step.
#
# Most of them hold our server up against a real Redis 7 (redis-server, started for the
# test by start_redis on a port of its own): the same bytes go to both, and the same bytes
# must come back, errors included. tests/resp_diff.py does the sending: `diff` runs long
# seeded random command sequences through both servers, and `raw` sends a few bytes and
# prints the reply and whether the server hung up. Where our server is stricter than
# Redis (an array over 1,048,576 elements, a bulk not followed by CRLF), the test checks
# our rules alone. Tests that need redis-server, redis-cli, redis-benchmark or redis-py
# skip themselves, saying so, when it is not installed.
#
# The test names start with the part of chapter 09 they check (diff, wire, inline, table,
# first byte, errors, clients), so `bats -f '^errors'` runs one part. RESP_DIFF_SEEDS
# chooses the random sequences: RESP_DIFF_SEEDS="1 2 3 4 5 6 7 8 9" runs more of them.
# Each test's stage tag names the stage of chapter 09's "Build it yourself" at which it
# first passes (make check-09 STAGE=K).

load helpers

SEE_BYTES='docs/09-resp.md, section "RESP byte by byte"'
SEE_INLINE='docs/09-resp.md, section "Inline commands"'
SEE_TABLE='docs/09-resp.md, section "The command table"'
SEE_FIRST='docs/09-resp.md, section "Why the first byte can choose"'
SEE_ERRORS='docs/09-resp.md, section "Protocol errors"'
SEE_CLIENTS='docs/09-resp.md, section "Real clients: redis-cli, redis-benchmark, redis-py"'

DIFF=$KV_ROOT/tests/resp_diff.py
SEEDS=${RESP_DIFF_SEEDS:-1 2 3}

setup() {
    start_server
}

teardown() {
    say_where_explained
    stop_redis
    stop_server
}

# ---------------------------------------------------------------------------------------
# Comparing with Redis
# ---------------------------------------------------------------------------------------

# diff_with_redis MODE SEED COMMANDS [MORE...]: one random sequence through both servers.
diff_with_redis() {
    local mode=$1 seed=$2 commands=$3
    shift 3
    run "$PYTHON3" "$DIFF" diff --ours "$PORT" --ref "$REDIS_PORT" --seed "$seed" \
        --mode "$mode" --commands "$commands" "$@"
    [ "$status" -eq 0 ] ||
        fail "our replies differ from Redis 7's (tests/resp_diff.py diff, mode $mode, seed $seed):" \
            "$output"
}

# expect_raw BYTES WANT...: BYTES sent to our server get exactly the lines WANT (resp_raw's
# form: escaped, one line per CRLF, "(closed)" or "(open)" last).
expect_raw() {
    local bytes=$1 want got
    shift
    want=$(printf '%s\n' "$@")
    got=$(resp_raw "$PORT" "$bytes")
    [ "$got" = "$want" ] || fail "$(shown_sent "$bytes")" "expected:" "$want" "got:" "$got"
}

# expect_protocol_error BYTES OWED...: our server answers BYTES with the replies OWED to the
# commands before the bad part, then an error starting "-ERR Protocol error: ", then
# closes.
expect_protocol_error() {
    local bytes=$1 got want n
    shift
    got=$(resp_raw "$PORT" "$bytes")
    mapfile -t lines <<<"$got"
    n=$#
    want=$(printf '%s\n' "$@" '-ERR Protocol error: ...\r\n' '(closed)')
    [ "$(printf '%s\n' "${lines[@]:0:n}")" = "$(printf '%s\n' "$@")" ] &&
        [[ ${lines[n]:-} == '-ERR Protocol error: '*'\r\n' ]] &&
        [ "${lines[n + 1]:-}" = "(closed)" ] && [ "${#lines[@]}" -eq $((n + 2)) ] ||
        fail "$(shown_sent "$bytes")" "expected:" "$want" "got:" "$got"
}

# ---------------------------------------------------------------------------------------
# Random command sequences, compared with Redis
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:3
@test "diff: random commands, one at a time, get Redis's replies byte for byte" {
    explained_in "$SEE_TABLE"
    start_redis
    for seed in $SEEDS; do
        diff_with_redis lockstep "$seed" 400 || return 1
    done
}

# bats test_tags=stage:3
@test "diff: random commands pipelined, one byte per write, get Redis's replies" {
    explained_in "$SEE_BYTES"
    start_redis
    for seed in $SEEDS; do
        diff_with_redis bytes "$((seed + 100))" 250 || return 1
    done
}

# bats test_tags=stage:3
@test "diff: random commands pipelined, cut at random points, get Redis's replies" {
    explained_in "$SEE_BYTES"
    start_redis
    for seed in $SEEDS; do
        diff_with_redis chunks "$((seed + 200))" 400 || return 1
    done
}

# ---------------------------------------------------------------------------------------
# The wire format
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:1
@test "wire: an array of bulk strings is a command; a bulk reply carries CR, LF and NUL" {
    explained_in "$SEE_BYTES"
    expect_raw '*3\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n$5\r\n\r\n\x00\r\n\r\n*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\nQUIT\r\n' \
        '+OK\r\n' '$5\r\n' '\r\n' '\x00\r\n' '\r\n' '+OK\r\n' '(closed)'
}

# bats test_tags=stage:2
@test "wire: empty keys and values, and a missing key's null bulk" {
    explained_in "$SEE_BYTES"
    start_redis
    expect_like_redis '*3\r\n$3\r\nSET\r\n$0\r\n\r\n$0\r\n\r\n*2\r\n$3\r\nGET\r\n$0\r\n\r\n*2\r\n$3\r\nGET\r\n$1\r\nx\r\n*3\r\n$4\r\nMGET\r\n$0\r\n\r\n$1\r\nx\r\nQUIT\r\n'
}

# bats test_tags=stage:3
@test "wire: a 4 MiB value comes back whole" {
    explained_in "$SEE_BYTES"
    start_redis
    diff_with_redis lockstep 7 40 --max-value $((4 << 20))
    # and by hand, so the test does not rest on the random draw alone
    run "$PYTHON3" - "$PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
v = bytes(range(256)) * (4 << 12)
s.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" % (len(v), v))
want = b"+OK\r\n$%d\r\n%s\r\n" % (len(v), v)
got = b""
while len(got) < len(want):
    b = s.recv(1 << 20)
    if not b:
        break
    got += b
print("same" if got == want else "differ: %d bytes expected, %d received" % (len(want), len(got)))
EOF
    expect_output "same"
}

# bats test_tags=stage:2
@test "wire: a command split at every byte gets the same replies as in one write" {
    explained_in "$SEE_BYTES"
    run "$PYTHON3" - "$PORT" <<'EOF'
import socket, sys, time
stream = (b"*3\r\n$3\r\nSET\r\n$2\r\nk\r\r\n$4\r\n\n\x00\r\n\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"
          b"INCR n\r\nGET k\r\n\r\n*2\r\n$3\r\nGET\r\n$2\r\nk\r\r\n")
want = b"+OK\r\n:1\r\n:2\r\n$-1\r\n$4\r\n\n\x00\r\n\r\n"
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(len(stream)):
    s.send(stream[i:i + 1])
    time.sleep(0.002)  # each byte its own segment: the server sees every split
got = b""
while len(got) < len(want):
    b = s.recv(4096)
    if not b:
        break
    got += b
print("same" if got == want else "expected %r, got %r" % (want, got))
EOF
    expect_output "same"
}

# ---------------------------------------------------------------------------------------
# Inline commands
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:2
@test "inline: words split on spaces, lines ended by CRLF or LF alone, as Redis does" {
    explained_in "$SEE_INLINE"
    start_redis
    expect_like_redis 'SET  a   1 \nGET a\r\n  INCR a\r\nincrby a 10\nECHO x\nGET a\r\nQUIT\n'
}

# bats test_tags=stage:1
@test "inline: blank lines, *0 and negative array lengths get no reply" {
    explained_in "$SEE_INLINE"
    start_redis
    expect_like_redis 'PING\r\n\r\n\n    \r\n*0\r\n*-1\r\n*-5\r\nECHO done\r\nQUIT\r\n'
}

# bats test_tags=stage:4
@test "inline: a line of 64 KiB with no newline is a protocol error, after the replies owed" {
    explained_in "$SEE_INLINE"
    start_redis
    expect_like_redis "PING\r\nSET $(head -c 70000 /dev/zero | tr '\0' a)"
}

# ---------------------------------------------------------------------------------------
# The command table
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:1
@test "table: unknown commands are named in the error with their first arguments, as Redis does" {
    explained_in "$SEE_TABLE"
    start_redis
    expect_like_redis 'FOO\r\nfoo a b c\r\n*1\r\n$0\r\n\r\nQUIT\r\n'
    # long names and arguments are cut; CR and LF become spaces, as in every Redis error
    expect_like_redis "*3\r\n\$150\r\n$(printf 'N%.0s' {1..150})\r\n\$100\r\n$(printf 'a%.0s' {1..100})\r\n\$100\r\n$(printf 'b%.0s' {1..100})\r\nQUIT\r\n"
    expect_like_redis '*3\r\n$4\r\nF\r\nO\r\n$4\r\na\nb\r\r\n$1\r\nc\r\nQUIT\r\n'
}

# bats test_tags=stage:1
@test "table: an unknown command's name or argument holding a NUL is cut there, as Redis does" {
    explained_in "$SEE_TABLE"
    start_redis
    expect_like_redis '*3\r\n$3\r\nF\x00O\r\n$3\r\na\x00b\r\n$1\r\nc\r\nQUIT\r\n'
}

# bats test_tags=stage:3
@test "table: a wrong number of arguments gets Redis's error, in lower case" {
    explained_in "$SEE_TABLE"
    start_redis
    expect_like_redis 'GET\r\nget a b\r\nSET a\r\nDEL\r\nEXISTS\r\nINCR\r\nDECRBY a\r\nMGET\r\nMSET a\r\nMSET a 1 b\r\nEXPIRE a\r\nPEXPIRE a\r\nTTL\r\nPTTL a b\r\nPERSIST\r\nTYPE\r\nDBSIZE x\r\nPING a b\r\nECHO\r\nSELECT\r\nCONFIG\r\nCONFIG GET\r\nQUIT\r\n'
}

# bats test_tags=stage:2
@test "table: integers are parsed strictly: no +, no spaces, no leading zeros, no -0" {
    explained_in "$SEE_TABLE"
    start_redis
    expect_like_redis '*3\r\n$6\r\nINCRBY\r\n$1\r\nn\r\n$2\r\n+1\r\n*3\r\n$6\r\nINCRBY\r\n$1\r\nn\r\n$2\r\n 1\r\n*3\r\n$6\r\nINCRBY\r\n$1\r\nn\r\n$3\r\n007\r\n*3\r\n$6\r\nINCRBY\r\n$1\r\nn\r\n$2\r\n-0\r\nINCRBY n 1.5\r\nINCRBY n 0\r\nSET s 007\r\nINCR s\r\nSET s -0\r\nDECR s\r\nSET s 9223372036854775808\r\nINCR s\r\nQUIT\r\n'
}

# bats test_tags=stage:2
@test "table: INCRBY and DECRBY at the edges of 64 bits, and overflow" {
    explained_in "$SEE_TABLE"
    start_redis
    expect_like_redis 'SET n 9223372036854775806\r\nINCR n\r\nINCR n\r\nGET n\r\nSET n -9223372036854775807\r\nDECR n\r\nDECR n\r\nDECRBY n -9223372036854775808\r\nSET m 1\r\nINCRBY m 9223372036854775807\r\nDECRBY m 9223372036854775807\r\nDECRBY m -9223372036854775808\r\nINCRBY m -9223372036854775808\r\nQUIT\r\n'
}

# bats test_tags=stage:3
@test "table: SET with EX, PX, NX and XX, good and bad combinations" {
    explained_in "$SEE_TABLE"
    start_redis
    expect_like_redis 'SET a 1 NX\r\nSET a 2 NX\r\nSET b 1 XX\r\nSET a 3 XX\r\nGET a\r\nSET a 1 NX XX\r\nSET a 1 EX 100 PX 100000\r\nSET a 1 EX\r\nSET a 1 EX 0\r\nSET a 1 EX -1\r\nSET a 1 PX 0\r\nSET a 1 EX abc\r\nSET a 1 EX 9223372036854775\r\nSET a 1 PX 9223372036854775807\r\nSET a 1 FOO\r\nSET a 1 ex 100 nx\r\nSET a 1 EX 100 EX 200\r\nSET a 1 NX NX\r\nSET a v xx EX 100000\r\nTTL a\r\nQUIT\r\n'
}

# bats test_tags=stage:3
@test "table: INCR keeps a key's expiry; SET and MSET drop it" {
    explained_in "$SEE_TABLE"
    start_redis
    expect_like_redis 'SET n 1 EX 100000\r\nINCR n\r\nTTL n\r\nSET n 2\r\nTTL n\r\nSET m 1 EX 100000\r\nMSET m 2 x 3\r\nTTL m\r\nQUIT\r\n'
}

# bats test_tags=stage:3
@test "table: EXPIRE, PEXPIRE, TTL, PTTL and PERSIST, and Redis's bounds on expiry times" {
    explained_in "$SEE_TABLE"
    start_redis
    # TTL rounds to the nearest second: 100.7 s left is 101, 100.3 s is 100
    expect_like_redis 'SET r 1 PX 100700\r\nTTL r\r\nPEXPIRE r 100300\r\nTTL r\r\nQUIT\r\n'
    expect_like_redis 'TTL a\r\nPTTL a\r\nEXPIRE a 100\r\nSET a 1\r\nTTL a\r\nEXPIRE a 100000\r\nTTL a\r\nPERSIST a\r\nPERSIST a\r\nTTL a\r\nEXPIRE a 9223372036854775\r\nPEXPIRE a 9223372036854775807\r\nEXPIRE missing 9223372036854775\r\nEXPIRE a abc\r\nPEXPIRE a 4611686018427387905\r\nPERSIST a\r\nEXPIRE a -1\r\nEXISTS a\r\nSET a 1\r\nPEXPIRE a 0\r\nGET a\r\nQUIT\r\n'
}

# bats test_tags=stage:3
@test "table: an unknown EXPIRE option is quoted in the error, line ends at its end dropped" {
    explained_in "$SEE_TABLE"
    start_redis
    # Redis trims CR and LF off the end of such an error, and turns the others into spaces
    expect_like_redis 'SET a 1\r\nEXPIRE a 100 FOO\r\n*4\r\n$6\r\nEXPIRE\r\n$1\r\na\r\n$3\r\n100\r\n$5\r\nfoo\r\n\r\n*4\r\n$6\r\nEXPIRE\r\n$1\r\na\r\n$3\r\n100\r\n$6\r\nf\r\no\n\n\r\n*4\r\n$6\r\nEXPIRE\r\n$1\r\na\r\n$3\r\n100\r\n$2\r\n\r\n\r\nQUIT\r\n'
}

# bats test_tags=stage:2
@test "table: DEL, EXISTS, MGET, MSET, TYPE and DBSIZE with several keys" {
    explained_in "$SEE_TABLE"
    start_redis
    expect_like_redis 'MSET a 1 b 2 c 3\r\nEXISTS a b x a\r\nMGET a x b c\r\nTYPE a\r\nTYPE x\r\nDBSIZE\r\nDEL a a x b\r\nDBSIZE\r\nFLUSHALL\r\nDBSIZE\r\nQUIT\r\n'
}

# bats test_tags=stage:2
@test "table: PING, PING message, ECHO, SELECT 0 and 1, CONFIG GET, command names in any case" {
    explained_in "$SEE_TABLE"
    start_redis
    expect_like_redis 'PING\r\nping hello\r\nEcHo x\r\nSELECT 0\r\nSELECT 1\r\nSELECT abc\r\nCONFIG GET save\r\nconfig get appendonly\r\nCONFIG GET nosuchparameter\r\nQUIT\r\n'
}

# bats test_tags=stage:2
@test "table: COMMAND and COMMAND DOCS answer with an array" {
    explained_in "$SEE_TABLE"
    run "$PYTHON3" - "$PORT" "$KV_ROOT/tests" <<'EOF'
import sys
sys.path.insert(0, sys.argv[2])
from resp_diff import ReplyReader, connect
s = connect(int(sys.argv[1]))
r = ReplyReader(s)
for cmd in (b"*2\r\n$7\r\nCOMMAND\r\n$4\r\nDOCS\r\n", b"*1\r\n$7\r\nCOMMAND\r\n"):
    s.sendall(cmd)
    print(r.reply()[:1].decode())
s.sendall(b"PING\r\n")
print(r.reply().decode().strip())
EOF
    expect_output "$(printf '%s\n' '*' '*' '+PONG')"
}

# bats test_tags=stage:1
@test "table: QUIT answers +OK and closes; nothing after it is run" {
    explained_in "$SEE_TABLE"
    start_redis
    expect_like_redis 'SET q 1\r\nQUIT\r\nSET q 2\r\n'
    run resp_raw "$PORT" 'GET q\r\nQUIT\r\n'
    expect_output "$(printf '%s\n' '$1\r\n' '1\r\n' '+OK\r\n' '(closed)')"
}

# bats test_tags=stage:4
@test "table: a connection idle after a 2,000-argument command holds nothing of it" {
    not_for_memory_measures
    explained_in "$SEE_TABLE"
    local base rss
    # 500 connections each send EXISTS with 2,000 keys, read the reply, and stay open and
    # silent. The script prints the server's resident memory (KiB) before them (once one
    # connection did the same and left) and with all 500 idle.
    run "$PYTHON3" - "$PORT" "$SERVER_PID" <<'EOF'
import socket, sys
port, pid = int(sys.argv[1]), sys.argv[2]
cmd = b"*2001\r\n$6\r\nEXISTS\r\n" + b"".join(b"$8\r\nkey:%04d\r\n" % i for i in range(2000))
def rss():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
def exists():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(cmd)
    got = b""
    while not got.endswith(b"\r\n"):
        b = s.recv(100)
        if not b:
            break
        got += b
    if got != b":0\r\n":
        sys.exit("EXISTS with 2,000 missing keys: expected :0, got %r" % got)
    return s
exists().close()
base = rss()
idle = [exists() for _ in range(500)]
print(base, rss())
EOF
    [ "$status" -eq 0 ] || fail "expected 500 connections each answered; got:" "$output"
    read -r base rss <<<"$output"
    [ $(((rss - base) / 500)) -lt 16 ] ||
        fail "500 connections each sent EXISTS with 2,000 keys, read the reply, and went idle;" \
            "expected the server's resident memory to grow by under 16 KiB a connection;" \
            "got $((rss - base)) KiB in all, $(((rss - base) / 500)) KiB a connection:" \
            "an idle connection should keep neither its input nor the parser's argument array"
}

# ---------------------------------------------------------------------------------------
# The first byte chooses the protocol
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:1
@test "first byte: * and a letter choose RESP" {
    explained_in "$SEE_FIRST"
    expect_raw '*1\r\n$4\r\nPING\r\nQUIT\r\n' '+PONG\r\n' '+OK\r\n' '(closed)'
    expect_raw 'PING\r\nQUIT\r\n' '+PONG\r\n' '+OK\r\n' '(closed)'
    expect_raw 'ping\r\n*1\r\n$4\r\nQUIT\r\n' '+PONG\r\n' '+OK\r\n' '(closed)'
}

# bats test_tags=stage:1
@test "first byte: 0x00 chooses KV/1" {
    explained_in "$SEE_FIRST"
    # SET k v, then GET k (types 2 and 1)
    run kv raw --hex <<<"$(set_frame k v) $(get_frame k)"
    expect_output "$(printf '%s\n' OK '"v"' '(closed)')"
}

# bats test_tags=stage:1
@test "first byte: any other byte gets a KV/1 ERROR and a close" {
    explained_in "$SEE_FIRST"
    local byte
    # $ : + - CR LF space 1 0x01 0x7f 0xff "
    for byte in 24 3a 2b 2d 0d 0a 20 31 01 7f ff 22; do
        run kv raw --hex <<<"$byte 0d0a 50494e47 0d0a"
        [[ ${lines[0]:-} == "(error) "* && ${lines[1]:-} == "(closed)" && ${#lines[@]} -eq 2 ]] ||
            fail "a connection whose first byte is 0x$byte: expected a KV/1 ERROR, then the close" \
                "got:" "$output" || return 1
    done
    expect_server_serves
}

# bats test_tags=stage:1
@test "first byte: KV/1 and RESP share one key space, binary values included" {
    explained_in "$SEE_FIRST"
    # KV/1 SET "k\r\n" = "\x00v\r\n" ; read back over RESP
    run kv raw --hex <<<"0002 00000003 6b0d0a 00000004 00760d0a"
    expect_output "$(printf '%s\n' OK '(closed)')"
    expect_raw '*2\r\n$3\r\nGET\r\n$3\r\nk\r\n\r\nQUIT\r\n' '$4\r\n' '\x00v\r\n' '\r\n' '+OK\r\n' '(closed)'
    # RESP SET, DEL; KV/1 GET
    expect_raw '*3\r\n$3\r\nSET\r\n$1\r\nr\r\n$3\r\n\xff\x00\n\r\n*2\r\n$3\r\nDEL\r\n$3\r\nk\r\n\r\nQUIT\r\n' '+OK\r\n' ':1\r\n' '+OK\r\n' '(closed)'
    run kv raw --hex <<<"$(get_frame r) 0001 00000003 6b0d0a"
    expect_output "$(printf '%s\n' '"\xff\x00\n"' '(nil)' '(closed)')"
}

# bats test_tags=stage:3
@test "first byte: an expiry set over RESP shows in KV/1's PTTL" {
    explained_in "$SEE_FIRST"
    expect_raw 'SET t v PX 100000\r\nQUIT\r\n' '+OK\r\n' '+OK\r\n' '(closed)'
    run kv pttl t
    [[ $output =~ ^[0-9]+$ ]] && [ "$output" -gt 50000 ] && [ "$output" -le 100000 ] ||
        fail "expected KV/1's PTTL of t between 50000 and 100000 ms, got:" "$output"
}

# ---------------------------------------------------------------------------------------
# Protocol errors: the replies owed, then -ERR Protocol error, then the close
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:1
@test "errors: an array length that is not a number" {
    explained_in "$SEE_ERRORS"
    start_redis
    local bad
    for bad in '*abc' '*+1' '*01' '* 1' '*1x' '*'; do
        expect_like_redis "PING\r\n$bad\r\n\$4\r\nPING\r\n" || return 1
    done
}

# bats test_tags=stage:4
@test "errors: a bulk length that is not a decimal from 0 to 33554432" {
    explained_in "$SEE_ERRORS"
    start_redis
    local bad
    for bad in '$-1' '$+4' '$04' '$ 4' '$4 ' '$abc' '$' '$33554433' '$99999999999999999999999'; do
        expect_like_redis "PING\r\n*2\r\n\$4\r\nECHO\r\n$bad\r\nPING\r\n" || return 1
    done
}

# bats test_tags=stage:1
@test "errors: a bulk length of 33554432 is accepted: the server waits for its bytes" {
    explained_in "$SEE_ERRORS"
    start_redis
    expect_like_redis 'PING\r\n*2\r\n$4\r\nECHO\r\n$33554432\r\n'
}

# bats test_tags=stage:1
@test "errors: an array element that is not a bulk string" {
    explained_in "$SEE_ERRORS"
    start_redis
    expect_like_redis 'PING\r\n*2\r\n$4\r\nECHO\r\n:1\r\n'
    expect_like_redis 'PING\r\n*1\r\nx4\r\nPING\r\n'
}

# bats test_tags=stage:2
@test "errors: every reply owed to earlier commands comes before the error" {
    explained_in "$SEE_ERRORS"
    start_redis
    local bytes i
    bytes='SET a 1\r\n'
    for i in $(seq 100); do bytes+='*2\r\n$4\r\nINCR\r\n$1\r\na\r\n'; done
    expect_like_redis "$bytes*1\r\n\$x\r\n"
}

# bats test_tags=stage:4
@test "errors: an array length above 1048576 (Redis 7 allows it; we do not)" {
    explained_in "$SEE_ERRORS"
    expect_protocol_error 'PING\r\n*1048577\r\n' '+PONG\r\n'
    expect_protocol_error 'PING\r\n*2147483647\r\n' '+PONG\r\n'
    # 1048576 itself is allowed: the server waits for the elements
    expect_raw 'PING\r\n*1048576\r\n' '+PONG\r\n' '(open)'
}

# bats test_tags=stage:4
@test "errors: a bulk not followed by CRLF (Redis 7 does not check)" {
    explained_in "$SEE_ERRORS"
    expect_protocol_error 'PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhixx*1\r\n$4\r\nPING\r\n' '+PONG\r\n'
    expect_protocol_error 'PING\r\n*1\r\n$4\r\nPING\n\r\n' '+PONG\r\n'
}

# bats test_tags=stage:4
@test "errors: a header line not ended by CRLF" {
    explained_in "$SEE_ERRORS"
    expect_protocol_error 'PING\r\n*1\n$4\r\nPING\r\n' '+PONG\r\n'
    expect_protocol_error 'PING\r\n*1\r\n$4\nPING\r\n' '+PONG\r\n'
    expect_protocol_error 'PING\r\n*1\r\n$4\rxPING\r\n' '+PONG\r\n'
}

# bats test_tags=stage:1
@test "errors: after a protocol error the server keeps serving others and leaks nothing" {
    explained_in "$SEE_ERRORS"
    expect_protocol_error 'SET kept 1\r\n*1\r\n$-5\r\n' '+OK\r\n'
    expect_server_recovers
    expect_raw 'GET kept\r\nQUIT\r\n' '$1\r\n' '1\r\n' '+OK\r\n' '(closed)'
}

# bats test_tags=stage:4
@test "errors: an inline POST or Host: line closes the connection without a reply" {
    explained_in "$SEE_ERRORS"
    start_redis
    expect_like_redis 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 6\r\n\r\nPING\r\n'
    expect_raw 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' '(closed)'
    # A Host: line after a command that was answered
    local fd line rest
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    printf 'PING\r\n' >&"$fd"
    IFS= read -r -t 5 line <&"$fd" || line="(nothing within 5 s)"
    [ "$line" = $'+PONG\r' ] || fail "expected +PONG for the PING first, got: $line"
    printf 'Host: 127.0.0.1\r\nPING\r\n' >&"$fd"
    rest=$(timeout 5 cat <&"$fd" | od -An -c)
    exec {fd}>&-
    [ -z "$rest" ] || fail "after a Host: line, expected the close and nothing else; got:" "$rest"
    expect_server_recovers
}

# bats test_tags=stage:4
@test "errors: a command's arguments count against --max-client-memory before it is whole" {
    not_for_memory_measures
    explained_in "$SEE_ERRORS"
    local base peak want
    stop_server
    KV_SERVER_FLAGS="--max-client-memory 4m" start_server
    expect_raw 'SET kept 1\r\nQUIT\r\n' '+OK\r\n' '+OK\r\n' '(closed)'
    base=$(server_rss_kib)
    # An array of 1,048,576 empty bulks, 6 MiB of them sent before the command is whole:
    # the server's record of each argument costs more than its 6 bytes on the wire.
    run "$PYTHON3" - "$PORT" <<'EOF'
import select, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
got = b""
def read_ready():
    global got
    while select.select([s], [], [], 0)[0]:
        b = s.recv(4096)
        if not b:
            return False
        got += b
    return True
try:
    s.sendall(b"*1048576\r\n")
    chunk = b"$0\r\n\r\n" * 8192
    for _ in range(1048576 // 8192):
        s.sendall(chunk)
        # a pause to let the server read it all: sending more after it closes would
        # reset the connection, and the reset can discard the error before it is read
        select.select([s], [], [], 0.05)
        if not read_ready():
            break
    s.settimeout(5)
    while True:
        b = s.recv(4096)
        if not b:
            break
        got += b
    print(repr(got), "(closed)")
except socket.timeout:
    print(repr(got), "(open)")
except OSError as e:
    print(repr(got), "(%s)" % e.__class__.__name__)
EOF
    peak=$(server_hwm_kib)
    [ $((peak - base)) -lt 8192 ] ||
        fail "a client sent an array of 1,048,576 empty bulks (6 MiB) with --max-client-memory 4m;" \
            "expected the server's peak resident memory to stay within 8 MiB of where it was" \
            "before; got $(((peak - base) / 1024)) MiB above it: the parser's memory for each" \
            "argument should count in the client's bytes"
    want="b'-ERR client memory limit reached\\r\\n' (closed)"
    [ "$output" = "$want" ] ||
        fail "a client sent an array of 1,048,576 empty bulks (6 MiB) with --max-client-memory 4m;" \
            "expected the error, then the close: $want" "got: $output"
    expect_raw 'GET kept\r\nQUIT\r\n' '$1\r\n' '1\r\n' '+OK\r\n' '(closed)'
}

# bats test_tags=stage:4
@test "errors: a declared array or bulk length reserves nothing until its bytes arrive" {
    not_for_memory_measures
    explained_in "$SEE_ERRORS"
    local base_rss base_vm rss vm fd
    CLIENT_FDS=()
    expect_server_serves
    base_rss=$(server_rss_kib) base_vm=$(server_vm_kib)
    # 20 connections each announce 1,048,576 arguments, the first of 32 MiB, and stop.
    open_clients 20
    for fd in "${CLIENT_FDS[@]}"; do
        printf '*1048576\r\n$33554432\r\n' >&"$fd"
    done
    sleep 0.5
    expect_raw 'PING\r\nQUIT\r\n' '+PONG\r\n' '+OK\r\n' '(closed)'
    rss=$(server_rss_kib) vm=$(server_vm_kib)
    close_clients
    [ $((rss - base_rss)) -lt 4096 ] && [ $((vm - base_vm)) -lt 16384 ] ||
        fail "20 connections each declared an array of 1,048,576 and a bulk of 32 MiB, and" \
            "sent nothing more; expected the server to grow by under 4 MiB resident and" \
            "16 MiB reserved (virtual); got $(((rss - base_rss) / 1024)) MiB resident and" \
            "$(((vm - base_vm) / 1024)) MiB reserved: memory should follow the bytes that" \
            "arrived, not the lengths announced"
}

# ---------------------------------------------------------------------------------------
# Real clients
# ---------------------------------------------------------------------------------------

# bats test_tags=stage:2
@test "clients: redis-cli, one command per run" {
    explained_in "$SEE_CLIENTS"
    need_command redis-cli redis-tools
    start_redis
    local port cmd ours redis
    for port in "$PORT" "$REDIS_PORT"; do
        for cmd in "set k v" "get k" "incr n" "incrby n 41" "get missing" "del k n" "ping" \
            "echo hi" "dbsize" "nosuchcommand a" "get"; do
            redis-cli -p "$port" $cmd 2>&1
            # as at a terminal: "(integer) 1", "(nil)", "(error) ..."
            redis-cli --no-raw -p "$port" $cmd 2>&1
        done >"$BATS_TEST_TMPDIR/cli.$port"
    done
    ours=$(cat "$BATS_TEST_TMPDIR/cli.$PORT")
    redis=$(cat "$BATS_TEST_TMPDIR/cli.$REDIS_PORT")
    [ "$ours" = "$redis" ] || fail "redis-cli's output, expected (Redis 7's):" "$redis" "got:" "$ours"
}

# bats test_tags=stage:3
@test "clients: redis-cli reading commands from standard input" {
    explained_in "$SEE_CLIENTS"
    need_command redis-cli redis-tools
    start_redis
    local port ours redis
    for port in "$PORT" "$REDIS_PORT"; do
        printf '%s\n' "set a 1" "incr a" "get a" "mset x 1 y 2" "mget x y z" "expire a 100" \
            "ttl a" "type a" "persist a" "foo bar" "config get save" "select 1" "quit" |
            redis-cli -p "$port" >"$BATS_TEST_TMPDIR/cli.$port" 2>&1
    done
    ours=$(cat "$BATS_TEST_TMPDIR/cli.$PORT")
    redis=$(cat "$BATS_TEST_TMPDIR/cli.$REDIS_PORT")
    [ "$ours" = "$redis" ] || fail "redis-cli's output, expected (Redis 7's):" "$redis" "got:" "$ours"
}

# bats test_tags=stage:2
@test "clients: redis-cli at a terminal (it asks COMMAND DOCS first)" {
    explained_in "$SEE_CLIENTS"
    need_command redis-cli redis-tools
    need_command script bsdutils
    # TERM=dumb: redis-cli's line editor reads plain lines, without asking the terminal
    # where its cursor is (no terminal would answer here)
    {
        sleep 0.5
        echo "set greeting hello"
        sleep 0.3
        echo "get greeting"
        sleep 0.3
        echo "incr greeting"
        sleep 0.3
        echo "incr counter"
        sleep 0.3
        echo "get missing"
        sleep 0.3
        echo "quit"
        sleep 0.3
    } | TERM=dumb timeout 20 script -qec "redis-cli -p $PORT" /dev/null >"$BATS_TEST_TMPDIR/tty" 2>&1
    run tr -d '\r' <"$BATS_TEST_TMPDIR/tty"
    [[ $output == *'"hello"'* && $output == *"(error) ERR value is not an integer or out of range"* &&
        $output == *"(integer) 1"* && $output == *"(nil)"* && $output == *"127.0.0.1:$PORT> "* ]] ||
        fail "expected redis-cli's prompt, \"hello\" for the GET, the error of the INCR," \
            "(integer) 1 for the other INCR and (nil) for the missing key; got:" "$output"
}

# benchmark ARGS...: redis-benchmark against our server; each test's result line, one a line.
benchmark() {
    timeout 20 redis-benchmark -p "$PORT" -t ping,set,get,incr,mset -n 2000 -c 20 -q "$@" 2>&1 |
        tr '\r' '\n' | grep 'requests per second' | sed 's/:.*//' | sed 's/^ *//'
}

# bats test_tags=stage:2
@test "clients: redis-benchmark completes every test" {
    explained_in "$SEE_CLIENTS"
    need_command redis-benchmark redis-tools
    run benchmark
    expect_output "$(printf '%s\n' PING_INLINE PING_MBULK SET GET INCR 'MSET (10 keys)')"
    # its SETs stored their value (3 bytes) under one key
    run resp_raw "$PORT" 'GET key:__rand_int__\r\nQUIT\r\n'
    [ "${lines[0]:-}" = '$3\r\n' ] ||
        fail "expected GET key:__rand_int__ to find the benchmark's 3-byte value; got:" "$output"

}

# bats test_tags=stage:2
@test "clients: redis-benchmark completes every test, pipelining 16 commands" {
    explained_in "$SEE_CLIENTS"
    need_command redis-benchmark redis-tools
    run benchmark -P 16
    expect_output "$(printf '%s\n' PING_INLINE PING_MBULK SET GET INCR 'MSET (10 keys)')"
}

# bats test_tags=stage:3
@test "clients: redis-py sets, gets, pipelines, and raises ResponseError for an error reply" {
    explained_in "$SEE_CLIENTS"
    "$PYTHON3" -c 'import redis' 2>/dev/null ||
        skip "redis-py is not installed for $PYTHON3 (Debian: apt-get install python3-redis)"
    run "$PYTHON3" - "$PORT" <<'EOF'
import sys, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=10)
print(r.set("k", b"\x00\r\nv"), r.get("k"), r.get("missing"))
p = r.pipeline(transaction=False)
p.set("n", 10).incr("n").incrby("n", 5).mget("n", "k", "none").expire("n", 100).ttl("n")
print(p.execute())
try:
    r.incr("k")
    print("no error raised")
except redis.exceptions.ResponseError as e:
    print("ResponseError:", e)
print(r.ping(), r.dbsize(), r.delete("k", "n", "missing"), r.exists("k"))
EOF
    expect_output "$(printf '%s\n' \
        "True b'\\x00\\r\\nv' None" \
        "[True, 11, 16, [b'16', b'\\x00\\r\\nv', None], True, 100]" \
        "ResponseError: value is not an integer or out of range" \
        "True 2 2 0")"
}

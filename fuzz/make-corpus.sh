#!/usr/bin/env bash
# make-corpus.sh - writes the fuzz targets' seed inputs: a few dozen KV/1 sessions that a
# person can read here, from the ordinary (SET then GET) to the hostile (a 4 GiB length, an
# HTTP request). The fuzzer starts from them and mutates its way outwards; without seeds it
# would spend its first minutes discovering that a request begins with 00 01.
#
#   fuzz/make-corpus.sh raw DIR     sessions as they are (fuzz_step02.c reads these)
#   fuzz/make-corpus.sh split DIR   each prefixed with 2 bytes, big-endian: where to cut the
#                                   session into two reads (fuzz_buffered.c reads these)
#   fuzz/make-corpus.sh resp DIR    RESP sessions, in the split format (fuzz_resp.c, step 09)
#
# Each seed is a file DIR/seed-NAME. Files the fuzzer added to DIR are left alone.

set -euo pipefail
export LC_ALL=C # ${#text} counts bytes, not characters

usage() {
    echo "usage: $0 raw|split DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
format=$1
dir=$2
[ "$format" = raw ] || [ "$format" = split ] || [ "$format" = resp ] || usage
mkdir -p "$dir"

# ---------------------------------------------------------------------------------------
# Bytes: big-endian integers and KV/1 frames, written to standard output
# ---------------------------------------------------------------------------------------

u16() {
    local hi lo
    printf -v hi %02x $(($1 >> 8 & 255))
    printf -v lo %02x $(($1 & 255))
    printf "\\x$hi\\x$lo"
}

u32() {
    u16 $(($1 >> 16 & 65535))
    u16 $(($1 & 65535))
}

# arg TEXT: one argument, its length then its bytes. TEXT is a printf format without %: it
# may hold \xHH escapes (\x00 is a NUL byte), each one byte. Counting in the shell, without
# a pipe through wc, keeps the generator quick.
arg() {
    local one_per_byte=${1//\\x[0-9a-fA-F][0-9a-fA-F]/.}
    u32 ${#one_per_byte}
    printf "$1"
}

get() { u16 1; arg "$1"; }
set_() { u16 2; arg "$1"; arg "$2"; } # "set" is a shell builtin
del() { u16 3; arg "$1"; }
# Step 07's types. A ttl is 8 bytes: u32 8, then the value as two u32s (high, low).
pexpire() { u16 4; arg "$1"; u32 8; u32 $(($2 >> 32)); u32 $(($2 & 4294967295)); }
pttl() { u16 5; arg "$1"; }
persist() { u16 6; arg "$1"; }
dbsize() { u16 7; }

# ---------------------------------------------------------------------------------------
# Seeds
# ---------------------------------------------------------------------------------------

# seed NAME [CUT] < SESSION: writes one seed. CUT, for the split format, is where the
# session is cut into two reads; it defaults to the middle.
seed() {
    local name=$1 session len
    session=$(mktemp)
    cat >"$session"
    len=$(wc -c <"$session")
    if [ "$format" != raw ]; then
        { u16 "${2:-$((len / 2))}"; cat "$session"; } >"$dir/seed-$name"
    else
        cp "$session" "$dir/seed-$name"
    fi
    rm -f "$session"
}

# RESP sessions (step 09): arrays and inline commands, options, integers, and each way a
# stream is refused. printf formats: \r\n ends a line.
if [ "$format" = resp ]; then
    printf '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n' | seed array-set-get
    printf 'SET k v\r\nGET k\r\nDEL k\r\nGET k\r\n' | seed inline-set-get
    printf 'PING\nPING hi\r\nECHO "a b\\x41\\n"\r\nECHO '"'it\\\\'s'"'\r\n' | seed inline-quotes
    printf 'SET n 9223372036854775806\r\nINCR n\r\nINCR n\r\nDECRBY n -9223372036854775808\r\nINCRBY n 007\r\n' | seed integers
    printf 'SET k v EX 100 NX\r\nSET k w XX GET\r\nSET k v KEEPTTL PX 5\r\nTTL k\r\nPERSIST k\r\n' | seed set-options
    printf 'MSET a 1 b 2\r\nMGET a b c\r\nEXPIRE a 10 GT\r\nEXPIRE a -1\r\nEXISTS a b\r\nDBSIZE\r\nFLUSHALL\r\n' | seed keys
    printf 'FOO bar\r\nCONFIG GET save\r\nCOMMAND DOCS\r\nSELECT 1\r\nTYPE a\r\nQUIT\r\nPING\r\n' | seed server
    printf '*0\r\n*-1\r\n\r\n*1\r\n$4\r\nPING\r\n' | seed empty-commands
    printf '*1\r\n$33554433\r\n' | seed bulk-too-long
    printf '*1048577\r\n' | seed array-too-long
    printf '*1\r\n$4\r\nPINGxx' | seed bulk-without-crlf
    printf '*1\r\nx4\r\nPING\r\n' | seed expected-dollar
    printf 'ECHO "abc\r\n' | seed unbalanced-quotes
    printf 'POST / HTTP/1.1\r\nHost: x\r\n\r\n' | seed http
    printf '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n' | seed cut-in-header 6
    exit 0
fi

# Every type, and what each answers.
get missing | seed get-missing
{ set_ k v; get k; } | seed set-then-get
{ set_ k v; del k; get k; del k; } | seed set-del-get-del
{ set_ k one; set_ k "two, longer"; get k; } | seed overwrite

# Byte strings: empty ones, NUL and 0xFF are ordinary bytes.
{ set_ "" ""; get ""; del ""; } | seed empty-key-and-value
{ set_ 'a\x00b' '\xff\x00\xff'; get 'a\x00b'; get 'a\x00c'; } | seed nul-and-ff

# Lengths at and over the 32 MiB limit, decided from the length field alone.
{ u16 2; u32 33554432; } | seed length-at-limit
{ u16 2; u32 33554433; } | seed length-over-limit
{ u16 1; u32 4294967295; } | seed length-4-gib
{ set_ k v; u16 2; arg k; u32 4294967295; } | seed value-length-4-gib

# What is not KV/1 at all: unknown types, an HTTP request.
{ u16 0; arg k; } | seed type-0
{ u16 4; arg k; } | seed type-4
{ u16 8; arg k; } | seed type-8
{ u16 65535; } | seed type-ffff
printf 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n' | seed http

# Frames cut short: half a type, half a length, a value that stops early.
printf '\x00' | seed half-type
{ u16 1; printf '\x00\x00'; } | seed half-length
{ u16 2; arg k; u32 10; printf 'abc'; } | seed short-value
: | seed empty

# The same SET cut between two reads inside its first length field (split format only).
set_ key value | seed cut-mid-length 4

# An ERROR after good requests: their replies first, and nothing parsed after it.
{ set_ k v; get k; u16 9; get k; } | seed error-after-requests

# Many frames back to back: enough keys to make step 05's table grow, then shrink.
{
    for i in $(seq 40); do set_ "key$i" "value$i"; done
    for i in $(seq 40); do get "key$i"; done
    for i in $(seq 40); do del "key$i"; done
} | seed many-frames

# Large values: responses bigger than one write, piling up in the output buffer.
big=$(printf 'v%.0s' $(seq 1500))
{ set_ big "$big"; get big; get big; get big; } | seed large-values

# Step 07 (before it, types 4 to 7 are unknown): keys that expire. The fuzz target's clock
# moves a millisecond per request, so a ttl of 2 runs out two requests later.
{ set_ k v; pexpire k 2; pttl k; get k; get k; pttl k; dbsize; } | seed expire-soon
{ set_ a 1; set_ b 2; pexpire a 100; persist a; pttl a; set_ b 3; pttl b; dbsize; } | seed persist-and-set
{ set_ k v; pexpire k 0; get k; dbsize; pexpire missing 5; pttl missing; } | seed expire-zero
{ set_ k v; pexpire k 4611686018427387904; pttl k; pexpire k 4611686018427387905; get k; } | seed ttl-limit
{ set_ k v; u16 4; arg k; u32 7; printf '\x00\x00\x00\x00\x00\x00\x01'; get k; } | seed ttl-7-bytes
{
    for i in $(seq 30); do set_ "key$i" "v"; pexpire "key$i" $((i % 5 + 1)); done
    for i in $(seq 30); do get "key$i"; dbsize; done
} | seed many-expiring

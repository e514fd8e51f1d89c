/*
 * siphash.c - SipHash-2-4, written from the description in the paper.
 *
 * The state is four 64-bit words, v0..v3, started from the key xored with four constants
 * (32 bytes of ASCII text, spelled out below). The message is eaten 8 bytes at a time,
 * little-endian; each word is mixed in with 2 rounds ("compression"), then the last,
 * partial word carries the message length in its top byte, and 4 more rounds
 * ("finalization") produce the result. 2 and 4 are the round counts in the name.
 *
 * Every word is assembled byte by byte, so the result is the same on every host
 * whatever its byte order or alignment rules.
 */
#include "siphash.h"

/* ------------------------------------------------------------------------------------
 * The round function
 * ------------------------------------------------------------------------------------ */

struct sip_state {
    uint64_t v0, v1, v2, v3;
};

static uint64_t rotate_left(uint64_t x, unsigned bits)
{
    return x << bits | x >> (64 - bits);
}

/* Add, rotate, xor: two half-rounds, each mixing one pair of words into the other. */
static void sip_round(struct sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = rotate_left(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotate_left(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotate_left(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotate_left(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotate_left(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotate_left(s->v2, 32);
}

/* One message word: xored into v3 before the rounds and into v0 after them. */
static void sip_compress(struct sip_state *s, uint64_t word)
{
    s->v3 ^= word;
    sip_round(s);
    sip_round(s);
    s->v0 ^= word;
}

/* ------------------------------------------------------------------------------------
 * Hashing a byte string
 * ------------------------------------------------------------------------------------ */

/* n (at most 8) bytes as a little-endian integer. */
static uint64_t get_le(const uint8_t *p, size_t n)
{
    uint64_t word = 0;
    for (size_t i = 0; i < n; i++)
        word |= (uint64_t)p[i] << (8 * i);
    return word;
}

uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const uint8_t *data, size_t len)
{
    uint64_t k0 = get_le(key, 8);
    uint64_t k1 = get_le(key + 8, 8);
    size_t whole = len - len % 8;
    uint64_t last;
    struct sip_state s = {
        .v0 = k0 ^ 0x736f6d6570736575u, /* "somepseu" */
        .v1 = k1 ^ 0x646f72616e646f6du, /* "dorandom" */
        .v2 = k0 ^ 0x6c7967656e657261u, /* "lygenera" */
        .v3 = k1 ^ 0x7465646279746573u, /* "tedbytes" */
    };

    for (size_t i = 0; i < whole; i += 8)
        sip_compress(&s, get_le(data + i, 8));

    /* The 0 to 7 bytes left, and the length modulo 256 in the top byte. */
    last = (uint64_t)(len & 0xff) << 56;
    if (len > whole)
        last |= get_le(data + whole, len - whole);
    sip_compress(&s, last);

    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

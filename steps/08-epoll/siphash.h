/*
 * siphash.h - SipHash-2-4, a keyed hash: the store's defence against hash flooding.
 *
 * A hash table is only fast while keys spread over its buckets. With a fixed, public hash
 * function a client can compute thousands of keys that share one bucket and turn every
 * request into a walk down one long chain. SipHash mixes a secret 128-bit key into every
 * hash, so without the key nobody can predict which bucket a string lands in. The store
 * picks the key at random when it starts.
 *
 * Aumasson and Bernstein, "SipHash: a fast short-input PRF" (2012).
 */
#ifndef SIPHASH_H
#define SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

/* The 64-bit SipHash-2-4 of len bytes at data; data may be NULL when len is 0. */
uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const uint8_t *data, size_t len);

#endif

/*
 * store.h - where the keys and values live.
 *
 * Keys and values are byte strings, a pointer and a length, never NUL-terminated C
 * strings: "a\0b" and "a\0c" are two different keys, and a value may hold any byte.
 * The store copies what it is given, so the caller's buffers can be reused at once.
 *
 * Step 07: keys may expire. A key with a time to live is gone for every call from the
 * moment its deadline passes (lazy expiry: each lookup checks), and store_expire_due()
 * frees the expired keys no request touches (active expiry), a bounded batch per call.
 * The store never reads a clock: its caller tells it the time (store_set_time).
 *
 * Step 08: each value is a struct value (value.h) with a reference count. store_get()
 * hands out the store's value itself; a caller that keeps it past the next change to the
 * key takes a reference of its own (value_hold), so a reply can be sent from it without
 * copying it.
 *
 * Step 09: store_clear() empties the store, for RESP's FLUSHALL.
 */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "value.h"

struct store;

struct store *store_create(void);
void store_destroy(struct store *store);

/* Returns 0, or -1 with errno ENOMEM (the old value, if any, is kept). Any expiry the key
 * had is removed: a SET makes a key that lives until it is deleted. */
int store_set(struct store *store, const uint8_t *key, size_t key_len,
              const uint8_t *value, size_t value_len);

/* The key's value, or NULL if there is no such key. Borrowed: valid until the key is next
 * changed, unless the caller holds it (value_hold). */
struct value *store_get(struct store *store, const uint8_t *key, size_t key_len);

/* Returns true if the key existed. */
bool store_del(struct store *store, const uint8_t *key, size_t key_len);

/*
 * Step 06: the table's resizing, moved on by a timer when no request moves it. True while
 * a resize is under way; store_rehash does a bounded piece of it (steps pieces of a few
 * buckets each) and says whether more is left.
 */
bool store_resizing(const struct store *store);
bool store_rehash(struct store *store, unsigned steps);

/*
 * Step 07: keys that expire. Times are milliseconds on one clock that never goes back
 * (the server's CLOCK_MONOTONIC); a key whose deadline is at or before "now" is expired.
 */
#define STORE_MAX_TTL_MS (UINT64_C(1) << 62) /* docs/protocol.md: a longer ttl is refused */
#define STORE_NO_EXPIRY UINT64_MAX           /* store_next_expiry() when no key expires */

/* What every call below, and get, set and del, take as "now". */
void store_set_time(struct store *store, uint64_t now_ms);

/*
 * Makes the key expire ttl_ms from now (below 2^63: KV/1 caps it at STORE_MAX_TTL_MS, RESP
 * at Redis's own bound), replacing any earlier expiry; a ttl of 0 deletes it at once. *found
 * says whether the key exists (a missing key is no failure). Returns 0, or -1 with errno
 * ENOMEM (the key is left as it was).
 */
int store_expire(struct store *store, const uint8_t *key, size_t key_len, uint64_t ttl_ms,
                 bool *found);

/* True if the key exists; *ttl_ms is then the milliseconds it has left, or -1 if none. */
bool store_ttl(struct store *store, const uint8_t *key, size_t key_len, int64_t *ttl_ms);

/* Removes the key's expiry. Returns true if the key exists. */
bool store_persist(struct store *store, const uint8_t *key, size_t key_len);

/* Keys held, including expired ones not yet freed. */
size_t store_count(const struct store *store);

/* The earliest deadline of any key, or STORE_NO_EXPIRY. It may already have passed. */
uint64_t store_next_expiry(const struct store *store);

/* Frees up to max expired keys, earliest deadline first. Returns how many it freed. */
size_t store_expire_due(struct store *store, size_t max);

/* Step 09: removes every key (FLUSHALL). */
void store_clear(struct store *store);

#endif

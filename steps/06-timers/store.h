/*
 * store.h - where the keys and values live.
 *
 * Keys and values are byte strings, a pointer and a length, never NUL-terminated C
 * strings: "a\0b" and "a\0c" are two different keys, and a value may hold any byte.
 * The store copies what it is given, so the caller's buffers can be reused at once.
 */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

struct store *store_create(void);
void store_destroy(struct store *store);

/* Returns 0, or -1 with errno ENOMEM (the old value, if any, is kept). */
int store_set(struct store *store, const uint8_t *key, size_t key_len,
              const uint8_t *value, size_t value_len);

/* On true, *value points into the store: valid until the key is next changed. */
bool store_get(struct store *store, const uint8_t *key, size_t key_len,
               const uint8_t **value, size_t *value_len);

/* Returns true if the key existed. */
bool store_del(struct store *store, const uint8_t *key, size_t key_len);

/*
 * Step 06: the table's resizing, moved on by a timer when no request moves it. True while
 * a resize is under way; store_rehash does a bounded piece of it (steps pieces of a few
 * buckets each) and says whether more is left.
 */
bool store_resizing(const struct store *store);
bool store_rehash(struct store *store, unsigned steps);

#endif

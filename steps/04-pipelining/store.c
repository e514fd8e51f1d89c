/*
 * store.c - the simplest store that works: a singly linked list, searched from the head.
 *
 * Every lookup walks the list, so a store of n keys costs O(n) per request. That is
 * fine for a first protocol server and a disaster at a million keys; step 05 replaces
 * this file with a hash table, and the benchmarks show the difference.
 *
 * Each entry is one allocation holding the key (a flexible array member at its end);
 * the value has an allocation of its own, so an overwrite can replace it in place.
 */
#define _POSIX_C_SOURCE 200809L

#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    struct entry *next;
    uint8_t *value;
    size_t value_len;
    size_t key_len;
    uint8_t key[];
};

struct store {
    struct entry *head;
};

/* ------------------------------------------------------------------------------------
 * Byte strings
 * ------------------------------------------------------------------------------------ */

/* memcmp and memcpy may not be handed a null pointer, even for zero bytes. */
static bool bytes_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

/* A copy of len bytes; never NULL on success, even for len 0. */
static uint8_t *bytes_copy(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    if (copy != NULL && len > 0)
        memcpy(copy, data, len);
    return copy;
}

/* ------------------------------------------------------------------------------------
 * The list
 * ------------------------------------------------------------------------------------ */

/*
 * Returns the link that points at the key's entry, or the final NULL link if the key is
 * absent. Holding the link rather than the entry lets store_del unlink without keeping
 * track of a "previous" entry.
 */
static struct entry **find_link(struct store *store, const uint8_t *key, size_t key_len)
{
    struct entry **link = &store->head;
    while (*link != NULL && !bytes_equal((*link)->key, (*link)->key_len, key, key_len))
        link = &(*link)->next;
    return link;
}

static void entry_free(struct entry *entry)
{
    free(entry->value);
    free(entry);
}

/* ------------------------------------------------------------------------------------
 * The store's interface
 * ------------------------------------------------------------------------------------ */

struct store *store_create(void)
{
    return calloc(1, sizeof(struct store));
}

void store_destroy(struct store *store)
{
    struct entry *entry = store->head;
    while (entry != NULL) {
        struct entry *next = entry->next;
        entry_free(entry);
        entry = next;
    }
    free(store);
}

int store_set(struct store *store, const uint8_t *key, size_t key_len,
              const uint8_t *value, size_t value_len)
{
    struct entry *entry = *find_link(store, key, key_len);
    uint8_t *copy = bytes_copy(value, value_len);
    if (copy == NULL)
        return -1;

    if (entry == NULL) {
        entry = malloc(sizeof *entry + key_len);
        if (entry == NULL) {
            free(copy);
            errno = ENOMEM;
            return -1;
        }
        if (key_len > 0)
            memcpy(entry->key, key, key_len);
        entry->key_len = key_len;
        entry->value = NULL;
        entry->next = store->head;
        store->head = entry;
    }
    free(entry->value);
    entry->value = copy;
    entry->value_len = value_len;
    return 0;
}

bool store_get(struct store *store, const uint8_t *key, size_t key_len,
               const uint8_t **value, size_t *value_len)
{
    struct entry *entry = *find_link(store, key, key_len);
    if (entry == NULL)
        return false;
    *value = entry->value;
    *value_len = entry->value_len;
    return true;
}

bool store_del(struct store *store, const uint8_t *key, size_t key_len)
{
    struct entry **link = find_link(store, key, key_len);
    struct entry *entry = *link;
    if (entry == NULL)
        return false;
    *link = entry->next;
    entry_free(entry);
    return true;
}

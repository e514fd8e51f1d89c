/*
 * store.c - the same store, now a hash table: constant work per request at any size.
 *
 * The list of steps 02 to 04 walked every key on every request. Now the key's hash picks
 * one short chain to search (hashtable.c), and the table resizes a few buckets at a time,
 * so no request pays for moving a million keys at once. The hash is SipHash keyed with 16
 * random bytes read at start-up: a client that cannot know them cannot choose keys that
 * all land in one chain. (Constant on average: chains are one or two nodes long. At a
 * million keys each request still costs more, in cache misses: chapter 05 measures it.)
 *
 * Each entry is one allocation holding the key (a flexible array member at its end);
 * the value has an allocation of its own, so an overwrite can replace it in place. The
 * entry embeds the table's node, so linking it into the table costs no allocation.
 */
#define _POSIX_C_SOURCE 200809L

#include "store.h"
#include "hashtable.h"
#include "siphash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct entry {
    struct ht_node node;
    uint8_t *value;
    size_t value_len;
    size_t key_len;
    uint8_t key[];
};

struct store {
    struct hashtable table;
    uint8_t hash_key[SIPHASH_KEY_LEN];
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
 * The table
 * ------------------------------------------------------------------------------------ */

/* What the table is asked to find: a key as the caller gave it. */
struct lookup {
    const uint8_t *key;
    size_t key_len;
};

static uint64_t key_hash(const struct store *store, const uint8_t *key, size_t key_len)
{
    return siphash24(store->hash_key, key, key_len);
}

/* The table has already compared the hashes; this settles the rare equal-hash case. */
static bool entry_matches(const struct ht_node *node, const void *wanted)
{
    const struct entry *entry = container_of(node, const struct entry, node);
    const struct lookup *lookup = wanted;
    return bytes_equal(entry->key, entry->key_len, lookup->key, lookup->key_len);
}

static struct entry *find_entry(struct store *store, uint64_t hash,
                                const uint8_t *key, size_t key_len)
{
    struct lookup lookup = {key, key_len};
    struct ht_node *node = ht_find(&store->table, hash, entry_matches, &lookup);
    return node != NULL ? container_of(node, struct entry, node) : NULL;
}

static void entry_free(struct entry *entry)
{
    free(entry->value);
    free(entry);
}

static void node_free(struct ht_node *node)
{
    entry_free(container_of(node, struct entry, node));
}

/* ------------------------------------------------------------------------------------
 * The hash key
 * ------------------------------------------------------------------------------------ */

/* Reads exactly len bytes from fd. Returns 0, or -1 with errno set. */
static int read_exactly(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n == 0) {
            errno = EIO; /* /dev/urandom never ends; one that does is not the real one */
            return -1;
        }
        if (n > 0)
            got += (size_t)n;
    }
    return 0;
}

/*
 * Fills buf from /dev/urandom. Returns 0, or -1 with errno set. The store calls this once,
 * at start-up, so a signal arriving just then is simply retried.
 */
static int read_random(uint8_t *buf, size_t len)
{
    int fd, saved;

    do {
        fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -1;
    if (read_exactly(fd, buf, len) < 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    /* Nothing was written, so no error close() could report would matter here. */
    close(fd);
    return 0;
}

/* ------------------------------------------------------------------------------------
 * The store's interface
 * ------------------------------------------------------------------------------------ */

struct store *store_create(void)
{
    uint8_t hash_key[SIPHASH_KEY_LEN];
    struct store *store;

    if (read_random(hash_key, sizeof hash_key) < 0)
        return NULL;
    store = malloc(sizeof *store);
    if (store == NULL)
        return NULL;
    memcpy(store->hash_key, hash_key, sizeof hash_key);
    ht_init(&store->table);
    return store;
}

void store_destroy(struct store *store)
{
    ht_clear(&store->table, node_free);
    free(store);
}

int store_set(struct store *store, const uint8_t *key, size_t key_len,
              const uint8_t *value, size_t value_len)
{
    uint64_t hash = key_hash(store, key, key_len);
    struct entry *entry = find_entry(store, hash, key, key_len);
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
        entry->node.hash = hash;
        if (ht_insert(&store->table, &entry->node) < 0) {
            free(entry);
            free(copy);
            return -1; /* errno is ENOMEM */
        }
    }
    free(entry->value);
    entry->value = copy;
    entry->value_len = value_len;
    return 0;
}

bool store_get(struct store *store, const uint8_t *key, size_t key_len,
               const uint8_t **value, size_t *value_len)
{
    struct entry *entry = find_entry(store, key_hash(store, key, key_len), key, key_len);
    if (entry == NULL)
        return false;
    *value = entry->value;
    *value_len = entry->value_len;
    return true;
}

bool store_del(struct store *store, const uint8_t *key, size_t key_len)
{
    struct lookup lookup = {key, key_len};
    struct ht_node *node = ht_remove(&store->table, key_hash(store, key, key_len),
                                     entry_matches, &lookup);
    if (node == NULL)
        return false;
    entry_free(container_of(node, struct entry, node));
    return true;
}

/* ------------------------------------------------------------------------------------
 * Resizing without requests (step 06)
 * ------------------------------------------------------------------------------------ */

bool store_resizing(const struct store *store)
{
    return ht_resizing(&store->table);
}

bool store_rehash(struct store *store, unsigned steps)
{
    return ht_rehash(&store->table, steps);
}

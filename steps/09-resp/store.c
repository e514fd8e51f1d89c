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
 *
 * Step 07: keys that expire. Each entry also embeds a heap node (heap.c, step 06's timer
 * heap, unchanged), which is in the store's heap of deadlines while the key has a time to
 * live. The node knows its place in the heap, so changing or removing a key's expiry is
 * O(log n) with no search; the heap's top is the key that expires first, and from the
 * node container_of() leads back to the entry. Two halves use it:
 *
 *   lazy     every lookup treats a key past its deadline as absent, and frees it;
 *   active   store_expire_due() pops expired keys off the heap's top, a batch at a time,
 *            so keys that no request touches are freed too.
 *
 * A key without a time to live pays 16 bytes for its idle node, and no heap slot.
 *
 * Step 08: the value is a struct value (value.c) with a reference count, and the store
 * holds one reference. Replacing, deleting or expiring a key releases it; a reply still
 * being sent holds its own, and the bytes are freed only when that reply is written.
 *
 * Step 09: store_clear(), every key at once.
 */
#define _POSIX_C_SOURCE 200809L

#include "store.h"
#include "hashtable.h"
#include "heap.h"
#include "siphash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct entry {
    struct ht_node node;
    struct heap_node expiry; /* in the store's heap while the key has a deadline (key) */
    struct value *value; /* the store's reference */
    size_t key_len;
    uint8_t key[];
};

struct store {
    struct hashtable table;
    struct heap expiries; /* the entries that have a deadline, earliest at the top */
    uint64_t now;         /* store_set_time(): a deadline at or before it has passed */
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

/* ------------------------------------------------------------------------------------
 * Expiry (step 07)
 * ------------------------------------------------------------------------------------ */

static bool entry_expired(const struct store *store, const struct entry *entry)
{
    return heap_contains(&entry->expiry) && entry->expiry.key <= store->now;
}

/* Takes the entry's deadline away, if it has one. */
static void entry_persist(struct store *store, struct entry *entry)
{
    if (heap_contains(&entry->expiry))
        heap_remove(&store->expiries, &entry->expiry);
}

static bool same_node(const struct ht_node *node, const void *wanted)
{
    return node == wanted;
}

static void entry_free(struct entry *entry)
{
    value_release(entry->value);
    free(entry);
}

static void node_free(struct ht_node *node)
{
    entry_free(container_of(node, struct entry, node));
}

/* Unlinks an entry found earlier from the table and the heap, and frees it. */
static void entry_delete(struct store *store, struct entry *entry)
{
    entry_persist(store, entry);
    ht_remove(&store->table, entry->node.hash, same_node, &entry->node);
    entry_free(entry);
}

/*
 * find_entry(), for every request: a key past its deadline is not there, whether or not
 * the active half has freed it yet. It is freed here, since it is in our hands (lazy).
 */
static struct entry *find_live(struct store *store, uint64_t hash,
                               const uint8_t *key, size_t key_len)
{
    struct entry *entry = find_entry(store, hash, key, key_len);

    if (entry != NULL && entry_expired(store, entry)) {
        entry_delete(store, entry);
        return NULL;
    }
    return entry;
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
    heap_init(&store->expiries);
    store->now = 0;
    return store;
}

void store_destroy(struct store *store)
{
    ht_clear(&store->table, node_free);
    heap_free(&store->expiries);
    free(store);
}

int store_set(struct store *store, const uint8_t *key, size_t key_len,
              const uint8_t *value, size_t value_len)
{
    uint64_t hash = key_hash(store, key, key_len);
    struct entry *entry = find_live(store, hash, key, key_len);
    struct value *copy = value_create(value, value_len);
    if (copy == NULL)
        return -1;

    if (entry == NULL) {
        entry = malloc(sizeof *entry + key_len);
        if (entry == NULL) {
            value_release(copy);
            errno = ENOMEM;
            return -1;
        }
        if (key_len > 0)
            memcpy(entry->key, key, key_len);
        entry->key_len = key_len;
        entry->value = NULL;
        entry->node.hash = hash;
        heap_node_init(&entry->expiry);
        if (ht_insert(&store->table, &entry->node) < 0) {
            free(entry);
            value_release(copy);
            return -1; /* errno is ENOMEM */
        }
    }
    entry_persist(store, entry);
    value_release(entry->value);
    entry->value = copy;
    return 0;
}

struct value *store_get(struct store *store, const uint8_t *key, size_t key_len)
{
    struct entry *entry = find_live(store, key_hash(store, key, key_len), key, key_len);
    return entry != NULL ? entry->value : NULL;
}

/* An expired key is freed all the same, but it was not there to delete. */
bool store_del(struct store *store, const uint8_t *key, size_t key_len)
{
    struct lookup lookup = {key, key_len};
    struct ht_node *node = ht_remove(&store->table, key_hash(store, key, key_len),
                                     entry_matches, &lookup);
    struct entry *entry;
    bool expired;

    if (node == NULL)
        return false;
    entry = container_of(node, struct entry, node);
    expired = entry_expired(store, entry);
    entry_persist(store, entry);
    entry_free(entry);
    return !expired;
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

/* ------------------------------------------------------------------------------------
 * Keys that expire (step 07)
 * ------------------------------------------------------------------------------------ */

void store_set_time(struct store *store, uint64_t now_ms)
{
    store->now = now_ms;
}

int store_expire(struct store *store, const uint8_t *key, size_t key_len, uint64_t ttl_ms,
                 bool *found)
{
    struct entry *entry = find_live(store, key_hash(store, key, key_len), key, key_len);

    *found = entry != NULL;
    if (entry == NULL)
        return 0;
    if (ttl_ms == 0) {
        entry_delete(store, entry);
        return 0;
    }
    if (heap_contains(&entry->expiry)) {
        heap_update(&store->expiries, &entry->expiry, store->now + ttl_ms);
        return 0;
    }
    if (heap_reserve(&store->expiries, heap_count(&store->expiries) + 1) < 0)
        return -1; /* errno is ENOMEM */
    heap_insert(&store->expiries, &entry->expiry, store->now + ttl_ms);
    return 0;
}

bool store_ttl(struct store *store, const uint8_t *key, size_t key_len, int64_t *ttl_ms)
{
    struct entry *entry = find_live(store, key_hash(store, key, key_len), key, key_len);

    if (entry == NULL)
        return false;
    /* A live key's deadline is after now, and under now + 2^63: the difference fits. */
    *ttl_ms = heap_contains(&entry->expiry) ? (int64_t)(entry->expiry.key - store->now) : -1;
    return true;
}

bool store_persist(struct store *store, const uint8_t *key, size_t key_len)
{
    struct entry *entry = find_live(store, key_hash(store, key, key_len), key, key_len);

    if (entry == NULL)
        return false;
    entry_persist(store, entry);
    return true;
}

size_t store_count(const struct store *store)
{
    return ht_count(&store->table);
}

uint64_t store_next_expiry(const struct store *store)
{
    struct heap_node *first = heap_min(&store->expiries);
    return first != NULL ? first->key : STORE_NO_EXPIRY;
}

/*
 * The active half. The heap's top is the earliest deadline, so the expired keys are
 * exactly those popped before the first one still in the future: no key is examined that
 * is not freed, and at most max are, so the caller bounds the time one call takes.
 */
size_t store_expire_due(struct store *store, size_t max)
{
    struct heap_node *first;
    size_t freed = 0;

    while (freed < max && (first = heap_min(&store->expiries)) != NULL &&
           first->key <= store->now) {
        entry_delete(store, container_of(first, struct entry, expiry));
        freed++;
    }
    return freed;
}

/* ------------------------------------------------------------------------------------
 * Every key at once (step 09)
 * ------------------------------------------------------------------------------------ */

/* The table frees every entry; the heap only pointed at them, so it is simply emptied. */
void store_clear(struct store *store)
{
    ht_clear(&store->table, node_free);
    heap_free(&store->expiries);
}

/*
 * hashtable.h - a chained hash table that grows and shrinks a little at a time.
 *
 * The table is intrusive: it never allocates or frees what it stores. The caller's
 * struct embeds a struct ht_node, the table links those nodes into chains, and
 * container_of() gets from a node back to the struct around it. So one allocation per
 * entry, and the table works for any entry type without void pointers or callbacks for
 * copying and freeing.
 *
 * The table never hashes anything either: the caller puts the hash in node->hash before
 * inserting and passes the same hash to find and remove, along with a function that says
 * whether a node holds the key being looked for.
 *
 * Resizing is progressive. When the table outgrows its bucket array it allocates the new
 * one and then every insert, find and remove moves a few buckets across, so no single
 * call ever pays for moving the whole table.
 */
#ifndef HASHTABLE_H
#define HASHTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* From a pointer to a member back to the struct that contains it. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* The tuning knobs, here rather than in hashtable.c so the tests can check them. */
#define HT_MIN_BUCKETS 8          /* never fewer: 64 bytes, one cache line */
#define HT_SHRINK_FILL 8          /* shrink when nodes < buckets / 8 (grow when nodes > buckets) */
#define HT_REHASH_STEP_BUCKETS 2  /* chains moved per call while a resize is under way */
#define HT_REHASH_EMPTY_VISITS 10 /* empty buckets skipped per call: this many per chain */

/* 1: move every bucket the moment a resize starts (the naive design, for measuring). */
#ifndef HT_REHASH_ALL_AT_ONCE
#define HT_REHASH_ALL_AT_ONCE 0
#endif

struct ht_node {
    struct ht_node *next; /* the rest of this node's chain */
    uint64_t hash;        /* set by the caller before ht_insert; never changed after */
};

/* size is 0 (buckets NULL) or a power of two, so a hash's bucket is hash & (size - 1). */
struct ht_array {
    struct ht_node **buckets;
    size_t size;
    size_t count; /* nodes chained from these buckets */
};

/*
 * Outside a resize every node is in arrays[0] and arrays[1] is empty. During one,
 * arrays[0] is the old array and arrays[1] the new: the buckets of arrays[0] below
 * rehash_index are empty (their nodes have moved), the rest are still to be moved, and
 * new nodes go straight into arrays[1]. The fields are visible so the struct can be
 * embedded; only hashtable.c changes them.
 */
struct hashtable {
    struct ht_array arrays[2];
    long rehash_index;  /* -1 means no resize is under way; else the next bucket to move */
    unsigned iterators; /* live iterators; while there are any, no bucket is moved */
};

/* Says whether node holds the key that key points to (the caller's key type). */
typedef bool ht_match_fn(const struct ht_node *node, const void *key);

/* An empty table. It allocates nothing until the first insert. */
void ht_init(struct hashtable *table);

/*
 * The node whose hash is hash and that matches key, or NULL. It may move a few buckets
 * of a resize under way, which is why the table is not const.
 */
struct ht_node *ht_find(struct hashtable *table, uint64_t hash, ht_match_fn *matches,
                        const void *key);

/*
 * Links node in, with node->hash already set. The caller makes sure no node with an equal
 * key is present (find first). Returns 0, or -1 with errno ENOMEM only when the table had
 * no buckets and could not get any. If a larger array cannot be had, the node still goes
 * in and the table stays valid, just more crowded.
 */
int ht_insert(struct hashtable *table, struct ht_node *node);

/* Unlinks and returns the matching node (the caller frees it), or NULL if there is none. */
struct ht_node *ht_remove(struct hashtable *table, uint64_t hash, ht_match_fn *matches,
                          const void *key);

size_t ht_count(const struct hashtable *table);

/*
 * Frees the bucket arrays, passing every node to free_node first (unless it is NULL),
 * and leaves the table as ht_init left it.
 */
void ht_clear(struct hashtable *table, void (*free_node)(struct ht_node *node));

/*
 * Iteration visits every node exactly once, even while a resize is under way, because
 * starting an iteration pauses the moving of buckets until it ends. While an iterator is
 * live, the table's user may:
 *     - call ht_find and ht_count;
 *     - ht_remove the node that ht_iter_next just returned (and free it).
 * and must not:
 *     - ht_insert (the new node might be visited or not),
 *     - ht_remove any other node (it might be the one the iterator will return next),
 *     - ht_clear.
 * The iteration ends when ht_iter_next returns NULL; to end it earlier, call ht_iter_stop,
 * or the table stays paused mid-resize for good (still correct, but slower and larger).
 */
struct ht_iter {
    struct hashtable *table; /* NULL once the iteration has ended */
    int array;               /* which of table->arrays is being walked */
    size_t bucket;           /* the next bucket of that array to look in */
    /* The node to return next, read before its predecessor is handed out, so that the
     * predecessor can be removed without losing our place. */
    struct ht_node *next;
};

void ht_iter_start(struct ht_iter *iter, struct hashtable *table);
struct ht_node *ht_iter_next(struct ht_iter *iter);
void ht_iter_stop(struct ht_iter *iter);

/*
 * Resizing without requests (step 06). A resize moves on only when the table is used, so
 * one left half-done when requests stop would keep both arrays for good. ht_resizing says
 * whether one is under way; ht_rehash does up to steps of the bounded pieces each call
 * does, and returns whether the resize is still under way after them.
 */
bool ht_resizing(const struct hashtable *table);
bool ht_rehash(struct hashtable *table, unsigned steps);

#endif

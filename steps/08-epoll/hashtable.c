/*
 * hashtable.c - a chained hash table with progressive resizing.
 *
 * Each bucket holds a singly linked chain of the nodes whose hashes land there. The
 * bucket count is a power of two, so a hash's bucket is its low bits (hash & (size - 1));
 * that is only safe with a hash whose low bits are as good as its high ones, which
 * SipHash's are. The table doubles once its nodes outnumber its buckets (load factor 1:
 * chains of one or two nodes on average), and once there is less than one node for every
 * HT_SHRINK_FILL buckets it shrinks to about half full, so memory comes back after mass
 * deletes. The gap between the thresholds stops a table near one of them from resizing
 * back and forth.
 *
 * The naive resize allocates the new array and moves every node in one go: at a million
 * keys that is a million cache misses inside one unlucky request (bench/rehash_latency.c
 * measures it). Here a resize moves HT_REHASH_STEP_BUCKETS chains per call to ht_insert,
 * ht_find or ht_remove instead, and lookups search both arrays until it is done. A sparse
 * array could still make one call slow by skipping millions of empty buckets, so empty
 * buckets are budgeted too.
 *
 * Every call that does not finish a resize (and is not held up by an iterator) uses up at
 * least HT_REHASH_STEP_BUCKETS = 2 of the old array's buckets, so growing from n buckets
 * takes at most n / 2 calls. With inserts alone, the new array of 2n buckets then holds
 * at most 1.5 n nodes when the move ends: a resize is always over before the next is due.
 */
#define _POSIX_C_SOURCE 200809L

#include "hashtable.h"

#include <stdlib.h>

static bool resizing(const struct hashtable *table)
{
    return table->rehash_index != -1;
}

/* ------------------------------------------------------------------------------------
 * Bucket arrays
 * ------------------------------------------------------------------------------------ */

/* Returns 0, or -1 with errno ENOMEM and *array untouched. */
static int array_alloc(struct ht_array *array, size_t size)
{
    struct ht_node **buckets = calloc(size, sizeof *buckets);
    if (buckets == NULL)
        return -1;
    array->buckets = buckets;
    array->size = size;
    array->count = 0;
    return 0;
}

static void chain_push(struct ht_array *array, struct ht_node *node)
{
    struct ht_node **bucket = &array->buckets[node->hash & (array->size - 1)];
    node->next = *bucket;
    *bucket = node;
    array->count++;
}

/* The smallest power of two, and at least the minimum, that holds count nodes at load 1/2. */
static size_t size_for(size_t count)
{
    size_t size = HT_MIN_BUCKETS;
    while (size < count * 2)
        size *= 2;
    return size;
}

/* ------------------------------------------------------------------------------------
 * Progressive resizing
 * ------------------------------------------------------------------------------------ */

/* A resize that cannot get its new array does not happen: the table stays valid. */
static void start_resize(struct hashtable *table, size_t size)
{
    if (array_alloc(&table->arrays[1], size) < 0)
        return;
    table->rehash_index = 0;
}

/* Called before an insert: double once the nodes would outnumber the buckets. */
static void grow_if_needed(struct hashtable *table)
{
    struct ht_array *array = &table->arrays[0];
    if (!resizing(table) && array->count >= array->size)
        start_resize(table, array->size * 2);
}

/* Called after a remove. size_for() aims at load 1/2, well clear of both thresholds. */
static void shrink_if_needed(struct hashtable *table)
{
    struct ht_array *array = &table->arrays[0];
    if (!resizing(table) && array->size > HT_MIN_BUCKETS &&
        array->count < array->size / HT_SHRINK_FILL)
        start_resize(table, size_for(array->count));
}

/* Moves one chain from the old array to the new. The stored hashes mean no rehashing. */
static void move_bucket(struct hashtable *table, size_t index)
{
    struct ht_array *from = &table->arrays[0];
    struct ht_node *node = from->buckets[index];
    while (node != NULL) {
        struct ht_node *next = node->next;
        chain_push(&table->arrays[1], node);
        from->count--;
        node = next;
    }
    from->buckets[index] = NULL;
}

/*
 * Freeing the old array is the one cost left that grows with the table: the C library
 * gives a large block straight back to the kernel, which unmaps it page by page.
 * Removes made while this resize ran could not start a shrink, so one may be due now;
 * starting it here means memory comes back even if no further remove ever comes.
 */
static void finish_resize(struct hashtable *table)
{
    free(table->arrays[0].buckets);
    table->arrays[0] = table->arrays[1];
    table->arrays[1] = (struct ht_array){NULL, 0, 0};
    table->rehash_index = -1;
    shrink_if_needed(table);
}

/*
 * One bounded piece of a resize: at most HT_REHASH_STEP_BUCKETS chains moved and at most
 * HT_REHASH_EMPTY_VISITS empty buckets skipped per chain. The resize ends as soon as the
 * old array is empty, without walking the empty buckets left at its end. While old nodes
 * remain, one of them is in a bucket at or after rehash_index, so the index stays in range.
 */
static void rehash_step(struct hashtable *table)
{
    struct ht_array *from = &table->arrays[0];
    size_t index, moves, empty_visits;

    if (!resizing(table) || table->iterators > 0)
        return;
    index = (size_t)table->rehash_index;
    moves = HT_REHASH_ALL_AT_ONCE ? SIZE_MAX : HT_REHASH_STEP_BUCKETS;
    empty_visits = HT_REHASH_ALL_AT_ONCE ? SIZE_MAX : moves * HT_REHASH_EMPTY_VISITS;
    while (from->count > 0 && moves > 0 && empty_visits > 0) {
        if (from->buckets[index] == NULL) {
            empty_visits--;
        } else {
            move_bucket(table, index);
            moves--;
        }
        index++;
    }
    table->rehash_index = (long)index;
    if (from->count == 0)
        finish_resize(table);
}

/* ------------------------------------------------------------------------------------
 * Lookup
 * ------------------------------------------------------------------------------------ */

/*
 * Returns the link (a bucket or a node's next field) that points at the matching node,
 * and sets *in to the array holding it; NULL if there is no such node. Holding the link
 * rather than the node lets ht_remove unlink without tracking a "previous" node.
 * During a resize the node may be in either array, so both are searched.
 */
static struct ht_node **find_link(struct hashtable *table, uint64_t hash,
                                  ht_match_fn *matches, const void *key,
                                  struct ht_array **in)
{
    int last = resizing(table) ? 1 : 0;

    for (int i = 0; i <= last; i++) {
        struct ht_array *array = &table->arrays[i];
        struct ht_node **link;

        if (array->size == 0)
            continue;
        for (link = &array->buckets[hash & (array->size - 1)]; *link != NULL;
             link = &(*link)->next) {
            if ((*link)->hash == hash && matches(*link, key)) {
                *in = array;
                return link;
            }
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------
 * The table's interface
 * ------------------------------------------------------------------------------------ */

void ht_init(struct hashtable *table)
{
    table->arrays[0] = (struct ht_array){NULL, 0, 0};
    table->arrays[1] = (struct ht_array){NULL, 0, 0};
    table->rehash_index = -1;
    table->iterators = 0;
}

struct ht_node *ht_find(struct hashtable *table, uint64_t hash, ht_match_fn *matches,
                        const void *key)
{
    struct ht_array *array;
    struct ht_node **link;

    rehash_step(table);
    link = find_link(table, hash, matches, key, &array);
    return link != NULL ? *link : NULL;
}

int ht_insert(struct hashtable *table, struct ht_node *node)
{
    if (table->arrays[0].size == 0 && array_alloc(&table->arrays[0], HT_MIN_BUCKETS) < 0)
        return -1;
    grow_if_needed(table);
    rehash_step(table);
    /* Into the new array during a resize, so nothing is ever added behind rehash_index. */
    chain_push(&table->arrays[resizing(table) ? 1 : 0], node);
    return 0;
}

struct ht_node *ht_remove(struct hashtable *table, uint64_t hash, ht_match_fn *matches,
                          const void *key)
{
    struct ht_array *array;
    struct ht_node **link = find_link(table, hash, matches, key, &array);
    struct ht_node *node = NULL;
    if (link != NULL) {
        node = *link;
        *link = node->next;
        array->count--;
        shrink_if_needed(table);
    }
    rehash_step(table);
    return node;
}

size_t ht_count(const struct hashtable *table)
{
    return table->arrays[0].count + table->arrays[1].count;
}

void ht_clear(struct hashtable *table, void (*free_node)(struct ht_node *node))
{
    for (int i = 0; i < 2; i++) {
        struct ht_array *array = &table->arrays[i];
        for (size_t b = 0; free_node != NULL && b < array->size; b++) {
            struct ht_node *node = array->buckets[b];
            while (node != NULL) {
                struct ht_node *next = node->next;
                free_node(node);
                node = next;
            }
        }
        free(array->buckets);
    }
    ht_init(table);
}

/* ------------------------------------------------------------------------------------
 * Iteration
 * ------------------------------------------------------------------------------------ */

/*
 * With buckets held still, walking arrays[0] and then, if a resize is under way,
 * arrays[1] meets every node once: each node is in exactly one of them. A remove may
 * start a resize mid-walk; its new array is empty, as nothing moves until we stop.
 */
void ht_iter_start(struct ht_iter *iter, struct hashtable *table)
{
    table->iterators++;
    iter->table = table;
    iter->array = 0;
    iter->bucket = 0;
    iter->next = NULL;
}

struct ht_node *ht_iter_next(struct ht_iter *iter)
{
    struct ht_node *node;

    while (iter->table != NULL && iter->next == NULL) {
        struct ht_array *array = &iter->table->arrays[iter->array];
        if (iter->bucket < array->size) {
            iter->next = array->buckets[iter->bucket++];
        } else if (iter->array == 0 && resizing(iter->table)) {
            iter->array = 1;
            iter->bucket = 0;
        } else {
            ht_iter_stop(iter);
        }
    }
    node = iter->next;
    if (node != NULL)
        iter->next = node->next;
    return node;
}

void ht_iter_stop(struct ht_iter *iter)
{
    if (iter->table == NULL)
        return;
    iter->table->iterators--;
    iter->table = NULL;
    iter->next = NULL;
}

/* ------------------------------------------------------------------------------------
 * Resizing without requests (step 06)
 * ------------------------------------------------------------------------------------ */

bool ht_resizing(const struct hashtable *table)
{
    return resizing(table);
}

/* Each rehash_step is bounded, so steps of them are too; an iterator still pauses them. */
bool ht_rehash(struct hashtable *table, unsigned steps)
{
    unsigned i;

    for (i = 0; i < steps && resizing(table) && table->iterators == 0; i++)
        rehash_step(table);
    return resizing(table);
}

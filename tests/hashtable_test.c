/*
 * hashtable_test.c - checks step 05's hash table on its own, without a server or a socket
 * in sight. It uses the table through hashtable.h alone, so it builds against any
 * hashtable.c written to that header (chapter 05's stages build it against yours).
 *
 * Most checks are ordinary: insert, find, delete, byte-string keys. Three look inside
 * the table, because what matters most there is invisible from outside: that the bucket
 * count really grows and shrinks back, that no single call moves more than a bounded
 * number of buckets (empty ones included), and that iteration meets every node exactly
 * once while a resize is half done. The last group runs 200,000 random operations
 * against a plain array that holds the same keys, comparing after every operation.
 *
 * Prints one line per group and a summary; exits 0 only if every group passed. -g picks
 * groups by name; an optional argument seeds the random run (default 1), so a failure
 * can be replayed. SipHash has a test program of its own, tests/siphash_test.c.
 */
#define _POSIX_C_SOURCE 200809L

#include "hashtable.h"
#include "siphash.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------
 * Reporting
 * ------------------------------------------------------------------------------------ */

static int group_failures; /* failed checks in the group being run */

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond))                                                                       \
            check_failed(__LINE__, __VA_ARGS__);                                           \
    } while (0)

/* Prints the first few failures of a group; the rest would only repeat them. */
static void check_failed(int line, const char *format, ...)
{
    va_list args;

    if (++group_failures > 5)
        return;
    va_start(args, format);
    fprintf(stdout, "    line %d: ", line);
    vfprintf(stdout, format, args);
    fputc('\n', stdout);
    va_end(args);
}

static int groups_run, groups_failed;

static void run_group(const char *name, void (*group)(void))
{
    group_failures = 0;
    group();
    groups_run++;
    if (group_failures == 0) {
        printf("ok   %s\n", name);
    } else {
        groups_failed++;
        printf("FAIL %s (%d failed checks)\n", name, group_failures);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------------------------
 * Test entries: a key, a value, and bookkeeping for the iteration checks
 * ------------------------------------------------------------------------------------ */

struct item {
    struct ht_node node;
    size_t id;           /* the key's number, see make_key() */
    uint32_t value;
    unsigned long seen;  /* the last iteration pass that visited this item */
    size_t key_len;
    uint8_t key[];
};

struct lookup {
    const uint8_t *key;
    size_t key_len;
};

static const uint8_t test_hash_key[SIPHASH_KEY_LEN] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
};

static uint64_t hash_of(const uint8_t *key, size_t key_len)
{
    return siphash24(test_hash_key, key, key_len);
}

static bool item_matches(const struct ht_node *node, const void *wanted)
{
    const struct item *item = container_of(node, const struct item, node);
    const struct lookup *lookup = wanted;
    return item->key_len == lookup->key_len &&
           (item->key_len == 0 || memcmp(item->key, lookup->key, item->key_len) == 0);
}

static struct item *item_new(size_t id, const uint8_t *key, size_t key_len, uint64_t hash)
{
    struct item *item = malloc(sizeof *item + key_len);
    if (item == NULL) {
        perror("malloc");
        exit(2);
    }
    item->id = id;
    item->value = 0;
    item->seen = 0;
    item->key_len = key_len;
    if (key_len > 0)
        memcpy(item->key, key, key_len);
    item->node.hash = hash;
    return item;
}

static void item_free(struct ht_node *node)
{
    free(container_of(node, struct item, node));
}

static struct item *find_with_hash(struct hashtable *table, const void *key, size_t key_len,
                                   uint64_t hash)
{
    struct lookup lookup = {key, key_len};
    struct ht_node *node = ht_find(table, hash, item_matches, &lookup);
    return node != NULL ? container_of(node, struct item, node) : NULL;
}

static struct item *find(struct hashtable *table, const void *key, size_t key_len)
{
    return find_with_hash(table, key, key_len, hash_of(key, key_len));
}

/* Inserts a new item; the caller knows the key is absent. */
static struct item *insert(struct hashtable *table, size_t id, const void *key, size_t key_len)
{
    struct item *item = item_new(id, key, key_len, hash_of(key, key_len));
    if (ht_insert(table, &item->node) < 0) {
        perror("ht_insert");
        exit(2);
    }
    return item;
}

/* Removes and frees; says whether the key was there. */
static bool remove_key(struct hashtable *table, const void *key, size_t key_len)
{
    struct lookup lookup = {key, key_len};
    struct ht_node *node = ht_remove(table, hash_of(key, key_len), item_matches, &lookup);
    if (node == NULL)
        return false;
    item_free(node);
    return true;
}

/*
 * Key number id as bytes: empty for 0, otherwise its decimal digits, a NUL byte and
 * id % 3 bytes of 0xFF. Distinct ids give distinct keys, and the keys exercise both the
 * NUL and the 0xFF byte. Returns the length; buf holds at least 24 bytes.
 */
static size_t make_key(size_t id, uint8_t *buf)
{
    int len;

    if (id == 0)
        return 0;
    len = snprintf((char *)buf, 24, "%zu", id);
    buf[len++] = '\0';
    for (size_t i = 0; i < id % 3; i++)
        buf[len++] = 0xff;
    return (size_t)len;
}

static size_t bucket_count(const struct hashtable *table)
{
    return table->arrays[0].size + table->arrays[1].size;
}

static bool resizing(const struct hashtable *table)
{
    return table->rehash_index != -1;
}

/* Lets lookups of a key that is absent carry any resize under way to its end. */
static void finish_resize(struct hashtable *table)
{
    for (long calls = 0; resizing(table) && calls < 10000000; calls++)
        find(table, "absent", 6);
}

/* ------------------------------------------------------------------------------------
 * Basic operations
 * ------------------------------------------------------------------------------------ */

static void test_basics(void)
{
    struct hashtable table;
    struct item *item;

    ht_init(&table);

    CHECK(find(&table, "a", 1) == NULL, "a never-used table found a key");
    CHECK(!remove_key(&table, "a", 1), "a never-used table removed a key");
    CHECK(ht_count(&table) == 0, "expected count 0, got %zu", ht_count(&table));

    insert(&table, 1, "apple", 5)->value = 10;
    insert(&table, 2, "pear", 4)->value = 20;
    CHECK(ht_count(&table) == 2, "expected count 2, got %zu", ht_count(&table));

    item = find(&table, "apple", 5);
    CHECK(item != NULL && item->value == 10, "expected apple = 10, got %s",
          item == NULL ? "nothing" : "another value");
    CHECK(find(&table, "appl", 4) == NULL, "a prefix of a key was found");
    CHECK(find(&table, "apples", 6) == NULL, "a key's extension was found");

    /* Overwriting is the caller's business: find the node and change its value. */
    if (item != NULL)
        item->value = 11;
    item = find(&table, "apple", 5);
    CHECK(item != NULL && item->value == 11, "an overwrite was not seen by a later find");
    CHECK(ht_count(&table) == 2, "an overwrite changed the count to %zu", ht_count(&table));

    CHECK(remove_key(&table, "apple", 5), "removing apple: expected true, got false");
    CHECK(!remove_key(&table, "apple", 5), "removing apple twice: expected false, got true");
    CHECK(find(&table, "apple", 5) == NULL, "apple found after its removal");
    CHECK(find(&table, "pear", 4) != NULL, "removing apple lost pear");
    CHECK(ht_count(&table) == 1, "expected count 1, got %zu", ht_count(&table));

    ht_clear(&table, item_free);
    CHECK(ht_count(&table) == 0 && bucket_count(&table) == 0,
          "after ht_clear: expected 0 nodes in 0 buckets, got %zu in %zu",
          ht_count(&table), bucket_count(&table));
    insert(&table, 3, "plum", 4);
    CHECK(find(&table, "plum", 4) != NULL, "the table is unusable after ht_clear");
    ht_clear(&table, item_free);
}

/* Keys are byte strings: a NUL ends nothing, and the empty key is a key. */
static void test_byte_keys(void)
{
    struct hashtable table;
    struct item *item;

    ht_init(&table);

    insert(&table, 1, "a\0b", 3);
    insert(&table, 2, "a\0c", 3);
    insert(&table, 3, "a", 1);
    insert(&table, 4, "", 0);
    insert(&table, 5, "\xff\xff", 2);

    item = find(&table, "a\0c", 3);
    CHECK(item != NULL && item->id == 2, "a\\0c: expected item 2, got %s",
          item == NULL ? "nothing" : "another item");
    item = find(&table, "", 0);
    CHECK(item != NULL && item->id == 4, "the empty key was not found");
    item = find_with_hash(&table, NULL, 0, hash_of(NULL, 0));
    CHECK(item != NULL && item->id == 4, "the empty key given as NULL was not found");
    CHECK(find(&table, "a\0", 2) == NULL, "a\\0 found though never inserted");

    CHECK(remove_key(&table, "a\0b", 3), "a\\0b could not be removed");
    item = find(&table, "a\0c", 3);
    CHECK(item != NULL && item->id == 2, "removing a\\0b lost a\\0c");
    item = find(&table, "a", 1);
    CHECK(item != NULL && item->id == 3, "removing a\\0b lost a");
    CHECK(remove_key(&table, "", 0), "the empty key could not be removed");
    CHECK(find(&table, "", 0) == NULL, "the empty key found after its removal");
    CHECK(ht_count(&table) == 3, "expected count 3, got %zu", ht_count(&table));
    ht_clear(&table, item_free);
}

/* Every node with the same hash: one chain, so matching alone tells keys apart. */
static void test_equal_hashes(void)
{
    enum { N = 300 };
    struct hashtable table;
    uint8_t key[24];
    ht_init(&table);

    for (size_t id = 0; id < N; id++) {
        size_t len = make_key(id, key);
        struct item *item = item_new(id, key, len, 42);
        if (ht_insert(&table, &item->node) < 0)
            exit(2);
    }
    for (size_t id = 0; id < N; id += 2) {
        size_t len = make_key(id, key);
        struct lookup lookup = {key, len};
        struct ht_node *node = ht_remove(&table, 42, item_matches, &lookup);
        CHECK(node != NULL, "key %zu of one shared hash could not be removed", id);
        if (node != NULL)
            item_free(node);
    }
    for (size_t id = 0; id < N; id++) {
        size_t len = make_key(id, key);
        struct item *item = find_with_hash(&table, key, len, 42);
        if (id % 2 == 0)
            CHECK(item == NULL, "key %zu found after its removal", id);
        else
            CHECK(item != NULL && item->id == id, "key %zu: expected item %zu, got %s",
                  id, id, item == NULL ? "nothing" : "another item");
    }
    CHECK(ht_count(&table) == N / 2, "expected count %d, got %zu", N / 2, ht_count(&table));
    ht_clear(&table, item_free);
}

/* ------------------------------------------------------------------------------------
 * Resizing
 * ------------------------------------------------------------------------------------ */

/* What one call did to the resize under way, checked against the table's promises. */
struct resize_watch {
    bool check_steps;    /* exactly one table call happens between two watch_call()s */
    long calls;          /* calls since the current resize started */
    const void *old;     /* the array being emptied, to tell one resize from the next */
    size_t old_size;     /* its bucket count */
    long last_index;
    int grows, shrinks;  /* resizes seen to finish */
    size_t last_size;
};

static void watch_start(struct resize_watch *w, const struct hashtable *table, bool check_steps)
{
    memset(w, 0, sizeof *w);
    w->check_steps = check_steps;
    w->last_size = table->arrays[0].size;
    w->last_index = -1;
}

/* Call after every table call (or, without check_steps, after every few). */
static void watch_call(struct resize_watch *w, const struct hashtable *table)
{
    const long max_advance = HT_REHASH_STEP_BUCKETS * (1 + HT_REHASH_EMPTY_VISITS);
    size_t size;

    if (resizing(table) && w->check_steps && !HT_REHASH_ALL_AT_ONCE) {
        long advance;

        /* A resize ending may start the next in the same call (a shrink that came due). */
        if (w->last_index == -1 || w->old != table->arrays[0].buckets) {
            w->calls = 0;
            w->old = table->arrays[0].buckets;
            w->old_size = table->arrays[0].size;
            w->last_index = 0;
        }
        advance = table->rehash_index - w->last_index;
        CHECK(advance <= max_advance, "one call moved through %ld buckets, the limit is %ld",
              advance, max_advance);
        w->last_index = table->rehash_index;
        w->calls++;
        /* Each call uses up at least HT_REHASH_STEP_BUCKETS old buckets, +1 for the start. */
        CHECK((size_t)w->calls <= w->old_size / HT_REHASH_STEP_BUCKETS + 1,
              "a resize of %zu buckets still unfinished after %ld calls", w->old_size,
              w->calls);
    } else {
        w->last_index = -1;
    }
    size = table->arrays[0].size;
    if (size > w->last_size && w->last_size != 0)
        w->grows++;
    if (size < w->last_size && size != 0)
        w->shrinks++;
    w->last_size = size;
}

/* Keys first..last-1, each insert or remove followed by a look at the resize. */
static void insert_range(struct hashtable *table, struct resize_watch *watch, size_t first,
                         size_t last)
{
    uint8_t key[24];
    for (size_t id = first; id < last; id++) {
        size_t len = make_key(id, key);
        insert(table, id, key, len);
        watch_call(watch, table);
    }
}

static void remove_range(struct hashtable *table, struct resize_watch *watch, size_t first,
                         size_t last)
{
    uint8_t key[24];
    for (size_t id = first; id < last; id++) {
        size_t len = make_key(id, key);
        CHECK(remove_key(table, key, len), "key %zu could not be removed", id);
        watch_call(watch, table);
    }
}

static void check_present(struct hashtable *table, size_t first, size_t last, size_t stride)
{
    uint8_t key[24];
    for (size_t id = first; id < last; id += stride) {
        size_t len = make_key(id, key);
        struct item *item = find(table, key, len);
        CHECK(item != NULL && item->id == id, "key %zu: expected item %zu, got %s", id, id,
              item == NULL ? "nothing" : "another item");
    }
}

static size_t walk(struct hashtable *table, unsigned long pass, size_t remove_every,
                   size_t *removed);

/* Doubling from HT_MIN_BUCKETS whenever the nodes would outnumber the buckets. */
static void test_grow(void)
{
    struct hashtable table;
    struct resize_watch watch;
    ht_init(&table);
    watch_start(&watch, &table, true);

    insert_range(&table, &watch, 0, 100000);
    finish_resize(&table);
    CHECK(table.arrays[0].size == 131072, "100000 keys: expected 131072 buckets, got %zu",
          table.arrays[0].size);
    CHECK(watch.grows == 14, "expected 14 doublings from 8 to 131072 buckets, saw %d",
          watch.grows);
    check_present(&table, 0, 100000, 7);
    ht_clear(&table, item_free);
}

/* Down to 10 keys, then none: the buckets come back. */
static void test_shrink(void)
{
    struct hashtable table;
    struct resize_watch watch;
    size_t removed;
    ht_init(&table);
    watch_start(&watch, &table, false);
    insert_range(&table, &watch, 0, 100000);
    finish_resize(&table);
    watch_start(&watch, &table, true);

    remove_range(&table, &watch, 10, 100000);
    finish_resize(&table);
    CHECK(table.arrays[0].size <= 64, "10 keys left: expected at most 64 buckets, got %zu",
          table.arrays[0].size);
    CHECK(watch.shrinks >= 5, "expected several shrinks, saw %d", watch.shrinks);
    check_present(&table, 0, 10, 1);

    /* The last ten go during a walk: the shrink they start must wait for its end. */
    removed = 0;
    CHECK(walk(&table, 1, 1, &removed) == 10 && removed == 10,
          "a walk removing the last 10 keys removed %zu", removed);
    finish_resize(&table);
    CHECK(ht_count(&table) == 0, "expected count 0, got %zu", ht_count(&table));
    CHECK(bucket_count(&table) == HT_MIN_BUCKETS, "empty: expected %d buckets, got %zu",
          HT_MIN_BUCKETS, bucket_count(&table));
    ht_clear(&table, item_free);
}

/* ------------------------------------------------------------------------------------
 * Iteration
 * ------------------------------------------------------------------------------------ */

/*
 * Walks the table, removing the node just returned whenever remove_every divides the
 * number visited and looking up every tenth. Returns how many nodes were visited, and
 * adds the removals to *removed.
 */
static size_t walk(struct hashtable *table, unsigned long pass, size_t remove_every,
                   size_t *removed)
{
    struct ht_iter iter;
    size_t visited = 0;
    ht_iter_start(&iter, table);
    for (struct ht_node *node; (node = ht_iter_next(&iter)) != NULL;) {
        struct item *item = container_of(node, struct item, node);
        CHECK(item->seen != pass, "item %zu visited twice", item->id);
        item->seen = pass;
        visited++;
        if (visited % 10 == 0)
            CHECK(find(table, item->key, item->key_len) == item, "find failed mid-iteration");
        if (visited % remove_every == 0) {
            CHECK(remove_key(table, item->key, item->key_len), "remove failed mid-iteration");
            (*removed)++;
        }
    }
    CHECK(table->iterators == 0, "a finished iteration left the table paused");
    return visited;
}

static void test_iteration_mid_resize(void)
{
    enum { N = 1030 };
    struct hashtable table;
    struct resize_watch watch;
    long index_before;
    size_t removed = 0, visited, count;

    ht_init(&table);
    watch_start(&watch, &table, false);

    /* 1024 keys fill 1024 buckets; the 1025th starts growing to 2048. */
    insert_range(&table, &watch, 0, N);
    if (!HT_REHASH_ALL_AT_ONCE)
        CHECK(resizing(&table) && table.arrays[0].count > 0 && table.arrays[1].count > 0,
              "expected a resize half done, with nodes in both arrays");

    index_before = table.rehash_index;
    visited = walk(&table, 1, 3, &removed);
    CHECK(visited == N, "expected %d nodes visited, got %zu", N, visited);
    CHECK(table.rehash_index == index_before, "buckets moved during the iteration");
    CHECK(ht_count(&table) == N - removed, "expected count %zu after removals, got %zu",
          N - removed, ht_count(&table));

    /* Removing everything on the way starts a shrink mid-walk. */
    finish_resize(&table);
    count = ht_count(&table);
    visited = walk(&table, 2, 1, &removed);
    CHECK(visited == count, "removing all: expected %zu nodes visited, got %zu", count,
          visited);
    finish_resize(&table);
    CHECK(ht_count(&table) == 0, "removing all: expected 0 nodes, got %zu", ht_count(&table));
    ht_clear(&table, item_free);
}

static void test_iteration_edges(void)
{
    struct hashtable table;
    struct resize_watch watch;
    struct ht_iter iter;
    ht_init(&table);
    watch_start(&watch, &table, false);

    ht_iter_start(&iter, &table);
    CHECK(ht_iter_next(&iter) == NULL, "a never-used table yielded a node");
    CHECK(table.iterators == 0, "a finished iteration left the table paused");

    /* Stopping early unpauses; stopping twice is harmless. */
    insert_range(&table, &watch, 0, 20);
    ht_iter_start(&iter, &table);
    for (int i = 0; i < 5; i++)
        CHECK(ht_iter_next(&iter) != NULL, "an early stop ran out of nodes");
    ht_iter_stop(&iter);
    ht_iter_stop(&iter);
    CHECK(table.iterators == 0, "ht_iter_stop left the table paused");
    CHECK(ht_iter_next(&iter) == NULL, "a stopped iterator yielded a node");
    ht_clear(&table, item_free);
}

/* ------------------------------------------------------------------------------------
 * A long random run against a reference model
 * ------------------------------------------------------------------------------------ */

static uint64_t rng_state;

/* xorshift64*: plenty for choosing operations, and the same on every platform. */
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

enum { MODEL_KEYS = 4000, RANDOM_OPS = 200000, PHASE_OPS = 20000 };

/* The reference: for key number id, whether it is present and with what value. */
struct model {
    bool present[MODEL_KEYS];
    uint32_t value[MODEL_KEYS];
    size_t count;
};

/* Walks the whole table and compares it with the model: each node once, nothing extra. */
static bool iteration_matches(struct hashtable *table, const struct model *model,
                              unsigned long pass)
{
    struct ht_iter iter;
    size_t visited = 0;
    ht_iter_start(&iter, table);
    for (struct ht_node *node; (node = ht_iter_next(&iter)) != NULL;) {
        struct item *item = container_of(node, struct item, node);
        CHECK(item->seen != pass, "iteration %lu visited key %zu twice", pass, item->id);
        CHECK(model->present[item->id] && model->value[item->id] == item->value,
              "iteration %lu met key %zu, which the model does not hold", pass, item->id);
        item->seen = pass;
        visited++;
    }
    CHECK(visited == model->count, "iteration %lu: expected %zu nodes, visited %zu", pass,
          model->count, visited);
    return group_failures == 0;
}

/* One random operation on both the table and the model; false on the first mismatch. */
static bool random_op(struct hashtable *table, struct model *model, int op)
{
    /*
     * Phases that fill the table (70% sets, 20% removes, 10% finds: about 3100 keys) and
     * empty it (1% sets, 89% removes: about 45 keys) take turns, to cross many resizes.
     */
    bool filling = op / PHASE_OPS % 2 == 0;
    unsigned roll = (unsigned)(rng_next() % 100);
    size_t id = (size_t)(rng_next() % MODEL_KEYS);
    uint8_t key[24];
    size_t len = make_key(id, key);
    struct item *item = find(table, key, len);

    CHECK((item != NULL) == model->present[id], "op %d, key %zu: expected %s, got %s", op, id,
          model->present[id] ? "present" : "absent", item != NULL ? "present" : "absent");
    if (item != NULL)
        CHECK(item->value == model->value[id], "op %d, key %zu: expected value %" PRIu32
              ", got %" PRIu32, op, id, model->value[id], item->value);
    if (roll < (filling ? 70u : 1u)) {
        if (item == NULL) {
            item = insert(table, id, key, len);
            model->present[id] = true;
            model->count++;
        }
        item->value = model->value[id] = (uint32_t)rng_next();
    } else if (roll < 90u) {
        bool removed = remove_key(table, key, len);
        CHECK(removed == model->present[id], "op %d, removing key %zu: expected %s", op, id,
              model->present[id] ? "true" : "false");
        if (model->present[id])
            model->count--;
        model->present[id] = false;
    }
    CHECK(ht_count(table) == model->count, "op %d: expected count %zu, got %zu", op,
          model->count, ht_count(table));
    return group_failures == 0;
}

static void test_random_against_model(void)
{
    static struct model model;
    struct hashtable table;
    struct resize_watch watch;
    unsigned long passes = 0, passes_mid_resize = 0;
    ht_init(&table);
    watch_start(&watch, &table, false);

    for (int op = 0; op < RANDOM_OPS; op++) {
        if (!random_op(&table, &model, op))
            break;
        watch_call(&watch, &table);
        /* Full walks: now and then, and often while a resize is under way. */
        if (op % 5000 == 0 || (resizing(&table) && op % 97 == 0)) {
            passes_mid_resize += resizing(&table);
            if (!iteration_matches(&table, &model, ++passes))
                break;
        }
    }
    CHECK(watch.grows >= 10 && watch.shrinks >= 5,
          "expected at least 10 grows and 5 shrinks, saw %d and %d", watch.grows,
          watch.shrinks);
    if (!HT_REHASH_ALL_AT_ONCE)
        CHECK(passes_mid_resize >= 20, "only %lu full walks happened during a resize",
              passes_mid_resize);
    printf("     %d ops, %d grows, %d shrinks, %lu full walks (%lu mid-resize)\n",
           RANDOM_OPS, watch.grows, watch.shrinks, passes, passes_mid_resize);
    ht_clear(&table, item_free);
}

/* ------------------------------------------------------------------------------------
 * Choosing groups
 * ------------------------------------------------------------------------------------ */

/*
 * Each group has a short name, for `hashtable_test -g NAME` (chapter 05's stages run the
 * groups their table can pass so far; tests/05-hashtable.bats).
 */
static const struct {
    const char *name;
    const char *title;
    void (*run)(void);
} groups[] = {
    {"basics", "insert, find, overwrite, remove, clear", test_basics},
    {"byte-keys", "byte-string keys: NUL inside, empty, 0xff", test_byte_keys},
    {"equal-hashes", "300 keys with one hash", test_equal_hashes},
    {"iteration", "iteration: empty table, early stop", test_iteration_edges},
    {"grow", "grow to 131072 buckets, bounded steps", test_grow},
    {"iteration-mid-resize", "iteration during a resize, with finds and removes",
     test_iteration_mid_resize},
    {"shrink", "shrink back to 8 buckets, bounded steps", test_shrink},
    {"random", "200000 random operations against a reference model",
     test_random_against_model},
};

/* Whether name is one of the comma-separated names in list (NULL: every group). */
static bool chosen(const char *name, const char *list)
{
    size_t len = strlen(name);

    if (list == NULL)
        return true;
    for (const char *p = list; p != NULL; p = strchr(p, ','), p = p != NULL ? p + 1 : NULL)
        if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == '\0'))
            return true;
    return false;
}

static void usage(void)
{
    fprintf(stderr, "usage: hashtable_test [-g GROUP[,GROUP...]] [SEED]\ngroups:");
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        fprintf(stderr, " %s", groups[i].name);
    fputc('\n', stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *list = NULL;
    int arg = 1;

    if (arg + 1 < argc && strcmp(argv[arg], "-g") == 0) {
        list = argv[arg + 1];
        arg += 2;
    }
    if (arg < argc - 1 || (arg < argc && argv[arg][0] == '-'))
        usage();
    rng_state = arg < argc ? strtoull(argv[arg], NULL, 10) : 1;
    if (rng_state == 0)
        rng_state = 1; /* xorshift's one bad state */

    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (chosen(groups[i].name, list))
            run_group(groups[i].title, groups[i].run);
    if (groups_run == 0)
        usage();

    if (groups_failed == 0)
        printf("all %d groups passed\n", groups_run);
    else
        printf("%d of %d groups FAILED\n", groups_failed, groups_run);
    return groups_failed == 0 ? 0 : 1;
}

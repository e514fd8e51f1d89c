/*
 * heap_test.c - checks step 06's timer heap (heap.c) on its own, without a server.
 *
 * A heap that is wrong rarely crashes: it hands out the second-earliest deadline, or
 * loses a node whose back pointer went stale, and a timer fires late or never. So after
 * every single operation this program checks everything the heap promises:
 *
 *   - the order: no node's key is below its parent's;
 *   - the back pointers: nodes[i]->index == i for each i below count, and every node
 *     outside the heap says HEAP_NOT_IN;
 *   - the contents: exactly the nodes a plain model (a flag and a key per node) says are
 *     in, and heap_min() has the model's smallest key.
 *
 * The operations are random: insert, remove from anywhere, move a key sooner or later,
 * take the minimum out, in a run of 200,000 over 1,000 nodes, with keys drawn from a
 * small range so that ties are common. Then a few edge cases: an empty heap, one node,
 * a node removed while it is last, and keys that run downwards and upwards.
 *
 * Last, the way step 07's store uses the heap for the keys' deadlines: 100,000 nodes,
 * the room reserved one node at a time, nearly all with one same key (keys that expire
 * at once), and the heap emptied from the top, the minimum never going down.
 *
 * Prints one line per group; exits 0 only if every group passed. An optional argument
 * seeds the random run (default 1), so a failure can be replayed.
 */
#define _POSIX_C_SOURCE 200809L

#include "heap.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------------------------------
 * Reporting
 * ------------------------------------------------------------------------------------ */

static int group_failures; /* failed checks in the group being run */
static int groups_run, groups_failed;

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

static void run_group(const char *name, void (*group)(void))
{
    group_failures = 0;
    group();
    groups_run++;
    if (group_failures == 0) {
        printf("ok   %s\n", name);
    } else {
        printf("FAIL %s (%d failed checks)\n", name, group_failures);
        groups_failed++;
    }
}

/* ------------------------------------------------------------------------------------
 * The model: which nodes are in, and with which key
 * ------------------------------------------------------------------------------------ */

#define NODES 1000

struct item {
    struct heap_node node;
    bool in;      /* the model's view: is the node in the heap? */
    uint64_t key; /* ... and its key if so */
};

static struct item items[NODES];

/* From a node back to the item around it (the node is the item's first member). */
static struct item *container_of_item(struct heap_node *node)
{
    return (struct item *)((char *)node - offsetof(struct item, node));
}

static void items_init(void)
{
    for (size_t i = 0; i < NODES; i++) {
        heap_node_init(&items[i].node);
        items[i].in = false;
    }
}

/* Checks the heap against the model and its own invariants; returns false on a failure. */
static bool check_heap(const struct heap *heap, const char *after)
{
    int before = group_failures;
    size_t in = 0;
    bool have_min = false;
    uint64_t min = 0;

    for (size_t i = 0; i < heap->count; i++) {
        const struct heap_node *node = heap->nodes[i];
        CHECK(node->index == i, "after %s: nodes[%zu] says its index is %zu", after, i,
              node->index);
        if (i > 0)
            CHECK(heap->nodes[(i - 1) / 2]->key <= node->key,
                  "after %s: nodes[%zu] (key %" PRIu64 ") is below its parent (key %" PRIu64 ")",
                  after, i, node->key, heap->nodes[(i - 1) / 2]->key);
    }
    for (size_t i = 0; i < NODES; i++) {
        const struct item *item = &items[i];
        CHECK(heap_contains(&item->node) == item->in, "after %s: node %zu is %s the heap",
              after, i, item->in ? "missing from" : "wrongly in");
        if (!item->in || !heap_contains(&item->node))
            continue;
        in++;
        CHECK(item->node.index < heap->count && heap->nodes[item->node.index] == &item->node,
              "after %s: node %zu's back pointer %zu is stale", after, i, item->node.index);
        CHECK(item->node.key == item->key, "after %s: node %zu has key %" PRIu64
              ", expected %" PRIu64, after, i, item->node.key, item->key);
        if (!have_min || item->key < min)
            min = item->key;
        have_min = true;
    }
    CHECK(heap_count(heap) == in, "after %s: count %zu, expected %zu", after,
          heap_count(heap), in);
    CHECK((heap_min(heap) == NULL) == !have_min, "after %s: heap_min() %s", after,
          have_min ? "is NULL on a non-empty heap" : "is not NULL on an empty heap");
    if (have_min && heap_min(heap) != NULL)
        CHECK(heap_min(heap)->key == min, "after %s: heap_min() has key %" PRIu64
              ", the smallest is %" PRIu64, after, heap_min(heap)->key, min);
    return group_failures == before;
}

static void model_insert(struct heap *heap, struct item *item, uint64_t key)
{
    heap_insert(heap, &item->node, key);
    item->in = true;
    item->key = key;
}

static void model_remove(struct heap *heap, struct item *item)
{
    heap_remove(heap, &item->node);
    item->in = false;
}

static void model_update(struct heap *heap, struct item *item, uint64_t key)
{
    heap_update(heap, &item->node, key);
    item->key = key;
}

/* ------------------------------------------------------------------------------------
 * The groups
 * ------------------------------------------------------------------------------------ */

static void test_edges(void)
{
    struct heap heap;

    heap_init(&heap);
    items_init();
    check_heap(&heap, "init");
    CHECK(heap_reserve(&heap, NODES) == 0, "heap_reserve(%d) failed", NODES);
    model_insert(&heap, &items[0], 5);
    check_heap(&heap, "one insert");
    model_update(&heap, &items[0], 1);
    check_heap(&heap, "re-keying the only node");
    model_remove(&heap, &items[0]);
    check_heap(&heap, "removing the only node");

    /* Keys that run downwards: every insert goes all the way to the top. */
    for (size_t i = 0; i < 100; i++) {
        model_insert(&heap, &items[i], 1000 - i);
        check_heap(&heap, "a descending insert");
    }
    /* Remove the node that sits last in the array: nothing fills its place. */
    model_remove(&heap, container_of_item(heap.nodes[heap.count - 1]));
    check_heap(&heap, "removing the last node of the array");
    /* Move the minimum to the end of time, and the maximum to the front. */
    model_update(&heap, container_of_item(heap_min(&heap)), UINT64_MAX);
    check_heap(&heap, "moving the minimum later");
    model_update(&heap, container_of_item(heap.nodes[heap.count - 1]), 0);
    check_heap(&heap, "moving a leaf to the front");
    while (heap_min(&heap) != NULL) {
        model_remove(&heap, container_of_item(heap_min(&heap)));
        if (!check_heap(&heap, "emptying by the minimum"))
            break;
    }
    heap_free(&heap);
}

static uint64_t rng_state;

/* xorshift64*: small, fast, and the same sequence on every machine. */
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static void random_op(struct heap *heap)
{
    struct item *item = &items[rng_next() % NODES];
    uint64_t key = rng_next() % 500; /* a small range: ties are common */

    switch (rng_next() % 4) {
    case 0:
        if (!item->in)
            model_insert(heap, item, key);
        else
            model_remove(heap, item);
        break;
    case 1:
        if (item->in)
            model_update(heap, item, key);
        else
            model_insert(heap, item, key);
        break;
    case 2:
        if (heap_min(heap) != NULL)
            model_remove(heap, container_of_item(heap_min(heap)));
        break;
    default:
        if (item->in)
            model_update(heap, item, item->key + 1 + key); /* later, as a re-armed timer */
        else
            model_insert(heap, item, key);
        break;
    }
}

static void test_random_against_model(void)
{
    struct heap heap;

    heap_init(&heap);
    items_init();
    CHECK(heap_reserve(&heap, NODES) == 0, "heap_reserve(%d) failed", NODES);
    for (long op = 0; op < 200000; op++) {
        random_op(&heap);
        if (!check_heap(&heap, "a random operation")) {
            printf("    (operation %ld of the run)\n", op);
            break;
        }
    }
    heap_free(&heap);
}

#define MANY 100000

/* The heap's order and back pointers over all of it: O(n), so checked now and then. */
static bool check_order(const struct heap *heap, const char *after)
{
    int before = group_failures;

    for (size_t i = 0; i < heap->count && group_failures == before; i++) {
        CHECK(heap->nodes[i]->index == i, "after %s: nodes[%zu] says its index is %zu",
              after, i, heap->nodes[i]->index);
        CHECK(i == 0 || heap->nodes[(i - 1) / 2]->key <= heap->nodes[i]->key,
              "after %s: nodes[%zu] is below its parent", after, i);
    }
    return group_failures == before;
}

static void test_many_equal_keys(void)
{
    static struct heap_node many[MANY];
    struct heap heap;
    struct heap_node *top;
    uint64_t last = 0;
    size_t popped = 0;

    heap_init(&heap);
    for (size_t i = 0; i < MANY; i++) {
        heap_node_init(&many[i]);
        if (heap_reserve(&heap, heap_count(&heap) + 1) < 0) {
            CHECK(0, "heap_reserve(%zu) failed", heap_count(&heap) + 1);
            break;
        }
        /* One key in a hundred is later, and one in a thousand then moved sooner. */
        heap_insert(&heap, &many[i], i % 100 == 0 ? 2000 + i : 1000);
        if (i % 1000 == 500)
            heap_update(&heap, &many[i - 500], 999);
    }
    check_order(&heap, "100000 inserts, most of one same key");
    CHECK(heap_count(&heap) == MANY, "count %zu after %d inserts", heap_count(&heap), MANY);
    while ((top = heap_min(&heap)) != NULL) {
        CHECK(top->key >= last, "the minimum went down from %" PRIu64 " to %" PRIu64, last,
              top->key);
        last = top->key;
        heap_remove(&heap, top);
        CHECK(!heap_contains(top), "a node taken from the top still says it is in");
        if (++popped % 10000 == 0 && !check_order(&heap, "taking the minimum out"))
            break;
        if (group_failures > 0)
            break;
    }
    CHECK(popped == MANY, "%zu nodes came out of the top, expected %d", popped, MANY);
    heap_free(&heap);
}

int main(int argc, char **argv)
{
    rng_state = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    if (rng_state == 0)
        rng_state = 1; /* xorshift's one bad state */

    run_group("edges: empty, one node, last node, extreme keys", test_edges);
    run_group("200000 random operations against a model, checked after each", test_random_against_model);
    run_group("100000 nodes, most of one key, emptied from the top", test_many_equal_keys);

    if (groups_failed == 0)
        printf("all %d groups passed\n", groups_run);
    else
        printf("%d of %d groups FAILED\n", groups_failed, groups_run);
    return groups_failed == 0 ? 0 : 1;
}

/*
 * heap.c - a binary min-heap whose nodes know where they are.
 *
 * Every change is one of two repairs. A node whose key may now be smaller than its
 * parent's moves up (sift_up), swapping with its parent until the parent is not larger;
 * a node whose key may now be larger than a child's moves down (sift_down), swapping with
 * its smaller child. Either walks one path of a tree of height log2(n), so at a million
 * timers a change costs at most 20 swaps.
 *
 * Whenever a node moves in the array, its index moves with it (place()). That back
 * pointer is the one invariant to keep besides the order: nodes[i]->index == i for every
 * i below count, and HEAP_NOT_IN for every node outside.
 *
 * Removing a node from the middle: the last node of the array takes its place, then
 * moves up or down from there, whichever its key asks for.
 */
#define _POSIX_C_SOURCE 200809L

#include "heap.h"

#include <errno.h>
#include <stdlib.h>

/* ------------------------------------------------------------------------------------
 * Keeping the order
 * ------------------------------------------------------------------------------------ */

/* Puts node at index i of the array, and tells it so. */
static void place(struct heap *heap, size_t i, struct heap_node *node)
{
    heap->nodes[i] = node;
    node->index = i;
}

/* Moves the node at i up while its parent's key is larger. */
static void sift_up(struct heap *heap, size_t i)
{
    struct heap_node *node = heap->nodes[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap->nodes[parent]->key <= node->key)
            break;
        place(heap, i, heap->nodes[parent]);
        i = parent;
    }
    place(heap, i, node);
}

/* Moves the node at i down while a child's key is smaller. */
static void sift_down(struct heap *heap, size_t i)
{
    struct heap_node *node = heap->nodes[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= heap->count)
            break;
        if (child + 1 < heap->count && heap->nodes[child + 1]->key < heap->nodes[child]->key)
            child++;
        if (node->key <= heap->nodes[child]->key)
            break;
        place(heap, i, heap->nodes[child]);
        i = child;
    }
    place(heap, i, node);
}

/* After the node at i changed its key, or arrived there: one of the two will do nothing. */
static void restore(struct heap *heap, size_t i)
{
    if (i > 0 && heap->nodes[(i - 1) / 2]->key > heap->nodes[i]->key)
        sift_up(heap, i);
    else
        sift_down(heap, i);
}

/* ------------------------------------------------------------------------------------
 * The heap's interface
 * ------------------------------------------------------------------------------------ */

void heap_init(struct heap *heap)
{
    heap->nodes = NULL;
    heap->count = 0;
    heap->cap = 0;
}

void heap_free(struct heap *heap)
{
    free(heap->nodes);
    heap_init(heap);
}

int heap_reserve(struct heap *heap, size_t n)
{
    size_t cap = heap->cap > 0 ? heap->cap : 16;
    struct heap_node **nodes;

    if (n <= heap->cap)
        return 0;
    if (n > SIZE_MAX / 2 / sizeof *nodes) {
        errno = ENOMEM; /* so that neither the doubling nor the size below can overflow */
        return -1;
    }
    while (cap < n)
        cap *= 2;
    nodes = realloc(heap->nodes, cap * sizeof *nodes);
    if (nodes == NULL)
        return -1;
    heap->nodes = nodes;
    heap->cap = cap;
    return 0;
}

void heap_node_init(struct heap_node *node)
{
    node->key = 0;
    node->index = HEAP_NOT_IN;
}

bool heap_contains(const struct heap_node *node)
{
    return node->index != HEAP_NOT_IN;
}

void heap_insert(struct heap *heap, struct heap_node *node, uint64_t key)
{
    node->key = key;
    place(heap, heap->count++, node);
    sift_up(heap, node->index);
}

void heap_remove(struct heap *heap, struct heap_node *node)
{
    size_t i = node->index;
    struct heap_node *last = heap->nodes[--heap->count];

    node->index = HEAP_NOT_IN;
    if (last == node)
        return; /* it was the last one: nothing to fill in */
    place(heap, i, last);
    restore(heap, i);
}

void heap_update(struct heap *heap, struct heap_node *node, uint64_t key)
{
    node->key = key;
    restore(heap, node->index);
}

struct heap_node *heap_min(const struct heap *heap)
{
    return heap->count > 0 ? heap->nodes[0] : NULL;
}

size_t heap_count(const struct heap *heap)
{
    return heap->count;
}

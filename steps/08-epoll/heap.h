/*
 * heap.h - a binary min-heap of deadlines, for timers.
 *
 * The server needs, every time it goes to sleep, the earliest of many deadlines: one per
 * connection, and a few of its own. A binary heap keeps the earliest at the top, and adds,
 * removes or moves any entry in O(log n) steps.
 *
 * Like the hash table, the heap is intrusive: it never allocates what it orders. The
 * owner embeds a struct heap_node, sets nothing in it but through these functions, and
 * gets back from a node to itself with container_of() (hashtable.h). Each node knows its
 * own place in the heap's array (index), so removing or re-keying a node that is not at
 * the top needs no search: that back pointer is what makes remove O(log n) instead of O(n).
 *
 * Ties are allowed and come out in no particular order. The heap never reads the clock:
 * a key is just a number, smaller means sooner.
 */
#ifndef HEAP_H
#define HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEAP_NOT_IN SIZE_MAX /* a node's index while it is in no heap */

struct heap_node {
    uint64_t key; /* the deadline; change it only with heap_update */
    size_t index; /* where heap->nodes holds this node, or HEAP_NOT_IN */
};

/*
 * nodes[0 .. count) is a complete binary tree stored by levels: the children of nodes[i]
 * are nodes[2i + 1] and nodes[2i + 2]. The invariant: no node's key is below its
 * parent's, so nodes[0] holds the smallest key. A zeroed struct heap is an empty heap.
 */
struct heap {
    struct heap_node **nodes;
    size_t count;
    size_t cap;
};

void heap_init(struct heap *heap);

/* Frees the array; the nodes belong to their owners and are left alone. */
void heap_free(struct heap *heap);

/*
 * Makes room for n nodes in all. Returns 0, or -1 with errno ENOMEM (the heap unchanged).
 * Insertion itself never allocates, so it cannot fail: a caller that must not fail at a
 * bad moment (a timer armed while a connection closes) reserves the room beforehand.
 */
int heap_reserve(struct heap *heap, size_t n);

/* Marks a node as in no heap. Call it once before the node is first used. */
void heap_node_init(struct heap_node *node);

bool heap_contains(const struct heap_node *node);

/* Adds a node that is in no heap, with the given key. Room must have been reserved. */
void heap_insert(struct heap *heap, struct heap_node *node, uint64_t key);

/* Takes a node out of the heap; afterwards it is in no heap. */
void heap_remove(struct heap *heap, struct heap_node *node);

/* Gives a node in the heap a new key, sooner or later, and puts it back in order. */
void heap_update(struct heap *heap, struct heap_node *node, uint64_t key);

/* The node with the smallest key, or NULL if the heap is empty. */
struct heap_node *heap_min(const struct heap *heap);

size_t heap_count(const struct heap *heap);

#endif

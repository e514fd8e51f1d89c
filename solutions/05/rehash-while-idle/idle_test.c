/*
 * idle_test.c - exercise 1 of chapter 05: ht_rehash_for() finishes a resize under way
 * within its budget, and a budget of 0 moves one slice and stops. Built by test.bats
 * against the table in the folder it is given.
 */
#define _POSIX_C_SOURCE 200809L

#include "hashtable.h"

#include <stdio.h>

enum { N = 1030 }; /* 1024 nodes fill 1024 buckets; the 1025th starts a resize to 2048 */

static struct ht_node nodes[N];

/* A node is its own key here: the table is asked for a node by its address. */
static bool is_node(const struct ht_node *node, const void *key)
{
    return node == key;
}

/* Spreads the numbers 0..N-1 over all 64 bits (splitmix64's finaliser). */
static uint64_t mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static int fill(struct hashtable *table)
{
    ht_init(table);
    for (int i = 0; i < N; i++) {
        nodes[i].hash = mix((uint64_t)i + 1);
        if (ht_insert(table, &nodes[i]) < 0) {
            perror("ht_insert");
            return -1;
        }
    }
    if (table->rehash_index == -1) {
        printf("expected a resize under way after %d inserts\n", N);
        return -1;
    }
    return 0;
}

int main(void)
{
    struct hashtable table;
    int failures = 0;

    if (fill(&table) < 0)
        return 1;
    if (!ht_rehash_for(&table, 0) || table.rehash_index == -1) {
        printf("a budget of 0 finished a resize of 1024 buckets; expected one slice\n");
        failures++;
    }
    if (ht_rehash_for(&table, 1000000000L) || table.rehash_index != -1) {
        printf("a budget of one second left the resize unfinished (rehash_index %ld)\n",
               table.rehash_index);
        failures++;
    }
    if (table.arrays[0].size != 2048 || ht_count(&table) != N) {
        printf("expected %d nodes in 2048 buckets, got %zu in %zu\n", N, ht_count(&table),
               table.arrays[0].size);
        failures++;
    }
    for (int i = 0; i < N; i++) {
        if (ht_find(&table, nodes[i].hash, is_node, &nodes[i]) != &nodes[i]) {
            printf("node %d was lost by the move\n", i);
            failures++;
            break;
        }
    }
    ht_clear(&table, NULL);
    if (failures == 0)
        printf("ht_rehash_for: all checks passed\n");
    return failures == 0 ? 0 : 1;
}

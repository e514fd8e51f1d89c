/*
 * rehash_latency.c - how long does the slowest insert take?
 *
 * Inserts 2,000,000 nodes into step 05's hash table, timing every ht_insert on its own,
 * and prints the percentiles and the slowest inserts. Build it twice to compare the two
 * resizing designs:
 *
 *     progressive (default):           every call moves a few buckets of a resize
 *     -DHT_REHASH_ALL_AT_ONCE=1:       the insert that triggers a resize moves them all
 *
 * The averages barely differ; the tail is the point. With all-at-once resizing the
 * insert that finds 1,048,576 nodes in 1,048,576 buckets moves every one of them.
 *
 * Nodes are allocated and hashed before the clock starts, so the figures are the
 * table's own cost and not malloc's or SipHash's.
 */
#define _POSIX_C_SOURCE 200809L

#include "hashtable.h"
#include "siphash.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { INSERTS = 2000000, SLOWEST_SHOWN = 5 };

struct timing {
    uint64_t ns;
    size_t insert; /* which insert, counting from 0 */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
        perror("clock_gettime");
        exit(1);
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int by_time(const void *a, const void *b)
{
    uint64_t x = ((const struct timing *)a)->ns, y = ((const struct timing *)b)->ns;
    return (x > y) - (x < y);
}

/* Each node's hash is SipHash of its number, as the store would compute for a key. */
static struct ht_node *make_nodes(void)
{
    static const uint8_t key[SIPHASH_KEY_LEN] = { 7, 7, 7 };
    struct ht_node *nodes = malloc(INSERTS * sizeof *nodes);
    if (nodes == NULL) {
        perror("malloc");
        exit(1);
    }
    for (size_t i = 0; i < INSERTS; i++) {
        uint8_t bytes[8];
        for (int b = 0; b < 8; b++)
            bytes[b] = (uint8_t)(i >> (8 * b));
        nodes[i].hash = siphash24(key, bytes, sizeof bytes);
    }
    return nodes;
}

static void report(struct timing *times, uint64_t total_ns, const struct hashtable *table)
{
    printf("mode: %s\n", HT_REHASH_ALL_AT_ONCE ? "all at once (HT_REHASH_ALL_AT_ONCE=1)"
                                               : "progressive");
    printf("inserts: %d, buckets at the end: %zu, total %.1f ms, mean %.0f ns\n", INSERTS,
           table->arrays[0].size + table->arrays[1].size, total_ns / 1e6,
           (double)total_ns / INSERTS);

    qsort(times, INSERTS, sizeof *times, by_time);
    const double quantiles[] = { 0.50, 0.99, 0.999, 0.9999 };
    for (size_t i = 0; i < sizeof quantiles / sizeof quantiles[0]; i++)
        printf("p%-6g %8" PRIu64 " ns\n", quantiles[i] * 100,
               times[(size_t)(quantiles[i] * (INSERTS - 1))].ns);
    printf("worst  %8" PRIu64 " ns\n", times[INSERTS - 1].ns);
    printf("slowest inserts (insert number: ns):");
    for (int i = 1; i <= SLOWEST_SHOWN; i++)
        printf(" %zu: %" PRIu64, times[INSERTS - i].insert, times[INSERTS - i].ns);
    printf("\n");
}

int main(void)
{
    struct ht_node *nodes = make_nodes();
    struct timing *times = malloc(INSERTS * sizeof *times);
    struct hashtable table;
    if (times == NULL) {
        perror("malloc");
        return 1;
    }
    ht_init(&table);

    uint64_t start = now_ns();
    for (size_t i = 0; i < INSERTS; i++) {
        uint64_t before = now_ns();
        if (ht_insert(&table, &nodes[i]) == -1) {
            perror("ht_insert");
            return 1;
        }
        times[i] = (struct timing){ now_ns() - before, i };
    }
    uint64_t total = now_ns() - start;

    report(times, total, &table);
    ht_clear(&table, NULL);
    free(times);
    free(nodes);
    return 0;
}

/*
 * model.c - the framing and store models the fuzz targets check the steps against.
 *
 * The framing model walks a request by the offsets where each field ends, kept in 64 bits:
 * an offset plus a 32-bit length can then never wrap, so every comparison below is the
 * plain one docs/protocol.md's prose suggests. The store model keeps its entries in an
 * array and searches it from the start; the fuzz inputs are a few KiB, so it never holds
 * more than a few hundred keys.
 *
 * The model's own memory is checked by the same sanitizers as the steps: it must not leak
 * either, so model_clear frees everything.
 */
#define _POSIX_C_SOURCE 200809L

#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------
 * Checking
 * ------------------------------------------------------------------------------------ */

_Noreturn void check_failed(const char *file, int line, const char *rule)
{
    fprintf(stderr, "%s:%d: broken rule: %s\n", file, line, rule);
    abort(); /* libFuzzer reports the crash and saves the input */
}

bool same_bytes(const void *a, size_t a_len, const void *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

/* The memory the model needs; a fuzz run that cannot have it has nothing left to check. */
static void *must_realloc(void *old, size_t size)
{
    void *p = realloc(old, size > 0 ? size : 1);
    CHECK(p != NULL);
    return p;
}

/* ------------------------------------------------------------------------------------
 * Framing
 * ------------------------------------------------------------------------------------ */

/* GET, SET, DEL; from step 07 PEXPIRE, PTTL, PERSIST, DBSIZE. 0 in the table: unknown. */
int model_arg_count(uint16_t type)
{
#ifdef MODEL_EXPIRY
    static const int counts[] = { [1] = 2, [2] = 3, [3] = 2, [4] = 3, [5] = 2, [6] = 2, [7] = 1 };
#else
    static const int counts[] = { [1] = 2, [2] = 3, [3] = 2 };
#endif
    return type < sizeof counts / sizeof counts[0] ? counts[type] - 1 : -1;
}

static uint32_t big_endian_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/*
 * A refusal depends only on fields that have arrived: the type as soon as its 2 bytes are
 * there, each length as soon as its 4 bytes are. That is why the checks come before the
 * "not there yet" tests that follow them.
 */
enum model_verdict model_frame(const uint8_t *data, size_t len, struct model_frame *frame)
{
    uint64_t end = 2; /* where the field being looked at ends */

    memset(frame, 0, sizeof *frame);
    if (len < end)
        return MODEL_PARTIAL;
    frame->type = (uint16_t)(data[0] << 8 | data[1]);
    if (model_arg_count(frame->type) < 0)
        return MODEL_REFUSED;

    while (frame->argc < model_arg_count(frame->type)) {
        uint32_t arg_len;
        if (len < end + 4)
            return MODEL_PARTIAL;
        arg_len = big_endian_u32(data + end);
        if (arg_len > MODEL_MAX_ARG_LEN)
            return MODEL_REFUSED;
        end += 4;
        frame->arg_start[frame->argc] = (size_t)end;
        frame->arg_len[frame->argc] = arg_len;
        frame->argc++;
        end += arg_len;
        if (len < end)
            return MODEL_PARTIAL;
    }
    frame->len = (size_t)end;
    return MODEL_FRAME;
}

/* ------------------------------------------------------------------------------------
 * The store
 * ------------------------------------------------------------------------------------ */

static uint8_t *copy_of(const uint8_t *bytes, size_t len)
{
    uint8_t *copy = must_realloc(NULL, len);
    if (len > 0)
        memcpy(copy, bytes, len);
    return copy;
}

/* The index of the key's entry, or store->count if there is none, expired or not. */
static size_t find_any(const struct model_store *store, const uint8_t *key, size_t key_len)
{
    size_t i = 0;
    while (i < store->count &&
           !same_bytes(store->entries[i].key, store->entries[i].key_len, key, key_len))
        i++;
    return i;
}

static bool expired(const struct model_store *store, const struct model_entry *entry)
{
    return entry->expires && entry->deadline <= store->now;
}

/* The index of the key's entry, or store->count if there is none or it has expired. */
static size_t find(const struct model_store *store, const uint8_t *key, size_t key_len)
{
    size_t i = find_any(store, key, key_len);
    return i < store->count && expired(store, &store->entries[i]) ? store->count : i;
}

/* Order does not matter to the model, so the last entry fills the hole. */
static void remove_at(struct model_store *store, size_t i)
{
    free(store->entries[i].key);
    free(store->entries[i].value);
    store->entries[i] = store->entries[--store->count];
}

void model_set(struct model_store *store, const uint8_t *key, size_t key_len,
               const uint8_t *value, size_t value_len)
{
    size_t i = find_any(store, key, key_len);
    if (i == store->count) {
        if (store->count == store->cap) {
            store->cap = store->cap > 0 ? store->cap * 2 : 16;
            store->entries = must_realloc(store->entries, store->cap * sizeof *store->entries);
        }
        store->entries[i].key = copy_of(key, key_len);
        store->entries[i].key_len = key_len;
        store->entries[i].value = NULL;
        store->count++;
    }
    free(store->entries[i].value);
    store->entries[i].value = copy_of(value, value_len);
    store->entries[i].value_len = value_len;
    store->entries[i].expires = false; /* a SET makes a key that does not expire */
}

bool model_get(const struct model_store *store, const uint8_t *key, size_t key_len,
               const uint8_t **value, size_t *value_len)
{
    size_t i = find(store, key, key_len);
    if (i == store->count)
        return false;
    *value = store->entries[i].value;
    *value_len = store->entries[i].value_len;
    return true;
}

/* An expired key is removed too, but it was not there to delete. */
bool model_del(struct model_store *store, const uint8_t *key, size_t key_len)
{
    size_t i = find_any(store, key, key_len);
    bool was_there;

    if (i == store->count)
        return false;
    was_there = !expired(store, &store->entries[i]);
    remove_at(store, i);
    return was_there;
}

void model_clear(struct model_store *store)
{
    for (size_t i = 0; i < store->count; i++) {
        free(store->entries[i].key);
        free(store->entries[i].value);
    }
    free(store->entries);
    memset(store, 0, sizeof *store);
}

/* ------------------------------------------------------------------------------------
 * Keys that expire (step 07)
 * ------------------------------------------------------------------------------------ */

bool model_ttl_arg(const uint8_t *data, size_t len, uint64_t *ttl)
{
    if (len != 8)
        return false;
    *ttl = (uint64_t)big_endian_u32(data) << 32 | big_endian_u32(data + 4);
    return *ttl <= MODEL_MAX_TTL;
}

bool model_expire(struct model_store *store, const uint8_t *key, size_t key_len, uint64_t ttl)
{
    size_t i = find_any(store, key, key_len);

    if (i == store->count)
        return false;
    if (expired(store, &store->entries[i]) || ttl == 0) {
        bool was_there = !expired(store, &store->entries[i]);
        remove_at(store, i);
        return was_there;
    }
    store->entries[i].expires = true;
    store->entries[i].deadline = store->now + ttl;
    return true;
}

bool model_ttl(const struct model_store *store, const uint8_t *key, size_t key_len,
               int64_t *ttl)
{
    size_t i = find(store, key, key_len);

    if (i == store->count)
        return false;
    *ttl = store->entries[i].expires ? (int64_t)(store->entries[i].deadline - store->now) : -1;
    return true;
}

bool model_persist(struct model_store *store, const uint8_t *key, size_t key_len)
{
    size_t i = find(store, key, key_len);

    if (i == store->count)
        return false;
    store->entries[i].expires = false;
    return true;
}

size_t model_live_count(const struct model_store *store)
{
    size_t live = 0;

    for (size_t i = 0; i < store->count; i++)
        live += !expired(store, &store->entries[i]);
    return live;
}

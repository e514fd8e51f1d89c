/*
 * model.h - KV/1 written down a second time, as plainly as possible, for the fuzz targets
 * to hold each step's code up against.
 *
 * Two models. The framing model says what docs/protocol.md makes of the bytes at the front
 * of a stream: a whole request (and where its arguments are), only part of one, or a stream
 * the server must refuse. The store model is a flat array searched from the start: too slow for
 * a server, too simple to be wrong. Neither includes a step's header or shares its code, so
 * a mistake in a step cannot hide by being copied into its own yardstick.
 *
 * When a step disagrees with a model, the target calls CHECK's failure path, which aborts:
 * libFuzzer then saves the input that did it under build/fuzz/.
 */
#ifndef MODEL_H
#define MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------
 * Checking
 * ------------------------------------------------------------------------------------ */

/* Aborts, naming the broken rule, unless cond holds. Never compiled out, unlike assert(). */
#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond))                                                                       \
            check_failed(__FILE__, __LINE__, #cond);                                       \
    } while (0)

_Noreturn void check_failed(const char *file, int line, const char *rule);

/* ------------------------------------------------------------------------------------
 * Framing (docs/protocol.md, "Requests" and "Limits")
 * ------------------------------------------------------------------------------------ */

#define MODEL_MAX_ARG_LEN 33554432u /* 32 MiB: longer arguments are refused */
#define MODEL_MAX_ARGS 2

enum model_verdict {
    MODEL_FRAME,   /* a whole request is there */
    MODEL_PARTIAL, /* the bytes so far begin a request; more must come */
    MODEL_REFUSED, /* an unknown type, or an argument over the limit */
};

struct model_frame {
    uint16_t type;                     /* valid once 2 bytes are there */
    int argc;                          /* arguments whose length field has been seen */
    size_t arg_start[MODEL_MAX_ARGS];  /* offset of each argument's first byte */
    uint32_t arg_len[MODEL_MAX_ARGS];
    size_t len;                        /* bytes in the whole frame, for MODEL_FRAME */
};

/*
 * Arguments a request type takes, or -1 for a type KV/1 does not have. From step 07 on
 * (model.c compiled with -DMODEL_EXPIRY, as fuzz.mk does for those steps) KV/1 has types
 * 4 to 7 too, and DBSIZE takes none.
 */
int model_arg_count(uint16_t type);

enum model_verdict model_frame(const uint8_t *data, size_t len, struct model_frame *frame);

/* ------------------------------------------------------------------------------------
 * The store
 * ------------------------------------------------------------------------------------ */

struct model_entry {
    uint8_t *key;
    size_t key_len;
    uint8_t *value;
    size_t value_len;
    bool expires;      /* step 07: the key has a deadline ... */
    uint64_t deadline; /* ... and this is it; at or before now, the key is gone */
};

/*
 * A zeroed struct model_store is empty and ready. From step 07, keys expire: an entry
 * whose deadline is at or before now is absent for every function below, but it stays in
 * the array (and in count) until a SET, DEL or PEXPIRE of its key replaces or removes it,
 * so count is the most keys a store that frees expired keys late may still hold.
 */
struct model_store {
    struct model_entry *entries;
    size_t count;
    size_t cap;
    uint64_t now; /* the time, in the same milliseconds as the deadlines */
};

void model_set(struct model_store *store, const uint8_t *key, size_t key_len,
               const uint8_t *value, size_t value_len);
bool model_get(const struct model_store *store, const uint8_t *key, size_t key_len,
               const uint8_t **value, size_t *value_len);
bool model_del(struct model_store *store, const uint8_t *key, size_t key_len);
void model_clear(struct model_store *store);

/* ------------------------------------------------------------------------------------
 * Keys that expire (step 07; docs/protocol.md, request types 4 to 7)
 * ------------------------------------------------------------------------------------ */

#define MODEL_MAX_TTL (UINT64_C(1) << 62)

/* A PEXPIRE's ttl argument: true, with *ttl, if it is 8 bytes holding at most 2^62. */
bool model_ttl_arg(const uint8_t *data, size_t len, uint64_t *ttl);

/* PEXPIRE: false if the key is absent; ttl 0 deletes it. */
bool model_expire(struct model_store *store, const uint8_t *key, size_t key_len, uint64_t ttl);

/* PTTL: false if the key is absent; else *ttl is what is left, or -1. */
bool model_ttl(const struct model_store *store, const uint8_t *key, size_t key_len,
               int64_t *ttl);

/* PERSIST: false if the key is absent. */
bool model_persist(struct model_store *store, const uint8_t *key, size_t key_len);

/* The keys present now, expired ones left out. */
size_t model_live_count(const struct model_store *store);

/* True if a and b hold the same bytes; either pointer may be NULL when its length is 0. */
bool same_bytes(const void *a, size_t a_len, const void *b, size_t b_len);

#endif

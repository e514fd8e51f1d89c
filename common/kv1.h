/*
 * kv1.h - the KV/1 protocol, once, for kv, kvbench and nullserver.
 *
 * docs/protocol.md defines the wire format; this header is its one home in common/.
 * A request is a u16 type and, per argument, a u32 length and that many bytes. A reply
 * is a u16 status, a u32 length and the payload. Everything a tool must know about a
 * request type is one row of the table in kv1_kinds(): its number, its name on kv's
 * command line, and how many arguments it takes. A new request type is a new row there,
 * and kv (get/set/... and pipe), nullserver (which must find where each request ends)
 * and kvbench (whose requests it encodes) all know it.
 *
 * Static inline functions, so that each tool still builds from its one .c file.
 */
#ifndef KV1_H
#define KV1_H

#include "buf.h"
#include "wire.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define KV1_MAX_ARG_LEN (32u * 1024 * 1024) /* docs/protocol.md: a longer argument is refused */
#define KV1_REPLY_HEADER 6                  /* u16 status + u32 length */
#define KV1_MAX_ARGS 2                      /* the most arguments any request type takes */

enum kv1_type {
    KV1_GET = 1, KV1_SET = 2, KV1_DEL = 3,
    KV1_PEXPIRE = 4, KV1_PTTL = 5, KV1_PERSIST = 6, KV1_DBSIZE = 7, /* from step 07 */
};
enum kv1_status { KV1_OK = 0, KV1_NOT_FOUND = 1, KV1_ERROR = 2 };

/*
 * One request type. returns_value: an OK reply's payload is data to show (GET's value).
 * int_arg: the number (1, 2) of an argument that is an 8-byte integer on the wire, given
 * in decimal on kv's command line (PEXPIRE's ttl); 0 if none. int_reply: an OK reply's
 * payload is an 8-byte integer to print in decimal, 'i' signed (PTTL), 'u' not (DBSIZE).
 */
struct kv1_kind {
    const char *name;
    uint16_t type;
    unsigned argc;
    int returns_value;
    unsigned int_arg;
    char int_reply;
};

/* The request types, in the order of their numbers. */
static inline const struct kv1_kind *kv1_kinds(size_t *count)
{
    static const struct kv1_kind kinds[] = {
        { "get", KV1_GET, 1, 1, 0, 0 },
        { "set", KV1_SET, 2, 0, 0, 0 },
        { "del", KV1_DEL, 1, 0, 0, 0 },
        { "pexpire", KV1_PEXPIRE, 2, 0, 2, 0 },
        { "pttl", KV1_PTTL, 1, 0, 0, 'i' },
        { "persist", KV1_PERSIST, 1, 0, 0, 0 },
        { "dbsize", KV1_DBSIZE, 0, 0, 0, 'u' },
    };

    *count = sizeof kinds / sizeof kinds[0];
    return kinds;
}

/* The kind a type number names, or NULL for a type this protocol does not have. */
static inline const struct kv1_kind *kv1_kind_by_type(unsigned type)
{
    size_t count;
    const struct kv1_kind *kinds = kv1_kinds(&count);

    for (size_t i = 0; i < count; i++) {
        if (kinds[i].type == type)
            return &kinds[i];
    }
    return NULL;
}

/* The kind a command name names, ignoring case; the name need not be NUL-terminated. */
static inline const struct kv1_kind *kv1_kind_by_name(const void *name, size_t len)
{
    size_t count;
    const struct kv1_kind *kinds = kv1_kinds(&count);

    for (size_t i = 0; i < count; i++) {
        if (strlen(kinds[i].name) == len && strncasecmp(kinds[i].name, name, len) == 0)
            return &kinds[i];
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------
 * Encoding: a request is its type, then its arguments one by one
 * ------------------------------------------------------------------------------------ */

static inline int kv1_append_type(struct buf *out, uint16_t type)
{
    uint8_t *p = buf_extend(out, 2);

    if (p == NULL)
        return -1;
    put_u16(p, type);
    return 0;
}

/*
 * Appends an argument's length field and returns the room for its len bytes, for the
 * caller to fill; NULL on failure. The length field has 32 bits: a longer argument
 * cannot even be described (EMSGSIZE).
 */
static inline uint8_t *kv1_append_arg(struct buf *out, size_t len)
{
    uint8_t *p;

    if ((uint64_t)len > UINT32_MAX) {
        errno = EMSGSIZE;
        return NULL;
    }
    p = buf_extend(out, 4 + len);
    if (p == NULL)
        return NULL;
    put_u32(p, (uint32_t)len);
    return p + 4;
}

/* An 8-byte big-endian integer argument (PEXPIRE's ttl), length field included. */
static inline int kv1_append_u64_arg(struct buf *out, uint64_t value)
{
    uint8_t *p = kv1_append_arg(out, 8);

    if (p == NULL)
        return -1;
    put_u32(p, (uint32_t)(value >> 32));
    put_u32(p + 4, (uint32_t)value);
    return 0;
}

/*
 * Digits only, no sign, no blanks, at most UINT64_MAX: what kv accepts for an integer
 * argument. The text need not be NUL-terminated.
 */
static inline int kv1_parse_u64(const void *text, size_t len, uint64_t *value)
{
    const unsigned char *p = text;

    *value = 0;
    if (len == 0 || len > 20)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned digit = (unsigned)(p[i] - '0');
        if (digit > 9 || *value > (UINT64_MAX - digit) / 10)
            return -1;
        *value = *value * 10 + digit;
    }
    return 0;
}

static inline int kv1_append_reply(struct buf *out, uint16_t status, const void *payload,
                                   size_t len)
{
    uint8_t *p = buf_extend(out, KV1_REPLY_HEADER + len);

    if (p == NULL)
        return -1;
    put_u16(p, status);
    put_u32(p + 2, (uint32_t)len);
    if (len > 0)
        memcpy(p + KV1_REPLY_HEADER, payload, len);
    return 0;
}

/* ------------------------------------------------------------------------------------
 * Decoding
 *
 * Neither frame carries its total length. A reply's end follows from its header; a
 * request's end only from walking it: the type says how many arguments follow, and each
 * says its own length. Both look at length fields alone, so a length over the limit is
 * refused before a byte of what it announces has to be buffered.
 * ------------------------------------------------------------------------------------ */

/* What the front of a buffer holds. INVALID: an unknown type; nothing after it can be framed. */
enum kv1_frame { KV1_COMPLETE, KV1_INCOMPLETE, KV1_INVALID, KV1_TOO_LONG };

struct kv1_reply {
    uint16_t status;
    uint32_t len;
    const uint8_t *payload; /* points into the buffer decoded: valid until it changes */
};

/*
 * A request at buf: on KV1_COMPLETE, *frame_len is its size. *type is set as soon as the
 * first two bytes are there, also for an unknown type, so that the ERROR can name it.
 */
static inline enum kv1_frame kv1_find_request(const uint8_t *buf, size_t len,
                                              size_t *frame_len, unsigned *type)
{
    const struct kv1_kind *kind;
    size_t at = 2;

    if (len < 2)
        return KV1_INCOMPLETE;
    *type = get_u16(buf);
    kind = kv1_kind_by_type(*type);
    if (kind == NULL)
        return KV1_INVALID;
    for (unsigned i = 0; i < kind->argc; i++) {
        uint32_t arg_len;
        if (len - at < 4)
            return KV1_INCOMPLETE;
        arg_len = get_u32(buf + at);
        if (arg_len > KV1_MAX_ARG_LEN)
            return KV1_TOO_LONG;
        at += 4;
        if (len - at < arg_len)
            return KV1_INCOMPLETE;
        at += arg_len;
    }
    *frame_len = at;
    return KV1_COMPLETE;
}

/*
 * A reply at buf: on KV1_COMPLETE, *r describes it and *frame_len is its size. A payload
 * announced longer than max_len is KV1_TOO_LONG (kvbench passes KV1_MAX_ARG_LEN; kv,
 * which shows whatever a server sends, UINT32_MAX).
 */
static inline enum kv1_frame kv1_parse_reply(const uint8_t *buf, size_t len, uint32_t max_len,
                                             struct kv1_reply *r, size_t *frame_len)
{
    if (len < KV1_REPLY_HEADER)
        return KV1_INCOMPLETE;
    r->status = get_u16(buf);
    r->len = get_u32(buf + 2);
    if (r->len > max_len)
        return KV1_TOO_LONG;
    if (len - KV1_REPLY_HEADER < r->len)
        return KV1_INCOMPLETE;
    r->payload = buf + KV1_REPLY_HEADER;
    *frame_len = KV1_REPLY_HEADER + (size_t)r->len;
    return KV1_COMPLETE;
}

/* The 8-byte integer payload of a reply to PTTL or DBSIZE, or -1 if it is not 8 bytes. */
static inline int kv1_reply_u64(const struct kv1_reply *r, uint64_t *value)
{
    if (r->len != 8)
        return -1;
    *value = (uint64_t)get_u32(r->payload) << 32 | get_u32(r->payload + 4);
    return 0;
}

#endif

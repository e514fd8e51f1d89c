/*
 * buf.h - a growable byte buffer, shared by kv, kvbench and nullserver.
 *
 * All three tools move bytes the same way: read() into the free room at the end of a
 * buffer, take complete frames off the front, keep an unfinished one for the next read.
 * This is that buffer, once. It follows the project's error convention: a function that
 * can fail returns 0, or -1 with errno set (ENOMEM), and leaves the buffer as it was.
 * kvbench, which cannot go on without memory, turns a -1 into an exit of its own.
 *
 * Static inline functions in a header, so that each tool still builds from its one .c
 * file: cc -o build/kv common/kv.c
 */
#ifndef BUF_H
#define BUF_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* data[0..len) is in use, data[len..cap) is room to grow. data may be NULL while cap is 0. */
struct buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

/* Makes room for `extra` more bytes. Doubling keeps appending cheap on average. */
static inline int buf_reserve(struct buf *b, size_t extra)
{
    size_t need, cap;
    uint8_t *grown;

    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX - b->len) {
        errno = ENOMEM;
        return -1;
    }
    need = b->len + extra;
    cap = b->cap > 0 ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    grown = realloc(b->data, cap);
    if (grown == NULL)
        return -1;
    b->data = grown;
    b->cap = cap;
    return 0;
}

/*
 * Claims len bytes at the end for the caller to fill, and returns where they start, or
 * NULL. Encoders write a key or value straight into place this way, without a copy.
 */
static inline uint8_t *buf_extend(struct buf *b, size_t len)
{
    uint8_t *room;

    if (buf_reserve(b, len > 0 ? len : 1) < 0) /* at least 1: data is never NULL after */
        return NULL;
    room = b->data + b->len;
    b->len += len;
    return room;
}

static inline int buf_append(struct buf *b, const void *bytes, size_t len)
{
    if (buf_reserve(b, len) < 0)
        return -1;
    if (len > 0) /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(b->data + b->len, bytes, len);
    b->len += len;
    return 0;
}

static inline int buf_append_byte(struct buf *b, uint8_t byte)
{
    return buf_append(b, &byte, 1);
}

/* Forgets the first n bytes, keeping the rest (an unfinished frame) at the front. */
static inline void buf_drop_front(struct buf *b, size_t n)
{
    if (n == 0)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static inline void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

#endif

/*
 * buffer.h - a growable byte buffer: bytes go in at the end and come out at the front.
 *
 * Each connection has two: what the client sent that we have not parsed yet, and what
 * we owe the client that the socket has not taken yet. A buffer grows only with bytes
 * that really arrive, never with a length a client merely declares.
 *
 * A zeroed struct buffer is an empty buffer, ready to use.
 */
#ifndef BUFFER_H
#define BUFFER_H

#include <stddef.h>
#include <stdint.h>

struct buffer {
    uint8_t *data; /* the bytes held are data[0 .. len) */
    size_t len;
    uint8_t *base; /* the allocation; data - base bytes at its front are consumed */
    size_t cap;    /* bytes allocated at base */
};

int buffer_reserve(struct buffer *buf, size_t extra);
int buffer_append(struct buffer *buf, const void *bytes, size_t len);
void buffer_consume(struct buffer *buf, size_t len);
void buffer_free(struct buffer *buf);

#endif

/*
 * buffer.c - growing and draining a byte buffer.
 *
 * Growth doubles the allocation, so appending n bytes one chunk at a time costs O(n)
 * copying in all. Consuming slides the remaining bytes to the front with memmove():
 * simple, and cheap while a connection holds one request at a time. (Step 04 shows
 * where that stops being cheap.)
 */
#define _POSIX_C_SOURCE 200809L

#include "buffer.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CAPACITY 4096
#define MAX_IDLE_CAPACITY (1024 * 1024)

/* Makes room for extra more bytes after the ones held. */
int buffer_reserve(struct buffer *buf, size_t extra)
{
    size_t cap = buf->cap > 0 ? buf->cap : MIN_CAPACITY;
    uint8_t *data;

    if (extra > SIZE_MAX - buf->len) {
        errno = ENOMEM;
        return -1;
    }
    if (buf->len + extra <= buf->cap)
        return 0;
    while (cap < buf->len + extra)
        cap = cap <= SIZE_MAX / 2 ? cap * 2 : buf->len + extra;
    data = realloc(buf->data, cap);
    if (data == NULL)
        return -1;
    buf->data = data;
    buf->cap = cap;
    return 0;
}

int buffer_append(struct buffer *buf, const void *bytes, size_t len)
{
    if (buffer_reserve(buf, len) < 0)
        return -1;
    if (len > 0)
        memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    return 0;
}

/*
 * Drops len bytes (no more than are held) from the front. A buffer that empties gives
 * back a large allocation: a client that once sent a 32 MiB value should not keep 32 MiB
 * of our memory for as long as it stays connected.
 */
void buffer_consume(struct buffer *buf, size_t len)
{
    buf->len -= len;
    if (buf->len > 0)
        memmove(buf->data, buf->data + len, buf->len);
    else if (buf->cap > MAX_IDLE_CAPACITY)
        buffer_free(buf);
}

void buffer_free(struct buffer *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

/*
 * buffer.c - growing and draining a byte buffer.
 *
 * Growth doubles the allocation, so appending n bytes one chunk at a time costs O(n)
 * copying in all. Consuming no longer moves anything: it only advances data past the
 * consumed bytes, which is what makes a deep pipeline affordable. Step 03 slid the rest
 * of the buffer to the front after every request, so a read holding k requests cost
 * O(k^2) copying; here it costs nothing per request.
 *
 *     base              data                   data + len        base + cap
 *      |   consumed      |   held (unparsed)     |     free space    |
 *      +-----------------+-----------------------+-------------------+
 *
 * The consumed front is reclaimed only when room is needed at the end, by moving the
 * bytes still held to the front. The move stays short: an input buffer whose requests
 * have been answered holds at most one unfinished request, and the server keeps an
 * output buffer small (OUTPUT_LIMIT in server.c).
 */
#define _POSIX_C_SOURCE 200809L

#include "buffer.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CAPACITY 4096
#define MAX_IDLE_CAPACITY (1024 * 1024)

/* Bytes free after the held ones. */
static size_t space_at_end(const struct buffer *buf)
{
    if (buf->base == NULL)
        return 0;
    return buf->cap - (size_t)(buf->data - buf->base) - buf->len;
}

/* Makes room for extra more bytes after the ones held. */
int buffer_reserve(struct buffer *buf, size_t extra)
{
    size_t cap = buf->cap > 0 ? buf->cap : MIN_CAPACITY;
    uint8_t *base;

    if (extra > SIZE_MAX - buf->len) {
        errno = ENOMEM;
        return -1;
    }
    if (extra <= space_at_end(buf))
        return 0;
    if (buf->len > 0 && buf->data != buf->base)
        memmove(buf->base, buf->data, buf->len); /* reclaim the consumed front */
    buf->data = buf->base;
    if (buf->len + extra <= buf->cap)
        return 0;
    while (cap < buf->len + extra)
        cap = cap <= SIZE_MAX / 2 ? cap * 2 : buf->len + extra;
    base = realloc(buf->base, cap);
    if (base == NULL)
        return -1;
    buf->base = buf->data = base;
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
        buf->data += len;
    else if (buf->cap > MAX_IDLE_CAPACITY)
        buffer_free(buf);
    else
        buf->data = buf->base; /* empty: start again from the front, for free */
}

void buffer_free(struct buffer *buf)
{
    free(buf->base);
    buf->base = buf->data = NULL;
    buf->len = buf->cap = 0;
}

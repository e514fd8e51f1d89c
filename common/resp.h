/*
 * resp.h - the pieces of RESP2 (Redis's protocol) that kvbench and nullserver share.
 *
 * kvbench --protocol resp sends commands to redis-server or nullserver and reads their
 * replies; nullserver --protocol resp reads commands. Both read the same kind of line,
 * "<type byte><decimal number>\r\n", which announces an array's count ("*3") or a bulk
 * string's length ("$5", "$-1" for none), and both write bulk strings. Like KV/1's
 * lengths, a number is checked against a limit while its digits are read: a peer
 * announcing more than the limit is refused, not trusted with a large buffer.
 */
#ifndef RESP_H
#define RESP_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * Reads the line "<prefix><digits>\r\n" or "<prefix>-1\r\n" at buf + *at, and moves *at
 * past it. Returns 1 with *value set (-1 for the "-1" form), 0 while the line is not all
 * here yet, -1 when it is garbage or the number is above max.
 */
static inline int resp_read_number(const uint8_t *buf, size_t len, size_t *at, char prefix,
                                   long long max, long long *value)
{
    size_t start = *at + 1, i = start;
    int nil = 0;

    if (*at >= len)
        return 0;
    if (buf[*at] != prefix)
        return -1;
    if (i < len && buf[i] == '-') {
        nil = 1;
        start = ++i;
    }
    for (*value = 0; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
        *value = *value * 10 + (buf[i] - '0');
        if (*value > max) /* refused before it can overflow, too */
            return -1;
    }
    if (len - i < 2)
        return 0; /* the rest of the line is still on its way */
    if (i == start || buf[i] != '\r' || buf[i + 1] != '\n' || (nil && *value != 1))
        return -1;
    if (nil)
        *value = -1;
    *at = i + 2;
    return 1;
}

/*
 * Appends a bulk string's header "$LEN\r\n" and its closing "\r\n", and returns the room
 * for its LEN bytes between them, for the caller to fill; NULL on failure.
 */
static inline uint8_t *resp_append_bulk(struct buf *out, size_t len)
{
    char header[32];
    int n = snprintf(header, sizeof header, "$%zu\r\n", len);
    uint8_t *body;

    if (buf_append(out, header, (size_t)n) < 0)
        return NULL;
    body = buf_extend(out, len + 2);
    if (body == NULL)
        return NULL;
    memcpy(body + len, "\r\n", 2);
    return body;
}

#endif

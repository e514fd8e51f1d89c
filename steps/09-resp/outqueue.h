/*
 * outqueue.h - the replies a connection owes, as a chain of blocks (step 08).
 *
 * Steps 03 to 07 kept them in one struct buffer: a GET's value was copied into it, and a
 * connection kept its buffer's allocation while idle. Here the replies are a queue of
 * blocks, written with one writev() per round:
 *
 *     head                                                  tail
 *     [ copied: headers, small replies ] -> [ a value ] -> [ copied ... ] -> NULL
 *          start ^                            held, not copied
 *
 * Small replies are copied into blocks of OUT_BLOCK_SIZE. A value of OUT_COPY_LIMIT bytes
 * or more is not copied at all: its block points at the stored value and holds a reference
 * to it (value.h). A block is freed as soon as the socket has taken its last byte, so an
 * empty queue holds no memory: an idle connection costs nothing here.
 *
 * A zeroed struct out_queue is an empty queue, ready to use.
 */
#ifndef OUTQUEUE_H
#define OUTQUEUE_H

#include "value.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* ssize_t */

#define OUT_BLOCK_SIZE (16 * 1024) /* a copied block's size, unless one append needs more */
#define OUT_COPY_LIMIT OUT_BLOCK_SIZE /* values this long or longer are referenced, not copied */
#define OUT_MAX_IOV 64             /* the most blocks one writev() takes */

struct out_block {
    struct out_block *next;
    struct value *value; /* not NULL: the bytes are value->bytes, and we hold a reference */
    size_t start;        /* bytes[0 .. start) are written already */
    size_t len;          /* bytes[start .. len) are owed */
    size_t cap;          /* a copied block: bytes allocated in data */
    uint8_t data[];      /* a copied block's bytes */
};

struct out_queue {
    struct out_block *head; /* written first */
    struct out_block *tail; /* appended to */
    size_t pending;         /* bytes owed, over all blocks */
};

/* Copies len bytes to the end of the queue. Returns 0, or -1 with errno ENOMEM (the queue
 * is then unchanged). */
int out_append(struct out_queue *q, const void *bytes, size_t len);

/* Queues the value's bytes without copying them, holding a reference until they are
 * written. Returns 0, or -1 with errno ENOMEM (the queue is then unchanged). */
int out_append_value(struct out_queue *q, struct value *value);

/* Bytes owed: a value queued counts its whole length. */
size_t out_pending(const struct out_queue *q);

/* Drops len bytes (no more than are owed) from the front, as if the socket had taken them. */
void out_consume(struct out_queue *q, size_t len);

/* One writev() of what is owed, up to OUT_MAX_IOV blocks; consumes what the socket took.
 * Returns the bytes written, or -1 with errno set (EAGAIN: the socket is full). */
ssize_t out_write(struct out_queue *q, int fd);

/* Frees every block and releases every value: the queue is empty again. */
void out_free(struct out_queue *q);

#endif

/*
 * outqueue.c - appending replies to a chain of blocks, and writing them with writev().
 *
 * Invariants: pending is the sum of len - start over the blocks; no block in the chain is
 * empty (start < len always), since a block is linked only with bytes in it and freed as
 * soon as its last byte is written. So pending == 0 means head == NULL: an empty
 * queue holds no memory.
 */
#define _POSIX_C_SOURCE 200809L

#include "outqueue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

/* ------------------------------------------------------------------------------------
 * Blocks
 * ------------------------------------------------------------------------------------ */

/* A copied block with room for cap bytes, not linked yet. */
static struct out_block *block_create(size_t cap)
{
    struct out_block *block;

    if (cap > SIZE_MAX - sizeof *block) {
        errno = ENOMEM;
        return NULL;
    }
    block = malloc(sizeof *block + cap);
    if (block == NULL)
        return NULL;
    block->next = NULL;
    block->value = NULL;
    block->start = block->len = 0;
    block->cap = cap;
    return block;
}

static const uint8_t *block_bytes(const struct out_block *block)
{
    return block->value != NULL ? block->value->bytes : block->data;
}

static void block_link(struct out_queue *q, struct out_block *block)
{
    if (q->tail != NULL)
        q->tail->next = block;
    else
        q->head = block;
    q->tail = block;
}

static void block_free(struct out_block *block)
{
    value_release(block->value);
    free(block);
}

/* ------------------------------------------------------------------------------------
 * Appending
 * ------------------------------------------------------------------------------------ */

/* Bytes that still fit at the end of the tail block (0 if it holds a value). */
static size_t tail_room(const struct out_queue *q)
{
    if (q->tail == NULL || q->tail->value != NULL)
        return 0;
    return q->tail->cap - q->tail->len;
}

/*
 * Fills the tail block, and puts the rest in a new block of OUT_BLOCK_SIZE, or of its own
 * size if it is larger. The new block is allocated before anything is copied, so a
 * failure leaves the queue as it was.
 */
int out_append(struct out_queue *q, const void *bytes, size_t len)
{
    size_t room = tail_room(q), first = len < room ? len : room;
    struct out_block *block = NULL;

    if (len == 0)
        return 0;
    if (len > first) {
        block = block_create(len - first > OUT_BLOCK_SIZE ? len - first : OUT_BLOCK_SIZE);
        if (block == NULL)
            return -1;
    }
    if (first > 0) {
        memcpy(q->tail->data + q->tail->len, bytes, first);
        q->tail->len += first;
    }
    if (block != NULL) {
        memcpy(block->data, (const uint8_t *)bytes + first, len - first);
        block->len = len - first;
        block_link(q, block);
    }
    q->pending += len;
    return 0;
}

int out_append_value(struct out_queue *q, struct value *value)
{
    struct out_block *block;

    if (value->len == 0)
        return 0; /* nothing to send; no empty block may sit in the chain */
    block = block_create(0);
    if (block == NULL)
        return -1;
    value_hold(value);
    block->value = value;
    block->len = value->len;
    block_link(q, block);
    q->pending += value->len;
    return 0;
}

size_t out_pending(const struct out_queue *q)
{
    return q->pending;
}

/* ------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------ */

void out_consume(struct out_queue *q, size_t len)
{
    q->pending -= len;
    while (len > 0) {
        struct out_block *block = q->head;
        size_t left = block->len - block->start;

        if (len < left) {
            block->start += len;
            return;
        }
        len -= left;
        q->head = block->next;
        if (q->head == NULL)
            q->tail = NULL;
        block_free(block);
    }
}

/*
 * One system call for the whole front of the queue, however many replies and values it
 * holds: the socket takes what fits, and we consume exactly that.
 */
ssize_t out_write(struct out_queue *q, int fd)
{
    struct iovec iov[OUT_MAX_IOV];
    int count = 0;
    ssize_t n;

    for (struct out_block *b = q->head; b != NULL && count < OUT_MAX_IOV; b = b->next) {
        iov[count].iov_base = (void *)(block_bytes(b) + b->start);
        iov[count].iov_len = b->len - b->start;
        count++;
    }
    n = writev(fd, iov, count);
    if (n > 0)
        out_consume(q, (size_t)n);
    return n;
}

void out_free(struct out_queue *q)
{
    while (q->head != NULL) {
        struct out_block *block = q->head;
        q->head = block->next;
        block_free(block);
    }
    q->tail = NULL;
    q->pending = 0;
}

/*
 * protocol.c - step 02: reading KV/1 requests straight from a blocking socket.
 *
 * With a blocking socket, parsing can follow the frame: read the 2-byte type, learn from
 * it how many arguments follow, and for each one read its 4-byte length, then exactly
 * that many bytes. read_full() hides how the bytes were split into packets.
 *
 * The length field is checked before anything is allocated: a client that declares a
 * 4 GiB argument gets an error, not 4 GiB of our memory.
 */
#define _POSIX_C_SOURCE 200809L

#include "protocol.h"
#include "net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* ------------------------------------------------------------------------------------
 * Big-endian integers, one byte at a time, so the host's byte order never matters
 * ------------------------------------------------------------------------------------ */

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ------------------------------------------------------------------------------------
 * Reading a request
 * ------------------------------------------------------------------------------------ */

/* How many arguments a request type takes, or -1 for a type we do not know. */
static int arg_count(uint16_t type)
{
    switch (type) {
    case REQ_GET: return 1;
    case REQ_SET: return 2;
    case REQ_DEL: return 1;
    default: return -1;
    }
}

/* Reads exactly len bytes; a peer that closes part-way has cut a frame short. */
static int read_exact(int fd, void *buf, size_t len)
{
    ssize_t n = read_full(fd, buf, len);
    if (n < 0)
        return -1;
    if ((size_t)n < len) {
        errno = ECONNRESET; /* closed mid-frame: as good as a reset */
        return -1;
    }
    return 0;
}

/* Reads one length-prefixed argument into arg (allocated: request_free releases it). */
static enum read_result read_arg(int fd, struct request *req, struct arg *arg)
{
    uint8_t len_bytes[4];
    uint32_t len;

    if (read_exact(fd, len_bytes, sizeof len_bytes) < 0)
        return READ_FAILED;
    len = get_u32(len_bytes);
    if (len > MAX_ARG_LEN) {
        snprintf(req->error, sizeof req->error, "argument of %lu bytes exceeds the limit of %u",
                 (unsigned long)len, MAX_ARG_LEN);
        return READ_INVALID;
    }
    arg->data = malloc(len > 0 ? len : 1);
    if (arg->data == NULL) {
        snprintf(req->error, sizeof req->error, "out of memory");
        return READ_INVALID; /* no room for this argument: we cannot answer, so we hang up */
    }
    arg->len = len;
    req->argc++;
    return read_exact(fd, arg->data, len) < 0 ? READ_FAILED : READ_REQUEST;
}

enum read_result read_request(int fd, struct request *req)
{
    uint8_t type_bytes[2];
    ssize_t n;
    int want;

    req->argc = 0;
    n = read_full(fd, type_bytes, sizeof type_bytes);
    if (n == 0)
        return READ_CLOSED; /* the only place where the client may close */
    if (n < (ssize_t)sizeof type_bytes) {
        if (n > 0)
            errno = ECONNRESET; /* closed after half the type */
        return READ_FAILED;
    }

    req->type = get_u16(type_bytes);
    want = arg_count(req->type);
    if (want < 0) {
        /* Without the type we cannot know where this frame ends: the stream is lost. */
        snprintf(req->error, sizeof req->error, "unknown request type %u", req->type);
        return READ_INVALID;
    }
    while (req->argc < want) {
        enum read_result result = read_arg(fd, req, &req->args[req->argc]);
        if (result != READ_REQUEST) {
            request_free(req);
            return result;
        }
    }
    return READ_REQUEST;
}

void request_free(struct request *req)
{
    for (int i = 0; i < req->argc; i++)
        free(req->args[i].data);
    req->argc = 0;
}

/* ------------------------------------------------------------------------------------
 * Writing a response
 * ------------------------------------------------------------------------------------ */

int write_response(int fd, enum status status, const void *payload, size_t len)
{
    uint8_t header[6];
    put_u16(header, (uint16_t)status);
    put_u32(header + 2, (uint32_t)len);
    if (write_all(fd, header, sizeof header) < 0)
        return -1;
    return write_all(fd, payload, len);
}

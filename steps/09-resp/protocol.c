/*
 * protocol.c - step 03: parsing KV/1 requests from whatever bytes have arrived.
 *
 * A non-blocking server cannot wait for the rest of a frame: it must work with the bytes
 * it has. So parsing no longer reads from the socket. It looks at the front of the
 * connection's input buffer and says one of three things: here is a whole request (and
 * how many bytes it took), there is only part of one so far, or this is not KV/1.
 *
 * The parser never copies an argument: it points into the buffer. And it checks each
 * length field as soon as those four bytes are there, before the payload arrives.
 *
 * Step 07: four more request types (PEXPIRE, PTTL, PERSIST, DBSIZE), and 8-byte integers
 * in an argument (PEXPIRE's ttl) and in a reply's payload (PTTL's, DBSIZE's).
 *
 * Step 08: responses are appended to an out_queue, and a long value is not copied.
 */
#define _POSIX_C_SOURCE 200809L

#include "protocol.h"

#include <stdio.h>

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

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
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

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

/* ------------------------------------------------------------------------------------
 * Parsing a request
 * ------------------------------------------------------------------------------------ */

/* How many arguments a request type takes, or -1 for a type we do not know. */
static int arg_count(uint16_t type)
{
    switch (type) {
    case REQ_GET: return 1;
    case REQ_SET: return 2;
    case REQ_DEL: return 1;
    case REQ_PEXPIRE: return 2;
    case REQ_PTTL: return 1;
    case REQ_PERSIST: return 1;
    case REQ_DBSIZE: return 0;
    default: return -1;
    }
}

/*
 * Parses the request at the front of data[0 .. len). Invariant: pos <= len at every
 * step, so "len - pos" is the number of bytes left and can never wrap around.
 */
enum parse_result parse_request(const uint8_t *data, size_t len, struct request *req,
                                size_t *frame_len)
{
    size_t pos = 2;
    int want;

    req->argc = 0;
    if (len < pos)
        return PARSE_INCOMPLETE;
    req->type = get_u16(data);
    want = arg_count(req->type);
    if (want < 0) {
        /* Without the type we cannot know where this frame ends: the stream is lost. */
        snprintf(req->error, sizeof req->error, "unknown request type %u", req->type);
        return PARSE_INVALID;
    }
    while (req->argc < want) {
        uint32_t arg_len;
        if (len - pos < 4)
            return PARSE_INCOMPLETE;
        arg_len = get_u32(data + pos);
        if (arg_len > MAX_ARG_LEN) {
            snprintf(req->error, sizeof req->error,
                     "argument of %lu bytes exceeds the limit of %u", (unsigned long)arg_len,
                     MAX_ARG_LEN);
            return PARSE_INVALID;
        }
        pos += 4;
        if (len - pos < arg_len)
            return PARSE_INCOMPLETE;
        req->args[req->argc].data = data + pos;
        req->args[req->argc].len = arg_len;
        req->argc++;
        pos += arg_len;
    }
    *frame_len = pos;
    return PARSE_REQUEST;
}

/* ------------------------------------------------------------------------------------
 * Appending a response
 * ------------------------------------------------------------------------------------ */

static int append_header(struct out_queue *out, enum status status, size_t len)
{
    uint8_t header[6];
    put_u16(header, (uint16_t)status);
    put_u32(header + 2, (uint32_t)len);
    return out_append(out, header, sizeof header);
}

/* On failure the queue may hold the header alone: the caller then closes the connection. */
int append_response(struct out_queue *out, enum status status, const void *payload, size_t len)
{
    if (append_header(out, status, len) < 0)
        return -1;
    return out_append(out, payload, len);
}

/*
 * A short value is copied beside its header, where it costs no more than a reference
 * would; a long one is queued by reference (step 08): no copy, however many clients GET it.
 */
int append_value_response(struct out_queue *out, struct value *value)
{
    if (append_header(out, STATUS_OK, value->len) < 0)
        return -1;
    if (value->len < OUT_COPY_LIMIT)
        return out_append(out, value->bytes, value->len);
    return out_append_value(out, value);
}

/* ------------------------------------------------------------------------------------
 * Integers in arguments and payloads (step 07)
 * ------------------------------------------------------------------------------------ */

/*
 * The frame's length fields were all well formed, so the stream is in step whatever this
 * says: a wrong size is the request's fault, for an ERROR that does not close.
 */
int arg_u64(const struct arg *arg, uint64_t *value)
{
    if (arg->len != 8)
        return -1;
    *value = get_u64(arg->data);
    return 0;
}

int append_u64_response(struct out_queue *out, uint64_t value)
{
    uint8_t payload[8];

    put_u64(payload, value);
    return append_response(out, STATUS_OK, payload, sizeof payload);
}

/*
 * protocol.h - KV/1 on the wire: request types, status codes, limits, and parsing a
 * request from / appending a response to a connection's buffers.
 *
 * A request is a 2-byte type followed by the arguments that type takes, each a 4-byte
 * length and that many bytes. A response is a 2-byte status, a 4-byte length and a
 * payload. Every integer is unsigned and big-endian ("network byte order").
 *
 * Step 07: four request types for keys that expire, whose ttl argument and whose reply
 * payloads are 8-byte integers, also big-endian.
 *
 * Step 08: responses go to an out_queue (outqueue.h) instead of a struct buffer, and a
 * GET's value is queued by reference when it is large (append_value_response).
 */
#ifndef PROTOCOL_H
#define PROTOCOL_H

#include "outqueue.h"

#include <stddef.h>
#include <stdint.h>

enum request_type {
    REQ_GET = 1, REQ_SET = 2, REQ_DEL = 3,
    REQ_PEXPIRE = 4, REQ_PTTL = 5, REQ_PERSIST = 6, REQ_DBSIZE = 7, /* step 07 */
};
enum status { STATUS_OK = 0, STATUS_NOT_FOUND = 1, STATUS_ERROR = 2 };

#define MAX_ARG_LEN (32u * 1024 * 1024) /* longer arguments are refused unread */
#define MAX_ARGS 2

struct arg {
    const uint8_t *data; /* points into the bytes that were parsed: nothing is copied */
    size_t len;
};

struct request {
    uint16_t type;
    int argc;
    struct arg args[MAX_ARGS];
    char error[80]; /* why the request was refused, for PARSE_INVALID */
};

enum parse_result {
    PARSE_REQUEST,    /* *req holds the request at the front; *frame_len says its size */
    PARSE_INCOMPLETE, /* the front holds only part of a request: wait for more bytes */
    PARSE_INVALID,    /* the client broke the protocol: tell it req->error, then close */
};

enum parse_result parse_request(const uint8_t *data, size_t len, struct request *req,
                                size_t *frame_len);
int append_response(struct out_queue *out, enum status status, const void *payload, size_t len);

/* Step 08: an OK whose payload is a stored value: copied if short, else referenced. */
int append_value_response(struct out_queue *out, struct value *value);

/* Step 07: an argument that is exactly 8 bytes, as an integer; -1 if it is any other size. */
int arg_u64(const struct arg *arg, uint64_t *value);

/* Step 07: an OK whose payload is an 8-byte integer (an i64 passed as its two's complement). */
int append_u64_response(struct out_queue *out, uint64_t value);

#endif

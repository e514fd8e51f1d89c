/*
 * protocol.h - KV/1 on the wire: request types, status codes, limits, and reading a
 * request from / writing a response to a connection.
 *
 * A request is a 2-byte type followed by the arguments that type takes, each a 4-byte
 * length and that many bytes. A response is a 2-byte status, a 4-byte length and a
 * payload. Every integer is unsigned and big-endian ("network byte order").
 */
#ifndef PROTOCOL_H
#define PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

enum request_type { REQ_GET = 1, REQ_SET = 2, REQ_DEL = 3 };
enum status { STATUS_OK = 0, STATUS_NOT_FOUND = 1, STATUS_ERROR = 2 };

#define MAX_ARG_LEN (32u * 1024 * 1024) /* longer arguments are refused unread */
#define MAX_ARGS 2

struct arg {
    uint8_t *data; /* never NULL once read, even for an empty argument */
    size_t len;
};

struct request {
    uint16_t type;
    int argc;
    struct arg args[MAX_ARGS];
    char error[80]; /* why the request was refused, for READ_INVALID */
};

enum read_result {
    READ_REQUEST, /* *req holds a request: release it with request_free() */
    READ_CLOSED,  /* the client closed the connection between two requests */
    READ_FAILED,  /* the connection failed or a stop was requested; errno says which */
    READ_INVALID, /* the request cannot be read: tell the client req->error, then hang up */
};

enum read_result read_request(int fd, struct request *req);
void request_free(struct request *req);
int write_response(int fd, enum status status, const void *payload, size_t len);

#endif

/*
 * resp.h - RESP2, Redis's protocol: commands parsed out of a connection's input, and
 * replies encoded into its output.
 *
 * A command arrives in one of two forms (docs/protocol.md, "RESP"):
 *
 *   multibulk   *2\r\n$3\r\nGET\r\n$1\r\nk\r\n   an array of length-prefixed strings
 *   inline      GET k\r\n                         words on one line, as typed in telnet
 *
 * The parser is incremental: a command that arrives over many reads is parsed once, not
 * once per read, because struct resp_parser remembers how far it got. It never allocates
 * for a length it refuses, nor ahead of the bytes that arrive: its argument arrays grow
 * with the arguments actually received.
 *
 * New in step 09.
 */
#ifndef RESP_H
#define RESP_H

#include "commands.h"
#include "outqueue.h"
#include "protocol.h" /* struct arg, enum parse_result */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESP_MAX_BULK_LEN 33554432   /* 32 MiB, as KV/1's arguments */
#define RESP_MAX_ARRAY_LEN 1048576   /* arguments in one command */
#define RESP_MAX_LINE 65536          /* an inline command or a header line, still unended */

/* Where an argument lies, counted from the command's first byte: the input may move. */
struct resp_span {
    size_t start;
    size_t len;
};

/* The arguments a command can have without the parser allocating: GET, SET, DEL, INCR. */
#define RESP_FEW_ARGS 4

/*
 * A zeroed struct resp_parser is ready, and holds no memory. Up to RESP_FEW_ARGS arguments
 * live in few_spans and few_argv; spans and argv are allocated only for a longer command.
 */
struct resp_parser {
    size_t pos;         /* bytes of the command at the front parsed so far */
    size_t scanned;     /* bytes from pos already searched for a line's end */
    long long pending;  /* multibulk: arguments still to come; 0 before the header */
    long long bulk_len; /* the argument being received, or -1 before its header */
    size_t argc;
    size_t cap;               /* room in spans and argv, 0 until both are allocated */
    struct resp_span *spans;  /* the arguments received so far, or NULL: few_spans */
    struct arg *argv;         /* filled when the command is whole, or NULL: few_argv */
    struct resp_span few_spans[RESP_FEW_ARGS];
    struct arg few_argv[RESP_FEW_ARGS];
    uint8_t *words;           /* inline: the arguments, unquoted */
    size_t words_cap;         /* bytes allocated at words */
    char error[80];           /* why the stream was refused, for PARSE_INVALID */
};

/*
 * Parses the command at the front of data[0 .. len). PARSE_REQUEST: *argc and *argv hold
 * it (valid until the next call; argc may be 0: an empty line or "*0", to be skipped
 * without a reply) and *frame_len says how many bytes to consume. PARSE_INCOMPLETE: call
 * again with the same bytes and more after them. PARSE_INVALID: reply p->error, close.
 */
enum parse_result resp_parse(struct resp_parser *p, const uint8_t *data, size_t len,
                             int *argc, const struct arg **argv, size_t *frame_len);

/*
 * A decimal integer in exactly text[0 .. len), read as strictly as Redis reads one: an
 * optional '-', digits without a leading zero, within long long ("+1", " 1", "007", "-0"
 * are not integers). Returns 0, or -1.
 */
int resp_parse_integer(const uint8_t *text, size_t len, long long *value);

/* Frees the parser's arrays; it stays usable. Only between commands. */
void resp_parser_release(struct resp_parser *p);

/* Bytes the parser holds, for the accounting of client memory. */
size_t resp_parser_memory(const struct resp_parser *p);

/*
 * The replies. Each returns 0, or -1 with errno ENOMEM. An error's text carries its code
 * ("ERR ...", "WRONGTYPE ..."); line ends in it are sent as spaces.
 */
int resp_append_status(struct out_queue *out, const char *text);
int resp_append_error(struct out_queue *out, const char *text, size_t len);
int resp_append_integer(struct out_queue *out, long long n);
int resp_append_bulk(struct out_queue *out, const uint8_t *bytes, size_t len);
int resp_append_value(struct out_queue *out, struct value *value); /* a stored value */
int resp_append_null(struct out_queue *out);
int resp_append_array(struct out_queue *out, size_t n);

/* The same replies for the command table: ctx is the struct out_queue *out. */
extern const struct reply_ops resp_reply_ops;

#endif

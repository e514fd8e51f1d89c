/*
 * resp.c - step 09: RESP2, so that redis-cli, redis-benchmark and Redis's client libraries
 * can talk to the server as they talk to Redis.
 *
 * KV/1 frames every length as a binary integer at a known place. RESP writes lengths as
 * decimal text on lines ended by \r\n, and accepts a second form, a bare line of words, for
 * people typing at a terminal. So this parser scans for line ends and reads digits, and it
 * does so incrementally: struct resp_parser remembers the arguments already received and
 * where the next line starts, so a 20 MB MSET arriving in 300 reads is scanned once.
 *
 * Every rule here is written down in docs/protocol.md ("RESP"). Where Redis 7 decides a
 * case, the same bytes get the same reply; where docs/protocol.md is stricter (an array of
 * more than 1,048,576 arguments, a bulk or header line not ended by \r\n), the reply is
 * ours, and still a "Protocol error".
 *
 * Replies go through two functions: put() copies bytes into the connection's queue, and
 * resp_append_value() queues a large stored value by reference (step 08's out queue).
 */
#define _POSIX_C_SOURCE 200809L

#include "resp.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------ */

/*
 * The first of c or NUL in data[from .. len), or len. Redis scans its input as a C string,
 * so a NUL hides every line end after it; scanning the same way gives the same replies.
 */
static size_t find_byte(const uint8_t *data, size_t from, size_t len, uint8_t c)
{
    for (size_t i = from; i < len; i++)
        if (data[i] == c || data[i] == '\0')
            return i;
    return len;
}

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Refuses the stream: the reply is "-ERR Protocol error: <what>". */
static enum parse_result refuse(struct resp_parser *p, const char *what)
{
    snprintf(p->error, sizeof p->error, "ERR Protocol error: %s", what);
    return PARSE_INVALID;
}

/* ------------------------------------------------------------------------------------
 * The argument arrays: grown with the arguments that arrive, never with a declared count
 * ------------------------------------------------------------------------------------ */

/* Room for n arguments: in few_spans and few_argv, or else in arrays twice as large. */
static int reserve_args(struct resp_parser *p, size_t n)
{
    size_t cap = p->cap > 0 ? p->cap : 2 * RESP_FEW_ARGS;
    struct resp_span *spans;
    struct arg *argv;

    if (n <= RESP_FEW_ARGS || n <= p->cap)
        return 0;
    while (cap < n)
        cap *= 2;
    spans = realloc(p->spans, cap * sizeof *spans);
    if (spans == NULL)
        return -1;
    if (p->spans == NULL) /* the first allocation: the arguments so far move in */
        memcpy(spans, p->few_spans, sizeof p->few_spans);
    p->spans = spans;
    argv = realloc(p->argv, cap * sizeof *argv);
    if (argv == NULL)
        return -1;
    p->argv = argv;
    p->cap = cap;
    return 0;
}

static int add_arg(struct resp_parser *p, size_t start, size_t len)
{
    struct resp_span *spans;

    if (reserve_args(p, p->argc + 1) < 0)
        return -1;
    spans = p->spans != NULL ? p->spans : p->few_spans;
    spans[p->argc].start = start;
    spans[p->argc].len = len;
    p->argc++;
    return 0;
}

/* The command is whole: its arguments as pointers into base, and the parser reset. */
static enum parse_result finish(struct resp_parser *p, const uint8_t *base, size_t frame_len,
                                int *argc, const struct arg **argv, size_t *len_out)
{
    const struct resp_span *spans = p->spans != NULL ? p->spans : p->few_spans;
    struct arg *args = p->argv != NULL ? p->argv : p->few_argv;

    for (size_t i = 0; i < p->argc; i++) {
        args[i].data = base + spans[i].start;
        args[i].len = spans[i].len;
    }
    *argc = (int)p->argc;
    *argv = args;
    *len_out = frame_len;
    p->pos = p->scanned = 0;
    p->pending = 0;
    p->bulk_len = -1;
    p->argc = 0;
    return PARSE_REQUEST;
}

void resp_parser_release(struct resp_parser *p)
{
    free(p->spans);
    free(p->argv);
    free(p->words);
    p->spans = NULL;
    p->argv = NULL;
    p->words = NULL;
    p->words_cap = 0;
    p->cap = 0;
}

size_t resp_parser_memory(const struct resp_parser *p)
{
    return p->cap * (sizeof *p->spans + sizeof *p->argv) + p->words_cap;
}

/* ------------------------------------------------------------------------------------
 * Integers, as strictly as Redis reads them
 * ------------------------------------------------------------------------------------ */

/*
 * A decimal integer in exactly text[0 .. len): an optional '-', then digits with no
 * leading zero ("0" alone excepted), nothing else, within long long. So "+1", " 1", "007",
 * "-0" and "" are not integers. Returns 0, or -1.
 */
int resp_parse_integer(const uint8_t *text, size_t len, long long *value)
{
    unsigned long long v = 0, limit = (unsigned long long)LLONG_MAX;
    bool negative = len > 0 && text[0] == '-';
    size_t i = negative ? 1 : 0;

    if (len == 1 && text[0] == '0') {
        *value = 0;
        return 0;
    }
    if (i == len || text[i] < '1' || text[i] > '9')
        return -1;
    if (negative)
        limit++; /* -LLONG_MIN */
    for (; i < len; i++) {
        unsigned digit = (unsigned)(text[i] - '0');
        if (text[i] < '0' || text[i] > '9' || v > (limit - digit) / 10)
            return -1;
        v = v * 10 + digit;
    }
    if (negative)
        *value = v == limit ? LLONG_MIN : -(long long)v;
    else
        *value = (long long)v;
    return 0;
}

/* ------------------------------------------------------------------------------------
 * Multibulk: *<count>\r\n, then per argument $<len>\r\n<bytes>\r\n
 * ------------------------------------------------------------------------------------ */

/*
 * A count or length in exactly text[0 .. len), no more than max: digits with no leading
 * zero ("0" alone excepted). The same numbers resp_parse_integer() accepts, less the
 * negative ones, in one loop with no overflow check: v stays at most max, far below
 * LLONG_MAX / 10. Returns 0, or -1.
 */
static int parse_length(const uint8_t *text, size_t len, long long max, long long *value)
{
    long long v = 0;

    if (len == 0 || (len > 1 && text[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (text[i] - '0');
        if (v > max)
            return -1;
    }
    *value = v;
    return 0;
}

/*
 * Finds the header line that starts at p->pos: *end is its \r. PARSE_REQUEST means found,
 * with the byte after \r present (it is checked later, so Redis's own errors come first).
 */
static enum parse_result header_line(struct resp_parser *p, const uint8_t *data, size_t len,
                                     const char *too_long, size_t *end)
{
    size_t cr = find_byte(data, p->pos + p->scanned, len, '\r');

    if (cr == len || data[cr] == '\0') {
        if (len - p->pos > RESP_MAX_LINE)
            return refuse(p, too_long);
        p->scanned = cr - p->pos; /* the next search resumes here (at a NUL, stays there) */
        return PARSE_INCOMPLETE;
    }
    if (cr + 1 >= len) {
        p->scanned = cr - p->pos;
        return PARSE_INCOMPLETE;
    }
    p->scanned = 0;
    *end = cr;
    return PARSE_REQUEST;
}

static enum parse_result array_header(struct resp_parser *p, const uint8_t *data, size_t len)
{
    enum parse_result r;
    long long n;
    size_t cr;
    bool valid;

    r = header_line(p, data, len, "too big mbulk count string", &cr);
    if (r != PARSE_REQUEST)
        return r;
    if (data[1] == '-') /* a negative count is an empty command, as in Redis */
        valid = resp_parse_integer(data + 1, cr - 1, &n) == 0;
    else
        valid = parse_length(data + 1, cr - 1, RESP_MAX_ARRAY_LEN, &n) == 0;
    if (!valid)
        return refuse(p, "invalid multibulk length");
    if (data[cr + 1] != '\n')
        return refuse(p, "expected '\\r\\n' after the array length");
    p->pos = cr + 2;
    p->pending = n > 0 ? n : 0;
    p->bulk_len = -1;
    return PARSE_REQUEST;
}

static enum parse_result bulk_header(struct resp_parser *p, const uint8_t *data, size_t len)
{
    char what[40];
    enum parse_result r;
    long long n;
    size_t cr;

    r = header_line(p, data, len, "too big bulk count string", &cr);
    if (r != PARSE_REQUEST)
        return r;
    if (data[p->pos] != '$') {
        /* Redis formats the byte with %c, and its line ends become spaces. */
        int got = data[p->pos] == '\r' || data[p->pos] == '\n' ? ' ' : data[p->pos];
        snprintf(what, sizeof what, "expected '$', got '%c'", got);
        return refuse(p, what);
    }
    if (parse_length(data + p->pos + 1, cr - p->pos - 1, RESP_MAX_BULK_LEN, &n) < 0)
        return refuse(p, "invalid bulk length");
    if (data[cr + 1] != '\n')
        return refuse(p, "expected '\\r\\n' after the bulk length");
    p->pos = cr + 2;
    p->bulk_len = n;
    return PARSE_REQUEST;
}

static enum parse_result parse_multibulk(struct resp_parser *p, const uint8_t *data, size_t len,
                                         int *argc, const struct arg **argv, size_t *frame_len)
{
    enum parse_result r;

    if (p->pending == 0) {
        r = array_header(p, data, len);
        if (r != PARSE_REQUEST)
            return r;
        if (p->pending == 0) /* "*0" or a negative count: nothing to run */
            return finish(p, data, p->pos, argc, argv, frame_len);
    }
    while (p->pending > 0) {
        size_t bulk;
        if (p->bulk_len < 0 && (r = bulk_header(p, data, len)) != PARSE_REQUEST)
            return r;
        bulk = (size_t)p->bulk_len;
        if (len - p->pos < bulk + 2)
            return PARSE_INCOMPLETE;
        if (data[p->pos + bulk] != '\r' || data[p->pos + bulk + 1] != '\n')
            return refuse(p, "expected '\\r\\n' after the bulk");
        if (add_arg(p, p->pos, bulk) < 0)
            return refuse(p, "out of memory");
        p->pos += bulk + 2;
        p->bulk_len = -1;
        p->pending--;
    }
    return finish(p, data, p->pos, argc, argv, frame_len);
}

/* ------------------------------------------------------------------------------------
 * Inline: words on a line, split as Redis splits them (quotes and escapes included)
 * ------------------------------------------------------------------------------------ */

/*
 * A double-quoted word's character at line[*i]: \xHH, \n \r \t \b \a, or \<c> for c.
 * Appends it to out and moves *i past it.
 */
static void unescape(const uint8_t *line, size_t n, size_t *i, uint8_t *out, size_t *len)
{
    size_t at = *i;

    if (line[at] == '\\' && at + 3 < n && line[at + 1] == 'x' &&
        hex_value(line[at + 2]) >= 0 && hex_value(line[at + 3]) >= 0) {
        out[(*len)++] = (uint8_t)(hex_value(line[at + 2]) * 16 + hex_value(line[at + 3]));
        *i = at + 4;
        return;
    }
    if (line[at] == '\\' && at + 1 < n) {
        switch (line[at + 1]) {
        case 'n': out[(*len)++] = '\n'; break;
        case 'r': out[(*len)++] = '\r'; break;
        case 't': out[(*len)++] = '\t'; break;
        case 'b': out[(*len)++] = '\b'; break;
        case 'a': out[(*len)++] = '\a'; break;
        default: out[(*len)++] = line[at + 1]; break;
        }
        *i = at + 2;
        return;
    }
    out[(*len)++] = line[at];
    *i = at + 1;
}

/*
 * One word starting at line[*i] (not a blank), unquoted into p->words at *used. Quotes
 * may open anywhere in a word; a closing quote must be followed by a blank or the line's
 * end. Returns -1 for unbalanced quotes.
 */
static int split_word(struct resp_parser *p, const uint8_t *line, size_t n, size_t *i,
                      size_t *used)
{
    size_t start = *used;
    int quote = 0;

    while (*i < n || quote) {
        uint8_t c;
        if (*i == n)
            return -1; /* the line ended inside quotes */
        c = line[*i];
        if (quote == '"' && c == '\\') {
            unescape(line, n, i, p->words, used);
            continue;
        }
        if (quote == '\'' && c == '\\' && *i + 1 < n && line[*i + 1] == '\'') {
            p->words[(*used)++] = '\'';
            *i += 2;
            continue;
        }
        if (quote != 0 && c == quote) {
            if (*i + 1 < n && !is_space(line[*i + 1]))
                return -1;
            (*i)++;
            break;
        }
        if (quote == 0 && (c == ' ' || c == '\t' || c == '\r' || c == '\n'))
            break;
        if (quote == 0 && (c == '"' || c == '\'')) {
            quote = c;
            (*i)++;
            continue;
        }
        p->words[(*used)++] = c;
        (*i)++;
    }
    return add_arg(p, start, *used - start) < 0 ? -2 : 0;
}

/* Splits line[0 .. n) into arguments. Unquoting only shortens, so n bytes are enough. */
static enum parse_result split_line(struct resp_parser *p, const uint8_t *line, size_t n)
{
    size_t i = 0, used = 0;
    uint8_t *words = realloc(p->words, n > 0 ? n : 1);

    if (words == NULL)
        return refuse(p, "out of memory");
    p->words = words;
    p->words_cap = n > 0 ? n : 1;
    for (;;) {
        int r;
        while (i < n && is_space(line[i]))
            i++;
        if (i == n)
            return PARSE_REQUEST;
        r = split_word(p, line, n, &i, &used);
        if (r == -1)
            return refuse(p, "unbalanced quotes in request");
        if (r < 0)
            return refuse(p, "out of memory");
    }
}

static enum parse_result parse_inline(struct resp_parser *p, const uint8_t *data, size_t len,
                                      int *argc, const struct arg **argv, size_t *frame_len)
{
    size_t nl = find_byte(data, p->scanned, len, '\n'), end;
    enum parse_result r;

    if (nl == len || data[nl] == '\0') {
        if (len > RESP_MAX_LINE)
            return refuse(p, "too big inline request");
        p->scanned = nl;
        return PARSE_INCOMPLETE;
    }
    end = nl > 0 && data[nl - 1] == '\r' ? nl - 1 : nl;
    p->argc = 0;
    r = split_line(p, data, end);
    if (r != PARSE_REQUEST)
        return r;
    return finish(p, p->words, nl + 1, argc, argv, frame_len);
}

/* ------------------------------------------------------------------------------------
 * The parser's entry point
 * ------------------------------------------------------------------------------------ */

enum parse_result resp_parse(struct resp_parser *p, const uint8_t *data, size_t len,
                             int *argc, const struct arg **argv, size_t *frame_len)
{
    if (len == 0)
        return PARSE_INCOMPLETE;
    if (p->pos == 0 && p->pending == 0)
        p->bulk_len = -1;
    if (data[0] == '*')
        return parse_multibulk(p, data, len, argc, argv, frame_len);
    return parse_inline(p, data, len, argc, argv, frame_len);
}

/* ------------------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------------------ */

/* Every byte of every RESP reply goes through here. */
static int put(struct out_queue *out, const void *bytes, size_t len)
{
    return out_append(out, bytes, len);
}

/*
 * A type byte, a decimal integer and \r\n: ":42\r\n", "$5\r\n", "*3\r\n". Every bulk
 * reply starts with one, so the digits are written by hand, last first: snprintf() would
 * read its format string on every call, a third of a GET's instructions.
 */
static int put_line(struct out_queue *out, char type, long long n)
{
    char line[32], *p = line + sizeof line;
    unsigned long long digits = n < 0 ? 0 - (unsigned long long)n : (unsigned long long)n;

    *--p = '\n';
    *--p = '\r';
    do {
        *--p = (char)('0' + digits % 10);
        digits /= 10;
    } while (digits > 0);
    if (n < 0)
        *--p = '-';
    *--p = type;
    return put(out, p, (size_t)(line + sizeof line - p));
}

int resp_append_status(struct out_queue *out, const char *text)
{
    if (put(out, "+", 1) < 0 || put(out, text, strlen(text)) < 0)
        return -1;
    return put(out, "\r\n", 2);
}

/* A line end inside the text would end the reply early: Redis sends them as spaces. */
int resp_append_error(struct out_queue *out, const char *text, size_t len)
{
    size_t i = 0;

    if (put(out, "-", 1) < 0)
        return -1;
    while (i < len) {
        size_t run = 0;
        while (i + run < len && text[i + run] != '\r' && text[i + run] != '\n')
            run++;
        if (put(out, text + i, run) < 0 || (i + run < len && put(out, " ", 1) < 0))
            return -1;
        i += run + (i + run < len ? 1 : 0);
    }
    return put(out, "\r\n", 2);
}

int resp_append_integer(struct out_queue *out, long long n)
{
    if (n == 0)
        return put(out, ":0\r\n", 4);
    if (n == 1)
        return put(out, ":1\r\n", 4);
    return put_line(out, ':', n);
}

int resp_append_bulk(struct out_queue *out, const uint8_t *bytes, size_t len)
{
    if (put_line(out, '$', (long long)len) < 0 || put(out, bytes, len) < 0)
        return -1;
    return put(out, "\r\n", 2);
}

/*
 * A GET's reply: the header and the \r\n are copied, the value between them is shared
 * with the store when it is large (the reply holds a reference: a SET or DEL meanwhile
 * cannot pull the bytes from under it), and copied when it is short, which is cheaper.
 */
int resp_append_value(struct out_queue *out, struct value *value)
{
    if (value->len < OUT_COPY_LIMIT)
        return resp_append_bulk(out, value->bytes, value->len);
    if (put_line(out, '$', (long long)value->len) < 0 || out_append_value(out, value) < 0)
        return -1;
    return put(out, "\r\n", 2);
}

int resp_append_null(struct out_queue *out)
{
    return put(out, "$-1\r\n", 5);
}

int resp_append_array(struct out_queue *out, size_t n)
{
    return put_line(out, '*', (long long)n);
}

/* ------------------------------------------------------------------------------------
 * The command table's reply interface, in RESP
 * ------------------------------------------------------------------------------------ */

static int reply_status(void *ctx, const char *text)
{
    return resp_append_status(ctx, text);
}

static int reply_error(void *ctx, const char *text, size_t len)
{
    return resp_append_error(ctx, text, len);
}

static int reply_integer(void *ctx, long long n)
{
    return resp_append_integer(ctx, n);
}

static int reply_bulk(void *ctx, const uint8_t *bytes, size_t len)
{
    return resp_append_bulk(ctx, bytes, len);
}

static int reply_value(void *ctx, struct value *value)
{
    return resp_append_value(ctx, value);
}

static int reply_null(void *ctx)
{
    return resp_append_null(ctx);
}

static int reply_array(void *ctx, size_t n)
{
    return resp_append_array(ctx, n);
}

const struct reply_ops resp_reply_ops = {
    reply_status, reply_error, reply_integer, reply_bulk, reply_value, reply_null, reply_array,
};

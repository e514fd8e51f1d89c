/*
 * kv.c - the shared command-line client: speaks KV/1 to the server of any step.
 *
 * Every chapter needs a way to poke at its server: store a key, read it back, fire a
 * hundred thousand requests in one go, or send bytes that are wrong on purpose. This one
 * program does all of that, so the chapters and the tests use the same tool:
 *
 *     kv set greeting hello        kv get greeting        kv del greeting
 *     kv pipe < commands.txt       (many requests, sent without waiting for replies)
 *     kv raw --hex <<< '0001 00000001 6b'      (any bytes at all, replies decoded)
 *
 * Three ideas carry it:
 *
 *   - One non-blocking socket and poll(). We write requests and read replies at the same
 *     time. A client that first writes everything and only then reads can deadlock
 *     against a server that stops reading while its replies are unsent: the client
 *     blocks in write() because the server does not read, the server blocks in write()
 *     because the client does not read. Reading whenever replies are owed breaks the
 *     cycle, however deep the pipeline.
 *   - A deadline on every wait. A server that accepts and then says nothing costs us the
 *     timeout (-t, ten seconds by default), never forever.
 *   - Binary safety. A key or value is a length and bytes, never a C string: NUL and 0xFF
 *     travel like any other byte, from the command line (escapes), stdin or a file.
 *
 * The protocol itself (request types, framing, limits) lives in kv1.h, shared with
 * kvbench and nullserver, so a new request type is added there once; buf.h and net.h
 * hold the byte buffer and the socket chores the three tools share.
 *
 * Run `kv --help` for the whole interface, including the exit codes scripts rely on.
 * `kv raw --keep-open` holds a connection open until the server closes it: the way to
 * watch a server's timers at work.
 */
#define _POSIX_C_SOURCE 200809L

#include "buf.h"
#include "kv1.h"
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT "7379"
#define DEFAULT_TIMEOUT_MS 10000
#define READ_CHUNK (64 * 1024)          /* bytes asked of each read() */
#define MAX_TRICKLE_USEC 60000000L      /* a minute between bytes is already absurd */

/*
 * Exit codes, part of the interface: tests and scripts branch on them. Functions that
 * return an enum kv_exit decide one of these; the others return 0, or -1 with errno set.
 */
enum kv_exit {
    KV_EXIT_OK = 0,
    KV_EXIT_NOT_FOUND = 1,
    KV_EXIT_USAGE = 2,
    KV_EXIT_SERVER_ERROR = 3,
    KV_EXIT_IO = 4, /* cannot connect, timed out, closed early, malformed reply, I/O error */
};

/* ------------------------------------------------------------------------------------
 * Complaining
 * ------------------------------------------------------------------------------------ */

/*
 * A diagnostic on stderr. Flushing stdout first keeps the two streams in order when both
 * go to one place (a terminal, or a test capturing both): replies, then the complaint.
 */
static void complain(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("kv: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ------------------------------------------------------------------------------------
 * Escapes: typing any byte, and showing any byte
 * ------------------------------------------------------------------------------------ */

/* The value of one hex digit, or -1. */
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

/*
 * Decodes the escape that starts at the backslash *pos points to, and moves *pos past
 * it. Unknown escapes are refused rather than kept literally: a typo such as \X00 must
 * not quietly become a different key.
 */
static int take_escape(const uint8_t **pos, const uint8_t *end, uint8_t *byte,
                       const char **why)
{
    const uint8_t *p = *pos + 1;

    if (p == end) {
        *why = "a backslash ends the text (write \\\\ for a backslash)";
        return -1;
    }
    switch (*p) {
    case '0': *byte = 0; break;
    case 'n': *byte = '\n'; break;
    case 'r': *byte = '\r'; break;
    case 't': *byte = '\t'; break;
    case '\\': *byte = '\\'; break;
    case '"': *byte = '"'; break;
    case 'x':
        if (end - p < 3 || hex_value(p[1]) < 0 || hex_value(p[2]) < 0) {
            *why = "\\x needs two hex digits";
            return -1;
        }
        *byte = (uint8_t)(hex_value(p[1]) << 4 | hex_value(p[2]));
        p += 2;
        break;
    default:
        *why = "unknown escape (known: \\xHH \\0 \\n \\r \\t \\\\ \\\")";
        return -1;
    }
    *pos = p + 1;
    return 0;
}

/* Appends the byte at *pos, or the one its escape stands for, and moves *pos past it. */
static int take_byte(const uint8_t **pos, const uint8_t *end, struct buf *out,
                     const char **why)
{
    uint8_t byte = **pos;

    if (byte != '\\')
        (*pos)++;
    else if (take_escape(pos, end, &byte, why) < 0)
        return -1;
    if (buf_append_byte(out, byte) < 0) {
        *why = strerror(errno);
        return -1;
    }
    return 0;
}

/* Decodes a command-line KEY or VALUE into out. */
static int unescape_arg(const char *text, struct buf *out, const char **why)
{
    const uint8_t *p = (const uint8_t *)text;
    const uint8_t *end = p + strlen(text);

    while (p < end) {
        if (take_byte(&p, end, out, why) < 0)
            return -1;
    }
    return 0;
}

/*
 * Shows one byte so that no output byte is a control character: one reply stays one
 * line, and a hostile value cannot drive the terminal.
 */
static void print_byte(FILE *f, uint8_t c)
{
    static const char hex_digits[] = "0123456789abcdef";

    switch (c) {
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
        if (c >= 0x20 && c < 0x7f) {
            fputc(c, f);
        } else {
            char escape[] = { '\\', 'x', hex_digits[c >> 4], hex_digits[c & 15], '\0' };
            fputs(escape, f);
        }
    }
}

/*
 * The inverse of the escapes above: every byte can be told apart, and the output can be
 * pasted back as a KEY or VALUE. Hence \" and \\ too: without them, the text \x00 and
 * the byte 0 would look the same.
 */
static void print_escaped(FILE *f, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '"' || data[i] == '\\')
            fputc('\\', f);
        print_byte(f, data[i]);
    }
}

/* An ERROR's message is for reading, not for pasting back: only unsafe bytes change. */
static void print_message(FILE *f, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        print_byte(f, data[i]);
}

static void print_quoted(FILE *f, const uint8_t *data, size_t len)
{
    fputc('"', f);
    print_escaped(f, data, len);
    fputc('"', f);
}

/* ------------------------------------------------------------------------------------
 * Reading local input: standard input, a file, hex text
 * ------------------------------------------------------------------------------------ */

/* Appends everything fd has to give, until end of file. */
static int read_all(int fd, struct buf *b)
{
    for (;;) {
        ssize_t n;

        if (buf_reserve(b, READ_CHUNK) < 0)
            return -1;
        n = read(fd, b->data + b->len, READ_CHUNK);
        if (n > 0) {
            b->len += (size_t)n;
        } else if (n == 0) {
            return 0;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            /* Whoever started us left stdin non-blocking: wait for it like a blocking read. */
            struct pollfd pfd = { .fd = fd, .events = POLLIN };
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                return -1;
        } else if (errno != EINTR) {
            return -1;
        }
    }
}

static int read_file(const char *path, struct buf *b)
{
    int fd = open(path, O_RDONLY);
    int saved;

    if (fd < 0)
        return -1;
    if (read_all(fd, b) < 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return close(fd);
}

/* Turns hex text ("0001 00000001 6b") into the bytes it spells. Whitespace is ignored. */
static int decode_hex(const struct buf *text, struct buf *bytes, char *why, size_t why_size)
{
    int high = -1; /* the first digit of a pair, while we wait for the second */

    for (size_t i = 0; i < text->len; i++) {
        uint8_t c = text->data[i];
        int digit = hex_value(c);

        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
            continue;
        if (digit < 0) {
            snprintf(why, why_size, "hex input, offset %zu: byte 0x%02x is not a hex digit",
                     i, c);
            return -1;
        }
        if (high < 0) {
            high = digit;
        } else {
            if (buf_append_byte(bytes, (uint8_t)(high << 4 | digit)) < 0) {
                snprintf(why, why_size, "%s", strerror(errno));
                return -1;
            }
            high = -1;
        }
    }
    if (high >= 0) {
        snprintf(why, why_size, "the hex input has an odd number of digits");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * Encoding requests
 * ------------------------------------------------------------------------------------ */

/*
 * Appends one request frame (kv1.h): its type, then each argument. Fails with EMSGSIZE
 * too. An integer argument (kind->int_arg) has been checked by number_ok() already.
 */
static int encode_request(struct buf *out, const struct kv1_kind *kind, const struct buf *args)
{
    uint64_t number;

    if (kv1_append_type(out, kind->type) < 0)
        return -1;
    for (unsigned i = 0; i < kind->argc; i++) {
        uint8_t *room;
        if (i + 1 == kind->int_arg) {
            if (kv1_parse_u64(args[i].data, args[i].len, &number) < 0 ||
                kv1_append_u64_arg(out, number) < 0)
                return -1;
            continue;
        }
        room = kv1_append_arg(out, args[i].len);
        if (room == NULL)
            return -1;
        if (args[i].len > 0)
            memcpy(room, args[i].data, args[i].len);
    }
    return 0;
}

/* What to say of a command given the wrong number of arguments, after its name. */
static const char *arity_message(const struct kv1_kind *kind)
{
    switch (kind->argc) {
    case 0: return "takes no arguments";
    case 1: return "takes one argument: KEY";
    default: return kind->int_arg == 2 ? "takes two arguments: KEY MS"
                                      : "takes two arguments: KEY VALUE";
    }
}

/* The integer argument of a command (pexpire's MS) is a decimal number that fits 64 bits. */
static const char bad_number[] = "MS must be a decimal number from 0 to 18446744073709551615";

static bool number_ok(const struct kv1_kind *kind, const struct buf *args)
{
    uint64_t number;

    return kind->int_arg == 0 ||
           kv1_parse_u64(args[kind->int_arg - 1].data, args[kind->int_arg - 1].len,
                         &number) == 0;
}

/* ------------------------------------------------------------------------------------
 * The pipe input format: one command per line
 * ------------------------------------------------------------------------------------ */

static bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/*
 * Reads one token at *pos into tok and moves *pos past it. A token that starts with a
 * quote runs to the next unescaped quote and may hold blanks; any other token ends at
 * a blank. Escapes work in both.
 */
static int read_token(const uint8_t **pos, const uint8_t *end, struct buf *tok,
                      const char **why)
{
    const uint8_t *p = *pos;
    bool quoted = *p == '"';

    if (quoted)
        p++;
    /* An escaped quote never stops the loop: take_byte() consumes it with its backslash. */
    while (p < end && (quoted ? *p != '"' : !is_blank(*p))) {
        if (take_byte(&p, end, tok, why) < 0)
            return -1;
    }
    if (quoted) {
        if (p == end) {
            *why = "a quoted token has no closing quote";
            return -1;
        }
        p++;
        if (p < end && !is_blank(*p)) {
            *why = "text right after a closing quote";
            return -1;
        }
    }
    *pos = p;
    return 0;
}

/*
 * Splits one line into at most 1 + KV1_MAX_ARGS tokens. A line that is blank or a
 * comment yields no tokens at all.
 */
static int split_line(const uint8_t *p, const uint8_t *end, struct buf *tokens, int *count,
                      const char **why)
{
    *count = 0;
    for (;;) {
        while (p < end && is_blank(*p))
            p++;
        if (p == end || (*count == 0 && *p == '#'))
            return 0;
        if (*count == 1 + KV1_MAX_ARGS) {
            *why = "too many arguments";
            return -1;
        }
        tokens[*count].len = 0;
        if (read_token(&p, end, &tokens[*count], why) < 0)
            return -1;
        (*count)++;
    }
}

/* Encodes one line's request (if it has one) and records its type in types. */
static int encode_line(const uint8_t *line, const uint8_t *end, struct buf *tokens,
                       struct buf *out, struct buf *types, const char **why)
{
    static char message[80]; /* *why must outlive the call */
    const struct kv1_kind *kind;
    int count;

    if (split_line(line, end, tokens, &count, why) < 0)
        return -1;
    if (count == 0)
        return 0;
    kind = kv1_kind_by_name(tokens[0].data, tokens[0].len);
    if (kind == NULL) {
        *why = "unknown command (use get, set, del, pexpire, pttl, persist or dbsize)";
        return -1;
    }
    if ((unsigned)(count - 1) != kind->argc) {
        snprintf(message, sizeof message, "%s %s", kind->name, arity_message(kind));
        *why = message;
        return -1;
    }
    if (!number_ok(kind, tokens + 1)) {
        snprintf(message, sizeof message, "%s: %s", kind->name, bad_number);
        *why = message;
        return -1;
    }
    if (encode_request(out, kind, tokens + 1) < 0 ||
        buf_append_byte(types, (uint8_t)kind->type) < 0) {
        *why = strerror(errno);
        return -1;
    }
    return 0;
}

/*
 * Encodes every command of the pipe input into out, and the type of each into types:
 * replies carry no type, so printing a GET's empty value as "" rather than OK needs to
 * know which request each reply answers. Stops at the first bad line. The token buffers
 * are reused from line to line: 100,000 lines cost three allocations, not 300,000.
 */
static int encode_pipe_input(const struct buf *input, struct buf *out, struct buf *types)
{
    struct buf tokens[1 + KV1_MAX_ARGS] = { { 0 } };
    const uint8_t *p, *end;
    size_t line_number = 0;
    const char *why = NULL;
    int result = 0;

    if (input->len == 0)
        return 0; /* and data may be NULL, where even NULL + 0 is undefined */
    p = input->data;
    end = p + input->len;
    while (p < end) {
        const uint8_t *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end; /* a last line without its newline */
        line_number++;
        if (encode_line(p, eol, tokens, out, types, &why) < 0) {
            complain("standard input, line %zu: %s", line_number, why);
            result = -1;
            break;
        }
        p = eol == end ? end : eol + 1;
    }
    for (int i = 0; i < 1 + KV1_MAX_ARGS; i++)
        buf_free(&tokens[i]);
    return result;
}

/* ------------------------------------------------------------------------------------
 * Decoding and printing replies
 * ------------------------------------------------------------------------------------ */

/*
 * An OK reply's payload that is an integer (PTTL's, DBSIZE's: kind->int_reply), printed
 * in decimal with a newline. False, printing nothing, if the reply is not such a one.
 */
static bool print_int_reply(const struct kv1_reply *r, const struct kv1_kind *kind)
{
    uint64_t value;

    if (kind == NULL || kind->int_reply == 0 || r->status != KV1_OK ||
        kv1_reply_u64(r, &value) < 0)
        return false;
    if (kind->int_reply == 'i')
        printf("%lld\n", (long long)(int64_t)value);
    else
        printf("%llu\n", (unsigned long long)value);
    return true;
}

/*
 * The one-line form of a reply used by pipe and raw. kind is the request it answers, or
 * NULL (raw) if we do not know. A GET's value is printed quoted even when empty: `""` is
 * an empty value, `OK` is a SET or DEL that succeeded; a PTTL's or DBSIZE's number in
 * decimal.
 */
static void print_reply_line(const struct kv1_reply *r, const struct kv1_kind *kind)
{
    bool answers_get = kind != NULL && kind->returns_value;

    if (print_int_reply(r, kind))
        return;
    switch (r->status) {
    case KV1_OK:
        if (r->len == 0 && !answers_get)
            fputs("OK", stdout);
        else
            print_quoted(stdout, r->payload, r->len);
        break;
    case KV1_NOT_FOUND:
        fputs("(nil)", stdout);
        break;
    case KV1_ERROR:
        fputs("(error) ", stdout);
        print_message(stdout, r->payload, r->len);
        break;
    default:
        printf("(status %u) ", (unsigned)r->status);
        print_quoted(stdout, r->payload, r->len);
    }
    fputc('\n', stdout);
}

/* How get, set and del report their one reply; returns the exit code it means. */
static enum kv_exit report_reply(const struct kv1_reply *r, const struct kv1_kind *kind,
                                 bool escape)
{
    if (print_int_reply(r, kind))
        return KV_EXIT_OK;
    switch (r->status) {
    case KV1_OK:
        if (!kind->returns_value) {
            puts("OK");
        } else if (escape) {
            print_escaped(stdout, r->payload, r->len);
            fputc('\n', stdout);
        } else if (r->len > 0) {
            fwrite(r->payload, 1, r->len, stdout); /* checked when stdout is flushed */
        }
        return KV_EXIT_OK;
    case KV1_NOT_FOUND:
        puts("(nil)");
        return KV_EXIT_NOT_FOUND;
    case KV1_ERROR:
        fflush(stdout);
        fputs("(error) ", stderr);
        print_message(stderr, r->payload, r->len);
        fputc('\n', stderr);
        return KV_EXIT_SERVER_ERROR;
    default:
        complain("malformed reply: unknown status %u", (unsigned)r->status);
        return KV_EXIT_IO;
    }
}

/* ------------------------------------------------------------------------------------
 * Waiting, with a deadline
 * ------------------------------------------------------------------------------------ */

static int clock_ms(long long *ms)
{
    struct timespec now;

    if (clock_gettime(CLOCK_MONOTONIC, &now) < 0)
        return -1;
    *ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    return 0;
}

/*
 * Waits until fd is ready for one of `events`. Returns poll's revents for it (> 0),
 * 0 if timeout_ms passed first, or -1 on error. A signal does not restart the clock:
 * after EINTR we wait only for what is left, so no stream of signals can make us hang.
 */
static int wait_for(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    long long start, now;
    int left = timeout_ms;

    if (clock_ms(&start) < 0)
        return -1;
    for (;;) {
        int n = poll(&pfd, 1, left);
        if (n > 0)
            return pfd.revents;
        if (n == 0)
            return 0;
        if (errno != EINTR || clock_ms(&now) < 0)
            return -1;
        if (now - start >= timeout_ms)
            return 0;
        left = (int)(timeout_ms - (now - start));
    }
}

/* Sleeps for usec microseconds; a signal only interrupts the nap, it does not end it. */
static int pause_usec(long usec)
{
    struct timespec left = { .tv_sec = usec / 1000000, .tv_nsec = usec % 1000000 * 1000 };

    while (nanosleep(&left, &left) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * Connecting
 * ------------------------------------------------------------------------------------ */

/*
 * A blocking connect() to an address that never answers waits as long as the kernel
 * likes (minutes). Connecting without blocking and polling for writability puts our
 * own timeout on it; SO_ERROR then tells whether the connection was made.
 */
static int finish_connect(int fd, int timeout_ms)
{
    int error = 0;
    socklen_t size = sizeof error;
    int ready = wait_for(fd, POLLOUT, timeout_ms);

    if (ready < 0)
        return -1;
    if (ready == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) < 0)
        return -1;
    if (error != 0) {
        errno = error;
        return -1;
    }
    return 0;
}

/* Returns a connected non-blocking socket to one address, or -1. */
static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    int saved;

    if (fd < 0)
        return -1;
    if (set_nonblocking(fd) < 0)
        goto fail;
    /* EINTR: the connection attempt goes on in the background, exactly as EINPROGRESS. */
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
        ((errno != EINPROGRESS && errno != EINTR) || finish_connect(fd, timeout_ms) < 0))
        goto fail;
    return fd;

fail:
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/*
 * Tries every address the host name has, in order: "localhost" may name ::1 first while
 * the server listens on 127.0.0.1 only. Returns a socket, or -1 after saying why.
 */
static int connect_to_server(const char *host, const char *port, int timeout_ms)
{
    struct addrinfo hints = { 0 };
    struct addrinfo *list;
    int fd = -1;
    int saved = 0;
    int rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0) {
        complain("cannot find host %s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (const struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = connect_one(ai, timeout_ms);
        saved = errno;
    }
    freeaddrinfo(list);
    if (fd < 0 && saved == ETIMEDOUT)
        complain("timed out connecting to %s port %s", host, port);
    else if (fd < 0)
        complain("cannot connect to %s port %s: %s", host, port, strerror(saved));
    return fd;
}

/*
 * Closing normally sends a FIN after the last byte. With SO_LINGER set to {on, 0 s},
 * close() instead aborts the connection with a RST (and drops any bytes not yet sent):
 * the "client crashed" case a server must survive.
 */
static int close_connection(int fd, bool reset)
{
    struct linger abort_now = { .l_onoff = 1, .l_linger = 0 };
    int saved;

    if (reset && setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now) < 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    /* After EINTR the descriptor is gone on Linux and unspecified elsewhere: never retry. */
    if (close(fd) < 0 && errno != EINTR)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------------------
 * The exchange: sending and receiving at the same time on one socket
 * ------------------------------------------------------------------------------------ */

/* What we read back, and when we are done. */
enum reading {
    READ_REPLIES, /* get, set, del, pipe: until every request has its reply */
    READ_FRAMES,  /* raw: decode replies until the server closes */
    READ_BYTES,   /* raw --dump: copy bytes to stdout until the server closes */
    READ_NOTHING, /* raw --no-read, --reset: send everything, read nothing */
};

struct session {
    int fd;
    int timeout_ms;
    const char *timeout_text; /* as the user wrote it, for the message */
    long trickle_usec;        /* -1: write as much as the socket takes */
    enum reading reading;

    /* Sending. Invariant: out[0..sent) is the kernel's, out[sent..out_len) still ours. */
    const uint8_t *out;
    size_t out_len;
    size_t sent;
    bool send_refused; /* the server closed: EPIPE or ECONNRESET on write */
    bool shut_down;    /* raw: our FIN is out, the server sees end of input */
    bool keep_open;    /* raw --keep-open: never send that FIN; the server decides the end */

    /* Receiving. in holds bytes read but not yet part of a printed reply. */
    struct buf in;
    bool server_closed;
    bool server_reset; /* it closed with ECONNRESET rather than a FIN */

    /* READ_REPLIES: one type per request, so each reply knows what it answers. */
    const uint8_t *types;
    size_t expected;
    size_t answered;
    bool single;          /* get/set/del: one reply decides the exit code */
    bool escape;          /* single get: print the value escaped */
    enum kv_exit verdict; /* single: what the reply meant */
};

static bool all_sent(const struct session *s)
{
    return s->sent == s->out_len;
}

/* Whether the exchange goes on: the heart of when each mode stops. */
static bool session_busy(const struct session *s)
{
    switch (s->reading) {
    case READ_REPLIES:
        return s->answered < s->expected && !s->server_closed;
    case READ_FRAMES:
    case READ_BYTES:
        return !s->server_closed;
    case READ_NOTHING:
        return !all_sent(s) && !s->send_refused;
    }
    return false;
}

static short wanted_events(const struct session *s)
{
    short events = 0;

    if (!all_sent(s) && !s->send_refused)
        events |= POLLOUT;
    if (s->reading != READ_NOTHING)
        events |= POLLIN;
    return events;
}

/*
 * One write() of whatever is left, or of one byte when trickling. A server that has
 * closed is not an error here: there may still be replies to read (the ERROR it sent
 * about an oversized value, say), and the reading side decides how the exchange ends.
 */
static int send_some(struct session *s)
{
    size_t len = s->out_len - s->sent;
    ssize_t n;

    if (s->trickle_usec >= 0)
        len = 1;
    n = write(s->fd, s->out + s->sent, len);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno == EPIPE || errno == ECONNRESET) {
            s->send_refused = true;
            return 0;
        }
        complain("sending to the server: %s", strerror(errno));
        return -1;
    }
    s->sent += (size_t)n;
    /* Sleep between bytes, not after the last. The next poll collects any replies. */
    if (s->trickle_usec > 0 && !all_sent(s) && pause_usec(s->trickle_usec) < 0) {
        complain("nanosleep: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Handles one complete reply according to the mode. */
static void take_reply(struct session *s, const struct kv1_reply *r)
{
    if (s->reading == READ_FRAMES) {
        print_reply_line(r, NULL); /* raw: we do not know what was asked */
        return;
    }
    if (s->single)
        s->verdict = report_reply(r, kv1_kind_by_type(s->types[0]), s->escape);
    else
        print_reply_line(r, kv1_kind_by_type(s->types[s->answered]));
    s->answered++;
}

/*
 * Consumes what has arrived: every complete reply frame is handled, and an incomplete
 * one stays at the front of the buffer for the next read to finish.
 */
static int consume_input(struct session *s)
{
    size_t used = 0;
    size_t size;
    struct kv1_reply r;

    if (s->reading == READ_BYTES) {
        if (fwrite(s->in.data, 1, s->in.len, stdout) < s->in.len) {
            complain("writing to standard output: %s", strerror(errno));
            return -1;
        }
        s->in.len = 0;
        return 0;
    }
    /* No length is too long to wait for: the reply shows what the server really sent. */
    while ((s->reading == READ_FRAMES || s->answered < s->expected) &&
           kv1_parse_reply(s->in.data + used, s->in.len - used, UINT32_MAX, &r, &size) ==
               KV1_COMPLETE) {
        take_reply(s, &r);
        used += size;
    }
    buf_drop_front(&s->in, used);
    return 0;
}

/*
 * One read() of what the server sent. The buffer grows only with bytes that actually
 * arrived, never with a length the server merely declared: a reply claiming 4 GiB
 * costs us the bytes it really sends, not a 4 GiB allocation.
 */
static int receive_some(struct session *s)
{
    ssize_t n;

    if (buf_reserve(&s->in, READ_CHUNK) < 0) {
        complain("receiving: %s", strerror(errno));
        return -1;
    }
    n = read(s->fd, s->in.data + s->in.len, READ_CHUNK);
    if (n > 0) {
        s->in.len += (size_t)n;
        return consume_input(s);
    }
    if (n == 0 || errno == ECONNRESET) {
        s->server_closed = true;
        s->server_reset = n < 0;
        return 0;
    }
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
    complain("receiving from the server: %s", strerror(errno));
    return -1;
}

/*
 * raw: once every byte is out, half-close. The server reads end of input, answers what
 * it has, and closes; its close is how we know no more replies are coming. With
 * --keep-open the connection stays open both ways, and we wait for the server to close
 * it on its own (an idle timeout, say), or for -t to pass with nothing received.
 */
static int shut_down_when_sent(struct session *s)
{
    if (s->shut_down || s->keep_open || s->send_refused || !all_sent(s) ||
        (s->reading != READ_FRAMES && s->reading != READ_BYTES))
        return 0;
    s->shut_down = true;
    if (shutdown(s->fd, SHUT_WR) < 0 && errno != ENOTCONN) {
        complain("shutdown: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* How the exchange ended, once nothing more will happen on the socket. */
static enum kv_exit session_outcome(const struct session *s)
{
    switch (s->reading) {
    case READ_REPLIES:
        if (s->answered == s->expected)
            return s->single ? s->verdict : KV_EXIT_OK;
        complain("the server closed the connection (%s) after %zu of %zu replies%s",
                 s->server_reset ? "reset" : "end of stream", s->answered, s->expected,
                 s->in.len > 0 ? ", in the middle of a reply" : "");
        return KV_EXIT_IO;
    case READ_FRAMES:
        puts("(closed)");
        if (s->in.len > 0) {
            complain("truncated reply: the server closed after %zu bytes of a frame",
                     s->in.len);
            return KV_EXIT_IO;
        }
        return KV_EXIT_OK;
    case READ_BYTES:
        return KV_EXIT_OK;
    case READ_NOTHING:
        if (all_sent(s))
            return KV_EXIT_OK;
        complain("the server closed the connection after %zu of %zu bytes", s->sent,
                 s->out_len);
        return KV_EXIT_IO;
    }
    return KV_EXIT_IO;
}

/*
 * The event loop of the client. Each turn: wait until the socket can take bytes (while
 * we have some) or has bytes for us (while we expect some), then do one write and/or
 * one read. Waiting for both at once is what makes deep pipelines safe.
 */
static enum kv_exit run_session(struct session *s)
{
    while (session_busy(s)) {
        short events;
        int ready;

        if (shut_down_when_sent(s) < 0)
            return KV_EXIT_IO;
        events = wanted_events(s);
        ready = wait_for(s->fd, events, s->timeout_ms);
        if (ready < 0) {
            complain("poll: %s", strerror(errno));
            return KV_EXIT_IO;
        }
        if (ready == 0) {
            complain("timed out: no progress from the server for %s s", s->timeout_text);
            return KV_EXIT_IO;
        }
        /* POLLERR and POLLHUP come unasked: the next write or read reports what they mean. */
        if ((events & POLLOUT) && (ready & (POLLOUT | POLLERR | POLLHUP)) && send_some(s) < 0)
            return KV_EXIT_IO;
        if ((events & POLLIN) && (ready & (POLLIN | POLLERR | POLLHUP)) && receive_some(s) < 0)
            return KV_EXIT_IO;
    }
    return session_outcome(s);
}

/* ------------------------------------------------------------------------------------
 * The command line
 * ------------------------------------------------------------------------------------ */

enum command { CMD_HELP, CMD_REQUEST, CMD_PIPE, CMD_RAW }; /* CMD_REQUEST: get, set, del */

struct options {
    const char *host;
    const char *port; /* kept as text, checked: getaddrinfo() wants a string */
    int timeout_ms;
    const char *timeout_text;
    bool escape;
    long trickle_usec; /* -1: off */
    bool hex, dump, no_read, reset, keep_open;
    bool help;
};

struct invocation {
    struct options opt;
    enum command command;
    const struct kv1_kind *kind; /* CMD_REQUEST: get, set, del */
    const char *key;
    const char *value;
};

static const char *const help_text[] = {
    "usage: kv [OPTIONS] COMMAND [ARGUMENTS]",
    "",
    "A client for KV/1 servers: sends requests, prints replies.",
    "",
    "Commands:",
    "  get KEY             print the value stored under KEY",
    "  set KEY VALUE       store VALUE under KEY",
    "  set KEY -           ... the value is all of standard input (any bytes)",
    "  set KEY @FILE       ... the value is the contents of FILE (any bytes);",
    "                      @@text stores the literal value @text",
    "  del KEY             delete KEY",
    "  pexpire KEY MS      make KEY expire MS milliseconds from now (0: delete it now);",
    "                      MS is sent as an 8-byte integer (servers from step 07 on)",
    "  pttl KEY            print the milliseconds KEY has left, or -1 if it never",
    "                      expires",
    "  persist KEY         make KEY never expire",
    "  dbsize              print how many keys the server holds",
    "  pipe                read commands from standard input (format below), send them",
    "                      all without waiting (pipelining), print one line per reply",
    "  raw                 send standard input byte for byte, then half-close the",
    "                      connection and print the decoded replies until the server",
    "                      closes it",
    "  --help              print this help",
    "",
    "Options, before the command (pipe and raw also take them after it):",
    "  -h, --host HOST     server host (default " DEFAULT_HOST ")",
    "  -p, --port PORT     server port (default: $KV_PORT if set, else " DEFAULT_PORT ")",
    "  -t, --timeout SECS  give up when connecting, or any wait to send or receive,",
    "                      takes longer than SECS seconds (default 10; 0.5 works too)",
    "  -e, --escape        print a get's value escaped plus a newline even when standard",
    "                      output is not a terminal",
    "  --trickle USEC      write requests one byte per write(), USEC microseconds apart,",
    "                      with TCP_NODELAY on, so the server receives partial frames",
    "Options for raw only:",
    "  --hex               standard input is hex text, whitespace ignored: 0001 00000001 6b",
    "  --dump              do not decode: copy every byte received to standard output",
    "                      until the server closes (try it on the echo server)",
    "  --no-read           send, then close without reading anything",
    "  --reset             send, then close with a TCP reset (RST) without reading;",
    "                      bytes the kernel has not yet sent are dropped",
    "  --keep-open         do not half-close after sending: keep printing replies until",
    "                      the server closes the connection, or until -t SECS pass with",
    "                      nothing received (exit 4). Try: kv -t 600 raw --keep-open",
    "                      </dev/null, under time, to see when a server drops an idle",
    "                      connection",
    "",
    "KEY and VALUE may contain escapes: \\xHH (any byte), \\0, \\n, \\r, \\t, \\\\, \\\".",
    "A VALUE of exactly - means standard input: store a lone dash as \\x2d.",
    "",
    "Pipe input: one command per line: get KEY, set KEY VALUE, del KEY, pexpire KEY MS,",
    "  pttl KEY, persist KEY or dbsize.",
    "  Command names ignore case. Spaces and tabs separate tokens. A token that starts",
    "  with \" runs to the next unescaped \" and may hold blanks. The escapes above work",
    "  inside and outside quotes. Blank lines, and lines whose first non-blank character",
    "  is #, are skipped. A bad line is reported with its number and nothing is sent.",
    "  Example:   set \"my key\" caf\\xc3\\xa9",
    "",
    "Output of get, set, del and the others:",
    "  OK          get: the value, as raw bytes with nothing added when standard output",
    "              is not a terminal, else (and always with -e) escaped plus a newline;",
    "              set, del, pexpire, persist: the line OK;",
    "              pttl, dbsize: the number in decimal",
    "  NOT_FOUND   (nil) on standard output",
    "  ERROR       (error) MESSAGE on standard error",
    "Output of pipe and raw: one line per reply, in order, on standard output:",
    "  OK                    status OK, empty payload",
    "  \"payload\"             status OK with a payload; in pipe, every get's reply,",
    "                        even an empty value (\"\")",
    "  N                     pipe: pttl's and dbsize's number, in decimal",
    "  (nil)                 NOT_FOUND",
    "  (error) MESSAGE       ERROR",
    "  (status N) \"payload\"  any other status N",
    "  (closed)              raw, last line: the server closed the connection",
    "  raw --dump prints the received bytes as they are; --no-read and --reset nothing.",
    "Escaped form: printable ASCII as is, except \\\" and \\\\; \\n, \\r, \\t; any other byte",
    "  as \\xHH, e.g. \"a\\x00b\\xff\". A MESSAGE is printed as sent, but for \\n, \\r, \\t",
    "  and \\xHH in place of control and non-ASCII bytes.",
    "",
    "Exit status:",
    "  0  success; pipe and raw: the exchange completed, whatever the replies said",
    "  1  NOT_FOUND (get, del, pexpire, pttl, persist)",
    "  2  usage error: bad command line, bad pipe line, bad hex input, unreadable FILE",
    "  3  the server answered ERROR (get, set, del)",
    "  4  cannot connect, timed out, connection closed early (pipe: before the last",
    "     reply; raw: in the middle of a reply; --no-read, --reset: before all was",
    "     sent), malformed reply, or another I/O failure",
};

static void print_help(void)
{
    for (size_t i = 0; i < sizeof help_text / sizeof help_text[0]; i++)
        puts(help_text[i]);
}

/* Says what is wrong with the command line; returns -1 so callers can `return` it. */
static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("kv: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'kv --help' for more information.\n", stderr);
    return -1;
}

/* Digits only, 1 to 65535 (net.h); the text itself is kept for getaddrinfo(). */
static int check_port(const char *text)
{
    uint16_t port;

    return parse_port(text, 1, &port);
}

/* SECS as milliseconds for poll(): rounded up, so 0.0001 still waits a little. */
static int parse_timeout(const char *text, int *ms)
{
    char *end;
    double secs, millis;

    errno = 0;
    secs = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(secs > 0)) /* !(>) rejects NaN */
        return -1;
    millis = secs * 1000.0;
    *ms = millis >= INT_MAX ? INT_MAX : (int)millis;
    if (*ms < millis)
        (*ms)++;
    return 0;
}

static int parse_trickle(const char *text, long *usec)
{
    char *end;

    errno = 0;
    *usec = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || *usec < 0 || *usec > MAX_TRICKLE_USEC)
        return -1;
    return 0;
}

static bool is_option(const char *arg, const char *short_name, const char *long_name)
{
    return (short_name != NULL && strcmp(arg, short_name) == 0) || strcmp(arg, long_name) == 0;
}

/* Options that take a value: argv[*i] is the option, argv[*i + 1] its value. */
static int parse_valued_option(int argc, char **argv, int *i, struct options *opt)
{
    const char *name = argv[*i];
    const char *value;

    if (*i + 1 >= argc && strcmp(name, "-h") == 0)
        return usage_error("option -h needs a HOST (-h is --host; help is --help)");
    if (*i + 1 >= argc)
        return usage_error("option %s needs a value", name);
    value = argv[*i + 1];
    *i += 2;
    if (is_option(name, "-h", "--host")) {
        opt->host = value;
    } else if (is_option(name, "-p", "--port")) {
        if (check_port(value) < 0)
            return usage_error("bad port '%s' (want 1 to 65535)", value);
        opt->port = value;
    } else if (is_option(name, "-t", "--timeout")) {
        if (parse_timeout(value, &opt->timeout_ms) < 0)
            return usage_error("bad timeout '%s' (want seconds > 0, such as 10 or 0.5)", value);
        opt->timeout_text = value;
    } else if (parse_trickle(value, &opt->trickle_usec) < 0) { /* --trickle */
        return usage_error("bad --trickle '%s' (want microseconds, 0 to %ld)", value,
                           MAX_TRICKLE_USEC);
    }
    return 0;
}

/* One option at argv[*i]; moves *i past it (and its value). */
static int parse_one_option(int argc, char **argv, int *i, struct options *opt)
{
    const char *arg = argv[*i];
    bool *flag = NULL;

    if (is_option(arg, NULL, "--help"))
        flag = &opt->help;
    else if (is_option(arg, "-e", "--escape"))
        flag = &opt->escape;
    else if (is_option(arg, NULL, "--hex"))
        flag = &opt->hex;
    else if (is_option(arg, NULL, "--dump"))
        flag = &opt->dump;
    else if (is_option(arg, NULL, "--no-read"))
        flag = &opt->no_read;
    else if (is_option(arg, NULL, "--reset"))
        flag = &opt->reset;
    else if (is_option(arg, NULL, "--keep-open"))
        flag = &opt->keep_open;
    if (flag != NULL) {
        *flag = true;
        (*i)++;
        return 0;
    }
    if (is_option(arg, "-h", "--host") || is_option(arg, "-p", "--port") ||
        is_option(arg, "-t", "--timeout") || is_option(arg, NULL, "--trickle"))
        return parse_valued_option(argc, argv, i, opt);
    return usage_error("unknown option '%s'", arg);
}

/* Parses options from argv[*i] on, stopping at the first word that is not one. */
static int parse_options(int argc, char **argv, int *i, struct options *opt)
{
    while (*i < argc && !opt->help) {
        const char *arg = argv[*i];
        if (arg[0] != '-' || arg[1] == '\0') /* a command, or "-" */
            return 0;
        if (strcmp(arg, "--") == 0) {
            (*i)++;
            return 0;
        }
        if (parse_one_option(argc, argv, i, opt) < 0)
            return -1;
    }
    return 0;
}

/* Options that only make sense in some combinations. */
static int check_option_combinations(const struct invocation *inv)
{
    const struct options *opt = &inv->opt;
    int endings = opt->dump + opt->no_read + opt->reset;

    if (inv->command != CMD_RAW && (opt->hex || opt->keep_open || endings > 0))
        return usage_error("--hex, --dump, --no-read, --reset and --keep-open work with raw only");
    if (endings > 1)
        return usage_error("choose one of --dump, --no-read and --reset");
    if (opt->keep_open && (opt->no_read || opt->reset))
        return usage_error("--keep-open reads replies: not with --no-read or --reset");
    return 0;
}

/* The port from -p, else from $KV_PORT, else the default. */
static int choose_port(struct options *opt)
{
    const char *env = getenv("KV_PORT");

    if (opt->port != NULL)
        return 0;
    if (env == NULL || env[0] == '\0') {
        opt->port = DEFAULT_PORT;
        return 0;
    }
    if (check_port(env) < 0)
        return usage_error("bad KV_PORT '%s' in the environment (want 1 to 65535)", env);
    opt->port = env;
    return 0;
}

/* The command word and its operands, starting at argv[i]. */
static int parse_command(int argc, char **argv, int i, struct invocation *inv)
{
    const char *word = argv[i++];
    uint64_t number;

    if (strcmp(word, "pipe") == 0 || strcmp(word, "raw") == 0) {
        inv->command = word[0] == 'p' ? CMD_PIPE : CMD_RAW;
        if (parse_options(argc, argv, &i, &inv->opt) < 0)
            return -1;
        if (i < argc && !inv->opt.help)
            return usage_error("%s takes no arguments, but got '%s'", word, argv[i]);
        return 0;
    }
    inv->kind = kv1_kind_by_name(word, strlen(word));
    if (inv->kind == NULL)
        return usage_error("unknown command '%s'", word);
    inv->command = CMD_REQUEST;
    if ((unsigned)(argc - i) != inv->kind->argc)
        return usage_error("%s %s", inv->kind->name, arity_message(inv->kind));
    inv->key = inv->kind->argc >= 1 ? argv[i] : NULL;
    inv->value = inv->kind->argc >= 2 ? argv[i + 1] : NULL;
    if (inv->kind->int_arg == 2 && kv1_parse_u64(inv->value, strlen(inv->value), &number) < 0)
        return usage_error("%s: %s", inv->kind->name, bad_number);
    return 0;
}

static int parse_command_line(int argc, char **argv, struct invocation *inv)
{
    int i = 1;

    memset(inv, 0, sizeof *inv);
    inv->opt.host = DEFAULT_HOST;
    inv->opt.timeout_ms = DEFAULT_TIMEOUT_MS;
    inv->opt.timeout_text = "10";
    inv->opt.trickle_usec = -1;

    if (parse_options(argc, argv, &i, &inv->opt) < 0)
        return -1;
    if (!inv->opt.help && i == argc)
        return usage_error("no command given");
    if (!inv->opt.help && parse_command(argc, argv, i, inv) < 0)
        return -1;
    if (inv->opt.help) {
        inv->command = CMD_HELP;
        return 0;
    }
    if (check_option_combinations(inv) < 0)
        return -1;
    return choose_port(&inv->opt);
}

/* ------------------------------------------------------------------------------------
 * Commands: turning the command line into bytes to send, and sending them
 * ------------------------------------------------------------------------------------ */

/* The VALUE of set: "-" is stdin, "@FILE" a file, "@@x" the text "@x", else escapes. */
static enum kv_exit load_value(const char *spec, struct buf *value)
{
    const char *why;

    if (strcmp(spec, "-") == 0) {
        if (read_all(STDIN_FILENO, value) < 0) {
            complain("reading standard input: %s", strerror(errno));
            return KV_EXIT_IO;
        }
        return KV_EXIT_OK;
    }
    if (spec[0] == '@' && spec[1] != '@') {
        if (read_file(spec + 1, value) < 0) {
            complain("cannot read '%s': %s", spec + 1, strerror(errno));
            return KV_EXIT_USAGE;
        }
        return KV_EXIT_OK;
    }
    if (unescape_arg(spec[0] == '@' ? spec + 1 : spec, value, &why) < 0) {
        usage_error("VALUE: %s", why);
        return KV_EXIT_USAGE;
    }
    return KV_EXIT_OK;
}

/* get, set, del: one request, and its type in types for the reply to know. */
static enum kv_exit prepare_single(const struct invocation *inv, struct buf *out,
                                   struct buf *types)
{
    struct buf args[KV1_MAX_ARGS] = { { 0 } };
    enum kv_exit code = KV_EXIT_OK;
    const char *why;

    if (inv->key != NULL && unescape_arg(inv->key, &args[0], &why) < 0) {
        usage_error("KEY: %s", why);
        code = KV_EXIT_USAGE;
    } else if (inv->value != NULL && inv->kind->int_arg == 2) {
        code = buf_append(&args[1], inv->value, strlen(inv->value)) < 0 ? KV_EXIT_IO : code;
    } else if (inv->value != NULL) {
        code = load_value(inv->value, &args[1]);
    }
    if (code == KV_EXIT_OK &&
        (encode_request(out, inv->kind, args) < 0 ||
         buf_append_byte(types, (uint8_t)inv->kind->type) < 0)) {
        code = errno == EMSGSIZE ? KV_EXIT_USAGE : KV_EXIT_IO; /* before complain() */
        complain("cannot encode the request: %s", strerror(errno));
    }
    buf_free(&args[0]);
    buf_free(&args[1]);
    return code;
}

/* pipe and raw: everything from stdin, read before we connect so no timeout runs. */
static enum kv_exit prepare_from_stdin(const struct invocation *inv, struct buf *out,
                                       struct buf *types)
{
    struct buf input = { 0 };
    enum kv_exit code = KV_EXIT_OK;
    char why[100];

    if (read_all(STDIN_FILENO, &input) < 0) {
        complain("reading standard input: %s", strerror(errno));
        code = KV_EXIT_IO;
    } else if (inv->command == CMD_PIPE) {
        if (encode_pipe_input(&input, out, types) < 0)
            code = KV_EXIT_USAGE;
    } else if (inv->opt.hex) {
        if (decode_hex(&input, out, why, sizeof why) < 0) {
            complain("%s", why);
            code = KV_EXIT_USAGE;
        }
    } else {
        *out = input; /* raw bytes go out as they came: hand the buffer over */
        input = (struct buf){ 0 };
    }
    buf_free(&input);
    return code;
}

static enum reading reading_for(const struct invocation *inv)
{
    if (inv->command != CMD_RAW)
        return READ_REPLIES;
    if (inv->opt.dump)
        return READ_BYTES;
    if (inv->opt.no_read || inv->opt.reset)
        return READ_NOTHING;
    return READ_FRAMES;
}

/* Connects, runs the exchange, and closes the way the options ask. */
static enum kv_exit talk_to_server(const struct invocation *inv, const struct buf *out,
                                   const struct buf *types)
{
    const struct options *opt = &inv->opt;
    struct session s = { 0 };
    enum kv_exit code;

    s.fd = connect_to_server(opt->host, opt->port, opt->timeout_ms);
    if (s.fd < 0)
        return KV_EXIT_IO;
    s.timeout_ms = opt->timeout_ms;
    s.timeout_text = opt->timeout_text;
    s.trickle_usec = opt->trickle_usec;
    s.reading = reading_for(inv);
    s.out = out->data;
    s.out_len = out->len;
    s.types = types->data;
    s.expected = types->len;
    s.single = inv->command == CMD_REQUEST;
    s.keep_open = opt->keep_open;
    s.escape = opt->escape || isatty(STDOUT_FILENO);

    /* Without TCP_NODELAY the kernel would gather our trickled bytes back into one packet. */
    if (opt->trickle_usec >= 0 && set_nodelay(s.fd) < 0) {
        complain("setsockopt(TCP_NODELAY): %s", strerror(errno));
        code = KV_EXIT_IO;
    } else {
        code = run_session(&s);
    }
    if (close_connection(s.fd, opt->reset) < 0 && code == KV_EXIT_OK) {
        complain("close: %s", strerror(errno));
        code = KV_EXIT_IO;
    }
    buf_free(&s.in);
    return code;
}

/* Output is buffered: a full disk or a closed pipe may only show when it is flushed. */
static int flush_stdout(void)
{
    if (fflush(stdout) == EOF || ferror(stdout)) {
        fprintf(stderr, "kv: writing to standard output: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct invocation inv;
    struct buf out = { 0 }, types = { 0 };
    enum kv_exit code;

    if (parse_command_line(argc, argv, &inv) < 0)
        return KV_EXIT_USAGE;
    if (inv.command == CMD_HELP) {
        print_help();
        return flush_stdout() < 0 ? KV_EXIT_IO : KV_EXIT_OK;
    }
    /*
     * Writing to a connection the server closed would raise SIGPIPE and kill us before we
     * could print the replies already received. Ignored, write() fails with EPIPE.
     */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        complain("signal: %s", strerror(errno));
        return KV_EXIT_IO;
    }

    if (inv.command == CMD_PIPE || inv.command == CMD_RAW)
        code = prepare_from_stdin(&inv, &out, &types);
    else
        code = prepare_single(&inv, &out, &types);
    if (code == KV_EXIT_OK)
        code = talk_to_server(&inv, &out, &types);
    if (flush_stdout() < 0 && code != KV_EXIT_IO)
        code = KV_EXIT_IO;

    buf_free(&out);
    buf_free(&types);
    return code;
}

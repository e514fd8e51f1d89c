/*
 * nullserver.c - a KV/1 server that stores nothing, for measuring the event loop alone.
 *
 * What a benchmark of a real server measures is two costs mixed: the work of the
 * store (hashing, copying values, allocating) and the work of moving bytes (system
 * calls, poll(), finding where each request ends). nullserver keeps only the second.
 * It must still find every frame boundary, because every request gets its own reply,
 * but then it forgets the request: every GET is NOT_FOUND, every SET and DEL is OK.
 * kvbench against nullserver shows the ceiling of one poll() thread on this machine;
 * the distance from there to a step's server is what that step's store costs.
 *
 * The loop does as little per request as it can, which is how a fast server looks:
 * when a connection is readable it reads everything available, answers every
 * complete frame into one output buffer, and writes that buffer with one write().
 * A pipeline of a hundred requests costs a few system calls, not two hundred.
 *
 * With --protocol resp it answers RESP2 GET with a null ($-1) and SET with +OK, so
 * kvbench --protocol resp can be measured against it too.
 */
#define _POSIX_C_SOURCE 200809L

#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_PORT 7379
#define MAX_ARG_LEN (32u * 1024 * 1024) /* SPEC.md: a longer argument is refused */
#define READ_CHUNK 16384                 /* the least room offered to each read() */
#define READ_BUDGET (4u * 1024 * 1024)   /* most bytes taken from one client per wakeup */
#define OUT_HIGH_WATER (1u * 1024 * 1024) /* unread replies at which we stop reading */
#define RESP_MAX_ARGS 1024

#define KV_GET 1
#define KV_SET 2
#define KV_DEL 3
#define KV_STATUS_OK 0
#define KV_STATUS_NOT_FOUND 1
#define KV_STATUS_ERROR 2

enum protocol { PROTO_KV, PROTO_RESP };

static enum protocol protocol; /* chosen once, by --protocol */

static void log_errno(const char *what)
{
    fprintf(stderr, "nullserver: %s: %s\n", what, strerror(errno));
}

/* ------------------------------------------------------------------------------------
 * Command line:  nullserver [--port PORT] [--protocol kv|resp]
 * ------------------------------------------------------------------------------------ */

static int parse_port(const char *text, uint16_t *port)
{
    char *end;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 0 || value > 65535)
        return -1;
    *port = (uint16_t)value;
    return 0;
}

static int parse_command_line(int argc, char **argv, uint16_t *port, enum protocol *protocol)
{
    *port = DEFAULT_PORT;
    *protocol = PROTO_KV;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 == argc)
            return -1;
        if (strcmp(argv[i], "--port") == 0 && parse_port(argv[i + 1], port) == 0)
            continue;
        if (strcmp(argv[i], "--protocol") == 0 && strcmp(argv[i + 1], "kv") == 0)
            *protocol = PROTO_KV;
        else if (strcmp(argv[i], "--protocol") == 0 && strcmp(argv[i + 1], "resp") == 0)
            *protocol = PROTO_RESP;
        else
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * Signals
 *
 * A flag set by the handler is not enough in a poll() loop: a signal that lands after
 * the loop checked the flag and before it entered poll() would wait for the next
 * client to stir, maybe forever. So the handler also writes a byte to a pipe that
 * poll() watches (the "self-pipe trick"), and poll() wakes up whenever it lands.
 * ------------------------------------------------------------------------------------ */

static volatile sig_atomic_t stop_requested;
static int wake_pipe[2] = {-1, -1};

static void on_stop_signal(int signo)
{
    int saved = errno; /* the interrupted code may be about to read errno */
    (void)signo;
    stop_requested = 1;
    if (write(wake_pipe[1], "", 1) < 0) {
        /* The pipe is full: poll() already has a wakeup waiting. Nothing to do. */
    }
    errno = saved;
}

static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -1;
    return 0;
}

static int install_signal_handlers(void)
{
    struct sigaction sa;

    if (pipe(wake_pipe) < 0 || set_nonblocking(wake_pipe[0]) < 0 ||
        set_nonblocking(wake_pipe[1]) < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
        return -1;
    /* A client that vanishes must cost an EPIPE from write(), not the whole process. */
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

/* ------------------------------------------------------------------------------------
 * Byte buffers
 * ------------------------------------------------------------------------------------ */

struct buffer {
    uint8_t *data;
    size_t len; /* bytes in use, from data[0] */
    size_t cap;
};

/* Makes room for `extra` more bytes; doubling keeps appends cheap on average. */
static int buffer_reserve(struct buffer *b, size_t extra)
{
    size_t cap = b->cap ? b->cap : 1024;
    uint8_t *data;

    if (b->len + extra <= b->cap)
        return 0;
    while (cap < b->len + extra)
        cap *= 2;
    data = realloc(b->data, cap);
    if (data == NULL)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

static int buffer_append(struct buffer *b, const void *bytes, size_t len)
{
    if (buffer_reserve(b, len) < 0)
        return -1;
    memcpy(b->data + b->len, bytes, len);
    b->len += len;
    return 0;
}

static void buffer_consume(struct buffer *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* ------------------------------------------------------------------------------------
 * Finding KV/1 frames
 *
 * A request has no total length, so the only way to find its end is to walk it:
 * the type says how many arguments follow, and each argument says its own length.
 * The walk looks at the length fields alone, so an argument over the limit is refused
 * before a byte of it is buffered.
 * ------------------------------------------------------------------------------------ */

/*
 * What the front of a client's input holds. FRAME_INVALID: no frame can start there
 * (an unknown KV/1 type, RESP garbage), so no later one can be found either.
 */
enum frame { FRAME_COMPLETE, FRAME_INCOMPLETE, FRAME_INVALID, FRAME_TOO_LONG };

static enum frame find_kv_frame(const uint8_t *buf, size_t len, size_t *frame_len,
                                unsigned *type)
{
    static const unsigned arg_count[] = {[KV_GET] = 1, [KV_SET] = 2, [KV_DEL] = 1};
    size_t at = 2;

    if (len < 2)
        return FRAME_INCOMPLETE;
    *type = get_u16(buf);
    if (*type < KV_GET || *type > KV_DEL)
        return FRAME_INVALID;
    for (unsigned i = 0; i < arg_count[*type]; i++) {
        uint32_t arg_len;
        if (len - at < 4)
            return FRAME_INCOMPLETE;
        arg_len = get_u32(buf + at);
        if (arg_len > MAX_ARG_LEN)
            return FRAME_TOO_LONG;
        at += 4;
        if (len - at < arg_len)
            return FRAME_INCOMPLETE;
        at += arg_len;
    }
    *frame_len = at;
    return FRAME_COMPLETE;
}

static int append_kv_reply(struct buffer *out, uint16_t status, const char *message)
{
    uint8_t header[6];
    size_t len = message ? strlen(message) : 0;

    put_u16(header, status);
    put_u32(header + 2, (uint32_t)len);
    if (buffer_append(out, header, sizeof header) < 0)
        return -1;
    return len > 0 ? buffer_append(out, message, len) : 0;
}

/* The reply to one frame. An ERROR also means: close once it is sent. */
static int answer_kv_frame(struct buffer *out, enum frame frame, unsigned type)
{
    char message[64];

    switch (frame) {
    case FRAME_COMPLETE:
        return append_kv_reply(out, type == KV_GET ? KV_STATUS_NOT_FOUND : KV_STATUS_OK, NULL);
    case FRAME_INVALID:
        snprintf(message, sizeof message, "unknown request type %u", type);
        return append_kv_reply(out, KV_STATUS_ERROR, message);
    case FRAME_TOO_LONG:
        return append_kv_reply(out, KV_STATUS_ERROR, "argument longer than 32 MiB");
    case FRAME_INCOMPLETE:
        break;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * Finding RESP frames
 *
 * A RESP command is an array of bulk strings: "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n".
 * Here too every length is read before the bytes it announces.
 * ------------------------------------------------------------------------------------ */

enum resp_command { RESP_GET, RESP_SET, RESP_OTHER };

/*
 * Reads the line "<prefix><digits>\r\n" at buf + *at and advances *at past it.
 * Returns 1 when done, 0 when the line is not all here yet, -1 when it is garbage.
 */
static int read_resp_number(const uint8_t *buf, size_t len, size_t *at, char prefix,
                            size_t *value)
{
    size_t i = *at + 1;

    if (*at >= len)
        return 0;
    if (buf[*at] != prefix)
        return -1;
    for (*value = 0; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
        *value = *value * 10 + (size_t)(buf[i] - '0');
        if (*value > MAX_ARG_LEN) /* refused before it can overflow, too */
            return -1;
    }
    if (len - i < 2)
        return 0; /* the rest of the line is still on its way */
    if (i == *at + 1 || buf[i] != '\r' || buf[i + 1] != '\n')
        return -1;
    *at = i + 2;
    return 1;
}

/* Names a command by its first argument, ignoring case as Redis does. */
static enum resp_command name_command(const uint8_t *name, size_t len)
{
    if (len == 3 && strncasecmp((const char *)name, "get", 3) == 0)
        return RESP_GET;
    if (len == 3 && strncasecmp((const char *)name, "set", 3) == 0)
        return RESP_SET;
    return RESP_OTHER;
}

/* Same outcomes as find_kv_frame(), for a RESP command. */
static enum frame find_resp_frame(const uint8_t *buf, size_t len, size_t *frame_len,
                                  enum resp_command *command)
{
    size_t at = 0, count, arg_len;
    int rc = read_resp_number(buf, len, &at, '*', &count);

    if (rc <= 0)
        return rc == 0 ? FRAME_INCOMPLETE : FRAME_INVALID;
    if (count == 0 || count > RESP_MAX_ARGS)
        return FRAME_INVALID;
    for (size_t i = 0; i < count; i++) {
        rc = read_resp_number(buf, len, &at, '$', &arg_len);
        if (rc <= 0)
            return rc == 0 ? FRAME_INCOMPLETE : FRAME_INVALID;
        if (len - at < arg_len + 2)
            return FRAME_INCOMPLETE;
        if (buf[at + arg_len] != '\r' || buf[at + arg_len + 1] != '\n')
            return FRAME_INVALID;
        if (i == 0)
            *command = name_command(buf + at, arg_len);
        at += arg_len + 2;
    }
    *frame_len = at;
    return FRAME_COMPLETE;
}

static int answer_resp_frame(struct buffer *out, enum frame frame, enum resp_command command)
{
    static const char not_found[] = "$-1\r\n", ok[] = "+OK\r\n";
    static const char unknown[] = "-ERR unknown command (nullserver knows GET and SET)\r\n";
    static const char protocol_error[] = "-ERR Protocol error\r\n";

    if (frame == FRAME_INCOMPLETE)
        return 0;
    if (frame != FRAME_COMPLETE)
        return buffer_append(out, protocol_error, sizeof protocol_error - 1);
    if (command == RESP_GET)
        return buffer_append(out, not_found, sizeof not_found - 1);
    if (command == RESP_SET)
        return buffer_append(out, ok, sizeof ok - 1);
    return buffer_append(out, unknown, sizeof unknown - 1);
}

/* ------------------------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------------------------ */

struct client {
    int fd;
    struct buffer in;  /* received, not yet a complete frame */
    struct buffer out; /* replies not yet written */
    size_t out_sent;
    int closing;       /* no more reading: close once out is written */
    int dead;          /* to be removed from the table after this pass */
};

/*
 * Answers every complete frame at the front of the input. A frame that cannot be
 * answered (an unknown type, a length over the limit, RESP garbage) gets an ERROR,
 * and since nothing after it can be framed, the rest of the input is dropped and the
 * client closed once its replies are out: the ones owed to earlier requests first.
 */
static int answer_frames(struct client *c)
{
    size_t offset = 0, frame_len = 0;
    enum frame frame = FRAME_INCOMPLETE;
    int rc = 0;

    do {
        const uint8_t *at = c->in.data + offset;
        size_t left = c->in.len - offset;
        unsigned type = 0;
        enum resp_command command = RESP_OTHER;
        if (protocol == PROTO_KV) {
            frame = find_kv_frame(at, left, &frame_len, &type);
            rc = answer_kv_frame(&c->out, frame, type);
        } else {
            frame = find_resp_frame(at, left, &frame_len, &command);
            rc = answer_resp_frame(&c->out, frame, command);
        }
        if (frame == FRAME_COMPLETE)
            offset += frame_len;
    } while (frame == FRAME_COMPLETE && rc == 0);
    buffer_consume(&c->in, offset);
    if (frame == FRAME_INVALID || frame == FRAME_TOO_LONG) {
        c->closing = 1;
        c->in.len = 0;
    }
    return rc;
}

/*
 * Reads what the client has sent, up to READ_BUDGET so that one flooding client
 * cannot keep the others waiting. Returns 0, or -1 if the connection failed. A
 * client that closed its side still gets the replies to what it sent before.
 */
static int read_requests(struct client *c)
{
    size_t taken = 0;

    while (taken < READ_BUDGET) {
        ssize_t n;
        if (buffer_reserve(&c->in, READ_CHUNK) < 0)
            return -1;
        n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        if (n == 0) {
            c->closing = 1;
            return 0;
        }
        c->in.len += (size_t)n;
        taken += (size_t)n;
    }
    return 0;
}

/* Writes what the socket takes now. Returns 0 (also when it is full), or -1. */
static int write_replies(struct client *c)
{
    while (c->out_sent < c->out.len) {
        ssize_t n = write(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        c->out_sent += (size_t)n;
    }
    c->out.len = c->out_sent = 0; /* all out: start the buffer over */
    return 0;
}

/* One wakeup of one client: read, answer, write. Marks it dead when it is finished. */
static void serve_client(struct client *c, short revents)
{
    if ((revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) && !c->closing) {
        if (read_requests(c) < 0 || answer_frames(c) < 0) {
            c->dead = 1;
            return;
        }
    }
    if (write_replies(c) < 0) {
        c->dead = 1;
        return;
    }
    if (c->closing && c->out.len == 0)
        c->dead = 1;
}

/* Wants to read unless it is closing or has not read the replies it already owes. */
static short client_events(const struct client *c)
{
    short events = 0;
    if (!c->closing && c->out.len - c->out_sent < OUT_HIGH_WATER)
        events |= POLLIN;
    if (c->out_sent < c->out.len)
        events |= POLLOUT;
    return events;
}

/* ------------------------------------------------------------------------------------
 * The server: listening, accepting, and the loop
 * ------------------------------------------------------------------------------------ */

struct server {
    int listen_fd;
    struct client *clients;
    size_t count, cap;
    struct pollfd *fds;       /* [0] the wake pipe, [1] the listener, then the clients */
    int accept_paused;        /* out of file descriptors: wait until a client leaves */
};

/*
 * The backlog is SOMAXCONN, not a small number: kvbench -c 1000 connects a thousand
 * clients at once, and every SYN beyond the backlog waits a second to be resent.
 */
static int listen_on_localhost(uint16_t port)
{
    struct sockaddr_in addr;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, SOMAXCONN) < 0 ||
        set_nonblocking(fd) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int local_port(int fd, uint16_t *port)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;

    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        return -1;
    *port = ntohs(addr.sin_port);
    return 0;
}

static int add_client(struct server *s, int fd)
{
    int one = 1;

    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct client *clients = realloc(s->clients, cap * sizeof *clients);
        struct pollfd *fds = realloc(s->fds, (cap + 2) * sizeof *fds);
        if (clients != NULL)
            s->clients = clients;
        if (fds != NULL)
            s->fds = fds;
        if (clients == NULL || fds == NULL)
            return -1;
        s->cap = cap;
    }
    if (set_nonblocking(fd) < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        return -1;
    memset(&s->clients[s->count], 0, sizeof s->clients[s->count]);
    s->clients[s->count++].fd = fd;
    return 0;
}

/* Accepts every client waiting in the backlog. */
static void accept_clients(struct server *s)
{
    for (;;) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                /* Left in the backlog, it would wake poll() again at once, forever. */
                log_errno("accept (pausing until a client leaves)");
                s->accept_paused = 1;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                log_errno("accept");
            }
            return;
        }
        if (add_client(s, fd) < 0) {
            log_errno("new client");
            if (close(fd) < 0)
                log_errno("close");
        }
    }
}

static void close_client(struct client *c)
{
    if (close(c->fd) < 0)
        log_errno("close");
    free(c->in.data);
    free(c->out.data);
}

/* Removes the dead clients, moving the last one into each hole: order does not matter. */
static void sweep_clients(struct server *s)
{
    for (size_t i = 0; i < s->count;) {
        if (!s->clients[i].dead) {
            i++;
            continue;
        }
        close_client(&s->clients[i]);
        s->clients[i] = s->clients[--s->count];
        s->accept_paused = 0;
    }
}

static size_t build_poll_set(struct server *s)
{
    s->fds[0].fd = wake_pipe[0];
    s->fds[0].events = POLLIN;
    s->fds[1].fd = s->accept_paused ? -1 : s->listen_fd; /* a negative fd is skipped */
    s->fds[1].events = POLLIN;
    for (size_t i = 0; i < s->count; i++) {
        s->fds[i + 2].fd = s->clients[i].fd;
        s->fds[i + 2].events = client_events(&s->clients[i]);
    }
    return s->count + 2;
}

static int serve_forever(struct server *s)
{
    while (!stop_requested) {
        size_t n = build_poll_set(s);
        if (poll(s->fds, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_errno("poll");
            return -1;
        }
        /* Clients first: accepting may move the table, and fds[] still matches it. */
        for (size_t i = 2; i < n; i++) {
            if (s->fds[i].revents != 0)
                serve_client(&s->clients[i - 2], s->fds[i].revents);
        }
        sweep_clients(s);
        if (s->fds[1].revents & POLLIN)
            accept_clients(s);
    }
    return 0;
}

/* Each client is a file descriptor; the usual soft limit of 1024 is too few for kvbench -c. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        log_errno("getrlimit");
        return;
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        log_errno("setrlimit");
}

static void shut_down(struct server *s)
{
    for (size_t i = 0; i < s->count; i++)
        close_client(&s->clients[i]);
    free(s->clients);
    free(s->fds);
    if (close(s->listen_fd) < 0)
        log_errno("close");
}

/* ------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    struct server s;
    uint16_t port;
    int status;

    if (parse_command_line(argc, argv, &port, &protocol) < 0) {
        fprintf(stderr, "usage: %s [--port PORT] [--protocol kv|resp]\n", argv[0]);
        return 2;
    }
    if (install_signal_handlers() < 0) {
        log_errno("signal handlers");
        return 1;
    }
    raise_fd_limit();
    memset(&s, 0, sizeof s);
    s.fds = calloc(2, sizeof *s.fds); /* grows with the clients; first the two fixed ones */
    if (s.fds == NULL) {
        log_errno("calloc");
        return 1;
    }
    s.listen_fd = listen_on_localhost(port);
    if (s.listen_fd < 0 || local_port(s.listen_fd, &port) < 0) {
        log_errno("listen");
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", (unsigned)port);
    if (fflush(stdout) == EOF) {
        log_errno("stdout");
        return 1;
    }
    status = serve_forever(&s) < 0 ? 1 : 0;
    shut_down(&s);
    return status;
}

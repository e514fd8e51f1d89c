/*
 * nullserver.c - a KV/1 server that stores nothing, for measuring the event loop alone.
 *
 * What a benchmark of a real server measures is two costs mixed: the work of the
 * store (hashing, copying values, allocating) and the work of moving bytes (system
 * calls, poll(), finding where each request ends). nullserver keeps only the second.
 * It must still find every frame boundary, because every request gets its own reply,
 * but then it forgets the request: every GET is NOT_FOUND, every other request OK.
 * kvbench against nullserver shows the ceiling of one poll() thread on this machine;
 * the distance from there to a step's server is what that step's store costs.
 *
 * The loop does as little per request as it can, which is how a fast server looks:
 * when a connection is readable it reads everything available, answers every
 * complete frame into one output buffer, and writes that buffer with one write().
 * A pipeline of a hundred requests costs a few system calls, not two hundred.
 *
 * It keeps the rules of docs/protocol.md that cost nothing: an unknown type or an
 * argument over 32 MiB gets an ERROR after the replies owed, then a lingering close
 * (our side shut, the client's bytes read and dropped until it closes, so the kernel
 * does not reset the ERROR away). Like steps 03 to 05 it bounds neither idle clients
 * nor lingering ones. Framing and replies come from kv1.h and resp.h, which kv and
 * kvbench share.
 *
 * With --protocol resp it answers RESP2 GET with a null ($-1) and SET with +OK, so
 * kvbench --protocol resp can be measured against it too.
 */
#define _POSIX_C_SOURCE 200809L

#include "buf.h"
#include "kv1.h"
#include "net.h"
#include "resp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_PORT 7379
#define READ_CHUNK 16384                  /* the least room offered to each read() */
#define READ_BUDGET (4u * 1024 * 1024)    /* most bytes taken from one client per wakeup */
#define OUT_HIGH_WATER (1u * 1024 * 1024) /* unread replies at which we stop reading */
#define RESP_MAX_ARGS 1024
#define POLL_TIMEOUT_MS 1000 /* how long a stop signal or a paused accept() may wait */

enum protocol { PROTO_KV, PROTO_RESP };

static enum protocol protocol; /* chosen once, by --protocol */

static void log_errno(const char *what)
{
    fprintf(stderr, "nullserver: %s: %s\n", what, strerror(errno));
}

/* ------------------------------------------------------------------------------------
 * Command line:  nullserver [--port PORT] [--protocol kv|resp]
 * ------------------------------------------------------------------------------------ */

static int parse_command_line(int argc, char **argv, uint16_t *port)
{
    *port = DEFAULT_PORT;
    protocol = PROTO_KV;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 == argc)
            return -1;
        if (strcmp(argv[i], "--port") == 0 && parse_port(argv[i + 1], 0, port) == 0)
            continue;
        if (strcmp(argv[i], "--protocol") == 0 && strcmp(argv[i + 1], "kv") == 0)
            protocol = PROTO_KV;
        else if (strcmp(argv[i], "--protocol") == 0 && strcmp(argv[i + 1], "resp") == 0)
            protocol = PROTO_RESP;
        else
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * Signals
 *
 * The handler only sets a flag. A signal that lands after the loop checked the flag
 * and before it entered poll() is noticed when poll() times out, within a second: the
 * steps' servers do the same.
 * ------------------------------------------------------------------------------------ */

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

static int install_signal_handlers(void)
{
    struct sigaction sa;

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
 * Answering: KV/1 frames (kv1.h finds them), RESP commands
 * ------------------------------------------------------------------------------------ */

/* The reply to one KV/1 request. An ERROR also means: close once it is sent. */
static int answer_kv_frame(struct buf *out, enum kv1_frame frame, unsigned type)
{
    static const char too_long[] = "argument longer than 32 MiB";
    char message[64];
    int len;

    switch (frame) {
    case KV1_COMPLETE:
        return kv1_append_reply(out, type == KV1_GET ? KV1_NOT_FOUND : KV1_OK, NULL, 0);
    case KV1_INVALID:
        len = snprintf(message, sizeof message, "unknown request type %u", type);
        return kv1_append_reply(out, KV1_ERROR, message, (size_t)len);
    case KV1_TOO_LONG:
        return kv1_append_reply(out, KV1_ERROR, too_long, sizeof too_long - 1);
    case KV1_INCOMPLETE:
        break;
    }
    return 0;
}

/*
 * A RESP command is an array of bulk strings: "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n".
 * Same outcomes as kv1_find_request(); *name is the first argument, the command's name.
 */
static enum kv1_frame find_resp_frame(const uint8_t *buf, size_t len, size_t *frame_len,
                                      const uint8_t **name, size_t *name_len)
{
    size_t at = 0;
    long long count, arg_len;
    int rc = resp_read_number(buf, len, &at, '*', RESP_MAX_ARGS, &count);

    if (rc <= 0 || count <= 0)
        return rc == 0 ? KV1_INCOMPLETE : KV1_INVALID;
    for (long long i = 0; i < count; i++) {
        rc = resp_read_number(buf, len, &at, '$', KV1_MAX_ARG_LEN, &arg_len);
        if (rc <= 0 || arg_len < 0)
            return rc == 0 ? KV1_INCOMPLETE : KV1_INVALID;
        if (len - at < (size_t)arg_len + 2)
            return KV1_INCOMPLETE;
        if (buf[at + arg_len] != '\r' || buf[at + arg_len + 1] != '\n')
            return KV1_INVALID;
        if (i == 0) {
            *name = buf + at;
            *name_len = (size_t)arg_len;
        }
        at += (size_t)arg_len + 2;
    }
    *frame_len = at;
    return KV1_COMPLETE;
}

/* GET and SET by name, ignoring case as Redis does; any other command is refused. */
static int answer_resp_frame(struct buf *out, enum kv1_frame frame, const uint8_t *name,
                             size_t name_len)
{
    static const char not_found[] = "$-1\r\n", ok[] = "+OK\r\n";
    static const char unknown[] = "-ERR unknown command (nullserver knows GET and SET)\r\n";
    static const char protocol_error[] = "-ERR Protocol error\r\n";

    if (frame == KV1_INCOMPLETE)
        return 0;
    if (frame != KV1_COMPLETE)
        return buf_append(out, protocol_error, sizeof protocol_error - 1);
    if (name_len == 3 && strncasecmp((const char *)name, "get", 3) == 0)
        return buf_append(out, not_found, sizeof not_found - 1);
    if (name_len == 3 && strncasecmp((const char *)name, "set", 3) == 0)
        return buf_append(out, ok, sizeof ok - 1);
    return buf_append(out, unknown, sizeof unknown - 1);
}

/* ------------------------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------------------------ */

/*
 * A client's life: OPEN (reading and answering), then either CLOSING (it sent end of
 * input: write what is owed, then close) or LINGERING (it got an ERROR: write what is
 * owed, shut our side, and drop what it still sends until it closes).
 */
enum client_state { OPEN, CLOSING, LINGERING };

struct client {
    int fd;
    enum client_state state;
    bool shut;         /* LINGERING: our side is shut down */
    bool dead;         /* to be removed from the table after this pass */
    struct buf in;     /* received, not yet a complete frame */
    struct buf out;    /* replies not yet written */
    size_t out_sent;
};

/*
 * Answers every complete frame at the front of the input. A frame that cannot be
 * answered (an unknown type, a length over the limit, RESP garbage) gets an ERROR,
 * and since nothing after it can be framed, the rest of the input is dropped and the
 * client left to linger once its replies are out: the ones owed to earlier requests first.
 */
static int answer_frames(struct client *c)
{
    size_t offset = 0, frame_len = 0;
    enum kv1_frame frame;
    int rc;

    do {
        const uint8_t *at = c->in.data + offset, *name = NULL;
        size_t left = c->in.len - offset, name_len = 0;
        unsigned type = 0;
        if (protocol == PROTO_KV) {
            frame = kv1_find_request(at, left, &frame_len, &type);
            rc = answer_kv_frame(&c->out, frame, type);
        } else {
            frame = find_resp_frame(at, left, &frame_len, &name, &name_len);
            rc = answer_resp_frame(&c->out, frame, name, name_len);
        }
        if (frame == KV1_COMPLETE)
            offset += frame_len;
    } while (frame == KV1_COMPLETE && rc == 0);
    buf_drop_front(&c->in, offset);
    if (frame == KV1_INVALID || frame == KV1_TOO_LONG) {
        c->state = LINGERING;
        c->in.len = 0;
    }
    return rc;
}

/*
 * Reads what the client has sent, up to READ_BUDGET so that one flooding client
 * cannot keep the others waiting. Returns 0, or -1 if the connection failed. End of
 * input: an OPEN client still gets the replies to what it sent before; a LINGERING one
 * is done. A LINGERING client's bytes are read only to be dropped.
 */
static int read_requests(struct client *c)
{
    size_t taken = 0;

    while (taken < READ_BUDGET) {
        ssize_t n;
        if (buf_reserve(&c->in, READ_CHUNK) < 0)
            return -1;
        n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        if (n == 0) {
            if (c->state == LINGERING)
                c->dead = true;
            else
                c->state = CLOSING;
            return 0;
        }
        if (c->state != LINGERING)
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

/* Whether poll() should wake us to read: not while it owes much, nor once it sent EOF. */
static bool wants_input(const struct client *c)
{
    if (c->state == CLOSING)
        return false;
    return c->state == LINGERING || c->out.len - c->out_sent < OUT_HIGH_WATER;
}

/* One wakeup of one client: read, answer, write. Marks it dead when it is finished. */
static void serve_client(struct client *c, short revents)
{
    if ((revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) && wants_input(c)) {
        /* Even after end of input: the frames that came before it are owed replies. */
        if (read_requests(c) < 0 || (c->state != LINGERING && answer_frames(c) < 0)) {
            c->dead = true;
            return;
        }
    }
    if (write_replies(c) < 0) {
        c->dead = true;
        return;
    }
    if (c->out.len > 0)
        return;
    if (c->state == CLOSING) {
        c->dead = true;
    } else if (c->state == LINGERING && !c->shut) {
        c->shut = true;
        if (shutdown(c->fd, SHUT_WR) < 0)
            c->dead = true;
    }
}

static short client_events(const struct client *c)
{
    short events = wants_input(c) ? POLLIN : 0;

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
    struct pollfd *fds; /* [0] the listener, then the clients in the same order */
    bool accept_paused; /* out of descriptors or memory: wait for a client to leave */
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
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct client *clients = realloc(s->clients, cap * sizeof *clients);
        struct pollfd *fds = realloc(s->fds, (cap + 1) * sizeof *fds);
        if (clients != NULL)
            s->clients = clients;
        if (fds != NULL)
            s->fds = fds;
        if (clients == NULL || fds == NULL)
            return -1;
        s->cap = cap;
    }
    if (set_nonblocking(fd) < 0 || set_nodelay(fd) < 0)
        return -1;
    memset(&s->clients[s->count], 0, sizeof s->clients[s->count]);
    s->clients[s->count++].fd = fd;
    return 0;
}

/*
 * accept() failures that one pending client caused (it reset before we took it, a
 * firewall refused it): skip it and take the next. The steps' client_gave_up() again.
 */
static bool client_gave_up(int err)
{
    switch (err) {
    case ECONNABORTED: case EPROTO: case ENETDOWN: case ENETUNREACH:
    case EHOSTDOWN: case EHOSTUNREACH: case ENOPROTOOPT: case EOPNOTSUPP:
    case EPERM: case ETIMEDOUT:
#ifdef ENONET /* Linux only */
    case ENONET:
#endif
        return true;
    default:
        return false;
    }
}

/*
 * Accepts every client waiting in the backlog. Out of descriptors or memory, the
 * listener would wake poll() again at once, forever: accepting pauses until a client
 * leaves or a second passes. Returns -1 only if accept() fails for a reason no client
 * caused, which no retry would mend.
 */
static int accept_clients(struct server *s)
{
    for (;;) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR || client_gave_up(errno))
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_errno("accept (paused until a connection closes)");
                s->accept_paused = true;
                return 0;
            }
            log_errno("accept");
            return -1;
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
    buf_free(&c->in);
    buf_free(&c->out);
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
        s->accept_paused = false;
    }
}

static size_t build_poll_set(struct server *s)
{
    s->fds[0].fd = s->listen_fd;
    s->fds[0].events = s->accept_paused ? 0 : POLLIN;
    for (size_t i = 0; i < s->count; i++) {
        s->fds[i + 1].fd = s->clients[i].fd;
        s->fds[i + 1].events = client_events(&s->clients[i]);
    }
    return s->count + 1;
}

static int serve_forever(struct server *s)
{
    while (!stop_requested) {
        size_t n = build_poll_set(s);
        int ready = poll(s->fds, (nfds_t)n, POLL_TIMEOUT_MS);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            log_errno("poll");
            return -1;
        }
        if (ready == 0)
            s->accept_paused = false; /* a quiet second: try accept() again */
        /* Clients first: accepting may move the table, and fds[] still matches it. */
        for (size_t i = 1; i < n; i++) {
            if (s->fds[i].revents != 0)
                serve_client(&s->clients[i - 1], s->fds[i].revents);
        }
        sweep_clients(s);
        if ((s->fds[0].revents & POLLIN) && accept_clients(s) < 0)
            return -1;
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

    if (parse_command_line(argc, argv, &port) < 0) {
        fprintf(stderr, "usage: %s [--port PORT] [--protocol kv|resp]\n", argv[0]);
        return 2;
    }
    if (install_signal_handlers() < 0) {
        log_errno("signal handlers");
        return 1;
    }
    raise_fd_limit();
    memset(&s, 0, sizeof s);
    s.fds = calloc(1, sizeof *s.fds); /* grows with the clients; first the listener */
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

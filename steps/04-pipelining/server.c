/*
 * server.c - step 04: pipelining.
 *
 * A client may send many requests before it reads a single reply. Step 03 answered them
 * one per trip around the loop: answer one, wait for POLLOUT, write, come back for the
 * next. Here a connection answers every whole request in its input buffer at once,
 * appends all the replies to one output buffer, and writes it straight away, without
 * waiting a round for POLLOUT. A read that brings a thousand requests now costs one
 * read(), one write() and no poll() in between, instead of a thousand of each.
 *
 * Answering everything at once needs one limit: a client that pipelines GETs of a large
 * value and never reads must not make us buffer gigabytes for it. A connection stops
 * answering while OUTPUT_LIMIT bytes are owed, and reads nothing more until it has sent
 * them (backpressure): its memory stays bounded however fast it sends.
 *
 * Each connection is step 03's state machine (struct conn), with shortcuts, because
 * replies are written at once rather than a round later:
 *
 *   READING  -- read; every reply written at once ------------------------> READING
 *   READING  -- read; replies the socket did not take, or requests held
 *               back by OUTPUT_LIMIT --------------------------------------> WRITING
 *   WRITING  -- POLLOUT; all written, nothing held back ------------------> READING
 *   READING, WRITING -- all written, the last reply an ERROR -------------> DRAINING
 *   READING, DRAINING -- EOF or error;  WRITING -- error -----------------> DONE
 *
 * A client's failure (a reset, a bad frame, EPIPE) ends that client's connection and
 * nothing else: no error ever propagates out of the loop because of one client.
 */
#define _POSIX_C_SOURCE 200809L

#include "buffer.h"
#include "net.h"
#include "protocol.h"
#include "store.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_PORT 7379
#define READ_CHUNK 65536  /* the most one read() takes from one client */
#define OUTPUT_LIMIT (1024 * 1024) /* stop answering a client that owes this much */
#define POLL_TIMEOUT_MS 1000

/* Set by the SIGINT/SIGTERM handler; the loop checks it after every wake-up. */
static volatile sig_atomic_t stop_requested;

/* Every key the server holds. It outlives every connection. */
static struct store *store;

static const char out_of_memory[] = "out of memory";

enum conn_state {
    CONN_READING,  /* waiting for the rest of a request; in holds no whole request */
    CONN_WRITING,  /* replies wait in out for the socket, or requests for room in out */
    CONN_DRAINING, /* all is sent and our side shut down: discarding input until EOF */
    CONN_DONE,     /* to be closed and freed by the loop */
};

struct conn {
    int fd;
    enum conn_state state;
    bool close_when_written; /* the client broke the protocol: send what we owe, then close */
    struct buffer in;        /* bytes received, not yet parsed */
    struct buffer out;       /* bytes owed, not yet written */
};

/*
 * Connections indexed by their file descriptor: the kernel hands out the lowest free
 * descriptor, so the table stays dense. conns[fd] == NULL means fd is no client of ours.
 */
static struct conn **conns;
static size_t conns_cap;
static size_t conn_count;

/*
 * poll()'s array, refilled every round: the listener, then one entry per connection.
 * conn_open() grows it, so it always has room for every connection and filling it
 * cannot fail.
 */
static struct pollfd *pollfds;
static size_t pollfds_cap;

/*
 * Every read() lands here, and only the bytes it brought are copied to the connection's
 * input buffer. Reading straight into that buffer would mean reserving READ_CHUNK bytes
 * of room there first: 64 KiB for each client that has sent one byte.
 */
static uint8_t read_scratch[READ_CHUNK];

/*
 * True while we are out of file descriptors. A listener with clients in its backlog
 * stays readable, and a level-triggered poll() would wake us for it again and again
 * while accept() keeps failing: a busy loop. So we stop watching it until a connection
 * closes and gives a descriptor back, or a second passes with nothing to do.
 */
static bool accept_paused;

/*
 * True from the first such pause until the backlog empties: a shortage gets one line on
 * stderr, not one for every client it turns away.
 */
static bool shortage_logged;

static void log_errno(const char *what)
{
    fprintf(stderr, "server: %s: %s\n", what, strerror(errno));
}

/* ------------------------------------------------------------------------------------
 * Command line:  server [--port PORT]
 * ------------------------------------------------------------------------------------ */

static int parse_port(const char *text, uint16_t *port)
{
    char *end;
    long value;

    if (*text < '0' || *text > '9')
        return -1; /* strtol() alone would accept leading blanks and a sign */
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || value > 65535)
        return -1;
    *port = (uint16_t)value;
    return 0;
}

static int parse_command_line(int argc, char **argv, uint16_t *port)
{
    *port = DEFAULT_PORT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") != 0 || i + 1 == argc)
            return -1;
        if (parse_port(argv[++i], port) < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * Signals
 * ------------------------------------------------------------------------------------ */

static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

static int install_signal_handlers(void)
{
    struct sigaction sa;

    /*
     * No SA_RESTART: a blocked poll() must fail with EINTR, or the loop would not look
     * at stop_requested until the next event. (Linux never restarts poll() anyway; other
     * systems may.)
     */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
        return -1;

    /*
     * Writing to a connection the peer has closed raises SIGPIPE, whose default action
     * kills the process: one vanished client would take the server down. Ignored, the
     * write fails with EPIPE instead, and we treat that like any other client error.
     */
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

/* ------------------------------------------------------------------------------------
 * Writing, never waiting
 * ------------------------------------------------------------------------------------ */

/*
 * A client that resets or vanishes is normal, and none may write a line per connection
 * to our log: ECONNRESET, EPIPE and ENOTCONN (it left before our shutdown()) are all a
 * client leaving. Anything else is worth a line on stderr.
 */
static void client_failed(struct conn *c, const char *what)
{
    if (errno != ECONNRESET && errno != EPIPE && errno != ENOTCONN)
        log_errno(what);
    c->state = CONN_DONE;
}

/* Writes what the socket will take of the output buffer, without waiting. */
static void write_output(struct conn *c)
{
    ssize_t n = write(c->fd, c->out.data, c->out.len);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            client_failed(c, "write");
        return;
    }
    buffer_consume(&c->out, (size_t)n);
}

/*
 * Hangs up after a protocol error without losing what we wrote. close() on a socket with
 * unread input makes the kernel reset the connection, and a reset throws away every byte
 * still queued for the client: its last replies, and the ERROR that says why we hang up.
 * So we shut down our sending side (a FIN, queued behind those bytes) and discard what
 * the client sends until it closes too. After that, close() loses nothing.
 */
static void start_draining(struct conn *c)
{
    if (shutdown(c->fd, SHUT_WR) < 0) {
        client_failed(c, "shutdown");
        return;
    }
    buffer_free(&c->in); /* nobody will parse what follows an error */
    c->state = CONN_DRAINING;
}

/* ------------------------------------------------------------------------------------
 * Answering requests
 * ------------------------------------------------------------------------------------ */

/* Carries out one well-formed request and appends its response to the output buffer. */
static int answer_request(struct conn *c, const struct request *req)
{
    const struct arg *key = &req->args[0];
    const uint8_t *value;
    size_t value_len;

    switch (req->type) {
    case REQ_GET:
        if (!store_get(store, key->data, key->len, &value, &value_len))
            return append_response(&c->out, STATUS_NOT_FOUND, NULL, 0);
        return append_response(&c->out, STATUS_OK, value, value_len);
    case REQ_SET:
        if (store_set(store, key->data, key->len, req->args[1].data, req->args[1].len) < 0)
            return append_response(&c->out, STATUS_ERROR, out_of_memory, sizeof out_of_memory - 1);
        return append_response(&c->out, STATUS_OK, NULL, 0);
    case REQ_DEL:
        if (!store_del(store, key->data, key->len))
            return append_response(&c->out, STATUS_NOT_FOUND, NULL, 0);
        return append_response(&c->out, STATUS_OK, NULL, 0);
    }
    errno = EINVAL; /* parse_request() returns only the types above */
    return -1;
}

/*
 * Answers the request at the front of the input buffer, if a whole one is there, and
 * returns true. Returns false if none is there yet, or if the client broke the protocol
 * (an ERROR is then owed, and the connection closes once it is written).
 */
static bool answer_next_request(struct conn *c)
{
    struct request req;
    size_t frame_len;

    switch (parse_request(c->in.data, c->in.len, &req, &frame_len)) {
    case PARSE_INCOMPLETE:
        return false;
    case PARSE_INVALID:
        if (append_response(&c->out, STATUS_ERROR, req.error, strlen(req.error)) < 0)
            c->state = CONN_DONE;
        c->close_when_written = true;
        return false;
    case PARSE_REQUEST:
        break;
    }
    if (answer_request(c, &req) < 0) {
        c->state = CONN_DONE; /* no memory for the reply: we cannot keep our word */
        return false;
    }
    buffer_consume(&c->in, frame_len);
    return true;
}

/*
 * Answers the whole requests waiting, in order, into one output buffer, and writes it at
 * once: the socket almost always has room, so waiting a round for POLLOUT would only add
 * a poll() per batch. Answering stops once OUTPUT_LIMIT bytes are owed. The requests held
 * back wait in the input buffer, and the connection stays WRITING so that the next round
 * answers them (POLLOUT comes at once while the socket has room). So one client gets one
 * batch and one write() per round, however deep its pipeline, and cannot starve others.
 */
static void process_input(struct conn *c)
{
    bool held_back;

    while (!c->close_when_written && c->out.len < OUTPUT_LIMIT && answer_next_request(c))
        ;
    held_back = c->out.len >= OUTPUT_LIMIT;
    if (c->state != CONN_DONE && c->out.len > 0)
        write_output(c);
    if (c->state == CONN_DONE)
        return;
    if (c->out.len == 0 && c->close_when_written)
        start_draining(c);
    else
        c->state = c->out.len > 0 || held_back ? CONN_WRITING : CONN_READING;
}

/* ------------------------------------------------------------------------------------
 * Events from poll()
 * ------------------------------------------------------------------------------------ */

/*
 * Called when poll() says the socket is readable: takes what has arrived, once, and
 * keeps only those bytes, so the input buffer grows with what the client sent.
 */
static void on_readable(struct conn *c)
{
    ssize_t n = read(c->fd, read_scratch, sizeof read_scratch);

    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            client_failed(c, "read");
        return;
    }
    if (n == 0) {
        /* The client is gone. Any bytes left in c->in are a frame it never finished. */
        c->state = CONN_DONE;
        return;
    }
    if (c->state == CONN_DRAINING)
        return; /* thrown away, like the input that was held when draining began */
    if (buffer_append(&c->in, read_scratch, (size_t)n) < 0) {
        client_failed(c, "buffer");
        return;
    }
    process_input(c);
}

/*
 * Called when poll() says the socket is writable: the same work as after a read. The
 * requests left waiting by OUTPUT_LIMIT are answered as soon as the output drains.
 */
static void on_writable(struct conn *c)
{
    process_input(c);
}

/* ------------------------------------------------------------------------------------
 * Connections: opening, closing, dispatching poll()'s events
 * ------------------------------------------------------------------------------------ */

/*
 * Returns array grown to hold at least n elements of elem_size bytes (doubling, new
 * elements zeroed), or NULL with *cap unchanged and array still valid.
 */
static void *grow_array(void *array, size_t *cap, size_t n, size_t elem_size)
{
    size_t new_cap = *cap > 0 ? *cap : 64;
    char *grown;

    if (n <= *cap)
        return array;
    while (new_cap < n)
        new_cap *= 2;
    grown = realloc(array, new_cap * elem_size);
    if (grown == NULL)
        return NULL;
    memset(grown + *cap * elem_size, 0, (new_cap - *cap) * elem_size);
    *cap = new_cap;
    return grown;
}

/*
 * Makes fd a connection of ours, and grows the tables to hold it: conns, and pollfds,
 * which needs an entry for the listener and one for each connection. Returns -1 if it
 * cannot, and that client alone is refused; the tables stay valid for everyone else.
 */
static int conn_open(int fd)
{
    struct conn **grown_conns;
    struct pollfd *grown_pollfds;
    struct conn *c;

    if (set_nonblocking(fd) < 0)
        return -1;
    /*
     * Without TCP_NODELAY a client is slower, not broken: Nagle's algorithm only delays
     * a small reply. So its failure is no reason to refuse the client.
     */
    (void)set_nodelay(fd);
    grown_conns = grow_array(conns, &conns_cap, (size_t)fd + 1, sizeof *conns);
    if (grown_conns == NULL)
        return -1;
    conns = grown_conns;
    grown_pollfds = grow_array(pollfds, &pollfds_cap, conn_count + 2, sizeof *pollfds);
    if (grown_pollfds == NULL)
        return -1;
    pollfds = grown_pollfds;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->fd = fd;
    c->state = CONN_READING;
    conns[fd] = c;
    conn_count++;
    return 0;
}

static void conn_close(struct conn *c)
{
    if (close(c->fd) < 0)
        log_errno("close");
    conns[c->fd] = NULL;
    conn_count--;
    accept_paused = false;
    buffer_free(&c->in);
    buffer_free(&c->out);
    free(c);
}

static void handle_events(struct conn *c, short revents)
{
    if (revents & (POLLERR | POLLNVAL))
        c->state = CONN_DONE;
    else if (c->state != CONN_WRITING && (revents & (POLLIN | POLLHUP)))
        on_readable(c);
    else if (c->state == CONN_WRITING && (revents & (POLLOUT | POLLHUP)))
        on_writable(c);
    if (c->state == CONN_DONE)
        conn_close(c);
}

/* ------------------------------------------------------------------------------------
 * Accepting
 * ------------------------------------------------------------------------------------ */

/*
 * accept() errors that concern one pending client, not the server: it gave up before we
 * took it, or (Linux passes these through from the network) its path failed. Either way
 * the next client in the backlog is fine.
 */
static bool client_gave_up(int err)
{
    switch (err) {
    case ECONNABORTED: case EPROTO: case ENETDOWN: case ENETUNREACH:
    case EHOSTDOWN: case EHOSTUNREACH: case ENOPROTOOPT: case EOPNOTSUPP:
    case EPERM: case ETIMEDOUT: /* a firewall rule refused it; it timed out */
#ifdef ENONET /* Linux only */
    case ENONET:
#endif
        return true;
    default:
        return false;
    }
}

/*
 * Accepts every client waiting in the backlog. Returns -1 only if accept() fails for a
 * reason no client caused.
 */
static int accept_clients(int listen_fd)
{
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                shortage_logged = false; /* the backlog is empty: any shortage is over */
                return 0;
            }
            if (errno == EINTR || client_gave_up(errno))
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                if (!shortage_logged)
                    log_errno("accept (paused until a connection closes)");
                shortage_logged = accept_paused = true;
                return 0;
            }
            log_errno("accept");
            return -1;
        }
        if (conn_open(fd) < 0) {
            log_errno("new connection");
            if (close(fd) < 0)
                log_errno("close");
        }
    }
}

/* ------------------------------------------------------------------------------------
 * The event loop
 * ------------------------------------------------------------------------------------ */

/*
 * Fills pollfds: the listener first, then each connection with the one event it awaits,
 * and returns how many entries it filled. conn_open() made room for them all.
 */
static size_t fill_pollfds(int listen_fd)
{
    size_t n = 0;

    pollfds[n++] = (struct pollfd){.fd = listen_fd, .events = accept_paused ? 0 : POLLIN};
    for (size_t fd = 0; fd < conns_cap; fd++) {
        struct conn *c = conns[fd];
        if (c != NULL)
            pollfds[n++] = (struct pollfd){
                .fd = c->fd, .events = c->state == CONN_WRITING ? POLLOUT : POLLIN};
    }
    return n;
}

/*
 * Waits for events and handles them, round after round, until a stop is requested.
 *
 * The connections are handled before the listener, from this round's snapshot of
 * pollfds: a connection closed during the round frees its descriptor, and a client
 * accepted afterwards may get the same number, but never in this round's array, so no
 * event is ever delivered to the wrong connection.
 */
static int serve_forever(int listen_fd)
{
    size_t count;
    int ready;

    /* Room for the listener's entry; conn_open() adds one for each connection. */
    pollfds = grow_array(pollfds, &pollfds_cap, 1, sizeof *pollfds);
    if (pollfds == NULL) {
        log_errno("poll array");
        return -1;
    }
    while (!stop_requested) {
        count = fill_pollfds(listen_fd);
        /*
         * A signal that lands between the check of stop_requested and poll() does not
         * interrupt it; the timeout bounds how long such a stop can go unnoticed.
         */
        ready = poll(pollfds, (nfds_t)count, POLL_TIMEOUT_MS);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            log_errno("poll");
            return -1;
        }
        if (ready == 0)
            accept_paused = false; /* a quiet second: try accept() again */
        for (size_t i = 1; i < count; i++)
            if (pollfds[i].revents != 0)
                handle_events(conns[pollfds[i].fd], pollfds[i].revents);
        if ((pollfds[0].revents & POLLIN) && accept_clients(listen_fd) < 0)
            return -1;
    }
    return 0;
}

/* Closes every connection and frees the loop's tables: a clean exit leaks nothing. */
static void close_all_connections(void)
{
    for (size_t fd = 0; fd < conns_cap; fd++)
        if (conns[fd] != NULL)
            conn_close(conns[fd]);
    free(conns);
    free(pollfds);
}

/* ------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    uint16_t port;
    int listen_fd, status;

    if (parse_command_line(argc, argv, &port) < 0) {
        fprintf(stderr, "usage: %s [--port PORT]\n", argv[0]);
        return 2;
    }
    if (install_signal_handlers() < 0) {
        log_errno("sigaction");
        return 1;
    }
    store = store_create();
    if (store == NULL) {
        log_errno("store");
        return 1;
    }
    listen_fd = listen_on_localhost(port);
    if (listen_fd < 0 || local_port(listen_fd, &port) < 0 || set_nonblocking(listen_fd) < 0) {
        log_errno("listen");
        return 1;
    }

    /* The one line on standard output: scripts and tests wait for it to learn the port. */
    printf("listening on 127.0.0.1:%u\n", (unsigned)port);
    if (fflush(stdout) == EOF) {
        log_errno("stdout");
        return 1;
    }

    status = serve_forever(listen_fd) < 0 ? 1 : 0;
    close_all_connections();
    if (close(listen_fd) < 0)
        log_errno("close");
    store_destroy(store);
    return status;
}

/*
 * server.c - step 02: a blocking server that speaks KV/1.
 *
 * The skeleton is step 01's: listen, accept one client, serve it until it leaves,
 * accept the next. What changes is what "serve" means. Instead of echoing bytes, we
 * read one request at a time (protocol.c), look the key up in the store (store.c),
 * and write one response, in the order the requests came.
 *
 * A client that breaks the protocol (an unknown type, an argument over the limit) is
 * told why in an ERROR response and disconnected: without a trustworthy length we
 * could never find where its next request starts.
 */
#define _POSIX_C_SOURCE 200809L

#include "net.h"
#include "protocol.h"
#include "store.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_PORT 7379

/* Set by the SIGINT/SIGTERM handler; the loops check it on every pass. */
static volatile sig_atomic_t stop_requested;

/* Every key the server holds. It outlives every connection. */
static struct store *store;

static const char out_of_memory[] = "out of memory";

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
     * No SA_RESTART: a blocked accept() or read() must fail with EINTR, or the loop
     * would never get to look at stop_requested.
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
 * Serving one client
 * ------------------------------------------------------------------------------------ */

/*
 * A stop request (EINTR: see net.c) or a client that left (a reset, a write to a closed
 * connection, a socket no longer connected) is normal; anything else is worth a line on
 * stderr.
 */
static void client_failed(const char *what)
{
    if (errno != EINTR && errno != ECONNRESET && errno != EPIPE && errno != ENOTCONN)
        log_errno(what);
}

/* Carries out one well-formed request and writes its response. */
static int answer_request(int fd, const struct request *req)
{
    const struct arg *key = &req->args[0];
    const uint8_t *value;
    size_t value_len;

    switch (req->type) {
    case REQ_GET:
        if (!store_get(store, key->data, key->len, &value, &value_len))
            return write_response(fd, STATUS_NOT_FOUND, NULL, 0);
        return write_response(fd, STATUS_OK, value, value_len);
    case REQ_SET:
        if (store_set(store, key->data, key->len, req->args[1].data, req->args[1].len) < 0)
            return write_response(fd, STATUS_ERROR, out_of_memory, sizeof out_of_memory - 1);
        return write_response(fd, STATUS_OK, NULL, 0);
    case REQ_DEL:
        if (!store_del(store, key->data, key->len))
            return write_response(fd, STATUS_NOT_FOUND, NULL, 0);
        return write_response(fd, STATUS_OK, NULL, 0);
    }
    errno = EINVAL; /* read_request() returns only the types above */
    return -1;
}

/* Answers requests until the client leaves, breaks the protocol, or a stop is requested. */
static void serve_client(int fd)
{
    struct request req;

    while (!stop_requested) {
        switch (read_request(fd, &req)) {
        case READ_REQUEST: {
            int answered = answer_request(fd, &req);
            request_free(&req);
            if (answered < 0) {
                client_failed("write");
                return;
            }
            break;
        }
        case READ_CLOSED:
            return;
        case READ_FAILED:
            client_failed("read");
            return;
        case READ_INVALID:
            if (write_response(fd, STATUS_ERROR, req.error, strlen(req.error)) < 0 ||
                shutdown_and_drain(fd) < 0) {
                client_failed("hanging up");
            }
            return;
        }
    }
}

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
 * Accepts and serves clients one after another until a stop is requested. Returns 0
 * then, or -1 if accept() fails for a reason that no client caused.
 */
static int serve_forever(int listen_fd)
{
    while (!stop_requested) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || client_gave_up(errno))
                continue;
            log_errno("accept");
            return -1;
        }
        if (set_nodelay(fd) < 0)
            log_errno("setsockopt(TCP_NODELAY)");
        serve_client(fd);
        if (close(fd) < 0)
            log_errno("close");
    }
    return 0;
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
    if (listen_fd < 0 || local_port(listen_fd, &port) < 0) {
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
    if (close(listen_fd) < 0)
        log_errno("close");
    store_destroy(store);
    return status;
}

/*
 * server.c - step 01: a blocking echo server.
 *
 * The smallest server worth the name. It listens on 127.0.0.1, accepts one connection,
 * writes back every byte it receives until the client closes, then accepts the next.
 * While it serves one client, the next one waits in the kernel's backlog: "blocking"
 * means each call (accept, read, write) parks the whole program until it can finish.
 *
 * Small as it is, it already does what first servers usually get wrong: it never ignores
 * a partial write, survives a client that resets or vanishes (SIGPIPE is ignored), and
 * stops cleanly with exit status 0 on SIGINT or SIGTERM, even in a blocked write.
 */
#define _POSIX_C_SOURCE 200809L

#include "net.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_PORT 7379
#define READ_CHUNK 16384

/* Set by the SIGINT/SIGTERM handler; the loops check it on every pass. */
static volatile sig_atomic_t stop_requested;

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

/* Echoes until the client closes its side, the connection fails, or a stop is requested. */
static void serve_client(int fd)
{
    char buf[READ_CHUNK];

    while (!stop_requested) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return; /* the client closed its side: we are done */
        if (n < 0) {
            client_failed("read");
            return;
        }
        if (write_all(fd, buf, (size_t)n) < 0) {
            client_failed("write");
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
    return status;
}

/*
 * net.c - opening a listening socket and writing without losing bytes.
 *
 * These trip up almost every first server:
 *
 *   - bind() fails with EADDRINUSE for a minute after a restart, because the old
 *     connections linger in TIME_WAIT. SO_REUSEADDR lets us bind anyway.
 *   - write() may write fewer bytes than asked (a "partial write"): on a blocking socket
 *     when a signal interrupts it part-way, on a non-blocking one whenever the socket's
 *     send buffer fills. Code that ignores the return value silently drops data.
 *
 * A signal interrupts a blocking call with EINTR only when we installed a handler for
 * it, and the only handlers this server installs are for SIGINT and SIGTERM. So here
 * EINTR always means "a stop was requested": we give up and let the caller notice. A
 * blocking write() that a signal cuts off part-way returns a short count instead of
 * EINTR, and write_all() reports that as EINTR too.
 */
#define _POSIX_C_SOURCE 200809L

#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 128

/* ------------------------------------------------------------------------------------
 * The listening socket
 * ------------------------------------------------------------------------------------ */

/* Returns a socket listening on 127.0.0.1:port, or -1. Port 0 lets the kernel pick. */
int listen_on_localhost(uint16_t port)
{
    struct sockaddr_in addr = {0};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;

    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(fd, LISTEN_BACKLOG) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* The port a socket is bound to: how we learn what "--port 0" gave us. */
int local_port(int fd, uint16_t *port)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        return -1;
    *port = ntohs(addr.sin_port);
    return 0;
}

/*
 * Turns off Nagle's algorithm, which holds back a small write until the previous one
 * is acknowledged. A request/reply server wants every reply on the wire at once.
 */
int set_nodelay(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------ */

/*
 * Writes all len bytes, or fails. On a blocking socket, write() takes fewer bytes than it
 * was given only when something cuts it off part-way: a signal, which here is a stop
 * request, or the connection failing, which the next write() would report. Writing the
 * rest would wait, stop request unnoticed, for as long as the client does not read. So a
 * short write fails too, as EINTR: the caller gives up, finds the flag set, and stops.
 */
int write_all(int fd, const void *buf, size_t len)
{
    ssize_t n;

    if (len == 0)
        return 0; /* nothing to send is no reason for a system call */
    n = write(fd, buf, len);
    if (n < 0)
        return -1; /* EINTR included: see the top of this file */
    if ((size_t)n < len) {
        errno = EINTR; /* cut off part-way: see above */
        return -1;
    }
    return 0;
}

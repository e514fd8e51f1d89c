/*
 * net.c - opening a listening socket, and reading and writing without losing bytes.
 *
 * These trip up almost every first server:
 *
 *   - bind() fails with EADDRINUSE for a minute after a restart, because the old
 *     connections linger in TIME_WAIT. SO_REUSEADDR lets us bind anyway.
 *   - write() may write fewer bytes than asked (a "partial write"): on a blocking socket
 *     when a signal interrupts it part-way, on a non-blocking one whenever the socket's
 *     send buffer fills. Code that ignores the return value silently drops data.
 *   - read() returns whatever has arrived, which may be less than one request: TCP
 *     delivers a stream of bytes, not the messages the client wrote.
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
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_BACKLOG 128
#define LINGER_SECONDS 5 /* how long a hang-up waits for the peer to close its side */

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
 * Reading and writing
 * ------------------------------------------------------------------------------------ */

/*
 * Reads exactly len bytes, looping over short reads: a 4-byte length may arrive as
 * 1 + 3 bytes, however it was sent. Returns how many bytes were read, which is less
 * than len only if the peer closed the connection first, or -1.
 */
ssize_t read_full(int fd, void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, p + done, len - done);
        if (n < 0)
            return -1; /* EINTR included: see the top of this file */
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

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

/* ------------------------------------------------------------------------------------
 * Hanging up
 * ------------------------------------------------------------------------------------ */

/*
 * Milliseconds from now until deadline, on the monotonic clock (which no one can set
 * back or forward, unlike the time of day): 0 once the deadline has passed.
 */
static int ms_until(const struct timespec *deadline, int *ms)
{
    struct timespec now;
    long long ns;

    if (clock_gettime(CLOCK_MONOTONIC, &now) < 0)
        return -1;
    ns = (long long)(deadline->tv_sec - now.tv_sec) * 1000000000 +
         (deadline->tv_nsec - now.tv_nsec);
    *ms = ns > 0 ? (int)((ns + 999999) / 1000000) : 0; /* rounded up: never early */
    return 0;
}

/*
 * Hangs up without losing what we wrote. close() on a socket whose input has not all been
 * read makes the kernel reset the connection, and a reset throws away every byte still
 * queued for the peer: our last replies, and the ERROR that says why we hang up. So we
 * shut down our sending side (a FIN, queued behind those bytes) and read and discard
 * until the peer closes its side too. After that, close() loses nothing.
 *
 * While we linger, the next client waits, so the peer gets LINGER_SECONDS in all, not
 * per read: a peer that sent a byte a second would otherwise keep us here for ever. Then
 * we close anyway. Returns 0 then, as when the peer closes.
 */
int shutdown_and_drain(int fd)
{
    char discard[4096];
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    struct timespec deadline;
    int ms, ready;
    ssize_t n;

    if (shutdown(fd, SHUT_WR) < 0 || clock_gettime(CLOCK_MONOTONIC, &deadline) < 0)
        return -1;
    deadline.tv_sec += LINGER_SECONDS;
    do {
        if (ms_until(&deadline, &ms) < 0)
            return -1;
        if (ms == 0)
            return 0; /* time is up */
        ready = poll(&pfd, 1, ms);
        if (ready <= 0)
            return ready; /* 0: time is up; -1: EINTR included, see the top of this file */
        n = read(fd, discard, sizeof discard);
    } while (n > 0);
    return n < 0 ? -1 : 0; /* EINTR included: see the top of this file */
}

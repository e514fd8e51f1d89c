/*
 * net.c - opening a listening socket, and the socket options an event loop needs.
 *
 * These trip up almost every first server:
 *
 *   - bind() fails with EADDRINUSE for a minute after a restart, because the old
 *     connections linger in TIME_WAIT. SO_REUSEADDR lets us bind anyway.
 *   - A socket blocks by default: one read() on a quiet client would freeze every other
 *     client. In non-blocking mode read(), write() and accept() return at once, with
 *     EAGAIN when there is nothing to do, and poll() tells us when there will be.
 */
#define _POSIX_C_SOURCE 200809L

#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
 * Non-blocking mode
 * ------------------------------------------------------------------------------------ */

int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

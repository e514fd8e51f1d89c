/*
 * net.h - the socket chores kv, kvbench and nullserver share.
 *
 * Every tool here drives non-blocking sockets from one poll() loop, turns off Nagle's
 * algorithm (a small request or reply must leave at once, not wait for the previous
 * one's acknowledgement), and reads a port number from its command line. Each of these
 * is a few lines, and each was once written three times; here it is written once.
 * Functions return 0, or -1 with errno set.
 */
#ifndef NET_H
#define NET_H

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <sys/socket.h>

static inline int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -1;
    return 0;
}

static inline int set_nodelay(int fd)
{
    int one = 1;

    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/*
 * A port: decimal digits only, from `lowest` to 65535. strtol() would also take " +80"
 * and "80abc"'s prefix; a port on a command line is either exactly a number or refused.
 * kv and kvbench want 1 and up; a server may take 0 (the kernel picks a free port).
 */
static inline int parse_port(const char *text, unsigned lowest, uint16_t *port)
{
    unsigned long value = 0;
    size_t i;

    for (i = 0; text[i] >= '0' && text[i] <= '9'; i++) {
        value = value * 10 + (unsigned long)(text[i] - '0');
        if (value > 65535)
            return -1;
    }
    if (i == 0 || text[i] != '\0' || value < lowest)
        return -1;
    *port = (uint16_t)value;
    return 0;
}

#endif

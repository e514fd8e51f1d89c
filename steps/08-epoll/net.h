/*
 * net.h - the few socket helpers every step needs.
 *
 * Sockets are file descriptors, but setting one up takes a handful of calls whose
 * errors are easy to forget. These helpers do it once, carefully, so server.c can read
 * like the story of a server rather than a list of system calls.
 *
 * Convention (the same in every file of every step): a function returns 0 on success
 * and -1 on failure with errno set, unless its comment says otherwise.
 */
#ifndef NET_H
#define NET_H

#include <stdint.h>

int listen_on_localhost(uint16_t port);
int local_port(int fd, uint16_t *port);
int set_nodelay(int fd);
int set_nonblocking(int fd);

#endif

/*
 * widen.c - makes the race of chapter 01's exercise 6 wide enough to hit on demand.
 *
 * Loaded into the server with LD_PRELOAD, it stands in for the calls a server can wait in
 * for its next client (accept, accept4, select, pselect, poll, ppoll). The first time the
 * server makes one of them, it creates the file named by $KV_RACE_MARK, sleeps for
 * $KV_RACE_DELAY seconds (default 2), then makes the real call. That sleep stretches the
 * few instructions between "check the stop flag" and "start to wait" to seconds, and the
 * test sends SIGTERM inside it. A server that has not closed the race runs its handler
 * during the sleep, then waits with the flag already set, for a client that never comes.
 * One that blocks the signal until the wait unblocks it, atomically, gets it in the wait.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int widened;

/* The first wait only: mark that the window is open, then hold it open. */
static void widen(void)
{
    const char *mark = getenv("KV_RACE_MARK");
    const char *delay = getenv("KV_RACE_DELAY");
    struct timespec pause = { delay != NULL ? atoi(delay) : 2, 0 };
    int fd;

    if (widened++)
        return;
    if (mark != NULL && (fd = open(mark, O_WRONLY | O_CREAT, 0644)) >= 0)
        close(fd);
    nanosleep(&pause, NULL); /* a signal may cut it short: that is the point */
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    widen();
    return REAL(accept)(fd, addr, len);
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    widen();
    return REAL(accept4)(fd, addr, len, flags);
}

int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout)
{
    widen();
    return REAL(select)(n, r, w, e, timeout);
}

int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *timeout,
            const sigset_t *mask)
{
    widen();
    return REAL(pselect)(n, r, w, e, timeout, mask);
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    widen();
    return REAL(poll)(fds, n, timeout);
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask)
{
    widen();
    return REAL(ppoll)(fds, n, timeout, mask);
}

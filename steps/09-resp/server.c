/*
 * server.c - step 09: step 08's server, speaking RESP2 as well as KV/1.
 *
 * redis-cli, redis-benchmark and Redis's client libraries now work against this server
 * unchanged. The first byte a client sends picks its connection's protocol for good
 * (docs/protocol.md): '*' or a letter is RESP (a Redis client's array, or a command typed
 * at a terminal), 0x00 is KV/1 (whose request types are all below 256), anything else is
 * refused. Both protocols reach the same keys through one table of commands
 * (commands.c); RESP's parser and replies are in resp.c. Here only the step that answers
 * one request changes: answer_next_request() hands the bytes at the front to the
 * connection's protocol. Pipelining, backpressure, the timeouts and the memory budget
 * apply to RESP exactly as to KV/1.
 *
 * From step 08:
 *
 * ppoll() took the whole list of connections every round and the kernel scanned all of
 * it, so a round cost O(connections) even when one client was ready. epoll keeps the
 * list in the kernel: a connection is registered once (conn_open), changed only when what
 * it waits for changes (update_interest: EPOLLIN while it reads, EPOLLOUT while replies
 * wait), and epoll_pwait() returns just the ready ones. Level-triggered, as poll() was:
 * a connection served a bounded batch this round that still has bytes waiting is simply
 * reported again next round, so no client has to be read dry and none can starve the rest.
 *
 * Ten thousand clients need ten thousand descriptors: at start the server raises its soft
 * RLIMIT_NOFILE as far as --max-clients needs (default 10000) and the hard limit allows,
 * and accepts fewer clients if it must, saying so on stderr. A client past --max-clients
 * gets an ERROR "max clients reached" and a lingering close; those already in never notice.
 *
 * Memory follows the bytes actually in flight, not the connections:
 *
 *   input    a read is answered straight from read_scratch; only an unfinished frame (or
 *            requests held back) is copied into the connection's buffer, freed once empty;
 *   output   replies queue as blocks (outqueue.c) written with one writev(), freed as sent;
 *            a large GET value is not copied at all: the reply holds a reference to the
 *            stored value (value.c), so the bytes stay valid even if the key changes;
 *   budget   the bytes held for all clients stay within --max-client-memory (default 1g):
 *            past it, the client holding the most gets an ERROR and is closed.
 *
 * So an idle connection holds no buffer at all, only its struct conn.
 *
 * From step 07:
 *
 * PEXPIRE gives a key a time to live, PTTL says what is left of it, PERSIST takes it
 * away and DBSIZE counts the keys held. The store keeps the deadlines in a heap of its own
 * (store.c) and treats a key past its deadline as gone the moment it passes. Freeing the
 * expired keys that no request touches is the server's: one more timer of its own, armed
 * for the earliest deadline in the store, frees EXPIRE_BATCH keys each time it fires and,
 * while more are due, fires again the next round, after every client has been served.
 * So a million keys expiring at once cost a thousand short rounds, not one long stall.
 *
 * From step 06:
 *
 * Until now a connection lived as long as its client wanted: one that said nothing, one
 * that sent a byte a second, one that never read its replies, one that never closed
 * after an ERROR, each held a descriptor and its buffers for ever. Now every connection
 * has a deadline (--idle-timeout T, 300 s by default; 0 turns the first two off):
 *
 *   idle      no byte read from it or written to it for T: closed;
 *   request   a request not whole T after its first byte, however slowly its bytes keep
 *             coming: an ERROR, then closed (replies owed are sent first);
 *   linger    the lingering close after an ERROR: at most 5 s, or T if shorter.
 *
 * The deadlines live in a min-heap (heap.c), one timer per connection plus two of the
 * server's own: a retry of accept() after running out of descriptors, and a task that
 * finishes a hash table resize that requests left half-done. The loop sleeps in ppoll()
 * exactly until the earliest deadline, or for ever if there is none: no fixed tick.
 *
 * A connection's timer is re-armed lazily. Reads and writes only note the time (last_io,
 * request_started), which costs a clock read and a store; when the timer fires, it
 * compares the real deadline with the clock and, if that has moved on, re-arms itself for
 * it. So a request costs no heap operation, and a busy connection's timer moves once
 * every T seconds. A client that reads slowly gets no POLLOUT, so no write, for a long
 * while; when its idle timer fires, the kernel's send queue (SIOCOUTQ) tells whether it
 * has read anything since we last looked, and if it has, that counts as a byte moved.
 *
 * The clock is CLOCK_MONOTONIC (now_ms): wall-clock time can jump backwards or forwards
 * when someone sets it, and a deadline must not. It is read after each wait and again at
 * each read and write, so a reply written late in a long round is stamped with its own
 * time, not the round's.
 *
 * SIGINT and SIGTERM are blocked except inside ppoll(), which unblocks them atomically
 * while it waits: a signal that lands between the check of stop_requested and the wait
 * stays pending, interrupts the wait at once, and so is never missed.
 *
 * From step 04:
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
 *   WRITING  -- EPOLLOUT; all written, nothing held back -----------------> READING
 *   READING, WRITING -- all written, the last reply an ERROR -------------> DRAINING
 *   READING, DRAINING -- EOF or error;  WRITING -- error -----------------> DONE
 *   any -- idle for T; DRAINING -- lingered 5 s (or T) --------------------> DONE
 *   READING, WRITING -- request deadline passed, nothing more owed -------> DONE
 *
 * A client's failure (a reset, a bad frame, EPIPE) ends that client's connection and
 * nothing else: no error ever propagates out of the loop because of one client.
 */
#define _GNU_SOURCE /* epoll_pwait(): Linux */

#include "buffer.h"
#include "commands.h"
#include "hashtable.h" /* container_of() */
#include "heap.h"
#include "net.h"
#include "outqueue.h"
#include "protocol.h"
#include "resp.h"
#include "store.h"

#include <errno.h>
#include <linux/sockios.h> /* SIOCOUTQ */
#include <malloc.h> /* mallopt(): glibc */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h> /* RLIMIT_NOFILE */
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT 7379
#define READ_CHUNK 65536  /* the most one read() takes from one client */
#define OUTPUT_LIMIT (1024 * 1024) /* stop answering a client that owes this much */

#define DEFAULT_IDLE_TIMEOUT_MS 300000 /* --idle-timeout 300 */
#define MAX_TIMEOUT_SECONDS 1000000000 /* about 31 years: a larger value means the same */
#define LINGER_LIMIT_MS 5000           /* the longest a lingering close may last */
#define ACCEPT_RETRY_MS 1000           /* out of descriptors: try accept() again after this */
#define REHASH_INTERVAL_MS 10          /* the resize task runs this often while one is due */
#define REHASH_TASK_STEPS 1000         /* ... and does this many pieces of it per run */
#define NO_DEADLINE UINT64_MAX
#define EXPIRE_BATCH 1000              /* the most expired keys freed in one round */
#define SERVER_TIMERS 3                /* the accept retry, the resize and expiry tasks */
#define MAX_WAIT_MS 3600000            /* the longest one epoll_pwait() sleeps: fits an int */

#define DEFAULT_MAX_CLIENTS 10000
#define MAX_CLIENTS_LIMIT 1000000000   /* a larger --max-clients means the same */
#define DEFAULT_MAX_CLIENT_MEMORY (UINT64_C(1) << 30) /* --max-client-memory 1g */
#define MAX_MEMORY_LIMIT (UINT64_C(1) << 60) /* a larger --max-client-memory means the same */
#define REFUSED_LINGER_MAX 32          /* refused clients lingering at once; more: closed at once */
#define MIN_SPARE_FDS 6 /* stdio, listener, epoll and one refused client: the least spare */
#define RESERVED_FDS 64 /* stdio, listener, epoll, REFUSED_LINGER_MAX refused, a few spare */
#define MAX_EVENTS 1024                /* the most events one epoll_pwait() returns */

/* Set by the SIGINT/SIGTERM handler; the loop checks it after every wake-up. */
static volatile sig_atomic_t stop_requested;

/* The signal mask epoll_pwait() waits with: the usual one, with SIGINT and SIGTERM let through. */
static sigset_t wait_mask;

/* Every key the server holds. It outlives every connection. */
static struct store *store;

/* --idle-timeout, in milliseconds; 0 means no idle or request timeout. */
static uint64_t idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;

/* --max-clients (maybe lowered to fit the descriptor limit) and --max-client-memory. */
static size_t max_clients = DEFAULT_MAX_CLIENTS;
static uint64_t max_client_memory = DEFAULT_MAX_CLIENT_MEMORY;

/* CLOCK_MONOTONIC in milliseconds, as last read: after each wait, and at each read and write. */
static uint64_t now_ms;

static const char request_too_slow[] = "request not received in time";
static const char too_many_clients[] = "max clients reached";
static const char memory_limit_reached[] = "client memory limit reached";

/*
 * A timer: a deadline in the heap, and what to do when it comes. The owner embeds it
 * (a connection, or the server for its own tasks); on_due gets it back with container_of.
 * The heap holds only armed timers, ordered by deadline (node.key, in now_ms's units).
 */
struct timer {
    struct heap_node node;
    void (*on_due)(struct timer *timer);
};

static struct heap timers;
static struct timer accept_timer; /* armed while accept() is paused */
static struct timer rehash_timer; /* armed while the hash table is resizing */
static struct timer expire_timer; /* armed for the earliest deadline of any key */

enum conn_state {
    CONN_READING,  /* waiting for the rest of a request; in holds no whole request */
    CONN_WRITING,  /* replies wait in out for the socket, or requests for room in out */
    CONN_DRAINING, /* all is sent and our side shut down: discarding input until EOF */
    CONN_DONE,     /* to be closed and freed by the loop */
};

/* Step 09: what the first byte received said (docs/protocol.md, "Choosing a protocol"). */
enum protocol { PROTOCOL_UNDECIDED, PROTOCOL_KV1, PROTOCOL_RESP };

struct conn {
    int fd;
    enum conn_state state;
    enum protocol protocol;
    bool close_when_written; /* the client broke the protocol: send what we owe, then close */
    bool timed_out;          /* a request missed its deadline: send what we owe, then close */
    bool refused;            /* over --max-clients: it gets an ERROR and a lingering close */
    struct buffer in;        /* bytes received, not yet parsed; freed whenever empty */
    struct out_queue out;    /* bytes owed, not yet written; holds no memory when empty */
    uint32_t interest;       /* the events epoll watches for it: EPOLLIN or EPOLLOUT */
    size_t held;             /* in.len, out_pending(&out) and resp's arrays, when last counted */
    struct timer timer;      /* armed at or before the earliest of the deadlines below */
    uint64_t last_io;        /* when a byte was last read from or written to the socket */
    uint64_t request_started; /* when the request at the front of in began to arrive */
    uint64_t drain_started;  /* when the lingering close began (DRAINING) */
    int unsent;              /* bytes in the kernel's send queue when we last looked */
    struct resp_parser resp; /* RESP: how far the command at the front of in is parsed */
};

/*
 * Connections indexed by their file descriptor: the kernel hands out the lowest free
 * descriptor, so the table stays dense. conns[fd] == NULL means fd is no client of ours.
 */
static struct conn **conns;
static size_t conns_cap;
static size_t conn_count;    /* clients, not counting the refused */
static size_t refused_count; /* refused connections still lingering */

/*
 * Bytes held for all clients: over every connection, in.len + out_pending(&out) (received
 * and not yet answered, plus replies not yet sent, plus, from step 09, the argument arrays
 * the RESP parser holds), as of each one's last count (held).
 * Kept within max_client_memory by enforce_memory_limit().
 */
static size_t client_bytes;

/*
 * The epoll instance: the kernel's own list of the descriptors we watch and what for.
 * Each is registered once and changed only when what it waits for changes, so a round
 * costs in proportion to the descriptors ready, not to all of them.
 */
static int epoll_fd = -1;
static uint32_t listen_interest; /* the listener's: EPOLLIN, or 0 while accept is paused */
static struct epoll_event events[MAX_EVENTS];

/*
 * Every read() lands here. Requests are answered straight from it, and only the bytes
 * they leave (an unfinished frame, requests held back) are copied to the connection's
 * input buffer. Reading straight into that buffer would mean reserving READ_CHUNK bytes
 * of room there first: 64 KiB for each client that has sent one byte.
 */
static uint8_t read_scratch[READ_CHUNK];

/*
 * True while we are out of file descriptors. A listener with clients in its backlog
 * stays readable, and level-triggered epoll would wake us for it again and again
 * while accept() keeps failing: a busy loop. So we stop watching it until a connection
 * closes and gives a descriptor back, or until accept_timer says a second has passed.
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
 * Command line:  server [--port PORT] [--idle-timeout SECONDS] [--max-clients N]
 *                        [--max-client-memory BYTES]
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

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * SECONDS: digits, then optionally a point and more digits ("300", "0.25"); nothing else,
 * so not "-1", ".5", "1." or "1e3". Milliseconds are the clock's unit: digits past the
 * third decimal are checked but ignored, except that a tiny value stays above 0 (0 means
 * off). A value past MAX_TIMEOUT_SECONDS is taken as that: no connection lives so long.
 */
static int parse_seconds(const char *text, uint64_t *ms)
{
    uint64_t whole = 0, fraction = 0, scale = 100;
    bool nonzero = false;

    if (!is_digit(*text))
        return -1;
    for (; is_digit(*text); text++) {
        whole = whole * 10 + (uint64_t)(*text - '0');
        if (whole > MAX_TIMEOUT_SECONDS)
            whole = MAX_TIMEOUT_SECONDS;
        nonzero |= *text != '0';
    }
    if (*text == '.') {
        if (!is_digit(*++text))
            return -1;
        for (; is_digit(*text); text++, scale /= 10) {
            fraction += (uint64_t)(*text - '0') * scale;
            nonzero |= *text != '0';
        }
    }
    if (*text != '\0')
        return -1;
    *ms = whole * 1000 + fraction;
    if (*ms == 0 && nonzero)
        *ms = 1;
    return 0;
}

/*
 * Digits, at least one, and a value of at least 1; a value past max is taken as max.
 * Returns where the digits end, or NULL if there are none or they make 0.
 */
static const char *parse_positive(const char *text, uint64_t max, uint64_t *value)
{
    if (!is_digit(*text))
        return NULL;
    for (*value = 0; is_digit(*text); text++) {
        *value = *value * 10 + (uint64_t)(*text - '0');
        if (*value > max)
            *value = max;
    }
    return *value > 0 ? text : NULL;
}

/* N: digits only, N >= 1. Past MAX_CLIENTS_LIMIT, the descriptor limit decides anyway. */
static int parse_clients(const char *text, size_t *clients)
{
    uint64_t value;

    text = parse_positive(text, MAX_CLIENTS_LIMIT, &value);
    if (text == NULL || *text != '\0')
        return -1;
    *clients = (size_t)value;
    return 0;
}

/* BYTES: digits, >= 1, then optionally k, m or g: KiB, MiB, GiB. Lower case only, so "1K"
 * is refused rather than guessed at. */
static int parse_bytes(const char *text, uint64_t *bytes)
{
    uint64_t value, unit = 1;

    text = parse_positive(text, MAX_MEMORY_LIMIT, &value);
    if (text == NULL)
        return -1;
    switch (*text) {
    case 'k': unit = UINT64_C(1) << 10; text++; break;
    case 'm': unit = UINT64_C(1) << 20; text++; break;
    case 'g': unit = UINT64_C(1) << 30; text++; break;
    }
    if (*text != '\0')
        return -1;
    *bytes = value <= MAX_MEMORY_LIMIT / unit ? value * unit : MAX_MEMORY_LIMIT;
    return 0;
}

/* Flags in any order, each followed by its value. */
static int parse_command_line(int argc, char **argv, uint16_t *port, uint64_t *idle_ms)
{
    *port = DEFAULT_PORT;
    *idle_ms = DEFAULT_IDLE_TIMEOUT_MS;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 == argc)
            return -1;
        if (strcmp(argv[i], "--port") == 0) {
            if (parse_port(argv[i + 1], port) < 0)
                return -1;
        } else if (strcmp(argv[i], "--idle-timeout") == 0) {
            if (parse_seconds(argv[i + 1], idle_ms) < 0)
                return -1;
        } else if (strcmp(argv[i], "--max-clients") == 0) {
            if (parse_clients(argv[i + 1], &max_clients) < 0)
                return -1;
        } else if (strcmp(argv[i], "--max-client-memory") == 0) {
            if (parse_bytes(argv[i + 1], &max_client_memory) < 0)
                return -1;
        } else {
            return -1;
        }
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
    sigset_t stop_signals;

    /*
     * No SA_RESTART: a blocked epoll_pwait() must fail with EINTR, or the loop would not
     * look at stop_requested until the next event. (Linux never restarts it anyway.)
     */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
        return -1;

    /*
     * The stop signals are blocked from here on, and let through only inside epoll_pwait().
     * Were they deliverable everywhere, one landing after the loop checked stop_requested
     * but before it went to sleep would set the flag too late: the server would sleep on,
     * for ever now that it has no fixed tick. Blocked, it waits as pending until epoll_pwait()
     * swaps in wait_mask, and that swap and the sleep are one step for the kernel.
     */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask) < 0)
        return -1;
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);

    /*
     * Writing to a connection the peer has closed raises SIGPIPE, whose default action
     * kills the process: one vanished client would take the server down. Ignored, the
     * write fails with EPIPE instead, and we treat that like any other client error.
     */
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

/* ------------------------------------------------------------------------------------
 * Time and timers
 * ------------------------------------------------------------------------------------ */

/* Sets now_ms. CLOCK_MONOTONIC never jumps: it counts from boot, whatever the date says. */
static int read_clock(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return -1;
    now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    store_set_time(store, now_ms); /* the same "now" for the keys' deadlines */
    return 0;
}

/*
 * The time of an I/O, read at that moment (a vDSO call: no system call). serve_forever()
 * has read the clock once already, and CLOCK_MONOTONIC fails only for a bad argument; if
 * it failed all the same, the last reading stands: a stamp can be early, so a deadline
 * can come later, never sooner.
 */
static uint64_t clock_now(void)
{
    if (read_clock() < 0)
        log_errno("clock_gettime");
    return now_ms;
}

static void timer_init(struct timer *timer, void (*on_due)(struct timer *timer))
{
    heap_node_init(&timer->node);
    timer->on_due = on_due;
}

/*
 * Arms a timer for when, or moves it there if it is armed. Never fails: the heap has room
 * for every timer that exists (SERVER_TIMERS, and one per connection, reserved when the
 * connection opens).
 */
static void timer_arm(struct timer *timer, uint64_t when)
{
    if (heap_contains(&timer->node))
        heap_update(&timers, &timer->node, when);
    else
        heap_insert(&timers, &timer->node, when);
}

static void timer_disarm(struct timer *timer)
{
    if (heap_contains(&timer->node))
        heap_remove(&timers, &timer->node);
}

/*
 * Runs every timer whose deadline has come, earliest first. Each is disarmed before its
 * on_due runs, which may arm it again (for later: a deadline already past would fire
 * again at once) or free its owner.
 */
static void run_due_timers(void)
{
    struct heap_node *node;

    while ((node = heap_min(&timers)) != NULL && node->key <= now_ms) {
        struct timer *timer = container_of(node, struct timer, node);
        heap_remove(&timers, node);
        timer->on_due(timer);
    }
}

/*
 * How long epoll_pwait() may sleep, in milliseconds: until the earliest deadline, or -1
 * (for ever) if there is none. The clock is read afresh: the round may have lasted a
 * while. A far deadline is slept towards an hour at a time, so the wait fits an int.
 */
static int time_to_next_timer(void)
{
    struct heap_node *next = heap_min(&timers);
    uint64_t wait_ms;

    if (next == NULL)
        return -1;
    wait_ms = next->key > clock_now() ? next->key - now_ms : 0;
    if (wait_ms > MAX_WAIT_MS)
        wait_ms = MAX_WAIT_MS;
    return (int)wait_ms;
}

/* ------------------------------------------------------------------------------------
 * A connection's deadlines
 * ------------------------------------------------------------------------------------ */

/* A lingering close lasts at most 5 s, or T if that is shorter; T = 0 does not lift it. */
static uint64_t linger_ms(void)
{
    return idle_timeout_ms > 0 && idle_timeout_ms < LINGER_LIMIT_MS ? idle_timeout_ms
                                                                    : LINGER_LIMIT_MS;
}

/* Part of a request has arrived and the request deadline applies to it. */
static bool awaiting_request(const struct conn *c)
{
    return c->in.len > 0 && !c->timed_out && !c->close_when_written;
}

/*
 * The earliest moment the connection may be closed for time, or NO_DEADLINE. A request
 * started no later than the last byte moved, so while one is awaited its deadline is the
 * earlier of the two.
 */
static uint64_t conn_deadline(const struct conn *c)
{
    if (c->state == CONN_DRAINING)
        return c->drain_started + linger_ms();
    if (idle_timeout_ms == 0)
        return NO_DEADLINE;
    if (awaiting_request(c))
        return c->request_started + idle_timeout_ms;
    return c->last_io + idle_timeout_ms;
}

/*
 * Arms the connection's timer for just past its deadline. Reads and writes do not call
 * this: they only move the deadline later, and a timer that fires early re-arms itself
 * (below). Only what moves a deadline sooner (a lingering close starting) must call it at
 * once. Just past: times are cut to whole milliseconds, so at now_ms == deadline up to a
 * millisecond of T may be left, and a close must come after T, never before.
 */
static void arm_conn_timer(struct conn *c)
{
    uint64_t deadline = conn_deadline(c);

    if (deadline == NO_DEADLINE)
        timer_disarm(&c->timer);
    else
        timer_arm(&c->timer, deadline + 1);
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

/*
 * Notes how many bytes the kernel still holds for the client (sent but not taken by it):
 * when the idle timer fires, a smaller number means the client has read since. Linux's
 * SIOCOUTQ; if it fails, 0, and the idle rule goes by our own reads and writes alone.
 */
static void note_unsent(struct conn *c)
{
    if (ioctl(c->fd, SIOCOUTQ, &c->unsent) < 0)
        c->unsent = 0;
}

/* True if the client has read from the kernel's send queue since note_unsent() last looked. */
static bool client_took_output(struct conn *c)
{
    int before = c->unsent;

    if (before == 0)
        return false; /* nothing was waiting, and only our writes add to it */
    note_unsent(c);
    return c->unsent < before;
}

/* Writes what the socket will take of the replies owed, in one writev(), without waiting. */
static void write_output(struct conn *c)
{
    ssize_t n = out_write(&c->out, c->fd);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            client_failed(c, "writev");
        return;
    }
    c->last_io = clock_now();
    note_unsent(c);
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
    c->drain_started = clock_now();
    arm_conn_timer(c); /* sooner than it was, so at once, not lazily */
}

/*
 * Reads and drops what the client has sent and we have not read, before a close that
 * does not linger. close() with unread input makes the kernel send a reset, and a reset
 * can destroy the last bytes we wrote; with the input emptied it sends a FIN behind them.
 * Bounded: a client that keeps sending cannot keep us here. Errors do not matter now.
 */
static void discard_input(int fd)
{
    for (int i = 0; i < 16 && read(fd, read_scratch, sizeof read_scratch) > 0; i++)
        ;
}

/*
 * Ends a connection whose request missed its deadline, once nothing else is owed: an
 * ERROR that says why (one write: if the socket does not take it, so be it), and a close
 * without lingering, since the rule is a close within a second of the deadline.
 */
static int append_error(struct conn *c, const char *text, size_t len);

static void hang_up(struct conn *c)
{
    if (append_error(c, request_too_slow, sizeof request_too_slow - 1) == 0)
        write_output(c);
    discard_input(c->fd);
    c->state = CONN_DONE;
}

/* ------------------------------------------------------------------------------------
 * Answering requests
 * ------------------------------------------------------------------------------------ */

/* An error in the connection's protocol: KV/1's ERROR, or RESP's "-ERR ...". */
static int append_error(struct conn *c, const char *text, size_t len)
{
    char resp_text[128];

    if (c->protocol != PROTOCOL_RESP)
        return append_response(&c->out, STATUS_ERROR, text, len);
    len = (size_t)snprintf(resp_text, sizeof resp_text, "ERR %.*s", (int)len, text);
    return resp_append_error(&c->out, resp_text,
                             len < sizeof resp_text ? len : sizeof resp_text - 1);
}

/*
 * Step 09: the first byte says which protocol the client speaks, for the connection's
 * whole life. One that is neither gets KV/1's ERROR: such a client is most likely a KV/1
 * client gone wrong (a request type of 256 or more).
 */
static void choose_protocol(struct conn *c, uint8_t first)
{
    char text[64];

    if (first == '*' || (first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z')) {
        c->protocol = PROTOCOL_RESP;
        return;
    }
    c->protocol = PROTOCOL_KV1;
    if (first == 0x00)
        return;
    snprintf(text, sizeof text, "unknown protocol: first byte 0x%02x", first);
    if (append_response(&c->out, STATUS_ERROR, text, strlen(text)) < 0)
        c->state = CONN_DONE;
    c->close_when_written = true;
}

/*
 * Step 09: the RESP command at the front of data[0 .. len), as answer_next_request()
 * does for KV/1. The parser keeps its progress in c->resp, counted from the command's
 * first byte, so it holds whether data is the input buffer or a read in read_scratch. A
 * command may also end the connection: QUIT once its OK is sent, an HTTP request at once
 * and without a word (what is owed is dropped, as Redis drops it).
 */
static bool answer_next_command(struct conn *c, const uint8_t *data, size_t len,
                                size_t *frame_len)
{
    const struct arg *argv;
    int argc, effect = COMMAND_DONE;

    switch (resp_parse(&c->resp, data, len, &argc, &argv, frame_len)) {
    case PARSE_INCOMPLETE:
        return false;
    case PARSE_INVALID:
        if (resp_append_error(&c->out, c->resp.error, strlen(c->resp.error)) < 0)
            c->state = CONN_DONE;
        c->close_when_written = true;
        return false;
    case PARSE_REQUEST:
        break;
    }
    if (argc > 0) /* else an empty line, or an empty array: skipped, as Redis skips them */
        effect = command_execute(store, argc, argv, &resp_reply_ops, &c->out);
    if (effect < 0 || effect == COMMAND_CLOSE_NOW) {
        c->state = CONN_DONE; /* no memory for the reply, or an HTTP request */
        return false;
    }
    c->close_when_written = effect == COMMAND_CLOSE_AFTER_REPLY;
    return !c->close_when_written;
}

/*
 * Answers the request at the front of data[0 .. len), if a whole one is there, and
 * returns true; *frame_len says how many bytes it took. Returns false if none is there
 * yet, or if the client broke the protocol (an ERROR is then owed, and the connection
 * closes once it is written).
 */
static bool answer_next_request(struct conn *c, const uint8_t *data, size_t len,
                                size_t *frame_len)
{
    struct request req;

    if (c->protocol == PROTOCOL_UNDECIDED && len > 0)
        choose_protocol(c, data[0]);
    if (c->close_when_written || c->state == CONN_DONE)
        return false;
    if (c->protocol == PROTOCOL_RESP)
        return answer_next_command(c, data, len, frame_len);
    switch (parse_request(data, len, &req, frame_len)) {
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
    if (kv1_answer(store, &req, &c->out) < 0) {
        c->state = CONN_DONE; /* no memory for the reply: we cannot keep our word */
        return false;
    }
    return true;
}

/*
 * Answers the whole requests at the front of data[0 .. len), in order, until OUTPUT_LIMIT
 * bytes are owed, and returns how many bytes they took. data is the input buffer's bytes,
 * or (step 08) a read still in read_scratch: the bytes are not copied to be parsed.
 */
static size_t answer_requests(struct conn *c, const uint8_t *data, size_t len)
{
    size_t used = 0, frame_len;

    while (!c->close_when_written && out_pending(&c->out) < OUTPUT_LIMIT &&
           answer_next_request(c, data + used, len - used, &frame_len))
        used += frame_len;
    return used;
}

/*
 * After answer_requests(): the replies it queued are written at once: the socket
 * almost always has room, so waiting a round for EPOLLOUT would only add an
 * epoll_pwait() per batch. Answering stops once OUTPUT_LIMIT bytes are owed. The requests
 * held back wait in the input buffer, and the connection stays WRITING so that the next
 * round answers them (EPOLLOUT comes at once while the socket has room). So one client gets one
 * batch and one write() per round, however deep its pipeline, and cannot starve others.
 */
static void finish_answering(struct conn *c, bool answered)
{
    bool held_back = out_pending(&c->out) >= OUTPUT_LIMIT;

    /* What is now at the front of in is a new request, or one we held back: its time
     * starts now. So time spent held back by us does not count against the client. */
    if (answered || held_back)
        c->request_started = clock_now();
    if (c->in.len == 0)
        resp_parser_release(&c->resp); /* between commands: an idle client holds nothing */
    if (c->state != CONN_DONE && out_pending(&c->out) > 0)
        write_output(c);
    if (c->state == CONN_DONE)
        return;
    if (out_pending(&c->out) == 0 && c->close_when_written)
        start_draining(c);
    else if (out_pending(&c->out) == 0 && !held_back && c->timed_out)
        hang_up(c);
    else
        c->state = out_pending(&c->out) > 0 || held_back ? CONN_WRITING : CONN_READING;
}

/* The requests waiting in the input buffer. An emptied buffer is freed, not kept for
 * the next request: an idle connection holds no input buffer. */
static void process_input(struct conn *c)
{
    size_t used = answer_requests(c, c->in.data, c->in.len);

    buffer_consume(&c->in, used);
    if (c->in.len == 0)
        buffer_free(&c->in);
    finish_answering(c, used > 0);
}

/*
 * Step 08: the requests in a read still in read_scratch, when the input buffer held
 * nothing before it. Only the bytes they leave are copied into the input buffer: none
 * after an error, since nothing after it is parsed.
 */
static void process_read(struct conn *c, size_t len)
{
    size_t used = answer_requests(c, read_scratch, len);

    if (c->state != CONN_DONE && used < len && !c->close_when_written &&
        buffer_append(&c->in, read_scratch + used, len - used) < 0) {
        client_failed(c, "buffer");
        return;
    }
    finish_answering(c, used > 0);
}

/* ------------------------------------------------------------------------------------
 * Events from epoll
 * ------------------------------------------------------------------------------------ */

/*
 * Called when epoll says the socket is readable: takes what has arrived, once, and
 * keeps only those bytes, so the input buffer grows with what the client sent. With no
 * unfinished request before it, the read is answered where it landed (process_read).
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
    c->last_io = clock_now();
    if (c->state == CONN_DRAINING)
        return; /* thrown away, like the input that was held when draining began */
    if (c->in.len == 0) {
        c->request_started = c->last_io; /* the first byte of a request */
        process_read(c, (size_t)n);
        return;
    }
    if (buffer_append(&c->in, read_scratch, (size_t)n) < 0) {
        client_failed(c, "buffer");
        return;
    }
    process_input(c);
}

/*
 * Called when epoll says the socket is writable: the same work as after a read. The
 * requests left waiting by OUTPUT_LIMIT are answered as soon as the output drains.
 */
static void on_writable(struct conn *c)
{
    process_input(c);
}

/* ------------------------------------------------------------------------------------
 * Timeouts
 * ------------------------------------------------------------------------------------ */

static void conn_close(struct conn *c);
static void conn_settle(struct conn *c);

/*
 * The request at the front of in has had T seconds and is still not whole, though bytes
 * keep coming (or the idle rule would have struck first). No more input is taken; whole
 * requests already in are still answered and every reply owed is sent, for as long as
 * the output keeps moving; then hang_up(). process_input() does all of that.
 */
static void request_timed_out(struct conn *c)
{
    c->timed_out = true;
    process_input(c);
}

/* No byte moved for longer than T, by our reads and writes or by the client's reads. */
static bool idle_too_long(struct conn *c)
{
    if (c->last_io + idle_timeout_ms >= now_ms)
        return false;
    if (!client_took_output(c))
        return true;
    c->last_io = now_ms; /* it read what the kernel held for it: a byte moved */
    return false;
}

/* A connection's timer came due: the heap key says so, and the lazy check may disagree. */
static void on_conn_timer(struct timer *timer)
{
    struct conn *c = container_of(timer, struct conn, timer);

    if (c->state != CONN_DRAINING && idle_timeout_ms > 0 && idle_too_long(c)) {
        discard_input(c->fd); /* so that close() does not reset away what the client has not read */
        c->state = CONN_DONE;
    } else if (conn_deadline(c) >= now_ms) {
        arm_conn_timer(c); /* bytes moved since it was armed: not due yet */
        return;
    } else if (c->state == CONN_DRAINING) {
        c->state = CONN_DONE; /* lingered long enough */
    } else {
        request_timed_out(c);
    }
    if (c->state != CONN_DONE)
        arm_conn_timer(c);
    conn_settle(c); /* request_timed_out() may have changed what it waits for */
}

/* ------------------------------------------------------------------------------------
 * Connections: opening, closing, dispatching epoll's events
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
 * Makes fd a connection of ours (a client, or one refused for --max-clients), grows conns
 * to hold it, and registers it with epoll, waiting for input. Returns -1 if it cannot, and
 * that client alone is refused; the tables stay valid for everyone else. The timer heap
 * gets room for the connection's timer here too, so arming it cannot fail.
 */
static int conn_open(int fd, bool refused)
{
    struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};
    struct conn **grown_conns;
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
    if (heap_reserve(&timers, SERVER_TIMERS + conn_count + refused_count + 1) < 0)
        return -1;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0) {
        free(c);
        return -1;
    }
    c->fd = fd;
    c->state = CONN_READING;
    c->refused = refused;
    c->interest = EPOLLIN;
    c->last_io = clock_now(); /* being accepted counts as a byte moved: the idle clock starts */
    timer_init(&c->timer, on_conn_timer);
    conns[fd] = c;
    if (refused)
        refused_count++;
    else
        conn_count++;
    arm_conn_timer(c);
    return 0;
}

/*
 * close() also takes the descriptor out of the epoll set: the set holds the open socket,
 * and no other descriptor refers to it (the server never dup()s or fork()s), so this is
 * its last close.
 */
static void conn_close(struct conn *c)
{
    if (close(c->fd) < 0)
        log_errno("close");
    timer_disarm(&c->timer);
    conns[c->fd] = NULL;
    if (c->refused)
        refused_count--;
    else
        conn_count--;
    client_bytes -= c->held;
    accept_paused = false;
    buffer_free(&c->in);
    out_free(&c->out);
    resp_parser_release(&c->resp);
    free(c);
}

/*
 * Tells epoll what fd waits for now, if that changed: one epoll_ctl() per change of
 * state, none per request. *registered is what epoll has.
 */
static int set_interest(int fd, uint32_t *registered, uint32_t wanted)
{
    struct epoll_event event = {.events = wanted, .data.fd = fd};

    if (*registered == wanted)
        return 0;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event) < 0)
        return -1;
    *registered = wanted;
    return 0;
}

/* WRITING waits for room in the socket; every other state waits for input (or EOF). */
static void update_interest(struct conn *c)
{
    if (set_interest(c->fd, &c->interest, c->state == CONN_WRITING ? EPOLLOUT : EPOLLIN) < 0)
        client_failed(c, "epoll_ctl");
}

/* Counts the connection's bytes afresh in client_bytes, by the difference. */
static void note_held(struct conn *c)
{
    size_t held = c->in.len + out_pending(&c->out) + resp_parser_memory(&c->resp);

    client_bytes = client_bytes - c->held + held;
    c->held = held;
}

/* After anything that may change a connection's state: epoll's interest and the bytes it
 * holds follow, or it is closed. */
static void conn_settle(struct conn *c)
{
    if (c->state != CONN_DONE)
        update_interest(c);
    if (c->state == CONN_DONE)
        conn_close(c);
    else
        note_held(c);
}

static void handle_events(struct conn *c, uint32_t revents)
{
    if (revents & EPOLLERR)
        c->state = CONN_DONE;
    else if (c->state != CONN_WRITING && (revents & (EPOLLIN | EPOLLHUP)))
        on_readable(c);
    else if (c->state == CONN_WRITING && (revents & (EPOLLOUT | EPOLLHUP)))
        on_writable(c);
    conn_settle(c);
}

/* ------------------------------------------------------------------------------------
 * The memory budget (--max-client-memory)
 * ------------------------------------------------------------------------------------ */

/*
 * The connection holding the most bytes. A scan of every connection, but only while
 * client_bytes is over the budget, which a well-behaved load never is.
 */
static struct conn *largest_client(void)
{
    struct conn *largest = NULL;

    for (size_t fd = 0; fd < conns_cap; fd++)
        if (conns[fd] != NULL && (largest == NULL || conns[fd]->held > largest->held))
            largest = conns[fd];
    return largest;
}

/*
 * Closes connections, the largest first, until the bytes held for clients are within
 * the budget. Each gets an ERROR that says why, if its socket takes it at once, and is
 * closed without lingering: lingering would keep its memory. Stored keys are untouched.
 * A connection closed here may still have an event in this round's batch: the loop skips
 * it, since conns[fd] is NULL now.
 */
static void enforce_memory_limit(void)
{
    while (client_bytes > max_client_memory) {
        struct conn *c = largest_client();

        if (c == NULL || c->held == 0)
            return; /* cannot happen: client_bytes is the sum of held */
        if (append_error(c, memory_limit_reached, sizeof memory_limit_reached - 1) == 0)
            write_output(c);
        discard_input(c->fd);
        conn_close(c);
    }
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
 * Step 08: a client past --max-clients, when REFUSED_LINGER_MAX refused ones already
 * linger: the ERROR in one write (a new socket has room for it), what it has sent
 * discarded, and closed at once. A few descriptors stay spare however many clients knock.
 */
static void refuse_at_once(int fd)
{
    struct out_queue out = {0};

    if (set_nonblocking(fd) == 0 &&
        append_response(&out, STATUS_ERROR, too_many_clients, sizeof too_many_clients - 1) == 0)
        (void)out_write(&out, fd); /* if it does not take it, so be it: it is refused */
    out_free(&out);
    discard_input(fd);
    if (close(fd) < 0)
        log_errno("close");
}

/*
 * Step 08: a client past --max-clients gets an ERROR and the usual lingering close (a
 * connection of its own, not counted as a client), so that it can read why; the clients
 * already in never notice.
 */
static void refuse_client(int fd)
{
    struct conn *c;

    if (refused_count >= REFUSED_LINGER_MAX || conn_open(fd, true) < 0) {
        refuse_at_once(fd);
        return;
    }
    c = conns[fd];
    c->close_when_written = true;
    if (append_response(&c->out, STATUS_ERROR, too_many_clients, sizeof too_many_clients - 1) < 0)
        c->state = CONN_DONE;
    else
        finish_answering(c, false); /* writes it, and starts the lingering close */
    conn_settle(c);
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
                timer_arm(&accept_timer, now_ms + ACCEPT_RETRY_MS);
                return 0;
            }
            log_errno("accept");
            return -1;
        }
        if (conn_count >= max_clients)
            refuse_client(fd);
        else if (conn_open(fd, false) < 0) {
            log_errno("new connection");
            if (close(fd) < 0)
                log_errno("close");
        }
    }
}

/* ------------------------------------------------------------------------------------
 * The server's own timers
 * ------------------------------------------------------------------------------------ */

/* A second after accept() ran out of descriptors: try again, in case none closed. */
static void on_accept_timer(struct timer *timer)
{
    (void)timer;
    accept_paused = false;
}

/*
 * A resize moves on a few buckets per request, so one begun by the last requests before
 * a quiet spell would hold both bucket arrays until the next request. This task moves it
 * on meanwhile, a bounded piece per run (at most REHASH_TASK_STEPS * 2 chains), and runs
 * only while a resize is under way: nothing wakes an idle server for it.
 */
static void on_rehash_timer(struct timer *timer)
{
    if (store_rehash(store, REHASH_TASK_STEPS))
        timer_arm(timer, now_ms + REHASH_INTERVAL_MS);
}

/* Once a round, after the requests: a resize that has started gets its task. */
static void arm_rehash_timer(void)
{
    if (!heap_contains(&rehash_timer.node) && store_resizing(store))
        timer_arm(&rehash_timer, now_ms + REHASH_INTERVAL_MS);
}

/*
 * Active expiry: frees a batch of the keys whose deadline has passed. It does not re-arm
 * itself: arm_expire_timer() does, after the round's timers have run. If more keys are
 * due, that is for now, so epoll_pwait() does not sleep but first serves every client that is
 * ready; the next batch comes after them.
 */
static void on_expire_timer(struct timer *timer)
{
    (void)timer;
    store_expire_due(store, EXPIRE_BATCH);
}

/* Once a round, after the timers: PEXPIRE, SET, DEL and the batch may move the earliest
 * deadline. A heap operation only when it moved. */
static void arm_expire_timer(void)
{
    uint64_t next = store_next_expiry(store);
    uint64_t when = next > now_ms ? next : now_ms;

    if (next == STORE_NO_EXPIRY)
        timer_disarm(&expire_timer);
    else if (!heap_contains(&expire_timer.node) || expire_timer.node.key != when)
        timer_arm(&expire_timer, when);
}

/* ------------------------------------------------------------------------------------
 * The event loop
 * ------------------------------------------------------------------------------------ */

/*
 * Handles one batch of events from epoll_pwait(). The connections' events come first and
 * the listener's last, after all of them. Invariant: no descriptor closed during a batch
 * is reused within it, since only accept() could hand one out again. So an event whose
 * conns[fd] is NULL is for a connection closed earlier in this batch (by its own
 * handling, or by the memory budget), and is skipped, never given to a newcomer.
 */
static int handle_batch(int listen_fd, int ready)
{
    bool listener_ready = false;

    for (int i = 0; i < ready; i++) {
        int fd = events[i].data.fd;
        if (fd == listen_fd) {
            listener_ready = (events[i].events & EPOLLIN) != 0;
        } else if (conns[fd] != NULL) {
            handle_events(conns[fd], events[i].events);
            enforce_memory_limit();
        }
    }
    if (listener_ready && accept_clients(listen_fd) < 0)
        return -1;
    return 0;
}

/* The epoll instance, with the listener registered once, waiting for clients. */
static int watch_listener(int listen_fd)
{
    struct epoll_event event = {.events = EPOLLIN, .data.fd = listen_fd};

    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &event) < 0)
        return -1;
    listen_interest = EPOLLIN;
    return 0;
}

/* Waits for events and handles them, round after round, until a stop is requested. */
static int serve_forever(int listen_fd)
{
    int ready;

    if (watch_listener(listen_fd) < 0) {
        log_errno("epoll");
        return -1;
    }
    /* The server's own timers, and room for them; conn_open() reserves one per connection. */
    timer_init(&accept_timer, on_accept_timer);
    timer_init(&rehash_timer, on_rehash_timer);
    timer_init(&expire_timer, on_expire_timer);
    if (heap_reserve(&timers, SERVER_TIMERS) < 0) {
        log_errno("timer heap");
        return -1;
    }
    if (read_clock() < 0) {
        log_errno("clock_gettime");
        return -1;
    }
    while (!stop_requested) {
        /* The listener is left out while accept() is paused (accept_paused). */
        if (set_interest(listen_fd, &listen_interest, accept_paused ? 0 : EPOLLIN) < 0) {
            log_errno("epoll_ctl");
            return -1;
        }
        /* Sleeps until an event, the earliest deadline or a stop signal, whichever first. */
        ready = epoll_pwait(epoll_fd, events, MAX_EVENTS, time_to_next_timer(), &wait_mask);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            log_errno("epoll_pwait");
            return -1;
        }
        if (read_clock() < 0) {
            log_errno("clock_gettime");
            return -1;
        }
        if (handle_batch(listen_fd, ready) < 0)
            return -1;
        run_due_timers();
        enforce_memory_limit();
        arm_rehash_timer();
        arm_expire_timer();
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
    heap_free(&timers);
    if (epoll_fd >= 0 && close(epoll_fd) < 0)
        log_errno("close");
}

/* ------------------------------------------------------------------------------------
 * Descriptors for --max-clients (step 08)
 * ------------------------------------------------------------------------------------ */

/*
 * The hard limit is too low: accept as many clients as it leaves room for, and say so.
 * A small limit (ulimit -n 40) keeps a quarter of it spare rather than RESERVED_FDS, or it
 * would leave no clients at all; a refused client that then finds no descriptor waits in
 * the backlog while accept() is paused, as before this step.
 */
static void fit_clients_to(rlim_t limit)
{
    rlim_t spare = limit / 4 < RESERVED_FDS ? limit / 4 : RESERVED_FDS;

    if (spare < MIN_SPARE_FDS)
        spare = MIN_SPARE_FDS;
    max_clients = limit > spare + 1 ? (size_t)(limit - spare) : 1;
    fprintf(stderr, "server: descriptor limit %llu allows only %zu clients\n",
            (unsigned long long)limit, max_clients);
}

/*
 * Each client is a descriptor, and the usual soft limit is 1024. Raises it towards
 * max_clients + RESERVED_FDS, as far as the hard limit goes. setrlimit() can still fail
 * below the hard limit (the kernel's own fs.nr_open): the soft limit then stays as it was.
 */
static int raise_descriptor_limit(void)
{
    rlim_t want = (rlim_t)max_clients + RESERVED_FDS;
    struct rlimit limit, raised;

    if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
        return -1;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < want) {
        raised = limit;
        raised.rlim_cur = limit.rlim_max != RLIM_INFINITY && limit.rlim_max < want
                              ? limit.rlim_max : want;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            limit = raised;
    }
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < want)
        fit_clients_to(limit.rlim_cur);
    return 0;
}

/* ------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    uint16_t port;
    int listen_fd, status;

    if (parse_command_line(argc, argv, &port, &idle_timeout_ms) < 0) {
        fprintf(stderr, "usage: %s [--port PORT] [--idle-timeout SECONDS] [--max-clients N]"
                        " [--max-client-memory BYTES]\n", argv[0]);
        return 2;
    }
    if (raise_descriptor_limit() < 0) {
        log_errno("getrlimit");
        return 1;
    }
    /*
     * glibc keeps small freed blocks unmerged, in "fastbins", and merges them all in one
     * go (malloc_consolidate) when a large block is asked for. After a million keys
     * expire, the shrinking table's new bucket array is such a request: one stall of tens
     * of milliseconds for every client. Without fastbins each free() merges its block at
     * once, a cost spread over the rounds and lost in the noise (docs/benchmarks.md,
     * section 13). A tuning hint: if it fails, the server works as before.
     */
#ifdef M_MXFAST
    (void)mallopt(M_MXFAST, 0);
#endif
    /*
     * Step 08 frees a connection's input buffer as soon as it empties, and one that held a
     * large SET is itself large. glibc raises its mmap threshold to the size of each
     * mmap()ed block freed, so after one such buffer every value below that size would
     * come from the heap, whose memory goes back to the system only from its top: a
     * server that freed 100 MiB of values could keep most of it. Setting the threshold
     * (to glibc's default, 128 KiB) turns that adjustment off: a large value stays a
     * mapping of its own, unmapped when freed.
     */
#ifdef M_MMAP_THRESHOLD
    (void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
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

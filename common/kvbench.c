/*
 * kvbench.c - a load generator for KV/1 servers that checks every reply it gets.
 *
 * kvbench opens N connections, keeps each one busy with batches of GET and SET
 * requests, and reports how many requests per second the server answered and how
 * long the answers took. It follows redis-benchmark and memtier_benchmark:
 *
 *   - One thread and one poll() loop drive every connection. The sockets are
 *     non-blocking, so a slow connection never holds up a fast one, and a thousand
 *     connections cost a thousand file descriptors, not a thousand threads.
 *   - Pipelining (-P DEPTH) writes DEPTH requests with one write() and then waits for
 *     all DEPTH replies. Most of the cost of a small request is the round trip and the
 *     system calls around it; a pipeline shares that cost among DEPTH requests.
 *   - Latency goes into a log-linear histogram, in the manner of HdrHistogram: 3840
 *     counters cover a nanosecond to over a minute with under 0.4% error, however long
 *     the run. Keeping every sample to sort would cost memory in proportion to the run.
 *   - Every reply is checked. The value of key i is a byte pattern computed from i
 *     alone, so any connection can check any GET without remembering what was written:
 *     the reply must be exactly that value, or NOT_FOUND while no SET has reached the
 *     key. This makes kvbench a stress test as well as a benchmark: exit status 0 means
 *     that every one of the replies was right.
 *
 * With --idle N it first opens N more connections, checks that the server answers a
 * request on each, and keeps them open and silent through the run: what many idle
 * clients cost a server's busy ones, and what each costs it in memory.
 *
 * With --protocol resp it speaks RESP2 instead, so the same load can be aimed at
 * redis-server for comparison. The encoders and decoders of both protocols come from
 * kv1.h and resp.h, shared with kv and nullserver; the buffers from buf.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "buf.h"
#include "kv1.h"
#include "net.h"
#include "resp.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT 7379
#define DEFAULT_DURATION 5.0

#define KEY_PREFIX "key:"
#define KEY_DIGITS 12
#define KEY_LEN (sizeof KEY_PREFIX - 1 + KEY_DIGITS) /* "key:000000000042" */
#define MAX_KEYS UINT64_C(1000000000000)             /* as many as 12 digits can number */

#define MAX_REQUESTS (UINT64_MAX / 1000) /* the percentile arithmetic multiplies by 1000 */
#define MAX_CONNECTIONS 1000000
#define MAX_PIPELINE 1000000
#define MAX_WEIGHT 1000000
#define MAX_SECONDS 1e6

#define RESP_MAX_LINE 1024     /* a RESP reply line (CRLF included) longer is garbage */
#define READ_CHUNK 16384       /* the least room offered to each read() */
#define MAX_ERROR_LINES 10     /* errors described one by one on stderr; the rest counted */
#define PRELOAD_MAX_DEPTH 256  /* preload batches: up to this many requests ... */
#define PRELOAD_BATCH_BYTES (1u << 20) /* ... and about this many bytes */
#define IDLE_WINDOW 100        /* idle connections being opened at one time, at most */
#define IDLE_KEY "kvbench:idle" /* the key their one GET asks for: no run ever sets it */

#define NS_PER_SEC UINT64_C(1000000000)
#define NS_PER_MS UINT64_C(1000000)

/* ------------------------------------------------------------------------------------
 * Small things: dying, allocating, the clock
 * ------------------------------------------------------------------------------------ */

/*
 * A benchmark that cannot allocate its buffers or read the clock has nothing useful
 * left to say, so those failures end the program here instead of travelling up.
 */
static void die(const char *what)
{
    fprintf(stderr, "kvbench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        die("out of memory");
    return p;
}

/* Nanoseconds on a clock that never jumps, unlike the time of day. */
static uint64_t now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        die("clock_gettime");
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t seconds_to_ns(double seconds)
{
    return (uint64_t)(seconds * (double)NS_PER_SEC);
}

/* The room an encoder (buf.h, kv1.h, resp.h) made for the caller to fill, or the end. */
static uint8_t *room_or_die(uint8_t *room)
{
    if (room == NULL)
        die("out of memory");
    return room;
}

static void close_quietly(int fd)
{
    if (close(fd) < 0 && errno != EINTR)
        fprintf(stderr, "kvbench: close: %s\n", strerror(errno));
}

/* ------------------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------------------ */

enum protocol { PROTO_KV, PROTO_RESP };
enum format { FORMAT_TABLE, FORMAT_CSV, FORMAT_JSON };

static const char *const protocol_names[] = {"kv", "resp"};
static const char *const format_names[] = {"table", "csv", "json"};

struct options {
    const char *host;
    uint16_t port;
    size_t connections;
    size_t idle;            /* --idle: connections opened first and left silent */
    size_t idle_value;      /* --idle-value: the size of the value each SETs first, or 0 */
    size_t pipeline;
    uint64_t requests;      /* -n; 0 when the run is timed by -d instead */
    double duration;        /* -d, seconds */
    double warmup;          /* -w, seconds */
    double timeout;         /* -t, seconds */
    uint64_t keys;
    size_t value_size;
    unsigned get_weight;    /* -r GET:SET */
    unsigned set_weight;
    int preload;
    uint64_t expire_ms;     /* --expire: 0, or when every key SET expires, from the start */
    enum protocol protocol;
    enum format format;
    uint64_t seed;
    int quiet;
};

static const char usage_text[] =
    "usage: kvbench [OPTIONS]\n"
    "\n"
    "Sends GET and SET requests to a KV/1 server (or to redis-server, with --protocol resp)\n"
    "from many connections at once, checks every reply, and reports the throughput and the\n"
    "latency percentiles.\n"
    "\n"
    "  -h, --host HOST          server address (127.0.0.1)\n"
    "  -p, --port PORT          server port (7379, or $KV_PORT when set)\n"
    "  -c, --connections N      connections, all open before the first request (1)\n"
    "      --idle N             before the run, open N more connections, send one GET on\n"
    "                           each and check its reply, then leave them open and silent\n"
    "                           until the end (0)\n"
    "      --idle-value BYTES   each idle connection first SETs a value of BYTES bytes and\n"
    "                           GETs it back; they are then opened one at a time (0: no SET)\n"
    "  -P, --pipeline DEPTH     requests per write; all DEPTH replies come before the next (1)\n"
    "  -n, --requests N         stop after N requests over all connections\n"
    "  -d, --duration SECS      stop after SECS seconds (5 when -n is not given)\n"
    "  -w, --warmup SECS        run this long first, without measuring (0)\n"
    "  -k, --keys N             key space: key:000000000000 to key:N-1, zero-padded (1000)\n"
    "  -s, --value-size BYTES   size of every value (16)\n"
    "  -r, --ratio GET:SET      request mix, e.g. 9:1; 1:0 is GET only (1:1)\n"
    "      --preload            SET every key once before the run, not measured\n"
    "      --expire MS          follow every SET with a PEXPIRE of its key, timed so that\n"
    "                           every key set expires MS ms after kvbench started (the\n"
    "                           ttl sent is what is left of that); for servers from step\n"
    "                           07 on, and redis-server\n"
    "      --protocol kv|resp   KV/1, or RESP2 for redis-server (kv)\n"
    "      --format table|csv|json   result format (table); csv and json fit scripts\n"
    "      --seed N             seed of the sequence of requests and keys (1)\n"
    "  -t, --timeout SECS       a connection without progress this long is an error (10)\n"
    "  -q, --quiet              no progress line\n"
    "      --help               this text\n"
    "\n"
    "The value of a key is a byte pattern that depends only on the key and --value-size.\n"
    "A GET must return exactly that value, or NOT_FOUND (counted as a miss). Any other\n"
    "reply, a connection that fails or closes early, or a timeout counts as an error, and\n"
    "so does each request it leaves unanswered, but for those never written and those\n"
    "after an ERROR reply (a KV/1 server closes the connection after one).\n"
    "(Values left by an earlier run with another --value-size are errors too.)\n"
    "\n"
    "Exit status: 0 if every reply was right, 1 if there was any error, 2 on a bad\n"
    "command line.\n";

enum option_id {
    OPT_HOST, OPT_PORT, OPT_CONNECTIONS, OPT_PIPELINE, OPT_REQUESTS, OPT_DURATION,
    OPT_WARMUP, OPT_KEYS, OPT_VALUE_SIZE, OPT_RATIO, OPT_PRELOAD, OPT_PROTOCOL,
    OPT_FORMAT, OPT_SEED, OPT_TIMEOUT, OPT_QUIET, OPT_HELP, OPT_EXPIRE, OPT_IDLE,
    OPT_IDLE_VALUE
};

struct option_spec {
    enum option_id id;
    char short_name; /* 0: only the long form exists */
    const char *long_name;
    int takes_value;
};

static const struct option_spec option_specs[] = {
    {OPT_HOST, 'h', "host", 1},           {OPT_PORT, 'p', "port", 1},
    {OPT_CONNECTIONS, 'c', "connections", 1}, {OPT_PIPELINE, 'P', "pipeline", 1},
    {OPT_REQUESTS, 'n', "requests", 1},   {OPT_DURATION, 'd', "duration", 1},
    {OPT_WARMUP, 'w', "warmup", 1},       {OPT_KEYS, 'k', "keys", 1},
    {OPT_VALUE_SIZE, 's', "value-size", 1}, {OPT_RATIO, 'r', "ratio", 1},
    {OPT_PRELOAD, 0, "preload", 0},       {OPT_PROTOCOL, 0, "protocol", 1},
    {OPT_FORMAT, 0, "format", 1},         {OPT_SEED, 0, "seed", 1},
    {OPT_TIMEOUT, 't', "timeout", 1},     {OPT_QUIET, 'q', "quiet", 0},
    {OPT_HELP, 0, "help", 0},             {OPT_EXPIRE, 0, "expire", 1},
    {OPT_IDLE, 0, "idle", 1},             {OPT_IDLE_VALUE, 0, "idle-value", 1},
};

#define OPTION_COUNT (sizeof option_specs / sizeof option_specs[0])

/* The three ways a command line can turn out. */
enum cli_result { CLI_RUN, CLI_HELP, CLI_BAD };

/* Says what is wrong, and with what (arg may be NULL), and how to find the right way. */
static enum cli_result usage_error(const char *message, const char *arg)
{
    fprintf(stderr, "kvbench: %s%s%s\n", message, arg ? ": " : "", arg ? arg : "");
    fprintf(stderr, "usage: kvbench [OPTIONS]   (kvbench --help lists them)\n");
    return CLI_BAD;
}

/* A whole decimal number in [min, max]. strtoull() alone would accept "-1" and " 7". */
static int parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long value;

    if (*text < '0' || *text > '9')
        return -1;
    errno = 0;
    value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

static int parse_size(const char *text, size_t min, size_t max, size_t *out)
{
    uint64_t value;
    if (parse_u64(text, min, max, &value) < 0)
        return -1;
    *out = (size_t)value;
    return 0;
}

/* Seconds, fractions allowed ("0.5"). The comparison also turns away NaN. */
static int parse_seconds(const char *text, int zero_allowed, double *out)
{
    char *end;
    double value;

    errno = 0;
    value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(value >= 0 && value <= MAX_SECONDS))
        return -1;
    if (value == 0 && !zero_allowed)
        return -1;
    *out = value;
    return 0;
}

/* "GET:SET" weights, e.g. "9:1". At least one must be non-zero. */
static int parse_ratio(const char *text, struct options *o)
{
    char get_part[32];
    const char *colon = strchr(text, ':');
    uint64_t get, set;

    if (colon == NULL || (size_t)(colon - text) >= sizeof get_part)
        return -1;
    memcpy(get_part, text, (size_t)(colon - text));
    get_part[colon - text] = '\0';
    if (parse_u64(get_part, 0, MAX_WEIGHT, &get) < 0 ||
        parse_u64(colon + 1, 0, MAX_WEIGHT, &set) < 0 || get + set == 0)
        return -1;
    o->get_weight = (unsigned)get;
    o->set_weight = (unsigned)set;
    return 0;
}

static int parse_choice(const char *text, const char *const *names, int count, int *out)
{
    for (int i = 0; i < count; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

static int parse_protocol(const char *text, enum protocol *out)
{
    int choice;
    if (parse_choice(text, protocol_names, 2, &choice) < 0)
        return -1;
    *out = (enum protocol)choice;
    return 0;
}

static int parse_format(const char *text, enum format *out)
{
    int choice;
    if (parse_choice(text, format_names, 3, &choice) < 0)
        return -1;
    *out = (enum format)choice;
    return 0;
}

/* Stores one option's value. -n and -d leave a mark so that the two can be refused together. */
static int apply_option(struct options *o, enum option_id id, const char *value, int *timed)
{
    switch (id) {
    case OPT_HOST: o->host = value; return 0;
    case OPT_PORT: return parse_port(value, 1, &o->port);
    case OPT_CONNECTIONS: return parse_size(value, 1, MAX_CONNECTIONS, &o->connections);
    case OPT_PIPELINE: return parse_size(value, 1, MAX_PIPELINE, &o->pipeline);
    case OPT_REQUESTS: return parse_u64(value, 1, MAX_REQUESTS, &o->requests);
    case OPT_DURATION: *timed = 1; return parse_seconds(value, 0, &o->duration);
    case OPT_WARMUP: return parse_seconds(value, 1, &o->warmup);
    case OPT_KEYS: return parse_u64(value, 1, MAX_KEYS, &o->keys);
    case OPT_VALUE_SIZE: return parse_size(value, 0, KV1_MAX_ARG_LEN, &o->value_size);
    case OPT_RATIO: return parse_ratio(value, o);
    case OPT_PRELOAD: o->preload = 1; return 0;
    case OPT_PROTOCOL: return parse_protocol(value, &o->protocol);
    case OPT_FORMAT: return parse_format(value, &o->format);
    case OPT_SEED: return parse_u64(value, 0, UINT64_MAX, &o->seed);
    case OPT_TIMEOUT: return parse_seconds(value, 0, &o->timeout);
    case OPT_QUIET: o->quiet = 1; return 0;
    case OPT_HELP: return 0;
    case OPT_EXPIRE: return parse_u64(value, 1, UINT64_C(1) << 40, &o->expire_ms);
    case OPT_IDLE: return parse_size(value, 0, MAX_CONNECTIONS, &o->idle);
    case OPT_IDLE_VALUE: return parse_size(value, 0, KV1_MAX_ARG_LEN, &o->idle_value);
    }
    return -1;
}

/*
 * Finds the option an argument names: "-c", "--connections", and the glued forms
 * "-c50" and "--connections=50", whose value *glued then points at.
 */
static const struct option_spec *find_option(const char *arg, const char **glued)
{
    *glued = NULL;
    if (arg[0] != '-' || arg[1] == '\0')
        return NULL;
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const struct option_spec *spec = &option_specs[i];
        size_t len = strlen(spec->long_name);
        if (arg[1] == '-' && strncmp(arg + 2, spec->long_name, len) == 0 &&
            (arg[2 + len] == '\0' || arg[2 + len] == '=')) {
            *glued = arg[2 + len] == '=' ? arg + 3 + len : NULL;
            return spec;
        }
        if (arg[1] != '-' && arg[1] == spec->short_name) {
            *glued = arg[2] != '\0' ? arg + 2 : NULL;
            return spec;
        }
    }
    return NULL;
}

static int set_defaults(struct options *o)
{
    const char *env_port = getenv("KV_PORT");

    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = DEFAULT_PORT;
    o->connections = 1;
    o->pipeline = 1;
    o->timeout = 10;
    o->keys = 1000;
    o->value_size = 16;
    o->get_weight = 1;
    o->set_weight = 1;
    o->seed = 1;
    if (env_port != NULL && *env_port != '\0')
        return parse_port(env_port, 1, &o->port);
    return 0;
}

static enum cli_result parse_command_line(int argc, char **argv, struct options *o)
{
    int timed = 0;

    if (set_defaults(o) < 0)
        return usage_error("KV_PORT is not a port number", getenv("KV_PORT"));
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i], *value;
        const struct option_spec *spec = find_option(name, &value);
        if (spec == NULL)
            return usage_error("unknown option", name);
        if (spec->takes_value && value == NULL && (value = argv[++i]) == NULL)
            return usage_error("this option needs a value", name);
        if (!spec->takes_value && value != NULL)
            return usage_error("this option takes no value", name);
        if (spec->id == OPT_HELP)
            return CLI_HELP;
        if (apply_option(o, spec->id, value, &timed) < 0) {
            char message[64];
            snprintf(message, sizeof message, "bad value for --%s", spec->long_name);
            return usage_error(message, value);
        }
    }
    if (timed && o->requests > 0)
        return usage_error("-n and -d cannot be combined", NULL);
    if (o->requests == 0 && !timed)
        o->duration = DEFAULT_DURATION;
    return CLI_RUN;
}

/* ------------------------------------------------------------------------------------
 * Random numbers, keys and values
 * ------------------------------------------------------------------------------------ */

/*
 * SplitMix64: each call advances the state by a constant and scrambles it. Good
 * enough for choosing keys, tiny, and the same on every machine, so --seed repeats
 * a run exactly.
 */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Writes "key:" and the index as 12 zero-padded digits: exactly KEY_LEN bytes, no NUL. */
static void format_key(uint64_t index, uint8_t *out)
{
    memcpy(out, KEY_PREFIX, sizeof KEY_PREFIX - 1);
    for (size_t i = KEY_LEN; i > sizeof KEY_PREFIX - 1; i--) {
        out[i - 1] = (uint8_t)('0' + index % 10);
        index /= 10;
    }
}

/*
 * The value of key `index`: len bytes of a pseudo-random stream seeded by the index
 * alone. Every connection, every run, computes the same value for the same key, and
 * different keys get different values, so a reply carrying another key's value is
 * caught. The bytes cover all 256 values: NUL, 0xFF and "\r\n" test binary safety.
 */
static void fill_value(uint64_t index, uint8_t *out, size_t len)
{
    uint64_t state = index ^ UINT64_C(0x6b76626e6368); /* "kvbnch": key 0 is no special case */

    for (size_t i = 0; i < len; i += 8) {
        uint64_t word = splitmix64(&state);
        for (size_t j = 0; j < 8 && i + j < len; j++)
            out[i + j] = (uint8_t)(word >> (56 - 8 * j));
    }
}

/* ------------------------------------------------------------------------------------
 * Latency histogram
 *
 * A log-linear histogram, the idea behind HdrHistogram. Below 128 ns every
 * nanosecond has its own counter. Above, each power of two [2^e, 2^(e+1)) is cut into
 * 128 equal slots, each 2^(e-7) ns wide. A slot is never wider than 1/128 of the
 * values it holds, so reporting its midpoint is off by at most 1/256 (0.4%).
 * Thirty groups of 128 slots reach 2^36 ns, about 68.7 s; slower replies land in the
 * last slot, and the exact maximum is kept aside.
 * ------------------------------------------------------------------------------------ */

#define HIST_SUB_BITS 7
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_VALUE_BITS 36
#define HIST_SLOTS ((HIST_VALUE_BITS - HIST_SUB_BITS + 1) * HIST_SUB_COUNT)

struct histogram {
    uint64_t counts[HIST_SLOTS];
    uint64_t total;
    uint64_t min, max; /* exact, in ns */
};

/* The position of the highest set bit of v (v > 0): floor(log2(v)), by binary search. */
static unsigned highest_bit(uint64_t v)
{
    unsigned bit = 0;
    for (unsigned step = 32; step > 0; step /= 2) {
        if (v >> step) {
            v >>= step;
            bit += step;
        }
    }
    return bit;
}

static size_t hist_slot(uint64_t ns)
{
    unsigned shift;

    if (ns < HIST_SUB_COUNT)
        return (size_t)ns;
    if (ns >> HIST_VALUE_BITS)
        ns = (UINT64_C(1) << HIST_VALUE_BITS) - 1;
    /* ns >> shift keeps the top 8 bits: 128..255, the position inside the group. */
    shift = highest_bit(ns) - HIST_SUB_BITS;
    return (size_t)(shift + 1) * HIST_SUB_COUNT + (size_t)((ns >> shift) - HIST_SUB_COUNT);
}

/* The middle of the values a slot holds: the inverse of hist_slot(). */
static uint64_t hist_slot_middle(size_t slot)
{
    size_t group = slot / HIST_SUB_COUNT;
    uint64_t low, width;

    if (group == 0)
        return slot;
    low = (uint64_t)(HIST_SUB_COUNT + slot % HIST_SUB_COUNT) << (group - 1);
    width = UINT64_C(1) << (group - 1);
    return low + (width - 1) / 2;
}

static void hist_init(struct histogram *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static void hist_record(struct histogram *h, uint64_t ns)
{
    h->counts[hist_slot(ns)]++;
    h->total++;
    if (ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
}

/*
 * The value below which per_mille thousandths of the samples fall, by the nearest-rank
 * rule: the smallest sample with at least that share of the samples at or below it.
 * Clamping to the exact extremes makes p100 the true maximum.
 */
static uint64_t hist_percentile(const struct histogram *h, unsigned per_mille)
{
    uint64_t rank, seen = 0;

    if (h->total == 0)
        return 0;
    rank = (h->total * per_mille + 999) / 1000;
    if (rank == 0)
        rank = 1;
    for (size_t slot = 0; slot < HIST_SLOTS; slot++) {
        seen += h->counts[slot];
        if (seen >= rank) {
            uint64_t value = hist_slot_middle(slot);
            return value < h->min ? h->min : value > h->max ? h->max : value;
        }
    }
    return h->max;
}

/* ------------------------------------------------------------------------------------
 * Encoding requests
 * ------------------------------------------------------------------------------------ */

enum op { OP_GET, OP_SET, OP_PEXPIRE }; /* a PEXPIRE follows its SET (--expire) */

/* One request of a batch: all kvbench needs to know to check its reply. */
struct request {
    enum op op;
    uint64_t key;
    uint64_t ttl_ms; /* OP_PEXPIRE */
    size_t end; /* where it ends in the connection's output: sent once out_sent reaches it */
};

/*
 * KV/1 (kv1.h): the type, then the key, and for SET the value, each written straight
 * into the room the encoder leaves for it (filled at once: the next append may move it).
 */
static void encode_kv(struct buf *out, const struct request *req, size_t value_size)
{
    static const uint16_t types[] = {KV1_GET, KV1_SET, KV1_PEXPIRE};

    if (kv1_append_type(out, types[req->op]) < 0)
        die("out of memory");
    format_key(req->key, room_or_die(kv1_append_arg(out, KEY_LEN)));
    if (req->op == OP_PEXPIRE && kv1_append_u64_arg(out, req->ttl_ms) < 0)
        die("out of memory");
    if (req->op == OP_SET)
        fill_value(req->key, room_or_die(kv1_append_arg(out, value_size)), value_size);
}

/* RESP2 (resp.h): an array of bulk strings, the way redis-cli sends a command. */
static void encode_resp(struct buf *out, const struct request *req, size_t value_size)
{
    static const char get_head[] = "*2\r\n$3\r\nGET\r\n";
    static const char set_head[] = "*3\r\n$3\r\nSET\r\n";
    static const char pexpire_head[] = "*3\r\n$7\r\nPEXPIRE\r\n";
    const char *head = req->op == OP_GET ? get_head : set_head;
    char ttl[24];
    int ttl_len;

    if (req->op == OP_PEXPIRE) {
        memcpy(room_or_die(buf_extend(out, sizeof pexpire_head - 1)), pexpire_head,
               sizeof pexpire_head - 1);
        format_key(req->key, room_or_die(resp_append_bulk(out, KEY_LEN)));
        ttl_len = snprintf(ttl, sizeof ttl, "%" PRIu64, req->ttl_ms);
        memcpy(room_or_die(resp_append_bulk(out, (size_t)ttl_len)), ttl, (size_t)ttl_len);
        return;
    }
    memcpy(room_or_die(buf_extend(out, sizeof get_head - 1)), head, sizeof get_head - 1);
    format_key(req->key, room_or_die(resp_append_bulk(out, KEY_LEN)));
    if (req->op == OP_SET)
        fill_value(req->key, room_or_die(resp_append_bulk(out, value_size)), value_size);
}

/* ------------------------------------------------------------------------------------
 * Decoding replies
 *
 * Both protocols decode into one shape, so that checking a reply does not care
 * which protocol carried it. Decoding never trusts a length it has not checked: a
 * reply announcing more than MAX_ARG_LEN bytes is malformed, not a reason to buffer
 * gigabytes.
 * ------------------------------------------------------------------------------------ */

enum reply_kind {
    REPLY_VALUE,     /* KV/1 OK with its payload; a RESP bulk string */
    REPLY_STATUS,    /* a RESP simple string, "+OK" */
    REPLY_NOT_FOUND, /* KV/1 NOT_FOUND; RESP's null bulk string "$-1" */
    REPLY_ERROR,     /* KV/1 ERROR; a RESP error "-ERR ..." */
    REPLY_OTHER      /* a well-framed reply of no kind a GET or SET can get */
};

struct reply {
    enum reply_kind kind;
    unsigned status;        /* KV/1 only: the status number, for messages */
    const uint8_t *payload; /* points into the connection's input buffer */
    size_t len;
};

enum frame_result { FRAME_COMPLETE, FRAME_INCOMPLETE, FRAME_MALFORMED };

/* KV/1 (kv1.h). A payload announced over the limit cannot be a reply to GET or SET. */
static enum frame_result decode_kv(const uint8_t *buf, size_t len, struct reply *r, size_t *used)
{
    struct kv1_reply kr;

    switch (kv1_parse_reply(buf, len, KV1_MAX_ARG_LEN, &kr, used)) {
    case KV1_COMPLETE:
        break;
    case KV1_INCOMPLETE:
        return FRAME_INCOMPLETE;
    default:
        return FRAME_MALFORMED;
    }
    r->status = kr.status;
    r->kind = kr.status == KV1_OK          ? REPLY_VALUE
              : kr.status == KV1_NOT_FOUND ? REPLY_NOT_FOUND
              : kr.status == KV1_ERROR     ? REPLY_ERROR
                                           : REPLY_OTHER;
    r->payload = kr.payload;
    r->len = kr.len;
    return FRAME_COMPLETE;
}

/* Finds the "\r\n" that ends the line at buf. Returns 0 and its offset, or -1 if absent. */
static int find_line_end(const uint8_t *buf, size_t len, size_t *end)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] == '\r' && buf[i + 1] == '\n') {
            *end = i;
            return 0;
        }
    }
    return -1;
}

/* "$LEN\r\nBYTES\r\n", or "$-1\r\n" for a key that does not exist. line_end: the first CR. */
static enum frame_result decode_resp_bulk(const uint8_t *buf, size_t len, size_t line_end,
                                          struct reply *r, size_t *used)
{
    long long bulk_len;
    size_t at = 0, total;

    if (resp_read_number(buf, line_end + 2, &at, '$', KV1_MAX_ARG_LEN, &bulk_len) <= 0)
        return FRAME_MALFORMED;
    if (bulk_len < 0) {
        r->kind = REPLY_NOT_FOUND;
        r->payload = buf;
        r->len = 0;
        *used = at;
        return FRAME_COMPLETE;
    }
    total = at + (size_t)bulk_len + 2;
    if (len < total)
        return FRAME_INCOMPLETE;
    if (buf[total - 2] != '\r' || buf[total - 1] != '\n')
        return FRAME_MALFORMED;
    r->kind = REPLY_VALUE;
    r->payload = buf + at;
    r->len = (size_t)bulk_len;
    *used = total;
    return FRAME_COMPLETE;
}

/*
 * RESP2 replies begin with a type byte. GET and SET can only get '+', '-', '$'; an
 * integer ':' is framed and merely wrong, but an array '*' would need a parser for
 * nesting that kvbench has no use for, so it counts as malformed.
 */
static enum frame_result decode_resp(const uint8_t *buf, size_t len, struct reply *r,
                                     size_t *used)
{
    size_t line_end;

    r->status = 0;
    if (find_line_end(buf, len < RESP_MAX_LINE ? len : RESP_MAX_LINE, &line_end) < 0)
        return len >= RESP_MAX_LINE ? FRAME_MALFORMED : FRAME_INCOMPLETE;
    if (line_end == 0)
        return FRAME_MALFORMED;
    if (buf[0] == '$')
        return decode_resp_bulk(buf, len, line_end, r, used);
    if (buf[0] != '+' && buf[0] != '-' && buf[0] != ':')
        return FRAME_MALFORMED;
    r->kind = buf[0] == '+' ? REPLY_STATUS : buf[0] == '-' ? REPLY_ERROR : REPLY_OTHER;
    r->payload = buf + 1;
    r->len = line_end - 1;
    *used = line_end + 2;
    return FRAME_COMPLETE;
}

/* ------------------------------------------------------------------------------------
 * Checking replies
 * ------------------------------------------------------------------------------------ */

enum verdict { VERDICT_RIGHT, VERDICT_MISS, VERDICT_ERROR_STATUS, VERDICT_WRONG };

/* A payload as text for a message: printable ASCII as is, the rest as \xHH, cut short. */
static void describe_bytes(const uint8_t *bytes, size_t len, char *out, size_t size)
{
    size_t at = 0;

    for (size_t i = 0; i < len && at + 8 < size; i++) {
        if (bytes[i] >= 0x20 && bytes[i] < 0x7f && bytes[i] != '\\' && bytes[i] != '"')
            out[at++] = (char)bytes[i];
        else if (bytes[i] == '\r' || bytes[i] == '\n')
            at += (size_t)snprintf(out + at, size - at, "\\%c", bytes[i] == '\r' ? 'r' : 'n');
        else
            at += (size_t)snprintf(out + at, size - at, "\\x%02x", bytes[i]);
    }
    if (at + 8 >= size)
        at += (size_t)snprintf(out + at, size - at, "...");
    out[at] = '\0';
}

/* A GET must bring back exactly the value of its key, or NOT_FOUND with nothing. */
static enum verdict check_get(const struct reply *r, const uint8_t *expected,
                              size_t value_size, char *why, size_t size)
{
    char got[64];
    size_t at = 0;

    if (r->kind == REPLY_NOT_FOUND && r->len == 0)
        return VERDICT_MISS;
    if (r->kind != REPLY_VALUE)
        return VERDICT_WRONG; /* the caller names the kind it was */
    if (r->len == value_size && memcmp(r->payload, expected, value_size) == 0)
        return VERDICT_RIGHT;
    describe_bytes(r->payload, r->len, got, sizeof got);
    if (r->len != value_size) {
        snprintf(why, size, "value of %zu bytes, expected %zu: \"%s\"", r->len, value_size, got);
        return VERDICT_WRONG;
    }
    while (r->payload[at] == expected[at])
        at++;
    snprintf(why, size, "wrong value, first difference at byte %zu: \"%s\"", at, got);
    return VERDICT_WRONG;
}

/* KV/1 answers a SET with OK and an empty payload; Redis with the simple string "+OK". */
static enum verdict check_set(const struct reply *r, enum protocol protocol)
{
    if (protocol == PROTO_KV && r->kind == REPLY_VALUE && r->len == 0)
        return VERDICT_RIGHT;
    if (protocol == PROTO_RESP && r->kind == REPLY_STATUS && r->len == 2 &&
        memcmp(r->payload, "OK", 2) == 0)
        return VERDICT_RIGHT;
    return VERDICT_WRONG;
}

/* PEXPIRE of a key just SET: KV/1's OK with an empty payload; Redis's integer ":1". */
static enum verdict check_pexpire(const struct reply *r, enum protocol protocol)
{
    if (protocol == PROTO_KV && r->kind == REPLY_VALUE && r->len == 0)
        return VERDICT_RIGHT;
    if (protocol == PROTO_RESP && r->kind == REPLY_OTHER && r->len == 1 && r->payload[0] == '1')
        return VERDICT_RIGHT;
    return VERDICT_WRONG;
}

/* Names a reply of the wrong kind, for the error message. */
static void describe_reply(const struct reply *r, char *why, size_t size)
{
    char text[64];

    describe_bytes(r->payload, r->len, text, sizeof text);
    if (r->kind == REPLY_NOT_FOUND && r->len == 0)
        snprintf(why, size, "NOT_FOUND");
    else if (r->kind == REPLY_NOT_FOUND)
        snprintf(why, size, "NOT_FOUND with a %zu-byte payload", r->len);
    else if (r->kind == REPLY_ERROR)
        snprintf(why, size, "server answered ERROR \"%s\"", text);
    else if (r->kind == REPLY_OTHER && r->status != 0)
        snprintf(why, size, "unknown status %u, payload \"%s\"", r->status, text);
    else
        snprintf(why, size, "unexpected reply \"%s\"", text);
}

/* ------------------------------------------------------------------------------------
 * Connections and the run
 *
 * A run goes through phases, and every connection takes part in each:
 *
 *   CONNECT   every connection is opened; none sends until all are open or failed
 *   PRELOAD   (--preload) SETs of keys 0..K-1 in order, shared out among connections
 *   WARMUP    (-w) the real load, not measured
 *   MEASURE   the real load, measured; ends at the deadline (-d) or after -n requests
 *   DRAIN     no new batches; waiting for the replies still owed
 *
 * A batch belongs to the phase that sent it: replies to a warmup batch that arrive
 * after the warmup ended are still not measured. That lets the phases follow each
 * other without stopping the pipelines in between.
 * ------------------------------------------------------------------------------------ */

enum phase { PHASE_CONNECT, PHASE_PRELOAD, PHASE_WARMUP, PHASE_MEASURE, PHASE_DRAIN,
             PHASE_DONE };

enum conn_state { CONN_CONNECTING, CONN_OPEN, CONN_CLOSED };

struct connection {
    size_t id;
    int fd;
    enum conn_state state;
    uint64_t rng;             /* this connection's own stream of requests */
    struct buf out;           /* the batch being written */
    size_t out_sent;
    struct buf in;            /* replies received and not yet decoded */
    struct request *batch;    /* the requests of the batch in flight, in order */
    size_t batch_len;
    size_t answered;          /* replies received: batch[answered] is the next one owed */
    int in_flight;            /* a batch is sent or being sent, and not fully answered */
    int got_error;            /* KV/1: a reply was ERROR, so the server is closing */
    enum phase batch_phase;   /* the phase that sent the batch */
    uint64_t batch_start_ns;  /* when its first byte was written: latency starts here */
    uint64_t last_progress_ns; /* the last connect, read or write that moved */
};

struct error_counts {
    uint64_t connect_failed; /* connections that never opened */
    uint64_t error_status;   /* replies with status ERROR */
    uint64_t wrong;          /* wrong value, or a reply of the wrong kind */
    uint64_t malformed;      /* replies that could not be decoded, or no request wanted */
    uint64_t unanswered;     /* requests lost when a connection closed, failed or stalled */
    uint64_t idle_failed;    /* --idle connections that never opened or were not answered */
    uint64_t idle_lost;      /* --idle connections the server closed during the run */
};

static uint64_t total_errors(const struct error_counts *e)
{
    return e->connect_failed + e->error_status + e->wrong + e->malformed + e->unanswered +
           e->idle_failed + e->idle_lost;
}

struct progress {
    int enabled;
    uint64_t next_ns;         /* when the next line is due */
    uint64_t last_ns;
    uint64_t last_requests;
    int width;                /* of the line on screen, to blank it */
};

/* An idle connection (--idle) goes through these states once, in order, or fails. */
enum idle_state { IDLE_CONNECTING, IDLE_SENDING, IDLE_WAITING, IDLE_OPEN, IDLE_FAILED };

struct idle_connection {
    int fd;
    enum idle_state state;
    size_t sent;                  /* bytes of the requests written */
    size_t answered;              /* replies checked */
    struct buf in;                /* replies received and not yet checked; freed once open */
    uint64_t last_progress_ns;
};

struct bench {
    struct options opt;
    struct connection *conns;
    struct idle_connection *idle;  /* --idle: opt.idle of them */
    size_t idle_open;              /* how many were answered and left open */
    struct buf idle_request;       /* the requests each of them sends: [SET,] GET */
    uint8_t *idle_value;           /* --idle-value: the value they SET */
    size_t idle_window;            /* how many are opened at one time */
    char timeout_text[32];         /* -t as given, for messages */
    struct addrinfo *server_list; /* from getaddrinfo(), freed at the end */
    const struct addrinfo *server; /* the address in it that every connection uses */
    size_t preload_depth;
    enum phase phase;
    size_t connecting, open, busy; /* connections in each of these situations */
    uint64_t warmup_end_ns, measure_start_ns, measure_end_ns, last_reply_ns;
    uint64_t timeout_ns;
    uint64_t expire_at_ns;    /* --expire: when every key set expires */
    uint64_t preload_next;    /* the next key to preload */
    uint64_t unclaimed;       /* -n: measured requests not yet given to a batch */
    uint64_t requests;        /* measured replies received, right or wrong */
    uint64_t misses;          /* measured GETs answered NOT_FOUND */
    struct error_counts errors;
    unsigned errors_shown;
    uint8_t *expected;        /* scratch space for the value a GET should return */
    struct histogram latency;
    struct progress progress;
};

/* ------------------------------------------------------------------------------------
 * Progress line
 * ------------------------------------------------------------------------------------ */

/*
 * Only for a person watching: when stderr is a terminal, and not for a run so short
 * that the line would flash and vanish. A timed run longer than 2 s shows it from the
 * first second; a run of -n requests, whose length is unknown, once it has lasted 2 s.
 */
static void progress_start(struct bench *b, uint64_t now)
{
    int long_run = b->opt.requests == 0 && b->opt.warmup + b->opt.duration > 2.0;

    b->progress.enabled = !b->opt.quiet && isatty(STDERR_FILENO);
    b->progress.next_ns = now + (long_run ? 1 : 2) * NS_PER_SEC;
    b->progress.last_ns = now;
}

static int format_progress(const struct bench *b, uint64_t now, char *line, size_t size)
{
    const struct progress *p = &b->progress;
    double interval = (double)(now - p->last_ns) / (double)NS_PER_SEC;

    switch (b->phase) {
    case PHASE_CONNECT:
        return snprintf(line, size, "connecting: %zu of %zu open", b->open, b->opt.connections);
    case PHASE_PRELOAD:
        return snprintf(line, size, "preload: %" PRIu64 " of %" PRIu64 " keys sent",
                        b->preload_next, b->opt.keys);
    case PHASE_WARMUP:
        return snprintf(line, size, "warmup: %.0f of %g s",
                        b->opt.warmup - (double)(b->warmup_end_ns - now) / NS_PER_SEC,
                        b->opt.warmup);
    default:
        return snprintf(line, size, "%.0f s: %" PRIu64 " requests, %.0f requests/s, %" PRIu64
                        " errors", (double)(now - b->measure_start_ns) / NS_PER_SEC, b->requests,
                        (double)(b->requests - p->last_requests) / interval,
                        total_errors(&b->errors));
    }
}

/* Rewrites the line in place: "\r" goes back to its start, spaces cover a longer old one. */
static void progress_tick(struct bench *b, uint64_t now)
{
    struct progress *p = &b->progress;
    char line[160];
    int len;

    if (!p->enabled || now < p->next_ns)
        return;
    len = format_progress(b, now, line, sizeof line);
    fprintf(stderr, "\r%s%*s", line, p->width > len ? p->width - len : 0, "");
    p->width = len;
    p->last_ns = now;
    p->last_requests = b->requests;
    p->next_ns += NS_PER_SEC;
    if (p->next_ns <= now)
        p->next_ns = now + NS_PER_SEC;
}

static void progress_clear(struct bench *b)
{
    if (b->progress.width > 0)
        fprintf(stderr, "\r%*s\r", b->progress.width, "");
    b->progress.width = 0;
}

/* ------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------ */

/*
 * Describes an error of connection `id` (`what`: "connection" or "idle connection") on
 * stderr, up to MAX_ERROR_LINES of them; the count is kept elsewhere.
 */
static void report_verror(struct bench *b, const char *what, size_t id, const char *format,
                          va_list ap)
{
    if (b->errors_shown++ > MAX_ERROR_LINES)
        return;
    progress_clear(b);
    if (b->errors_shown > MAX_ERROR_LINES) {
        fprintf(stderr, "kvbench: (more errors: only the first %d are described)\n",
                MAX_ERROR_LINES);
        return;
    }
    fprintf(stderr, "kvbench: %s %zu: ", what, id);
    vfprintf(stderr, format, ap);
    fputc('\n', stderr);
}

static void report_error(struct bench *b, const struct connection *c, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    report_verror(b, "connection", c->id, format, ap);
    va_end(ap);
}

static void report_idle_error(struct bench *b, size_t id, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    report_verror(b, "idle connection", id, format, ap);
    va_end(ap);
}

static void end_batch(struct bench *b, struct connection *c)
{
    c->in_flight = 0;
    b->busy--;
}

/*
 * The requests of the batch that reached the kernel whole. An answered one counts as
 * sent even if it was not: a server may refuse a request (too long) before all of it.
 */
static size_t requests_sent(const struct connection *c)
{
    size_t n = c->answered;

    while (n < c->batch_len && c->batch[n].end <= c->out_sent)
        n++;
    return n;
}

/*
 * Gives up on a connection. Each request it sent and got no reply to is an error, but
 * for those after an ERROR: KV/1 closes the connection after one, as docs/protocol.md
 * says, and the ERROR is already counted. Requests of a batch that were never written
 * (deep preload batches, a write that failed) are named, not counted: no server saw them.
 */
static void drop_connection(struct bench *b, struct connection *c, const char *reason)
{
    size_t sent = c->in_flight ? requests_sent(c) : 0;
    size_t owed = c->in_flight ? sent - c->answered : 0;
    size_t unsent = c->in_flight ? c->batch_len - sent : 0;
    char lost[128] = "";
    int at = 0;

    if (!c->got_error)
        b->errors.unanswered += owed;
    if (owed > 0)
        at = snprintf(lost, sizeof lost, "; %zu request%s left unanswered%s", owed,
                      owed == 1 ? "" : "s", c->got_error ? " after the ERROR (not counted)" : "");
    if (unsent > 0)
        snprintf(lost + at, sizeof lost - (size_t)at, "%s%zu never sent (not counted)",
                 at > 0 ? ", " : "; ", unsent);
    report_error(b, c, "%s%s", reason, lost);
    if (c->in_flight)
        end_batch(b, c);
    close_quietly(c->fd);
    c->fd = -1;
    c->state = CONN_CLOSED;
    b->open--;
}

/* ------------------------------------------------------------------------------------
 * Opening connections
 * ------------------------------------------------------------------------------------ */

/*
 * Looks the server's address up once; every connection uses it. The project's servers
 * listen on 127.0.0.1 only, so when a name such as "localhost" has both an IPv4 and an
 * IPv6 address, the IPv4 one is taken.
 */
static int resolve_server(struct bench *b)
{
    struct addrinfo hints, *list, *entry;
    char port[16];
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%u", (unsigned)b->opt.port);
    rc = getaddrinfo(b->opt.host, port, &hints, &list);
    if (rc != 0) {
        fprintf(stderr, "kvbench: %s: %s\n", b->opt.host, gai_strerror(rc));
        return -1;
    }
    b->server_list = list;
    b->server = list;
    for (entry = list; entry != NULL; entry = entry->ai_next) {
        if (entry->ai_family == AF_INET) {
            b->server = entry;
            break;
        }
    }
    return 0;
}

/* A connection that never opened: one error, and one connection fewer for the run. */
static void connect_failed(struct bench *b, struct connection *c, const char *reason)
{
    b->errors.connect_failed++;
    report_error(b, c, "cannot connect to %s port %u: %s", b->opt.host, (unsigned)b->opt.port, reason);
    if (c->fd >= 0)
        close_quietly(c->fd);
    c->fd = -1;
    c->state = CONN_CLOSED;
    b->connecting--;
}

/*
 * The handshake is over. TCP_NODELAY because a batch is written in one go and then
 * waits for its replies: Nagle's algorithm would hold a small batch back until the
 * previous one was acknowledged, and that wait would show up as latency.
 */
static void connect_done(struct bench *b, struct connection *c, uint64_t now)
{
    if (set_nodelay(c->fd) < 0) {
        connect_failed(b, c, strerror(errno));
        return;
    }
    c->state = CONN_OPEN;
    c->last_progress_ns = now;
    b->connecting--;
    b->open++;
}

/*
 * Starts a non-blocking connect. It usually returns EINPROGRESS: the handshake goes
 * on without us, and poll() reports the socket writable once it is over. EINTR means
 * the same here: the connection attempt carries on in the background.
 */
static void start_connect(struct bench *b, struct connection *c, uint64_t now)
{
    const struct addrinfo *addr = b->server;

    c->state = CONN_CONNECTING;
    c->last_progress_ns = now;
    b->connecting++;
    c->fd = socket(addr->ai_family, addr->ai_socktype, addr->ai_protocol);
    if (c->fd < 0 || set_nonblocking(c->fd) < 0) {
        connect_failed(b, c, strerror(errno));
        return;
    }
    if (connect(c->fd, addr->ai_addr, addr->ai_addrlen) == 0)
        connect_done(b, c, now);
    else if (errno != EINPROGRESS && errno != EINTR)
        connect_failed(b, c, strerror(errno));
}

/* poll() says the connect is over; SO_ERROR says whether it worked. */
static void finish_connect(struct bench *b, struct connection *c, uint64_t now)
{
    int err = 0;
    socklen_t len = sizeof err;

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0)
        connect_failed(b, c, strerror(err));
    else
        connect_done(b, c, now);
}

/* ------------------------------------------------------------------------------------
 * Batches: choosing, writing, and reading the replies
 * ------------------------------------------------------------------------------------ */

/*
 * How many requests the next batch gets in the current phase; 0 when there are none
 * left to hand out. With -n, connections claim requests from one shared count, so a
 * fast connection does more of them than a slow one, as with redis-benchmark.
 */
static size_t claim_batch(struct bench *b)
{
    uint64_t n;

    switch (b->phase) {
    case PHASE_PRELOAD:
        n = b->opt.keys - b->preload_next;
        return (size_t)(n < b->preload_depth ? n : b->preload_depth);
    case PHASE_WARMUP:
        return b->opt.pipeline;
    case PHASE_MEASURE:
        if (b->opt.requests == 0)
            return b->opt.pipeline;
        n = b->unclaimed < b->opt.pipeline ? b->unclaimed : b->opt.pipeline;
        b->unclaimed -= n;
        return (size_t)n;
    default:
        return 0;
    }
}

/*
 * Preload SETs the keys in order. Otherwise the connection's own random stream picks
 * the operation and the key; the modulo's bias is below 1e-7 for any -k accepted.
 */
/*
 * With --expire, a PEXPIRE of the same key follows each SET, so n choices make up to 2n
 * requests; returns how many. Its ttl is what is left until the common deadline, at
 * least 1 ms: a ttl of 0 would delete the key instead.
 */
static size_t choose_requests(struct bench *b, struct connection *c, size_t n)
{
    const struct options *o = &b->opt;
    uint64_t now = now_ns(), ttl_ms = 1;
    size_t count = 0;

    if (o->expire_ms > 0 && b->expire_at_ns > now + 1000000)
        ttl_ms = (b->expire_at_ns - now) / 1000000;
    for (size_t i = 0; i < n; i++) {
        struct request *req = &c->batch[count++];
        if (b->phase == PHASE_PRELOAD) {
            req->op = OP_SET;
            req->key = b->preload_next++;
        } else {
            req->op = splitmix64(&c->rng) % (o->get_weight + o->set_weight) < o->get_weight
                          ? OP_GET
                          : OP_SET;
            req->key = splitmix64(&c->rng) % o->keys;
        }
        if (req->op == OP_SET && o->expire_ms > 0)
            c->batch[count++] = (struct request){OP_PEXPIRE, req->key, ttl_ms, 0};
    }
    return count;
}

static void drop_on_errno(struct bench *b, struct connection *c, const char *call)
{
    char reason[128];
    snprintf(reason, sizeof reason, "%s failed: %s", call, strerror(errno));
    drop_connection(b, c, reason);
}

/* Writes as much of the batch as the socket takes now; poll() says when to go on. */
static void send_batch(struct bench *b, struct connection *c, uint64_t now)
{
    while (c->out_sent < c->out.len) {
        ssize_t n = write(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            drop_on_errno(b, c, "write");
            return;
        }
        c->out_sent += (size_t)n;
        c->last_progress_ns = now;
    }
}

/* Builds the next batch and writes it. Returns 0 if the phase has nothing left to send. */
static int start_batch(struct bench *b, struct connection *c)
{
    size_t n = claim_batch(b);

    if (n == 0)
        return 0;
    n = choose_requests(b, c, n);
    c->out.len = c->out_sent = 0;
    for (size_t i = 0; i < n; i++) {
        if (b->opt.protocol == PROTO_KV)
            encode_kv(&c->out, &c->batch[i], b->opt.value_size);
        else
            encode_resp(&c->out, &c->batch[i], b->opt.value_size);
        c->batch[i].end = c->out.len;
    }
    c->batch_len = n;
    c->answered = 0;
    c->in_flight = 1;
    c->batch_phase = b->phase;
    b->busy++;
    /* Read the clock after encoding: latency runs from the write, as the server sees it. */
    c->batch_start_ns = c->last_progress_ns = now_ns();
    send_batch(b, c, c->batch_start_ns);
    return 1;
}

/* Checks one reply against the request it answers; *why explains a wrong one. */
static enum verdict judge_reply(struct bench *b, const struct request *req,
                                const struct reply *r, char *why, size_t size)
{
    enum verdict verdict;

    why[0] = '\0';
    if (r->kind == REPLY_ERROR) {
        describe_reply(r, why, size);
        return VERDICT_ERROR_STATUS;
    }
    if (req->op == OP_GET) {
        fill_value(req->key, b->expected, b->opt.value_size);
        verdict = check_get(r, b->expected, b->opt.value_size, why, size);
    } else if (req->op == OP_PEXPIRE) {
        verdict = check_pexpire(r, b->opt.protocol);
    } else {
        verdict = check_set(r, b->opt.protocol);
    }
    if (verdict == VERDICT_WRONG && why[0] == '\0')
        describe_reply(r, why, size);
    return verdict;
}

/* Counts one reply, and times it if its batch was sent while measuring. */
static void account_reply(struct bench *b, struct connection *c, const struct reply *r,
                          uint64_t arrival_ns)
{
    const struct request *req = &c->batch[c->answered++];
    int measured = c->batch_phase == PHASE_MEASURE;
    char why[160], key[KEY_LEN + 1];
    enum verdict verdict = judge_reply(b, req, r, why, sizeof why);

    if (verdict == VERDICT_MISS && measured)
        b->misses++;
    if (verdict == VERDICT_ERROR_STATUS) {
        b->errors.error_status++;
        c->got_error = b->opt.protocol == PROTO_KV; /* a RESP error leaves it open */
    }
    if (verdict == VERDICT_WRONG)
        b->errors.wrong++;
    if (verdict == VERDICT_ERROR_STATUS || verdict == VERDICT_WRONG) {
        format_key(req->key, (uint8_t *)key);
        key[KEY_LEN] = '\0';
        report_error(b, c, "%s %s: %s",
                     req->op == OP_GET ? "GET" : req->op == OP_SET ? "SET" : "PEXPIRE", key, why);
    }
    if (measured) {
        b->requests++;
        hist_record(&b->latency, arrival_ns - c->batch_start_ns);
        b->last_reply_ns = arrival_ns;
    }
}

/*
 * A reply whose end cannot be found: nothing after it on this connection can be
 * trusted, so the connection is given up.
 */
static void malformed_reply(struct bench *b, struct connection *c, const uint8_t *at, size_t len)
{
    char reason[160], text[64];

    describe_bytes(at, len < 16 ? len : 16, text, sizeof text);
    snprintf(reason, sizeof reason, "malformed reply starting \"%s\"", text);
    b->errors.malformed++;
    c->answered++; /* the request it was meant to answer */
    drop_connection(b, c, reason);
}

/* Decodes and checks every complete reply that has arrived, then ends the batch if done. */
static void decode_replies(struct bench *b, struct connection *c, uint64_t arrival_ns)
{
    size_t offset = 0;

    while (c->answered < c->batch_len) {
        const uint8_t *at = c->in.data + offset;
        size_t left = c->in.len - offset, used = 0;
        struct reply r;
        enum frame_result result = b->opt.protocol == PROTO_KV ? decode_kv(at, left, &r, &used)
                                                               : decode_resp(at, left, &r, &used);
        if (result == FRAME_INCOMPLETE)
            break;
        if (result == FRAME_MALFORMED) {
            malformed_reply(b, c, at, left);
            return;
        }
        account_reply(b, c, &r, arrival_ns);
        offset += used;
    }
    buf_drop_front(&c->in, offset);
    if (c->answered < c->batch_len)
        return;
    if (c->in.len > 0) {
        b->errors.malformed++;
        drop_connection(b, c, "server sent more replies than there were requests");
        return;
    }
    end_batch(b, c);
}

/*
 * One read() per wakeup, whatever it brings: that keeps one busy connection from
 * starving the others. The clock is read once per read(); every reply in it arrived
 * at the same moment as far as kvbench can tell.
 */
static void receive_replies(struct bench *b, struct connection *c)
{
    ssize_t n;

    if (buf_reserve(&c->in, READ_CHUNK) < 0)
        die("out of memory");
    n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n < 0) {
        drop_on_errno(b, c, "read");
        return;
    }
    if (n == 0) {
        drop_connection(b, c, "server closed the connection");
        return;
    }
    c->in.len += (size_t)n;
    c->last_progress_ns = now_ns();
    decode_replies(b, c, c->last_progress_ns);
}

/* ------------------------------------------------------------------------------------
 * Phases
 * ------------------------------------------------------------------------------------ */

static int phase_over(const struct bench *b, uint64_t now)
{
    switch (b->phase) {
    case PHASE_CONNECT:
        return b->connecting == 0;
    case PHASE_PRELOAD:
        return b->preload_next == b->opt.keys && b->busy == 0;
    case PHASE_WARMUP:
        return now >= b->warmup_end_ns;
    case PHASE_MEASURE:
        return b->opt.requests > 0 ? b->unclaimed == 0 : now >= b->measure_end_ns;
    case PHASE_DRAIN:
        return b->busy == 0;
    case PHASE_DONE:
        return 0;
    }
    return 0;
}

static void enter_phase(struct bench *b, enum phase phase, uint64_t now)
{
    b->phase = phase;
    if (phase == PHASE_WARMUP)
        b->warmup_end_ns = now + seconds_to_ns(b->opt.warmup);
    if (phase == PHASE_MEASURE) {
        b->measure_start_ns = b->last_reply_ns = now;
        b->measure_end_ns = now + seconds_to_ns(b->opt.duration);
    }
}

/* Moves on while the current phase is over: a zero warmup passes straight through. */
static void advance_phase(struct bench *b, uint64_t now)
{
    while (b->phase != PHASE_DONE) {
        int nobody_left = b->open == 0 && b->connecting == 0;
        enum phase next = (enum phase)(b->phase + 1);

        if (!nobody_left && !phase_over(b, now))
            return;
        if (nobody_left)
            next = PHASE_DONE;
        else if (next == PHASE_PRELOAD && !b->opt.preload)
            next = PHASE_WARMUP;
        enter_phase(b, next, now);
    }
}

/* Gives every idle connection its next batch, until the phase has nothing left. */
static void start_idle_connections(struct bench *b)
{
    if (b->phase != PHASE_PRELOAD && b->phase != PHASE_WARMUP && b->phase != PHASE_MEASURE)
        return;
    for (size_t i = 0; i < b->opt.connections; i++) {
        struct connection *c = &b->conns[i];
        if (c->state == CONN_OPEN && !c->in_flight && !start_batch(b, c))
            return;
    }
}

/* A connection that waits for the server and gets nothing for -t seconds is given up. */
static void expire_stalled(struct bench *b, uint64_t now)
{
    char reason[64];

    for (size_t i = 0; i < b->opt.connections; i++) {
        struct connection *c = &b->conns[i];
        if (c->last_progress_ns + b->timeout_ns > now)
            continue;
        if (c->state == CONN_CONNECTING) {
            connect_failed(b, c, "timed out");
        } else if (c->state == CONN_OPEN && c->in_flight) {
            snprintf(reason, sizeof reason, "no progress for %g s", b->opt.timeout);
            drop_connection(b, c, reason);
        }
    }
}

/* ------------------------------------------------------------------------------------
 * The event loop
 * ------------------------------------------------------------------------------------ */

/*
 * Lists the connections that wait for something, and lowers *wake to the earliest
 * moment one of them would time out. An idle connection is not listed: it has
 * nothing to wait for until it gets its next batch.
 */
static size_t build_poll_set(struct bench *b, struct pollfd *fds, struct connection **who,
                             uint64_t *wake)
{
    size_t n = 0;

    for (size_t i = 0; i < b->opt.connections; i++) {
        struct connection *c = &b->conns[i];
        short events = 0;
        if (c->state == CONN_CONNECTING)
            events = POLLOUT;
        else if (c->state == CONN_OPEN && c->in_flight)
            events = (short)(POLLIN | (c->out_sent < c->out.len ? POLLOUT : 0));
        if (events == 0)
            continue;
        fds[n].fd = c->fd;
        fds[n].events = events;
        fds[n].revents = 0;
        who[n++] = c;
        if (c->last_progress_ns + b->timeout_ns < *wake)
            *wake = c->last_progress_ns + b->timeout_ns;
    }
    return n;
}

/* The next moment the loop must look at the clock even if no socket stirs. */
static uint64_t next_deadline(const struct bench *b)
{
    uint64_t wake = UINT64_MAX;

    if (b->phase == PHASE_WARMUP)
        wake = b->warmup_end_ns;
    if (b->phase == PHASE_MEASURE && b->opt.requests == 0)
        wake = b->measure_end_ns;
    if (b->progress.enabled && b->progress.next_ns < wake)
        wake = b->progress.next_ns;
    return wake;
}

static int poll_timeout_ms(uint64_t wake, uint64_t now)
{
    uint64_t ms;

    if (wake <= now)
        return 0;
    ms = (wake - now + NS_PER_MS - 1) / NS_PER_MS; /* round up: never wake a little early */
    return ms > 60000 ? 60000 : (int)ms;
}

/*
 * Reading comes before writing: when the server answers an ERROR and closes, the
 * ERROR is read and reported before a write could fail with a bare EPIPE. A socket
 * in error or hung up is read too: read() says what happened better than the flags.
 */
static void dispatch_events(struct bench *b, const struct pollfd *fds,
                            struct connection **who, size_t n, uint64_t now)
{
    for (size_t i = 0; i < n; i++) {
        struct connection *c = who[i];
        short events = fds[i].revents;
        if (events == 0)
            continue;
        if (c->state == CONN_CONNECTING) {
            finish_connect(b, c, now);
            continue;
        }
        if ((events & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) && c->in_flight)
            receive_replies(b, c);
        if ((events & POLLOUT) && c->state == CONN_OPEN && c->in_flight)
            send_batch(b, c, now);
    }
}

static void run(struct bench *b)
{
    struct pollfd *fds = xcalloc(b->opt.connections, sizeof *fds);
    struct connection **who = xcalloc(b->opt.connections, sizeof *who);
    uint64_t now = now_ns();

    progress_start(b, now);
    for (size_t i = 0; i < b->opt.connections; i++)
        start_connect(b, &b->conns[i], now);
    for (;;) {
        uint64_t wake;
        size_t n;

        now = now_ns();
        expire_stalled(b, now);
        advance_phase(b, now);
        if (b->phase == PHASE_DONE)
            break;
        start_idle_connections(b);
        progress_tick(b, now);
        wake = next_deadline(b);
        n = build_poll_set(b, fds, who, &wake);
        if (poll(fds, (nfds_t)n, poll_timeout_ms(wake, now)) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        dispatch_events(b, fds, who, n, now_ns());
    }
    progress_clear(b);
    free(fds);
    free(who);
}

/* ------------------------------------------------------------------------------------
 * Idle connections (--idle N)
 *
 * Before the run, N more connections are opened. Each sends one GET of IDLE_KEY, a key
 * no run ever sets, and must get a well-formed NOT_FOUND (or a value, if someone set
 * it): that proves the server took the connection on, not merely that the kernel
 * completed a handshake into a listen backlog nobody reads. With --idle-value BYTES, a
 * SET of IDLE_KEY to a value of BYTES bytes comes first, and the GET must bring that
 * value back: the connection has then moved it in each direction, and a server that
 * keeps the buffers it grew for it keeps them while the connection sits idle. Then they
 * all stay open and say nothing until the run is over, when each is checked to be still
 * open.
 *
 * They are opened IDLE_WINDOW at a time, fewer than the 128 handshakes every step's listen
 * backlog holds. Thousands of connect() calls at once would overflow it, and a handshake
 * the kernel drops there is retried only a second later: opening would take seconds, and
 * measure the backlog.
 * With --idle-value, one at a time: the server then handles one value at a time, and
 * what it holds afterwards is what it keeps per connection, not the traces of a crowd.
 * Opening stops at the first connection that fails: the server is refusing them (or is
 * stuck), and each further one would only wait out -t.
 * ------------------------------------------------------------------------------------ */

/* KV/1 (kv1.h): [SET IDLE_KEY value,] GET IDLE_KEY. */
static void encode_idle_kv(struct buf *out, const uint8_t *value, size_t value_size)
{
    size_t key_len = sizeof IDLE_KEY - 1;

    if (value_size > 0) {
        if (kv1_append_type(out, KV1_SET) < 0)
            die("out of memory");
        memcpy(room_or_die(kv1_append_arg(out, key_len)), IDLE_KEY, key_len);
        memcpy(room_or_die(kv1_append_arg(out, value_size)), value, value_size);
    }
    if (kv1_append_type(out, KV1_GET) < 0)
        die("out of memory");
    memcpy(room_or_die(kv1_append_arg(out, key_len)), IDLE_KEY, key_len);
}

/* RESP2 (resp.h): the same two commands as arrays of bulk strings. */
static void encode_idle_resp(struct buf *out, const uint8_t *value, size_t value_size)
{
    static const char get_head[] = "*2\r\n$3\r\nGET\r\n";
    static const char set_head[] = "*3\r\n$3\r\nSET\r\n";
    size_t key_len = sizeof IDLE_KEY - 1;

    if (value_size > 0) {
        memcpy(room_or_die(buf_extend(out, sizeof set_head - 1)), set_head,
               sizeof set_head - 1);
        memcpy(room_or_die(resp_append_bulk(out, key_len)), IDLE_KEY, key_len);
        memcpy(room_or_die(resp_append_bulk(out, value_size)), value, value_size);
    }
    memcpy(room_or_die(buf_extend(out, sizeof get_head - 1)), get_head, sizeof get_head - 1);
    memcpy(room_or_die(resp_append_bulk(out, key_len)), IDLE_KEY, key_len);
}

/* Says why, closes, and stops further idle connections from being opened. */
static void idle_failed(struct bench *b, struct idle_connection *ic, const char *format,
                        const char *detail)
{
    b->errors.idle_failed++;
    report_idle_error(b, (size_t)(ic - b->idle), format, detail);
    if (ic->fd >= 0)
        close_quietly(ic->fd);
    ic->fd = -1;
    ic->state = IDLE_FAILED;
    buf_free(&ic->in);
}

static void idle_start(struct bench *b, struct idle_connection *ic, uint64_t now)
{
    const struct addrinfo *addr = b->server;

    ic->state = IDLE_CONNECTING;
    ic->last_progress_ns = now;
    ic->fd = socket(addr->ai_family, addr->ai_socktype, addr->ai_protocol);
    if (ic->fd < 0 || set_nonblocking(ic->fd) < 0) {
        idle_failed(b, ic, "cannot open a socket: %s", strerror(errno));
        return;
    }
    if (connect(ic->fd, addr->ai_addr, addr->ai_addrlen) == 0)
        ic->state = IDLE_SENDING;
    else if (errno != EINPROGRESS && errno != EINTR)
        idle_failed(b, ic, "cannot connect: %s", strerror(errno));
}

/* The handshake is over (or failed); SO_ERROR says which. */
static void idle_connected(struct bench *b, struct idle_connection *ic)
{
    int err = 0;
    socklen_t len = sizeof err;

    if (getsockopt(ic->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0)
        idle_failed(b, ic, "cannot connect: %s", strerror(err));
    else
        ic->state = IDLE_SENDING;
}

static void idle_send(struct bench *b, struct idle_connection *ic, uint64_t now)
{
    const struct buf *req = &b->idle_request;
    ssize_t n = write(ic->fd, req->data + ic->sent, req->len - ic->sent);

    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n < 0) {
        idle_failed(b, ic, "write failed: %s", strerror(errno));
        return;
    }
    ic->sent += (size_t)n;
    ic->last_progress_ns = now;
    if (ic->sent == req->len)
        ic->state = IDLE_WAITING;
}

/* Checks one reply: to the SET (with --idle-value), then to the GET. 0 if right. */
static int idle_reply_right(const struct bench *b, const struct idle_connection *ic,
                            const struct reply *r)
{
    size_t value_size = b->opt.idle_value;
    char why[8];

    if (value_size > 0 && ic->answered == 0)
        return check_set(r, b->opt.protocol) == VERDICT_RIGHT ? 0 : -1;
    if (value_size == 0)
        return r->kind == REPLY_NOT_FOUND || r->kind == REPLY_VALUE ? 0 : -1;
    return check_get(r, b->idle_value, value_size, why, sizeof why) == VERDICT_RIGHT ? 0 : -1;
}

/* Checks the replies received so far; once all are right, the connection is open and idle. */
static void idle_judge(struct bench *b, struct idle_connection *ic)
{
    size_t owed = b->opt.idle_value > 0 ? 2 : 1, offset = 0;
    char text[64];

    while (ic->answered < owed) {
        struct reply r;
        size_t used = 0;
        const uint8_t *at = ic->in.data + offset;
        size_t left = ic->in.len - offset;
        enum frame_result result = b->opt.protocol == PROTO_KV ? decode_kv(at, left, &r, &used)
                                                               : decode_resp(at, left, &r, &used);
        if (result == FRAME_INCOMPLETE)
            break;
        if (result == FRAME_MALFORMED) {
            describe_bytes(at, left < 16 ? left : 16, text, sizeof text);
            idle_failed(b, ic, "malformed reply starting \"%s\"", text);
            return;
        }
        if (idle_reply_right(b, ic, &r) < 0) {
            describe_reply(&r, text, sizeof text);
            idle_failed(b, ic, "wrong reply: %s", text);
            return;
        }
        ic->answered++;
        offset += used;
    }
    buf_drop_front(&ic->in, offset);
    if (ic->answered < owed)
        return;
    if (ic->in.len > 0) {
        idle_failed(b, ic, "%s", "server sent more replies than there were requests");
        return;
    }
    buf_free(&ic->in);
    ic->state = IDLE_OPEN;
    b->idle_open++;
}

static void idle_receive(struct bench *b, struct idle_connection *ic, uint64_t now)
{
    ssize_t n;

    if (buf_reserve(&ic->in, READ_CHUNK) < 0)
        die("out of memory");
    n = read(ic->fd, ic->in.data + ic->in.len, ic->in.cap - ic->in.len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n < 0) {
        idle_failed(b, ic, "read failed: %s", strerror(errno));
        return;
    }
    if (n == 0) {
        idle_failed(b, ic, "%s", "server closed the connection before answering");
        return;
    }
    ic->in.len += (size_t)n;
    ic->last_progress_ns = now;
    idle_judge(b, ic);
}

/*
 * What poll() said about an idle connection being opened. Replies are read while the
 * requests are still being written: a server may answer the SET before it has the GET.
 */
static void idle_step(struct bench *b, struct idle_connection *ic, short revents, uint64_t now)
{
    if (ic->state == IDLE_CONNECTING) {
        idle_connected(b, ic);
        if (ic->state != IDLE_SENDING)
            return;
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) &&
        (ic->state == IDLE_SENDING || ic->state == IDLE_WAITING))
        idle_receive(b, ic, now);
    if (ic->state == IDLE_SENDING)
        idle_send(b, ic, now);
}

static short idle_events(const struct idle_connection *ic)
{
    switch (ic->state) {
    case IDLE_CONNECTING: return POLLOUT;
    case IDLE_SENDING: return POLLIN | POLLOUT;
    case IDLE_WAITING: return POLLIN;
    default: return 0;
    }
}

/* Lists again the idle connections still under way; one stalled for -t seconds fails. */
static size_t idle_keep_busy(struct bench *b, size_t *busy, size_t n_busy, uint64_t now)
{
    size_t kept = 0;

    for (size_t i = 0; i < n_busy; i++) {
        struct idle_connection *ic = &b->idle[busy[i]];
        if (idle_events(ic) != 0 && ic->last_progress_ns + b->timeout_ns <= now)
            idle_failed(b, ic, "no progress for %s s (-t)", b->timeout_text);
        if (idle_events(ic) != 0)
            busy[kept++] = busy[i];
    }
    return kept;
}

/* Opens every idle connection, idle_window at a time: `busy` lists those under way. */
static void open_idle(struct bench *b)
{
    struct pollfd fds[IDLE_WINDOW];
    size_t busy[IDLE_WINDOW], n_busy = 0, next = 0;

    if (b->opt.protocol == PROTO_KV)
        encode_idle_kv(&b->idle_request, b->idle_value, b->opt.idle_value);
    else
        encode_idle_resp(&b->idle_request, b->idle_value, b->opt.idle_value);
    while (n_busy > 0 || (next < b->opt.idle && b->errors.idle_failed == 0)) {
        uint64_t now = now_ns();
        n_busy = idle_keep_busy(b, busy, n_busy, now);
        while (n_busy < b->idle_window && next < b->opt.idle && b->errors.idle_failed == 0) {
            idle_start(b, &b->idle[next], now);
            if (idle_events(&b->idle[next]) != 0)
                busy[n_busy++] = next;
            next++;
        }
        for (size_t i = 0; i < n_busy; i++)
            fds[i] = (struct pollfd){b->idle[busy[i]].fd, idle_events(&b->idle[busy[i]]), 0};
        if (n_busy > 0 && poll(fds, (nfds_t)n_busy, 100) < 0 && errno != EINTR)
            die("poll");
        now = now_ns();
        for (size_t i = 0; i < n_busy; i++)
            if (fds[i].revents != 0)
                idle_step(b, &b->idle[busy[i]], fds[i].revents, now);
    }
    if (next < b->opt.idle)
        fprintf(stderr, "kvbench: stopped opening idle connections at the first that failed:"
                " %zu of %zu not tried\n", b->opt.idle - next, b->opt.idle);
}

/*
 * After the run: every idle connection must still be open and silent. poll() with no
 * timeout reports one the server has closed (end of file or a reset) as readable, and
 * one it wrote to as well: either is an error.
 */
static void check_idle(struct bench *b)
{
    struct pollfd *fds = xcalloc(b->idle_open, sizeof *fds);
    size_t *which = xcalloc(b->idle_open, sizeof *which), n = 0;

    for (size_t i = 0; i < b->opt.idle; i++) {
        if (b->idle[i].state != IDLE_OPEN)
            continue;
        fds[n] = (struct pollfd){b->idle[i].fd, POLLIN, 0};
        which[n++] = i;
    }
    if (n > 0 && poll(fds, (nfds_t)n, 0) < 0)
        die("poll");
    for (size_t i = 0; i < n; i++) {
        if (fds[i].revents == 0)
            continue;
        b->errors.idle_lost++;
        report_idle_error(b, which[i], "%s", "closed by the server (or written to) during the run");
    }
    free(fds);
    free(which);
}

/* ------------------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------------------ */

struct results {
    double seconds;  /* from the start of measuring to the last measured reply */
    double rps;
    double get_share; /* the fraction of requests that are GETs, from -r */
    double p50_us, p90_us, p99_us, p999_us, max_us;
};

static double ns_to_us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static void compute_results(const struct bench *b, struct results *r)
{
    const struct histogram *h = &b->latency;
    uint64_t span = b->last_reply_ns - b->measure_start_ns;

    r->seconds = b->requests > 0 ? (double)span / NS_PER_SEC : 0;
    r->rps = r->seconds > 0 ? (double)b->requests / r->seconds : 0;
    r->get_share = (double)b->opt.get_weight / (b->opt.get_weight + b->opt.set_weight);
    r->p50_us = ns_to_us(hist_percentile(h, 500));
    r->p90_us = ns_to_us(hist_percentile(h, 900));
    r->p99_us = ns_to_us(hist_percentile(h, 990));
    r->p999_us = ns_to_us(hist_percentile(h, 999));
    r->max_us = ns_to_us(h->max);
}

/* One column of the CSV and JSON output; the names are a stable interface for scripts. */
struct field {
    const char *name;
    char text[32];
    int quoted; /* a string in JSON */
};

#define FIELD_COUNT 17 /* new columns go at the end: scripts read them by position */

static void set_field(struct field *f, const char *name, const char *format, ...)
{
    va_list ap;

    f->name = name;
    f->quoted = 0;
    va_start(ap, format);
    vsnprintf(f->text, sizeof f->text, format, ap);
    va_end(ap);
}

static void fill_fields(const struct bench *b, const struct results *r, struct field *f)
{
    const struct options *o = &b->opt;

    set_field(&f[0], "protocol", "%s", protocol_names[o->protocol]);
    f[0].quoted = 1;
    set_field(&f[1], "connections", "%zu", o->connections);
    set_field(&f[2], "pipeline", "%zu", o->pipeline);
    set_field(&f[3], "value_size", "%zu", o->value_size);
    set_field(&f[4], "keys", "%" PRIu64, o->keys);
    set_field(&f[5], "get_ratio", "%.3f", r->get_share);
    set_field(&f[6], "requests", "%" PRIu64, b->requests);
    set_field(&f[7], "errors", "%" PRIu64, total_errors(&b->errors));
    set_field(&f[8], "misses", "%" PRIu64, b->misses);
    set_field(&f[9], "seconds", "%.3f", r->seconds);
    set_field(&f[10], "rps", "%.0f", r->rps);
    set_field(&f[11], "p50_us", "%.3f", r->p50_us);
    set_field(&f[12], "p90_us", "%.3f", r->p90_us);
    set_field(&f[13], "p99_us", "%.3f", r->p99_us);
    set_field(&f[14], "p999_us", "%.3f", r->p999_us);
    set_field(&f[15], "max_us", "%.3f", r->max_us);
    set_field(&f[16], "idle", "%zu", b->idle_open);
}

static void print_csv(const struct field *f)
{
    for (int i = 0; i < FIELD_COUNT; i++)
        printf("%s%c", f[i].name, i + 1 < FIELD_COUNT ? ',' : '\n');
    for (int i = 0; i < FIELD_COUNT; i++)
        printf("%s%c", f[i].text, i + 1 < FIELD_COUNT ? ',' : '\n');
}

static void print_json(const struct field *f)
{
    putchar('{');
    for (int i = 0; i < FIELD_COUNT; i++) {
        const char *quote = f[i].quoted ? "\"" : "";
        printf("%s\"%s\":%s%s%s", i ? "," : "", f[i].name, quote, f[i].text, quote);
    }
    printf("}\n");
}

static void print_table(const struct bench *b, const struct results *r)
{
    const struct options *o = &b->opt;

    printf("server        %s port %u\n", o->host, (unsigned)o->port);
    printf("protocol      %s\n", protocol_names[o->protocol]);
    printf("connections   %zu\n", o->connections);
    if (o->idle > 0)
        printf("idle          %zu of %zu open, silent, through the run\n", b->idle_open, o->idle);
    printf("pipeline      %zu\n", o->pipeline);
    printf("value size    %zu bytes\n", o->value_size);
    printf("keys          %" PRIu64 "\n", o->keys);
    printf("get:set       %u:%u\n", o->get_weight, o->set_weight);
    printf("requests      %" PRIu64 "\n", b->requests);
    printf("errors        %" PRIu64 "\n", total_errors(&b->errors));
    printf("misses        %" PRIu64 "\n", b->misses);
    printf("seconds       %.3f\n", r->seconds);
    printf("throughput    %.0f requests/s\n", r->rps);
    printf("latency (us)  %10s %10s %10s %10s %10s\n", "p50", "p90", "p99", "p99.9", "max");
    printf("              %10.3f %10.3f %10.3f %10.3f %10.3f\n", r->p50_us, r->p90_us,
           r->p99_us, r->p999_us, r->max_us);
}

/* The loud summary of what went wrong, on stderr: every kind that happened, with its count. */
static void print_errors(const struct error_counts *e)
{
    const struct {
        const char *name;
        uint64_t count;
    } kinds[] = {
        {"connections failed", e->connect_failed}, {"ERROR replies", e->error_status},
        {"wrong replies", e->wrong},               {"malformed replies", e->malformed},
        {"requests unanswered", e->unanswered},
        {"idle connections failed", e->idle_failed},
        {"idle connections closed during the run", e->idle_lost},
    };
    const char *separator = " (";

    fflush(stdout); /* the results first, when both go to one terminal */
    fprintf(stderr, "ERRORS: %" PRIu64, total_errors(e));
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (kinds[i].count == 0)
            continue;
        fprintf(stderr, "%s%s: %" PRIu64, separator, kinds[i].name, kinds[i].count);
        separator = ", ";
    }
    fprintf(stderr, ")\n");
}

static void print_results(const struct bench *b)
{
    struct results r;
    struct field fields[FIELD_COUNT];

    compute_results(b, &r);
    if (b->opt.format == FORMAT_TABLE) {
        print_table(b, &r);
    } else {
        fill_fields(b, &r, fields);
        if (b->opt.format == FORMAT_CSV)
            print_csv(fields);
        else
            print_json(fields);
    }
    if (total_errors(&b->errors) > 0)
        print_errors(&b->errors);
}

/* ------------------------------------------------------------------------------------
 * Setting up and tearing down
 * ------------------------------------------------------------------------------------ */

/*
 * Writing to a connection the server has closed raises SIGPIPE, which kills the
 * process by default. Ignored, the write fails with EPIPE and the connection is
 * counted as failed, as it should be.
 */
static int ignore_sigpipe(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPIPE, &sa, NULL) < 0) {
        fprintf(stderr, "kvbench: sigaction: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * Every connection is a file descriptor, and the common soft limit of 1024 is below
 * what a big -c or --idle needs. Any process may raise its soft limit up to the hard
 * one; only root may raise the hard one.
 */
static int raise_fd_limit(size_t connections, size_t idle)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)connections + idle + 16; /* stdio, the resolver, some slack */

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        fprintf(stderr, "kvbench: getrlimit: %s\n", strerror(errno));
        return -1;
    }
    if (rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        fprintf(stderr, "kvbench: %zu connections and %zu idle ones need %ju file descriptors,"
                " but the hard limit is %ju (ulimit -Hn): ask for fewer, or raise it as root\n",
                connections, idle, (uintmax_t)need, (uintmax_t)rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        fprintf(stderr, "kvbench: setrlimit: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * Preloading is not measured, so its batches are deeper than -P for speed: up to
 * PRELOAD_MAX_DEPTH requests and about PRELOAD_BATCH_BYTES, but never less than -P.
 */
static size_t preload_depth(const struct options *o)
{
    size_t request_bytes = KEY_LEN + o->value_size + 64; /* 64: the largest framing */
    size_t depth = PRELOAD_BATCH_BYTES / request_bytes;

    if (depth < 1)
        depth = 1;
    if (depth > PRELOAD_MAX_DEPTH)
        depth = PRELOAD_MAX_DEPTH;
    return depth > o->pipeline ? depth : o->pipeline;
}

static void setup(struct bench *b)
{
    const struct options *o = &b->opt;
    size_t depth;

    b->preload_depth = preload_depth(o);
    depth = o->preload ? b->preload_depth : o->pipeline;
    b->conns = xcalloc(o->connections, sizeof *b->conns);
    for (size_t i = 0; i < o->connections; i++) {
        struct connection *c = &b->conns[i];
        /* Each connection's stream starts from the seed and its own number. */
        uint64_t state = o->seed + (uint64_t)i * UINT64_C(0xd1b54a32d192ed03);
        c->id = i;
        c->fd = -1;
        c->state = CONN_CLOSED;
        c->rng = splitmix64(&state);
        c->batch = xcalloc(2 * depth, sizeof *c->batch); /* room for --expire's PEXPIREs */
    }
    b->idle = xcalloc(o->idle, sizeof *b->idle);
    for (size_t i = 0; i < o->idle; i++)
        b->idle[i].fd = -1;
    b->idle_value = xcalloc(o->idle_value, 1);
    fill_value(UINT64_MAX, b->idle_value, o->idle_value); /* no key of a run has this one */
    b->idle_window = o->idle_value > 0 ? 1 : IDLE_WINDOW;
    snprintf(b->timeout_text, sizeof b->timeout_text, "%g", o->timeout);
    b->expected = xcalloc(o->value_size, 1);
    b->unclaimed = o->requests;
    b->timeout_ns = seconds_to_ns(o->timeout);
    b->expire_at_ns = now_ns() + o->expire_ms * 1000000;
    b->phase = PHASE_CONNECT;
    hist_init(&b->latency);
}

static void teardown(struct bench *b)
{
    for (size_t i = 0; i < b->opt.connections; i++) {
        struct connection *c = &b->conns[i];
        if (c->fd >= 0)
            close_quietly(c->fd);
        buf_free(&c->in);
        buf_free(&c->out);
        free(c->batch);
    }
    for (size_t i = 0; i < b->opt.idle; i++)
        if (b->idle[i].fd >= 0)
            close_quietly(b->idle[i].fd);
    free(b->conns);
    free(b->idle);
    free(b->idle_value);
    buf_free(&b->idle_request);
    free(b->expected);
    freeaddrinfo(b->server_list);
}

/* ------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    static struct bench bench; /* static: the histogram alone is 30 KiB */
    struct bench *b = &bench;
    int status;

    switch (parse_command_line(argc, argv, &b->opt)) {
    case CLI_HELP:
        fputs(usage_text, stdout);
        return 0;
    case CLI_BAD:
        return 2;
    case CLI_RUN:
        break;
    }
    if (ignore_sigpipe() < 0 || raise_fd_limit(b->opt.connections, b->opt.idle) < 0 ||
        resolve_server(b) < 0)
        return 1;
    setup(b);
    open_idle(b);
    run(b);
    check_idle(b);
    print_results(b);
    status = total_errors(&b->errors) > 0 ? 1 : 0;
    teardown(b);
    return status;
}

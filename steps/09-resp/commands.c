/*
 * commands.c - step 09: one table of commands for both protocols.
 *
 * Until step 08 server.c answered KV/1's seven request types in a switch. RESP brings
 * Redis's commands, with any number of arguments, options (SET k v EX 10 NX), and Redis 7's
 * exact replies and error texts, because redis-cli, redis-benchmark and client libraries
 * read them. So commands now live here, in a table (name, arity, flags, handler), and both
 * front ends dispatch into it: RESP hands over the argument vector it parsed; KV/1 builds
 * one from its request (GET key becomes {"GET", key}) and maps the reply back.
 *
 * Handlers never see a protocol. They reply through struct reply_ops (commands.h), which
 * RESP implements by encoding at once (resp.c) and KV/1 by catching the single reply for
 * its front end to translate (the last section here).
 *
 * Times: the store counts deadlines on the server's monotonic clock. Redis bounds expiry
 * times by its wall clock (a deadline is a Unix time in milliseconds and must fit a long
 * long), so the handlers that take a time read CLOCK_REALTIME once, judge the time as Redis
 * does, and hand the store only the milliseconds left.
 */
#define _POSIX_C_SOURCE 200809L

#include "commands.h"
#include "resp.h" /* resp_parse_integer() */

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h> /* strncasecmp() */
#include <time.h>

#define EXPIRE_PER_COMMAND 2 /* expired keys freed by each command that sets a deadline */

static const char not_integer[] = "ERR value is not an integer or out of range";
static const char syntax_error[] = "ERR syntax error";
static const char out_of_memory[] = "ERR out of memory";

/* One command being carried out: its arguments, the store, and where its replies go. */
struct call {
    struct store *store;
    int argc;
    const struct arg *argv;
    const struct reply_ops *reply;
    void *ctx;
    const struct command *command;
};

/* CMD_SETS_EXPIRY: the command may give a key a deadline, so it frees a few expired keys
 * as well (step 07: whoever adds expiry work pays for as much). */
enum { CMD_QUIT = 1, CMD_SETS_EXPIRY = 2 };

struct command {
    const char *name;   /* as Redis's error messages spell it; "config|get": a subcommand */
    int arity;          /* arguments counting the name; negative: at least -arity */
    unsigned flags;     /* CMD_... */
    int (*handler)(struct call *call);
    const struct command *subcommands; /* CONFIG, COMMAND: argv[1] picks one */
};

/* ------------------------------------------------------------------------------------
 * Replies and arguments
 * ------------------------------------------------------------------------------------ */

static int reply_ok(struct call *call)
{
    return call->reply->status(call->ctx, "OK");
}

static int reply_error(struct call *call, const char *text)
{
    return call->reply->error(call->ctx, text, strlen(text));
}

static int reply_integer(struct call *call, long long n)
{
    return call->reply->integer(call->ctx, n);
}

static int reply_bulk(struct call *call, const uint8_t *bytes, size_t len)
{
    return call->reply->bulk(call->ctx, bytes, len);
}

/* Redis reads an option as a C string: it ends at the argument's first NUL, if any. */
static size_t c_length(const struct arg *arg)
{
    const uint8_t *nul = memchr(arg->data, '\0', arg->len);
    return nul != NULL ? (size_t)(nul - arg->data) : arg->len;
}

/* True if arg is word, ignoring case, read as Redis reads options (strcasecmp). */
static bool arg_is(const struct arg *arg, const char *word)
{
    size_t len = c_length(arg);
    return len == strlen(word) && strncasecmp((const char *)arg->data, word, len) == 0;
}

/*
 * Argument i as an integer. Like every check below that may reply an error, it returns 1
 * if the command goes on, 0 if it has replied an error and ends there, or -1 if that reply
 * could not be kept.
 */
static int integer_arg(struct call *call, int i, long long *value)
{
    if (resp_parse_integer(call->argv[i].data, call->argv[i].len, value) == 0)
        return 1;
    return reply_error(call, not_integer) < 0 ? -1 : 0;
}

/* An error reply that ends the command: 0, or -1 if it could not be kept. */
static int stop(int reply_status)
{
    return reply_status < 0 ? -1 : 0;
}

/*
 * An error whose text quotes a client's argument (up to max bytes of it, as a C string:
 * Redis formats it with %.*s). Built on the heap: the argument may be long. Redis trims
 * CR and LF off the end of a formatted error before turning the rest into spaces, so an
 * argument's trailing line ends vanish when nothing follows it.
 */
static int reply_error_quoting(struct call *call, const char *before, const struct arg *arg,
                               size_t max, const char *after)
{
    size_t len = c_length(arg) < max ? c_length(arg) : max;
    size_t total = strlen(before) + len + strlen(after);
    char *text = malloc(total + 1);
    int status;

    if (text == NULL)
        return -1;
    memcpy(text, before, strlen(before));
    memcpy(text + strlen(before), arg->data, len);
    memcpy(text + strlen(before) + len, after, strlen(after));
    while (total > 0 && (text[total - 1] == '\r' || text[total - 1] == '\n'))
        total--;
    status = call->reply->error(call->ctx, text, total);
    free(text);
    return status;
}

/* Redis's own message for a bad expire time names the command. */
static int reply_bad_expire_time(struct call *call)
{
    char text[80];

    snprintf(text, sizeof text, "ERR invalid expire time in '%s' command", call->command->name);
    return reply_error(call, text);
}

/* The wall clock, in Unix milliseconds: what Redis measures expiry times against. */
static long long unix_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        return 0; /* CLOCK_REALTIME fails only for a bad argument */
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------------------
 * The store, as the handlers use it
 * ------------------------------------------------------------------------------------ */

/* The key's value, borrowed from the store (valid until the key next changes), or NULL. */
static struct value *lookup(struct call *call, const struct arg *key)
{
    return store_get(call->store, key->data, key->len);
}

static bool exists(struct call *call, const struct arg *key)
{
    return lookup(call, key) != NULL;
}

/* Milliseconds the key has left: -2 if it does not exist, -1 if it never expires. */
static long long time_left(struct call *call, const struct arg *key)
{
    int64_t ttl;

    if (!store_ttl(call->store, key->data, key->len, &ttl))
        return -2;
    return ttl;
}

/* A SET that keeps the key's deadline, if it has one (INCR, SET ... KEEPTTL). */
static int set_keeping_ttl(struct call *call, const struct arg *key, const uint8_t *value,
                           size_t len)
{
    long long ttl = time_left(call, key);
    bool found;

    if (store_set(call->store, key->data, key->len, value, len) < 0)
        return -1;
    if (ttl > 0)
        return store_expire(call->store, key->data, key->len, (uint64_t)ttl, &found);
    return 0;
}

/* Gives an existing key the deadline when (Unix ms); one already past deletes it. */
static int expire_at(struct call *call, const struct arg *key, long long when, long long now)
{
    bool found;

    return store_expire(call->store, key->data, key->len,
                        when > now ? (uint64_t)(when - now) : 0, &found);
}

/* ------------------------------------------------------------------------------------
 * Strings: GET, SET, MGET, MSET
 * ------------------------------------------------------------------------------------ */

static int get_command(struct call *call)
{
    struct value *value = lookup(call, &call->argv[1]);

    if (value == NULL)
        return call->reply->null(call->ctx);
    return call->reply->value(call->ctx, value);
}

enum {
    SET_NX = 1, SET_XX = 2, SET_GET = 4, SET_KEEPTTL = 8,
    SET_EX = 16, SET_PX = 32, SET_EXAT = 64, SET_PXAT = 128,
};
#define SET_ANY_EXPIRY (SET_EX | SET_PX | SET_EXAT | SET_PXAT)

/* An option that takes no value, if flags allow it; 0 if arg is none of them. */
static unsigned set_flag(const struct arg *arg, unsigned flags)
{
    if (arg_is(arg, "nx") && !(flags & SET_XX))
        return SET_NX;
    if (arg_is(arg, "xx") && !(flags & SET_NX))
        return SET_XX;
    if (arg_is(arg, "get"))
        return SET_GET;
    if (arg_is(arg, "keepttl") && !(flags & SET_ANY_EXPIRY))
        return SET_KEEPTTL;
    return 0;
}

/* An option followed by a time, if flags allow it (one kind of expiry, not with KEEPTTL). */
static unsigned set_expiry_flag(const struct arg *arg, unsigned flags)
{
    static const struct { const char *word; unsigned flag; } kinds[] = {
        {"ex", SET_EX}, {"px", SET_PX}, {"exat", SET_EXAT}, {"pxat", SET_PXAT},
    };

    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (arg_is(arg, kinds[i].word) &&
            !(flags & (SET_KEEPTTL | (SET_ANY_EXPIRY & ~kinds[i].flag))))
            return kinds[i].flag;
    return 0;
}

/* SET's options, in Redis's order; *expiry is the index of the time, or 0. */
static bool parse_set_options(struct call *call, unsigned *flags, int *expiry)
{
    for (int j = 3; j < call->argc; j++) {
        unsigned flag = set_flag(&call->argv[j], *flags);
        if (flag == 0 && j + 1 < call->argc &&
            (flag = set_expiry_flag(&call->argv[j], *flags)) != 0)
            *expiry = ++j;
        if (flag == 0)
            return false;
        *flags |= flag;
    }
    return true;
}

/*
 * The deadline (Unix ms) SET's option asks for, as Redis judges it: a positive number
 * whose milliseconds, counted from now for EX and PX, fit a long long. 1, 0 or -1.
 */
static int set_deadline(struct call *call, unsigned flags, int expiry, long long now,
                        long long *when)
{
    bool seconds = flags & (SET_EX | SET_EXAT);
    int r = integer_arg(call, expiry, when);

    if (r <= 0)
        return r;
    if (*when <= 0 || (seconds && *when > LLONG_MAX / 1000))
        return stop(reply_bad_expire_time(call));
    if (seconds)
        *when *= 1000;
    if (flags & (SET_EX | SET_PX)) {
        if (*when > LLONG_MAX - now)
            return stop(reply_bad_expire_time(call));
        *when += now;
    }
    return 1;
}

static int set_command(struct call *call)
{
    const struct arg *key = &call->argv[1], *value = &call->argv[2];
    unsigned flags = 0;
    int expiry = 0;
    long long when = 0, now = unix_ms();
    bool found;
    int r;

    if (!parse_set_options(call, &flags, &expiry))
        return reply_error(call, syntax_error);
    if (expiry > 0 && (r = set_deadline(call, flags, expiry, now, &when)) <= 0)
        return r;
    if ((flags & SET_GET) && get_command(call) < 0)
        return -1;
    found = (flags & (SET_NX | SET_XX)) && exists(call, key); /* a lookup only NX, XX need */
    if (((flags & SET_NX) && found) || ((flags & SET_XX) && !found))
        return flags & SET_GET ? 0 : call->reply->null(call->ctx);
    if ((flags & SET_KEEPTTL ? set_keeping_ttl(call, key, value->data, value->len)
                             : store_set(call->store, key->data, key->len, value->data,
                                         value->len)) < 0 ||
        (expiry > 0 && expire_at(call, key, when, now) < 0))
        return reply_error(call, out_of_memory);
    return flags & SET_GET ? 0 : reply_ok(call);
}

static int mget_command(struct call *call)
{
    if (call->reply->array(call->ctx, (size_t)call->argc - 1) < 0)
        return -1;
    for (int i = 1; i < call->argc; i++) {
        const struct arg *key = &call->argv[i];
        if (get_command(&(struct call){call->store, 2, key - 1, call->reply, call->ctx,
                                       call->command}) < 0)
            return -1;
    }
    return 0;
}

static int reply_wrong_arity(struct call *call)
{
    char text[96];

    snprintf(text, sizeof text, "ERR wrong number of arguments for '%s' command",
             call->command->name);
    return reply_error(call, text);
}

static int mset_command(struct call *call)
{
    if (call->argc % 2 == 0)
        return reply_wrong_arity(call);
    for (int i = 1; i < call->argc; i += 2) {
        const struct arg *key = &call->argv[i], *value = &call->argv[i + 1];
        if (store_set(call->store, key->data, key->len, value->data, value->len) < 0)
            return reply_error(call, out_of_memory);
    }
    return reply_ok(call);
}

/* ------------------------------------------------------------------------------------
 * Counters: INCR, DECR, INCRBY, DECRBY
 * ------------------------------------------------------------------------------------ */

/* Adds by to the key's integer (0 if absent), keeping its deadline. */
static int increment(struct call *call, long long by)
{
    const struct arg *key = &call->argv[1];
    struct value *value = lookup(call, key);
    long long n = 0;
    char text[24];
    size_t len;

    if (value != NULL && resp_parse_integer(value->bytes, value->len, &n) < 0)
        return reply_error(call, not_integer);
    if ((by < 0 && n < 0 && by < LLONG_MIN - n) || (by > 0 && n > 0 && by > LLONG_MAX - n))
        return reply_error(call, "ERR increment or decrement would overflow");
    n += by;
    len = (size_t)snprintf(text, sizeof text, "%lld", n);
    if (set_keeping_ttl(call, key, (const uint8_t *)text, len) < 0)
        return reply_error(call, out_of_memory);
    return reply_integer(call, n);
}

static int incr_command(struct call *call)
{
    return increment(call, 1);
}

static int decr_command(struct call *call)
{
    return increment(call, -1);
}

static int incrby_command(struct call *call)
{
    long long by;
    int r = integer_arg(call, 2, &by);

    return r <= 0 ? r : increment(call, by);
}

static int decrby_command(struct call *call)
{
    long long by;
    int r = integer_arg(call, 2, &by);

    if (r <= 0)
        return r;
    if (by == LLONG_MIN) /* -by would overflow */
        return reply_error(call, "ERR decrement would overflow");
    return increment(call, -by);
}

/* ------------------------------------------------------------------------------------
 * Keys: DEL, EXISTS, TYPE, DBSIZE, FLUSHALL
 * ------------------------------------------------------------------------------------ */

static int del_command(struct call *call)
{
    long long deleted = 0;

    for (int i = 1; i < call->argc; i++)
        deleted += store_del(call->store, call->argv[i].data, call->argv[i].len);
    return reply_integer(call, deleted);
}

static int exists_command(struct call *call)
{
    long long found = 0;

    for (int i = 1; i < call->argc; i++)
        found += exists(call, &call->argv[i]);
    return reply_integer(call, found);
}

static int type_command(struct call *call)
{
    return call->reply->status(call->ctx, exists(call, &call->argv[1]) ? "string" : "none");
}

static int dbsize_command(struct call *call)
{
    return reply_integer(call, (long long)store_count(call->store));
}

static int flushall_command(struct call *call)
{
    if (call->argc == 2 && !arg_is(&call->argv[1], "sync") && !arg_is(&call->argv[1], "async"))
        return reply_error(call, syntax_error);
    if (call->argc > 2)
        return reply_error(call, syntax_error);
    store_clear(call->store);
    return reply_ok(call);
}

/* ------------------------------------------------------------------------------------
 * Expiry: EXPIRE, PEXPIRE, TTL, PTTL, PERSIST
 * ------------------------------------------------------------------------------------ */

enum { EXPIRE_NX = 1, EXPIRE_XX = 2, EXPIRE_GT = 4, EXPIRE_LT = 8 };

/* EXPIRE's options after the time: 1, 0 or -1. */
static int parse_expire_options(struct call *call, unsigned *flags)
{
    static const char *const words[] = {"nx", "xx", "gt", "lt"};

    for (int j = 3; j < call->argc; j++) {
        size_t i = 0;
        while (i < 4 && !arg_is(&call->argv[j], words[i]))
            i++;
        if (i == 4)
            return stop(reply_error_quoting(call, "ERR Unsupported option ", &call->argv[j],
                                            SIZE_MAX, ""));
        *flags |= 1u << i;
    }
    if ((*flags & EXPIRE_NX) && (*flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT)))
        return stop(reply_error(call,
            "ERR NX and XX, GT or LT options at the same time are not compatible"));
    if ((*flags & EXPIRE_GT) && (*flags & EXPIRE_LT))
        return stop(reply_error(call,
            "ERR GT and LT options at the same time are not compatible"));
    return 1;
}

/* NX, XX, GT, LT against the key's current deadline (Unix ms, or -1 for none). */
static bool expire_allowed(unsigned flags, long long when, long long current)
{
    if ((flags & EXPIRE_NX) && current != -1)
        return false;
    if ((flags & EXPIRE_XX) && current == -1)
        return false;
    if ((flags & EXPIRE_GT) && (when <= current || current == -1))
        return false;
    if ((flags & EXPIRE_LT) && current != -1 && when >= current)
        return false;
    return true;
}

/* EXPIRE (unit 1000) and PEXPIRE (1): a time from now, negative allowed (deletes). */
static int expire_generic(struct call *call, long long unit)
{
    const struct arg *key = &call->argv[1];
    long long when, left, now;
    unsigned flags = 0;
    int r;

    if ((r = parse_expire_options(call, &flags)) <= 0 || (r = integer_arg(call, 2, &when)) <= 0)
        return r;
    if (when > LLONG_MAX / unit || when < LLONG_MIN / unit)
        return reply_bad_expire_time(call);
    when *= unit;
    now = unix_ms();
    if (when > LLONG_MAX - now)
        return reply_bad_expire_time(call);
    when += now;
    left = time_left(call, key);
    if (left == -2 || !expire_allowed(flags, when, left >= 0 ? now + left : -1))
        return reply_integer(call, 0);
    if (expire_at(call, key, when, now) < 0)
        return reply_error(call, out_of_memory);
    return reply_integer(call, 1);
}

static int expire_command(struct call *call)
{
    return expire_generic(call, 1000);
}

static int pexpire_command(struct call *call)
{
    return expire_generic(call, 1);
}

static int pttl_command(struct call *call)
{
    return reply_integer(call, time_left(call, &call->argv[1]));
}

/* Seconds, rounded to the nearest, as Redis rounds them. */
static int ttl_command(struct call *call)
{
    long long left = time_left(call, &call->argv[1]);
    return reply_integer(call, left < 0 ? left : (left + 500) / 1000);
}

/* 1 only if the key had a deadline to take away. */
static int persist_command(struct call *call)
{
    const struct arg *key = &call->argv[1];

    if (time_left(call, key) < 0)
        return reply_integer(call, 0);
    store_persist(call->store, key->data, key->len);
    return reply_integer(call, 1);
}

/* ------------------------------------------------------------------------------------
 * The connection and the server: PING, ECHO, QUIT, SELECT, COMMAND, CONFIG
 * ------------------------------------------------------------------------------------ */

static int ping_command(struct call *call)
{
    if (call->argc > 2)
        return reply_wrong_arity(call);
    if (call->argc == 2)
        return reply_bulk(call, call->argv[1].data, call->argv[1].len);
    return call->reply->status(call->ctx, "PONG");
}

static int echo_command(struct call *call)
{
    return reply_bulk(call, call->argv[1].data, call->argv[1].len);
}

/* The connection closes once OK is sent: CMD_QUIT. */
static int quit_command(struct call *call)
{
    return reply_ok(call);
}

/* One database: index 0. */
static int select_command(struct call *call)
{
    long long index;
    int r = integer_arg(call, 1, &index);

    if (r <= 0)
        return r;
    if (index < INT_MIN || index > INT_MAX)
        return reply_error(call,
            "ERR value is out of range, value must between -2147483648 and 2147483647");
    if (index != 0)
        return reply_error(call, "ERR DB index is out of range");
    return reply_ok(call);
}

/*
 * COMMAND and COMMAND DOCS describe the commands for clients that want to know (redis-cli
 * asks, for its hints); an empty list is an answer they accept.
 */
static int command_list_command(struct call *call)
{
    return call->reply->array(call->ctx, 0);
}

/* COMMAND COUNT: the size of the table, which comes below. */
static int command_count_command(struct call *call);

/* The settings clients ask about (redis-benchmark does, at start), and their values here. */
static const char *const config_settings[][2] = {
    {"save", ""},        /* no snapshots: keys live in memory only */
    {"appendonly", "no"},
};

/*
 * CONFIG GET name ...: each name found (ignoring case) gives its name, as the client spelt
 * it, and its value. A name twice counts once. Glob patterns ("*") match nothing here.
 */
static int config_get_command(struct call *call)
{
    size_t found[2] = {0, 0}, count = 0;

    for (int i = 2; i < call->argc; i++)
        for (size_t s = 0; s < 2; s++)
            if (found[s] == 0 && arg_is(&call->argv[i], config_settings[s][0]) &&
                memchr(call->argv[i].data, '\0', call->argv[i].len) == NULL) {
                found[s] = (size_t)i;
                count++;
            }
    if (call->reply->array(call->ctx, 2 * count) < 0)
        return -1;
    for (size_t s = 0; s < 2; s++) {
        const char *value = config_settings[s][1];
        if (found[s] != 0 &&
            (reply_bulk(call, call->argv[found[s]].data, call->argv[found[s]].len) < 0 ||
             reply_bulk(call, (const uint8_t *)value, strlen(value)) < 0))
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * The table
 * ------------------------------------------------------------------------------------ */

static const struct command command_subcommands[] = {
    {"command|docs", -2, 0, command_list_command, NULL},
    {"command|count", 2, 0, command_count_command, NULL},
    {NULL, 0, 0, NULL, NULL},
};

static const struct command config_subcommands[] = {
    {"config|get", -3, 0, config_get_command, NULL},
    {NULL, 0, 0, NULL, NULL},
};

/* Looked up in order: the commands benchmarks send most come first. */
static const struct command command_table[] = {
    {"get", 2, 0, get_command, NULL},
    {"set", -3, CMD_SETS_EXPIRY, set_command, NULL},
    {"ping", -1, 0, ping_command, NULL},
    {"incr", 2, 0, incr_command, NULL},
    {"mset", -3, 0, mset_command, NULL},
    {"mget", -2, 0, mget_command, NULL},
    {"del", -2, 0, del_command, NULL},
    {"exists", -2, 0, exists_command, NULL},
    {"decr", 2, 0, decr_command, NULL},
    {"incrby", 3, 0, incrby_command, NULL},
    {"decrby", 3, 0, decrby_command, NULL},
    {"expire", -3, CMD_SETS_EXPIRY, expire_command, NULL},
    {"pexpire", -3, CMD_SETS_EXPIRY, pexpire_command, NULL},
    {"ttl", 2, 0, ttl_command, NULL},
    {"pttl", 2, 0, pttl_command, NULL},
    {"persist", 2, 0, persist_command, NULL},
    {"type", 2, 0, type_command, NULL},
    {"dbsize", 1, 0, dbsize_command, NULL},
    {"flushall", -1, 0, flushall_command, NULL},
    {"echo", 2, 0, echo_command, NULL},
    {"select", 2, 0, select_command, NULL},
    {"quit", -1, CMD_QUIT, quit_command, NULL},
    {"command", -1, 0, command_list_command, command_subcommands},
    {"config", -2, 0, NULL, config_subcommands},
    {NULL, 0, 0, NULL, NULL},
};

static int command_count_command(struct call *call)
{
    long long n = 0;

    while (command_table[n].name != NULL)
        n++;
    return reply_integer(call, n);
}

/* ------------------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------------------ */

/* The entry named name, ignoring case (a subcommand by the part after '|'), or NULL. */
static const struct command *find_command(const struct command *table, const struct arg *name)
{
    for (const struct command *cmd = table; cmd->name != NULL; cmd++) {
        const char *bar = strchr(cmd->name, '|');
        const char *match = bar != NULL ? bar + 1 : cmd->name;
        if (strlen(match) == name->len &&
            strncasecmp(match, (const char *)name->data, name->len) == 0)
            return cmd;
    }
    return NULL;
}

/* "unknown command 'x', with args beginning with: 'a' 'b' ", cut as Redis cuts it. */
static int reply_unknown_command(struct call *call)
{
    size_t name = c_length(&call->argv[0]), len, args = 0;
    char text[512];

    len = (size_t)snprintf(text, sizeof text,
                           "ERR unknown command '%.*s', with args beginning with: ",
                           (int)(name < 128 ? name : 128), (const char *)call->argv[0].data);
    for (int i = 1; i < call->argc && args < 128; i++) {
        size_t take = c_length(&call->argv[i]);
        take = take < 128 - args ? take : 128 - args;
        text[len++] = '\'';
        memcpy(text + len, call->argv[i].data, take);
        len += take;
        text[len++] = '\'';
        text[len++] = ' ';
        args += take + 3;
    }
    return call->reply->error(call->ctx, text, len);
}

/* "unknown subcommand 'x'. Try CONFIG HELP." */
static int reply_unknown_subcommand(struct call *call)
{
    char text[300], container[32];
    size_t n = c_length(&call->argv[0]), take = c_length(&call->argv[1]);
    int len;

    n = n < sizeof container - 1 ? n : sizeof container - 1;
    for (size_t i = 0; i < n; i++) {
        char c = (char)call->argv[0].data[i];
        container[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    container[n] = '\0';
    len = snprintf(text, sizeof text, "ERR unknown subcommand '%.*s'. Try %s HELP.",
                   (int)(take < 128 ? take : 128), (const char *)call->argv[1].data, container);
    return call->reply->error(call->ctx, text, (size_t)len);
}

static bool arity_ok(const struct command *cmd, int argc)
{
    return cmd->arity > 0 ? argc == cmd->arity : argc >= -cmd->arity;
}

int command_execute(struct store *store, int argc, const struct arg *argv,
                    const struct reply_ops *ops, void *ctx)
{
    struct call call = {store, argc, argv, ops, ctx, NULL};
    const struct command *cmd;

    cmd = find_command(command_table, &argv[0]);
    /* An HTTP request sent to us by a web page (cross-protocol scripting): hang up. Neither
     * word is a command, so only an unknown command needs the test. */
    if (cmd == NULL && (arg_is(&argv[0], "post") || arg_is(&argv[0], "host:")))
        return COMMAND_CLOSE_NOW;
    if (cmd == NULL)
        return reply_unknown_command(&call) < 0 ? -1 : COMMAND_DONE;
    if (cmd->subcommands != NULL && argc >= 2) {
        cmd = find_command(cmd->subcommands, &argv[1]);
        if (cmd == NULL)
            return reply_unknown_subcommand(&call) < 0 ? -1 : COMMAND_DONE;
    }
    call.command = cmd;
    if (!arity_ok(cmd, argc))
        return reply_wrong_arity(&call) < 0 ? -1 : COMMAND_DONE;
    if (cmd->handler(&call) < 0)
        return -1;
    if (cmd->flags & CMD_SETS_EXPIRY)
        store_expire_due(store, EXPIRE_PER_COMMAND);
    return cmd->flags & CMD_QUIT ? COMMAND_CLOSE_AFTER_REPLY : COMMAND_DONE;
}

/* ------------------------------------------------------------------------------------
 * KV/1's front end
 * ------------------------------------------------------------------------------------ */

/* The one reply a command gave, caught for KV/1 to translate. */
struct caught {
    enum { CAUGHT_STATUS, CAUGHT_ERROR, CAUGHT_INTEGER, CAUGHT_BULK, CAUGHT_VALUE,
           CAUGHT_NULL } kind;
    long long integer;
    const uint8_t *bytes; /* CAUGHT_BULK: the bytes, valid until the command's next change */
    struct value *value;  /* CAUGHT_VALUE: borrowed from the store, likewise */
    size_t len;
    char error[128];
};

static int catch_status(void *ctx, const char *text)
{
    (void)text;
    ((struct caught *)ctx)->kind = CAUGHT_STATUS;
    return 0;
}

/* KV/1's ERROR carries the message alone: Redis's "ERR " code goes. */
static int catch_error(void *ctx, const char *text, size_t len)
{
    struct caught *caught = ctx;

    if (len >= 4 && memcmp(text, "ERR ", 4) == 0) {
        text += 4;
        len -= 4;
    }
    caught->kind = CAUGHT_ERROR;
    caught->len = len < sizeof caught->error ? len : sizeof caught->error;
    memcpy(caught->error, text, caught->len);
    return 0;
}

static int catch_integer(void *ctx, long long n)
{
    ((struct caught *)ctx)->kind = CAUGHT_INTEGER;
    ((struct caught *)ctx)->integer = n;
    return 0;
}

static int catch_bulk(void *ctx, const uint8_t *bytes, size_t len)
{
    struct caught *caught = ctx;

    caught->kind = CAUGHT_BULK;
    caught->bytes = bytes;
    caught->len = len;
    return 0;
}

static int catch_value(void *ctx, struct value *value)
{
    ((struct caught *)ctx)->kind = CAUGHT_VALUE;
    ((struct caught *)ctx)->value = value;
    return 0;
}

static int catch_null(void *ctx)
{
    ((struct caught *)ctx)->kind = CAUGHT_NULL;
    return 0;
}

/* No KV/1 request maps to a command that replies with an array. */
static int catch_array(void *ctx, size_t n)
{
    (void)ctx;
    (void)n;
    errno = EINVAL;
    return -1;
}

static const struct reply_ops kv1_catch_ops = {
    catch_status, catch_error, catch_integer, catch_bulk, catch_value, catch_null, catch_array,
};

/* Runs {name, args...} and catches its reply. */
static int run(struct store *store, const char *name, const struct arg *args, int nargs,
               struct caught *caught)
{
    struct arg argv[3];

    argv[0] = (struct arg){(const uint8_t *)name, strlen(name)};
    for (int i = 0; i < nargs; i++)
        argv[i + 1] = args[i];
    return command_execute(store, nargs + 1, argv, &kv1_catch_ops, caught) < 0 ? -1 : 0;
}

static int kv1_ok_or_not_found(struct out_queue *out, bool ok)
{
    return append_response(out, ok ? STATUS_OK : STATUS_NOT_FOUND, NULL, 0);
}

/*
 * The replies KV/1 gives differently: DEL and PEXPIRE say OK or NOT_FOUND where Redis
 * counts 1 or 0; PTTL says NOT_FOUND where Redis says -2; PERSIST says OK for any key
 * that exists, where Redis says 0 for one that had no deadline (so EXISTS settles it).
 */
static int kv1_translate(struct store *store, const struct request *req,
                         const struct caught *caught, struct out_queue *out)
{
    struct caught exists_reply = {.integer = 0};

    if (caught->kind == CAUGHT_ERROR)
        return append_response(out, STATUS_ERROR, caught->error, caught->len);
    switch (req->type) {
    case REQ_GET:
        if (caught->kind != CAUGHT_VALUE)
            return kv1_ok_or_not_found(out, false);
        return append_value_response(out, caught->value);
    case REQ_SET:
        return kv1_ok_or_not_found(out, true);
    case REQ_DEL:
    case REQ_PEXPIRE:
        return kv1_ok_or_not_found(out, caught->integer > 0);
    case REQ_PTTL:
        if (caught->integer == -2)
            return kv1_ok_or_not_found(out, false);
        return append_u64_response(out, (uint64_t)caught->integer);
    case REQ_PERSIST:
        if (caught->integer == 0 && run(store, "EXISTS", req->args, 1, &exists_reply) < 0)
            return -1;
        return kv1_ok_or_not_found(out, caught->integer == 1 || exists_reply.integer == 1);
    case REQ_DBSIZE:
        return append_u64_response(out, (uint64_t)caught->integer);
    }
    errno = EINVAL; /* parse_request() returns no other type */
    return -1;
}

int kv1_answer(struct store *store, const struct request *req, struct out_queue *out)
{
    static const char *const names[] = {
        [REQ_GET] = "GET", [REQ_SET] = "SET", [REQ_DEL] = "DEL", [REQ_PEXPIRE] = "PEXPIRE",
        [REQ_PTTL] = "PTTL", [REQ_PERSIST] = "PERSIST", [REQ_DBSIZE] = "DBSIZE",
    };
    static const char bad_ttl[] = "ttl must be 8 bytes, at most 2^62 milliseconds";
    struct arg args[MAX_ARGS];
    struct caught caught;
    char ttl_text[24];
    uint64_t ttl;

    memcpy(args, req->args, sizeof args);
    if (req->type == REQ_PEXPIRE) {
        /* KV/1's ttl: 8 bytes, big-endian, at most 2^62; the command takes decimal text. */
        if (arg_u64(&req->args[1], &ttl) < 0 || ttl > STORE_MAX_TTL_MS)
            return append_response(out, STATUS_ERROR, bad_ttl, sizeof bad_ttl - 1);
        args[1].len = (size_t)snprintf(ttl_text, sizeof ttl_text, "%llu",
                                       (unsigned long long)ttl);
        args[1].data = (const uint8_t *)ttl_text;
    }
    if (run(store, names[req->type], args, req->argc, &caught) < 0)
        return -1;
    return kv1_translate(store, req, &caught, out);
}

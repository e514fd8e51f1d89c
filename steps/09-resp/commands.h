/*
 * commands.h - the command table: every command the server knows, whichever protocol
 * brought it.
 *
 * A command is an argument vector, argv[0] its name, as Redis has it. Each entry of the
 * table gives a name, an arity in Redis's convention (N: exactly N arguments counting the
 * name; -N: at least N), flags, and the handler that carries it out. Handlers reply through
 * struct reply_ops, which each protocol implements: RESP encodes each reply as it comes
 * (resp.c), and KV/1's front end (kv1_answer, below) catches the one reply and turns it
 * into a KV/1 response.
 *
 * New in step 09.
 */
#ifndef COMMANDS_H
#define COMMANDS_H

#include "outqueue.h"
#include "protocol.h"
#include "store.h"
#include "value.h"

#include <stddef.h>
#include <stdint.h>

/*
 * The replies a handler can give, as Redis's RESP2 has them: a status ("OK"), an error
 * ("ERR ...", its code first), an integer, a string ("bulk"), a stored value (a string
 * the reply may share rather than copy: step 08's out queue), the null string, and the
 * header of an array whose n elements follow as further replies. Each returns 0, or -1 if
 * the reply could not be kept (no memory): the connection cannot keep its word, and ends.
 */
struct reply_ops {
    int (*status)(void *ctx, const char *text);
    int (*error)(void *ctx, const char *text, size_t len);
    int (*integer)(void *ctx, long long n);
    int (*bulk)(void *ctx, const uint8_t *bytes, size_t len);
    int (*value)(void *ctx, struct value *value);
    int (*null)(void *ctx);
    int (*array)(void *ctx, size_t n);
};

/* What a command asks of the connection once it has replied. */
enum command_effect {
    COMMAND_DONE,              /* go on with the next command */
    COMMAND_CLOSE_AFTER_REPLY, /* QUIT: send what is owed, then close */
    COMMAND_CLOSE_NOW,         /* an HTTP request (POST, Host:): close without a reply */
};

/*
 * Carries out argv[0 .. argc), argc >= 1, against the store, replying through ops with
 * ctx. An unknown command or a wrong argument gets an error reply, not a failure. Returns
 * an enum command_effect, or -1 (errno ENOMEM) if a reply could not be kept.
 */
int command_execute(struct store *store, int argc, const struct arg *argv,
                    const struct reply_ops *ops, void *ctx);

/*
 * KV/1's front end: a well-formed KV/1 request, carried out by the table's command of the
 * same name, its result mapped to KV/1's response and appended to out. Returns 0, or -1.
 */
int kv1_answer(struct store *store, const struct request *req, struct out_queue *out);

#endif

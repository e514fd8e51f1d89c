/*
 * fuzz_resp.c - a libFuzzer target for step 09's RESP parser and command table.
 *
 * An input is one RESP client's session: two bytes that say where to cut the rest, then
 * the bytes the client sends (fuzz/make-corpus.sh resp). The session is played twice, as
 * fuzz_buffered.c plays KV/1's: all in one read, then in two reads cut at the chosen point.
 * RESP's parser keeps state between reads (struct resp_parser), so the cut is where it can
 * go wrong; it must not: both sessions must parse the same commands and end the same way.
 *
 * Every parse is held up against the framing model (resp_model.h), which re-reads the
 * input from its first byte each time, and against a fresh parser given an exact copy of
 * the bytes (so that ASan sees any read past them). Every command is then carried out by
 * the command table against a store, replying in RESP; at the end the replies must be
 * well-formed RESP, exactly one per command carried out. Any disagreement aborts, and
 * libFuzzer keeps the input.
 */
#define _POSIX_C_SOURCE 200809L

#include "buffer.h"
#include "commands.h"
#include "model.h"
#include "outqueue.h"
#include "resp.h"
#include "resp_model.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------------------------------------------
 * A session: a connection's input, parser, output, minus the socket
 * ------------------------------------------------------------------------------------ */

struct session {
    struct store *store;
    struct resp_parser parser;
    struct buffer in;
    struct out_queue out; /* replies owed: blocks, large values by reference */
    struct buffer replies; /* their bytes, gathered from out at the end */
    struct buffer log;   /* every command parsed, written out: the two sessions compare it */
    size_t executed;     /* commands carried out, each owing one reply */
    bool ended;          /* refused, or closed by a command: nothing more is parsed */
    char error[80];
};

static void session_start(struct session *s)
{
    memset(s, 0, sizeof *s);
    s->store = store_create();
    CHECK(s->store != NULL);
}

static void session_end(struct session *s)
{
    store_destroy(s->store);
    resp_parser_release(&s->parser);
    buffer_free(&s->in);
    out_free(&s->out);
    buffer_free(&s->replies);
    buffer_free(&s->log);
}

static void log_command(struct session *s, int argc, const struct arg *argv)
{
    CHECK(buffer_append(&s->log, &argc, sizeof argc) == 0);
    for (int i = 0; i < argc; i++) {
        CHECK(buffer_append(&s->log, &argv[i].len, sizeof argv[i].len) == 0);
        CHECK(buffer_append(&s->log, argv[i].data, argv[i].len) == 0);
    }
}

/* ------------------------------------------------------------------------------------
 * Checking a parse against the model, and against a fresh parser on an exact copy
 * ------------------------------------------------------------------------------------ */

static enum parse_result parse_fresh(const uint8_t *data, size_t len, struct model_resp *m,
                                     enum parse_result want)
{
    struct resp_parser fresh = {0};
    uint8_t *copy = malloc(len > 0 ? len : 1);
    const struct arg *argv;
    size_t frame_len = 0;
    enum parse_result r;
    int argc = 0;

    CHECK(copy != NULL);
    if (len > 0)
        memcpy(copy, data, len);
    r = resp_parse(&fresh, copy, len, &argc, &argv, &frame_len);
    CHECK(r == want);
    if (r == PARSE_REQUEST)
        CHECK(frame_len == m->len && (size_t)argc == m->argc);
    resp_parser_release(&fresh);
    free(copy);
    return r;
}

static void check_parse(struct session *s, enum parse_result r, int argc,
                        const struct arg *argv, size_t frame_len)
{
    struct model_resp *m = malloc(sizeof *m);
    enum model_resp_verdict v;

    CHECK(m != NULL);
    v = model_resp_command(s->in.data, s->in.len, m);
    switch (r) {
    case PARSE_REQUEST:
        CHECK(v == MODEL_RESP_FRAME && frame_len == m->len && (size_t)argc == m->argc);
        for (int i = 0; i < argc; i++)
            CHECK(same_bytes(argv[i].data, argv[i].len, m->arg[i], m->arg_len[i]));
        break;
    case PARSE_INCOMPLETE:
        CHECK(v == MODEL_RESP_PARTIAL);
        break;
    case PARSE_INVALID:
        CHECK(v == MODEL_RESP_REFUSED);
        CHECK(strncmp(s->parser.error, "ERR Protocol error: ", 20) == 0);
        break;
    }
    parse_fresh(s->in.data, s->in.len, m, r);
    model_resp_free(m);
    free(m);
}

/* ------------------------------------------------------------------------------------
 * Answering, as server.c's answer_next_command() does
 * ------------------------------------------------------------------------------------ */

static void answer_waiting(struct session *s)
{
    while (!s->ended) {
        const struct arg *argv;
        size_t frame_len = 0;
        int argc = 0, effect = COMMAND_DONE;
        enum parse_result r = resp_parse(&s->parser, s->in.data, s->in.len, &argc, &argv,
                                         &frame_len);

        check_parse(s, r, argc, argv, frame_len);
        if (r == PARSE_INCOMPLETE)
            return;
        if (r == PARSE_INVALID) {
            memcpy(s->error, s->parser.error, sizeof s->error);
            s->ended = true;
            return;
        }
        log_command(s, argc, argv);
        if (argc > 0) {
            effect = command_execute(s->store, argc, argv, &resp_reply_ops, &s->out);
            CHECK(effect >= 0);
            if (effect != COMMAND_CLOSE_NOW)
                s->executed++;
        }
        buffer_consume(&s->in, frame_len);
        s->ended = effect != COMMAND_DONE;
    }
}

static void receive(struct session *s, const uint8_t *bytes, size_t len)
{
    if (s->ended || len == 0)
        return;
    CHECK(buffer_append(&s->in, bytes, len) == 0);
    answer_waiting(s);
    if (s->in.len == 0)
        resp_parser_release(&s->parser); /* as the server does between commands */
}

/* ------------------------------------------------------------------------------------
 * The replies: well-formed RESP, one per command
 * ------------------------------------------------------------------------------------ */

/* The end of the line at pos: it must exist and hold no \r or \n before its \r\n. */
static size_t line_end(const uint8_t *d, size_t len, size_t pos)
{
    size_t i = pos;

    while (i < len && d[i] != '\r' && d[i] != '\n')
        i++;
    CHECK(i + 1 < len && d[i] == '\r' && d[i + 1] == '\n');
    return i;
}

static long long line_number(const uint8_t *d, size_t pos, size_t end)
{
    long long n;

    CHECK(resp_parse_integer(d + pos, end - pos, &n) == 0);
    return n;
}

/* Skips one reply at pos, checking its shape; returns the position after it. */
static size_t skip_reply(const uint8_t *d, size_t len, size_t pos)
{
    size_t end;
    long long n;

    CHECK(pos < len);
    end = line_end(d, len, pos + 1);
    switch (d[pos]) {
    case '+':
    case '-':
        return end + 2;
    case ':':
        line_number(d, pos + 1, end);
        return end + 2;
    case '$':
        n = line_number(d, pos + 1, end);
        if (n == -1)
            return end + 2;
        CHECK(n >= 0 && len - (end + 2) >= (size_t)n + 2);
        CHECK(d[end + 2 + n] == '\r' && d[end + 3 + n] == '\n');
        return end + 4 + (size_t)n;
    case '*':
        n = line_number(d, pos + 1, end);
        CHECK(n >= 0);
        pos = end + 2;
        while (n-- > 0)
            pos = skip_reply(d, len, pos);
        return pos;
    }
    CHECK(!"a reply of no RESP type");
    return len;
}

/* The bytes the queue owes, in order: copied blocks and referenced values alike. */
static void gather_replies(struct session *s)
{
    size_t total = 0;

    for (const struct out_block *b = s->out.head; b != NULL; b = b->next) {
        const uint8_t *bytes = b->value != NULL ? b->value->bytes : b->data;
        CHECK(b->start < b->len);
        CHECK(buffer_append(&s->replies, bytes + b->start, b->len - b->start) == 0);
        total += b->len - b->start;
    }
    CHECK(total == out_pending(&s->out));
}

static void check_replies(struct session *s)
{
    size_t pos = 0, count = 0;

    gather_replies(s);
    while (pos < s->replies.len) {
        pos = skip_reply(s->replies.data, s->replies.len, pos);
        count++;
    }
    CHECK(count == s->executed);
}

/* ------------------------------------------------------------------------------------
 * The target
 * ------------------------------------------------------------------------------------ */

static void session_play(struct session *s, const uint8_t *bytes, size_t len, size_t split)
{
    receive(s, bytes, split);
    receive(s, bytes + split, len - split);
    check_replies(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct session whole, split;
    size_t header = size < 2 ? size : 2;
    const uint8_t *bytes = data + header;
    size_t len = size - header;
    size_t cut = header == 2 ? (size_t)(data[0] << 8 | data[1]) % (len + 1) : 0;

    session_start(&whole);
    session_play(&whole, bytes, len, len);
    session_start(&split);
    session_play(&split, bytes, len, cut);

    CHECK(same_bytes(whole.log.data, whole.log.len, split.log.data, split.log.len));
    CHECK(whole.ended == split.ended && strcmp(whole.error, split.error) == 0);
    CHECK(whole.ended || whole.in.len == split.in.len); /* the same unfinished tail */

    session_end(&whole);
    session_end(&split);
    return 0;
}

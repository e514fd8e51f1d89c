/*
 * fuzz_buffered.c - a libFuzzer target for the buffer parser of steps 03 on.
 *
 * From step 03 on, the server parses requests out of a connection's input buffer with
 * parse_request() and appends each response to its output buffer with append_response().
 * Those three steps keep the same protocol.h, buffer.h and store.h interfaces, so this one
 * file is compiled once per step, against that step's folder (-Isteps/NN-name), and links
 * that step's protocol.c, buffer.c and store (fuzz/fuzz.mk does it).
 *
 * An input is one client's session: two bytes that say where to split the rest, then the
 * bytes the client sends. The session is played twice, the way the server would play it:
 *
 *   - all the bytes in one read;
 *   - the same bytes in two reads, cut at the chosen point.
 *
 * After each read, every whole request waiting in the input buffer is parsed, carried out
 * against the step's store and answered into the output buffer, as server.c's
 * answer_next_request() does; after each request a bounded "write" drains part of the output
 * buffer. Framing must not depend on how the bytes were split, so the two sessions must
 * send the client exactly the same bytes.
 *
 * Along the way, every parse is held up against the framing model (model.h), every store
 * answer against the store model, and the bytes the client receives against the responses
 * the model says it is owed. Any disagreement aborts, and libFuzzer keeps the input.
 *
 * From step 07 (MODEL_EXPIRY, set by fuzz.mk) keys expire. Time is a fake clock that moves
 * one millisecond per request, the same in both sessions, so a ttl of a few milliseconds
 * runs out within a session. After each request the store frees at most one expired key
 * (its active expiry, bounded as the server's is), so keys are freed early, late, or by a
 * request that finds them. The replies must not show which: every answer is checked
 * against the model exactly, and DBSIZE between the keys alive and those the model says a
 * store may still hold. A ttl of the wrong size, or over 2^62, must get an ERROR that does
 * not end the session.
 *
 * From step 08 (OUT_QUEUE, set by fuzz.mk for a step with outqueue.h) replies go to an
 * out_queue, and a GET of a long value queues a reference to the stored value instead of
 * a copy. The bounded "write" leaves such replies half-sent while later requests replace
 * or delete the key, so the bytes sent must still be the value as it was when answered.
 */
#define _POSIX_C_SOURCE 200809L

#include "buffer.h"
#include "model.h"
#include "protocol.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * What the "socket" takes from the output buffer after each request. Less than a large
 * response, so unwritten bytes pile up and buffer_reserve() has to make room around them,
 * as it does in the server for a client that reads slowly.
 */
#define WRITE_CHUNK 1000

/* ------------------------------------------------------------------------------------
 * Byte strings owned by the target: what the client received, and what it is owed
 * ------------------------------------------------------------------------------------ */

/* Kept apart from the step's struct buffer, which is under test. Zeroed is empty. */
struct bytes {
    uint8_t *data;
    size_t len;
    size_t cap;
};

/* Grows by doubling: a session's replies can reach hundreds of KiB, a response at a time. */
static void bytes_append(struct bytes *b, const void *more, size_t len)
{
    if (len == 0)
        return;
    if (b->cap - b->len < len) {
        while (b->cap - b->len < len)
            b->cap = b->cap > 0 ? b->cap * 2 : 4096;
        b->data = realloc(b->data, b->cap);
        CHECK(b->data != NULL);
    }
    memcpy(b->data + b->len, more, len);
    b->len += len;
}

/* A response as docs/protocol.md lays it out, encoded here without protocol.c's help. */
static void bytes_append_response(struct bytes *b, enum status status, const void *payload,
                                  size_t len)
{
    uint8_t header[6] = {
        (uint8_t)(status >> 8), (uint8_t)status,
        (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len,
    };
    bytes_append(b, header, sizeof header);
    bytes_append(b, payload, len);
}

/* ------------------------------------------------------------------------------------
 * A session: what server.c keeps for one connection, minus the socket
 * ------------------------------------------------------------------------------------ */

struct session {
    struct store *store;
    struct model_store *model; /* NULL: the store is not compared (the replayed session) */
    struct buffer in;          /* received, not parsed yet */
#ifdef OUT_QUEUE
    struct out_queue out;      /* answered, not written yet */
#else
    struct buffer out;         /* answered, not written yet */
#endif
    struct bytes written;      /* everything written to the client, in order */
    struct bytes owed;         /* what the models say should have been written */
    size_t requests;           /* requests answered */
    uint64_t now;              /* step 07: the fake clock, one tick per request */
    bool refused;              /* an ERROR is owed: nothing more is read or parsed */
};

static void session_start(struct session *s, struct model_store *model)
{
    memset(s, 0, sizeof *s);
    s->store = store_create();
    CHECK(s->store != NULL);
    s->model = model;
}

static void session_end(struct session *s)
{
    store_destroy(s->store);
    buffer_free(&s->in);
#ifdef OUT_QUEUE
    out_free(&s->out);
#else
    buffer_free(&s->out);
#endif
    free(s->written.data);
    free(s->owed.data);
}

#ifdef OUT_QUEUE
/* The socket takes up to max bytes from the front of the output queue, block by block. */
static void write_some(struct session *s, size_t max)
{
    size_t taken = 0;

    for (struct out_block *b = s->out.head; b != NULL && taken < max; b = b->next) {
        const uint8_t *bytes = b->value != NULL ? b->value->bytes : b->data;
        size_t n = b->len - b->start < max - taken ? b->len - b->start : max - taken;
        bytes_append(&s->written, bytes + b->start, n);
        taken += n;
    }
    CHECK(taken == (out_pending(&s->out) < max ? out_pending(&s->out) : max));
    out_consume(&s->out, taken);
    CHECK(out_pending(&s->out) > 0 || s->out.head == NULL); /* empty holds nothing */
}
#else
/* The socket takes up to max bytes from the front of the output buffer. */
static void write_some(struct session *s, size_t max)
{
    size_t n = s->out.len < max ? s->out.len : max;
    if (n == 0)
        return;
    bytes_append(&s->written, s->out.data, n);
    buffer_consume(&s->out, n);
}
#endif

/* Appends a response to the output buffer, and notes that the client is owed it. */
static void reply(struct session *s, enum status status, const void *payload, size_t len)
{
    CHECK(append_response(&s->out, status, payload, len) == 0);
    bytes_append_response(&s->owed, status, payload, len);
}

/* An OK whose payload is an 8-byte integer: step 07's replies to PTTL and DBSIZE. What
 * is owed is encoded here, byte by byte, without protocol.c's help. */
#ifdef MODEL_EXPIRY
static void reply_u64(struct session *s, uint64_t value)
{
    uint8_t payload[8];

    for (int i = 0; i < 8; i++)
        payload[i] = (uint8_t)(value >> (56 - 8 * i));
    CHECK(append_u64_response(&s->out, value) == 0);
    bytes_append_response(&s->owed, STATUS_OK, payload, sizeof payload);
}
#endif

/* ------------------------------------------------------------------------------------
 * Checking parse_request() against the framing model
 * ------------------------------------------------------------------------------------ */

/*
 * Parses a copy of data[0 .. len) in a block of exactly len bytes. In the session's input
 * buffer, spare capacity follows the bytes held, so ASan cannot see a parser that peeks past
 * len; here the byte after the last one is outside the block, and reading it is a crash.
 */
static enum parse_result parse_exact(const uint8_t *data, size_t len, struct request *req,
                                     size_t *frame_len)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    enum parse_result result;

    CHECK(copy != NULL);
    if (len > 0)
        memcpy(copy, data, len);
    result = parse_request(copy, len, req, frame_len);
    free(copy); /* req's arguments now dangle: only the result and frame_len are used */
    return result;
}

/* Cut a whole frame short anywhere and it must be "incomplete", never a request or refused. */
static void check_prefixes(const uint8_t *data, size_t frame_len)
{
    const size_t cuts[] = { 0, 1, frame_len / 2, frame_len - 1 };
    struct request req;
    size_t len = 0;

    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        CHECK(parse_exact(data, cuts[i], &req, &len) == PARSE_INCOMPLETE);
    /* Exactly the frame's bytes, and nothing after them, is enough. */
    CHECK(parse_exact(data, frame_len, &req, &len) == PARSE_REQUEST && len == frame_len);
}

static void check_request(const uint8_t *data, size_t len, const struct request *req,
                          size_t frame_len, const struct model_frame *frame)
{
    CHECK(frame_len == frame->len && frame_len <= len);
    CHECK(req->type == frame->type);
    CHECK(req->argc == frame->argc && req->argc <= MAX_ARGS);
    for (int i = 0; i < req->argc; i++) {
        const struct arg *arg = &req->args[i];
        CHECK(arg->len <= MAX_ARG_LEN);
        CHECK(arg->data >= data && arg->len <= frame_len - (size_t)(arg->data - data));
        CHECK(arg->data == data + frame->arg_start[i] && arg->len == frame->arg_len[i]);
    }
    check_prefixes(data, frame_len);
}

static void check_parse(const uint8_t *data, size_t len, enum parse_result result,
                        const struct request *req, size_t frame_len)
{
    struct model_frame frame;
    enum model_verdict verdict = model_frame(data, len, &frame);
    struct request exact_req;
    size_t exact_len;

    switch (result) {
    case PARSE_REQUEST:
        CHECK(verdict == MODEL_FRAME);
        check_request(data, len, req, frame_len, &frame); /* parses the exact frame, too */
        return;
    case PARSE_INCOMPLETE:
        CHECK(verdict == MODEL_PARTIAL);
        CHECK(parse_exact(data, len, &exact_req, &exact_len) == PARSE_INCOMPLETE);
        return;
    case PARSE_INVALID:
        CHECK(verdict == MODEL_REFUSED);
        CHECK(parse_exact(data, len, &exact_req, &exact_len) == PARSE_INVALID);
        /* The reason goes into the ERROR reply: short, terminated, not empty. */
        CHECK(memchr(req->error, '\0', sizeof req->error) != NULL && req->error[0] != '\0');
        return;
    }
    CHECK(!"parse_request returned no parse_result");
}

/* ------------------------------------------------------------------------------------
 * Answering, as server.c does, and checking the store against the store model
 * ------------------------------------------------------------------------------------ */

static void check_store_answer(struct model_store *model, const struct request *req,
                               enum status status, const uint8_t *value, size_t value_len)
{
    const struct arg *key = &req->args[0];
    const uint8_t *want;
    size_t want_len;

    switch (req->type) {
    case REQ_GET:
        CHECK(model_get(model, key->data, key->len, &want, &want_len) == (status == STATUS_OK));
        CHECK(status != STATUS_OK || same_bytes(value, value_len, want, want_len));
        return;
    case REQ_SET:
        model_set(model, key->data, key->len, req->args[1].data, req->args[1].len);
        return;
    case REQ_DEL:
        CHECK(model_del(model, key->data, key->len) == (status == STATUS_OK));
        return;
    }
}

#ifdef MODEL_EXPIRY
/*
 * PEXPIRE as server.c answers it: the ttl is judged first, by protocol.c and by the model
 * apart; a bad one gets an ERROR, and the session goes on.
 */
static void answer_pexpire(struct session *s, const struct request *req)
{
    const struct arg *key = &req->args[0];
    static const char bad_ttl[] = "bad ttl";
    uint64_t ttl = 0, model_ttl_value = 0;
    bool ok = arg_u64(&req->args[1], &ttl) == 0 && ttl <= STORE_MAX_TTL_MS;
    bool found;

    if (s->model != NULL)
        CHECK(ok == model_ttl_arg(req->args[1].data, req->args[1].len, &model_ttl_value) &&
              (!ok || ttl == model_ttl_value));
    if (!ok) {
        reply(s, STATUS_ERROR, bad_ttl, sizeof bad_ttl - 1);
        return;
    }
    CHECK(store_expire(s->store, key->data, key->len, ttl, &found) == 0);
    if (s->model != NULL)
        CHECK(model_expire(s->model, key->data, key->len, ttl) == found);
    reply(s, found ? STATUS_OK : STATUS_NOT_FOUND, NULL, 0);
}

/* PTTL, PERSIST, DBSIZE: each answer against the model. */
static void answer_expiry(struct session *s, const struct request *req)
{
    const struct arg *key = &req->args[0];
    int64_t ttl = 0, want = 0;
    size_t count;
    bool found;

    switch (req->type) {
    case REQ_PTTL:
        found = store_ttl(s->store, key->data, key->len, &ttl);
        if (s->model != NULL)
            CHECK(model_ttl(s->model, key->data, key->len, &want) == found &&
                  (!found || ttl == want));
        if (found)
            reply_u64(s, (uint64_t)ttl);
        else
            reply(s, STATUS_NOT_FOUND, NULL, 0);
        return;
    case REQ_PERSIST:
        found = store_persist(s->store, key->data, key->len);
        if (s->model != NULL)
            CHECK(model_persist(s->model, key->data, key->len) == found);
        reply(s, found ? STATUS_OK : STATUS_NOT_FOUND, NULL, 0);
        return;
    case REQ_DBSIZE:
        count = store_count(s->store);
        if (s->model != NULL)
            CHECK(model_live_count(s->model) <= count && count <= s->model->count);
        reply_u64(s, count);
        return;
    }
    CHECK(!"parse_request returned a type it does not know");
}

/* Before a request: the clock moves on, for the store and the model alike. */
static void tick(struct session *s)
{
    s->now++;
    store_set_time(s->store, s->now);
    if (s->model != NULL)
        s->model->now = s->now;
}

/* After a request: the store's active expiry, one key at most, earliest first. */
static void expire_some(struct session *s)
{
    uint64_t next;

    CHECK(store_expire_due(s->store, 1) <= 1);
    next = store_next_expiry(s->store);
    CHECK(next == STORE_NO_EXPIRY || next > s->now ||
          store_count(s->store) > 0); /* a deadline due means a key still held */
}
#endif

#ifdef OUT_QUEUE
/*
 * Values this long or longer are queued by reference here. protocol.c's own threshold,
 * OUT_COPY_LIMIT, is beyond what a 4 KiB input can hold, so the target queues the
 * reference itself (header, then out_append_value()), as append_value_response() does.
 */
#define FUZZ_REFERENCE_LIMIT 16

/* A GET that finds its key: a short value copied by append_value_response(), a longer one
 * referenced. Returns false if there is no such key. */
static bool answer_get(struct session *s, const struct request *req)
{
    const struct arg *key = &req->args[0];
    struct value *value = store_get(s->store, key->data, key->len);

    if (value == NULL)
        return false;
    if (s->model != NULL)
        check_store_answer(s->model, req, STATUS_OK, value->bytes, value->len);
    if (value->len < FUZZ_REFERENCE_LIMIT) {
        CHECK(append_value_response(&s->out, value) == 0);
    } else {
        size_t len = value->len;
        uint8_t header[6] = { 0, STATUS_OK, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                              (uint8_t)(len >> 8), (uint8_t)len };
        CHECK(out_append(&s->out, header, sizeof header) == 0);
        CHECK(out_append_value(&s->out, value) == 0);
    }
    bytes_append_response(&s->owed, STATUS_OK, value->bytes, value->len);
    return true;
}
#endif

static void answer(struct session *s, const struct request *req)
{
    const struct arg *key = &req->args[0];
    const uint8_t *value = NULL;
    size_t value_len = 0;
    enum status status = STATUS_OK;

#ifdef MODEL_EXPIRY
    if (req->type == REQ_PEXPIRE) {
        answer_pexpire(s, req);
        return;
    }
    if (req->type == REQ_PTTL || req->type == REQ_PERSIST || req->type == REQ_DBSIZE) {
        answer_expiry(s, req);
        return;
    }
#endif
    switch (req->type) {
    case REQ_GET:
#ifdef OUT_QUEUE
        if (answer_get(s, req))
            return;
        status = STATUS_NOT_FOUND;
#else
        if (!store_get(s->store, key->data, key->len, &value, &value_len))
            status = STATUS_NOT_FOUND;
#endif
        break;
    case REQ_SET:
        CHECK(store_set(s->store, key->data, key->len, req->args[1].data,
                        req->args[1].len) == 0);
        break;
    case REQ_DEL:
        if (!store_del(s->store, key->data, key->len))
            status = STATUS_NOT_FOUND;
        break;
    default:
        CHECK(!"parse_request returned a type it does not know");
    }
    if (s->model != NULL)
        check_store_answer(s->model, req, status, value, value_len);
    reply(s, status, status == STATUS_OK ? value : NULL, status == STATUS_OK ? value_len : 0);
}

/* ------------------------------------------------------------------------------------
 * Reading and answering: a session, played in one read or two
 * ------------------------------------------------------------------------------------ */

/* Answers every whole request at the front of the input buffer, in order. */
static void answer_waiting(struct session *s)
{
    while (!s->refused) {
        struct request req;
        size_t frame_len = 0;
        enum parse_result result = parse_request(s->in.data, s->in.len, &req, &frame_len);

        check_parse(s->in.data, s->in.len, result, &req, frame_len);
        if (result == PARSE_INCOMPLETE)
            return;
        if (result == PARSE_INVALID) {
            reply(s, STATUS_ERROR, req.error, strlen(req.error));
            s->refused = true;
            return;
        }
#ifdef MODEL_EXPIRY
        tick(s);
#endif
        answer(s, &req); /* before the consume: req's arguments point into s->in */
#ifdef MODEL_EXPIRY
        expire_some(s);
#endif
        buffer_consume(&s->in, frame_len);
        s->requests++;
        write_some(s, WRITE_CHUNK);
    }
}

/* One read's worth of bytes arrives. After a refusal the server reads nothing more. */
static void receive(struct session *s, const uint8_t *bytes, size_t len)
{
    if (s->refused || len == 0)
        return;
    CHECK(buffer_append(&s->in, bytes, len) == 0);
    answer_waiting(s);
}

/* Plays the client's bytes in two reads cut at split, then writes out what is owed. */
static void session_play(struct session *s, const uint8_t *bytes, size_t len, size_t split)
{
    receive(s, bytes, split);
    receive(s, bytes + split, len - split);
    write_some(s, SIZE_MAX);
    CHECK(same_bytes(s->written.data, s->written.len, s->owed.data, s->owed.len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct model_store model = { 0 };
    struct session whole, split;
    size_t header = size < 2 ? size : 2;
    const uint8_t *bytes = data + header;
    size_t len = size - header;
    size_t cut = header == 2 ? (size_t)(data[0] << 8 | data[1]) % (len + 1) : 0;

    session_start(&whole, &model);
    session_play(&whole, bytes, len, len);
    session_start(&split, NULL);
    session_play(&split, bytes, len, cut);

    CHECK(split.requests == whole.requests && split.refused == whole.refused);
    CHECK(same_bytes(split.written.data, split.written.len, whole.written.data,
                     whole.written.len));
    CHECK(whole.refused || split.in.len == whole.in.len); /* the same unfinished tail */
#ifdef MODEL_EXPIRY
    /* Every expired key freed, the store holds exactly the live keys. */
    store_expire_due(whole.store, SIZE_MAX);
    CHECK(store_next_expiry(whole.store) == STORE_NO_EXPIRY ||
          store_next_expiry(whole.store) > whole.now);
    CHECK(store_count(whole.store) == model_live_count(&model));
#endif

    session_end(&whole);
    session_end(&split);
    model_clear(&model);
    return 0;
}

/*
 * fuzz_step02.c - a libFuzzer target for step 02's request reader.
 *
 * Step 02 reads requests straight from a blocking descriptor with read_request(). To give
 * it a descriptor, the input goes into an unlinked temporary file: a file, unlike a pipe,
 * has no capacity to fill (a 64 KiB pipe written before it is read would block forever), and
 * a read at its end returns 0, exactly what a socket returns once the client has closed. So
 * each input is one client that sends those bytes and closes.
 *
 * Each request read is answered the way server.c's answer_request() does it, against the
 * step's own store, with the responses written to /dev/null. Every step of the way the
 * target holds the step up against the models (model.h): read_request() must agree with the
 * framing model about every frame, its copies of the arguments must be the bytes sent, and
 * the store must answer as the store model does. A disagreement aborts, and libFuzzer keeps
 * the input.
 *
 * Build (fuzz/fuzz.mk does this):
 *   clang -fsanitize=fuzzer,address,undefined -Isteps/02-protocol -Ifuzz fuzz/fuzz_step02.c \
 *       fuzz/model.c steps/02-protocol/{protocol,store,net}.c
 */
#define _POSIX_C_SOURCE 200809L

#include "model.h"
#include "protocol.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The client's bytes (a temporary file) and where the responses go (/dev/null). */
static int client_fd = -1;
static int reply_fd = -1;

/* ------------------------------------------------------------------------------------
 * The client: the input bytes, then end of file
 * ------------------------------------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    FILE *file = tmpfile(); /* deleted at exit; never closed, so the descriptor stays ours */
    (void)argc;
    (void)argv;
    CHECK(file != NULL);
    client_fd = fileno(file);
    reply_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(client_fd >= 0 && reply_fd >= 0);
    return 0;
}

/* Replaces the file's contents with the input and rewinds it for the next read. */
static void become_client(const uint8_t *data, size_t size)
{
    size_t done = 0;
    CHECK(ftruncate(client_fd, 0) == 0);
    while (done < size) {
        ssize_t n = pwrite(client_fd, data + done, size - done, (off_t)done);
        CHECK(n > 0 || (n < 0 && errno == EINTR));
        done += n > 0 ? (size_t)n : 0;
    }
    CHECK(lseek(client_fd, 0, SEEK_SET) == 0);
}

/* How far into the input the step has read. */
static size_t bytes_read(void)
{
    off_t offset = lseek(client_fd, 0, SEEK_CUR);
    CHECK(offset >= 0);
    return (size_t)offset;
}

/* ------------------------------------------------------------------------------------
 * Checking a request against the framing model
 * ------------------------------------------------------------------------------------ */

/* A request read from frame_bytes: the model's frame, argument for argument. */
static void check_request(const struct request *req, const uint8_t *frame_bytes,
                          const struct model_frame *frame)
{
    CHECK(req->type == frame->type);
    CHECK(req->argc == frame->argc && req->argc <= MAX_ARGS);
    for (int i = 0; i < req->argc; i++) {
        const struct arg *arg = &req->args[i];
        CHECK(arg->data != NULL); /* protocol.h: never NULL, even when empty */
        CHECK(arg->len <= MAX_ARG_LEN);
        CHECK(same_bytes(arg->data, arg->len, frame_bytes + frame->arg_start[i],
                         frame->arg_len[i]));
    }
}

/* A refusal comes with a reason for the ERROR reply: a short, terminated, non-empty string. */
static void check_refusal(const struct request *req)
{
    CHECK(memchr(req->error, '\0', sizeof req->error) != NULL);
    CHECK(req->error[0] != '\0');
}

/* ------------------------------------------------------------------------------------
 * Answering, as server.c does, and checking the store against the store model
 * ------------------------------------------------------------------------------------ */

static void answer(struct store *store, struct model_store *model, const struct request *req)
{
    const struct arg *key = &req->args[0];
    const uint8_t *value, *want;
    size_t value_len, want_len;
    bool found;

    switch (req->type) {
    case REQ_GET:
        found = store_get(store, key->data, key->len, &value, &value_len);
        CHECK(found == model_get(model, key->data, key->len, &want, &want_len));
        CHECK(!found || same_bytes(value, value_len, want, want_len));
        CHECK(write_response(reply_fd, found ? STATUS_OK : STATUS_NOT_FOUND,
                             found ? value : NULL, found ? value_len : 0) == 0);
        return;
    case REQ_SET:
        CHECK(store_set(store, key->data, key->len, req->args[1].data, req->args[1].len) == 0);
        model_set(model, key->data, key->len, req->args[1].data, req->args[1].len);
        CHECK(write_response(reply_fd, STATUS_OK, NULL, 0) == 0);
        return;
    case REQ_DEL:
        found = store_del(store, key->data, key->len);
        CHECK(found == model_del(model, key->data, key->len));
        CHECK(write_response(reply_fd, found ? STATUS_OK : STATUS_NOT_FOUND, NULL, 0) == 0);
        return;
    }
    CHECK(!"read_request returned a type it does not know");
}

/* ------------------------------------------------------------------------------------
 * One client's session
 * ------------------------------------------------------------------------------------ */

/*
 * Reads the request that the model says starts at data[*offset] and checks the outcome.
 * Returns true, with *offset moved past the request, while the session goes on; false once
 * the client has closed or been refused.
 */
static bool serve_one(const uint8_t *data, size_t size, size_t *offset,
                      struct store *store, struct model_store *model)
{
    struct model_frame frame;
    enum model_verdict verdict = model_frame(data + *offset, size - *offset, &frame);
    struct request req;

    switch (read_request(client_fd, &req)) {
    case READ_REQUEST:
        CHECK(verdict == MODEL_FRAME);
        CHECK(bytes_read() == *offset + frame.len); /* nothing read beyond the frame */
        check_request(&req, data + *offset, &frame);
        answer(store, model, &req);
        request_free(&req);
        *offset += frame.len;
        return true;
    case READ_CLOSED:
        CHECK(*offset == size); /* a client may close only between requests */
        return false;
    case READ_FAILED:
        CHECK(verdict == MODEL_PARTIAL && *offset < size); /* it closed mid-frame */
        CHECK(errno == ECONNRESET);
        return false;
    case READ_INVALID:
        /* Also step 02's answer to a failed malloc, but ASan aborts the run before malloc
         * could return NULL: here a refusal is always the client's doing. */
        CHECK(verdict == MODEL_REFUSED);
        check_refusal(&req);
        CHECK(write_response(reply_fd, STATUS_ERROR, req.error, strlen(req.error)) == 0);
        return false;
    }
    CHECK(!"read_request returned no read_result");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct store *store = store_create();
    struct model_store model = { 0 };
    size_t offset = 0;

    CHECK(store != NULL);
    become_client(data, size);
    while (serve_one(data, size, &offset, store, &model))
        ;
    store_destroy(store);
    model_clear(&model);
    return 0;
}

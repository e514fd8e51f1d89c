/*
 * resp_model.h - RESP's framing (docs/protocol.md, "RESP") written down a second time, as
 * plainly as possible, for fuzz_resp.c to hold step 09's parser up against.
 */
#ifndef RESP_MODEL_H
#define RESP_MODEL_H

#include "model.h" /* CHECK, same_bytes */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MODEL_RESP_MAX_LINE 65536 /* an unended inline command or header line: refused */
#define MODEL_RESP_MAX_ARGS 4096  /* more than a fuzz input of 4 KiB can hold */

enum model_resp_verdict {
    MODEL_RESP_FRAME,   /* a whole command is there (perhaps with no arguments: skipped) */
    MODEL_RESP_PARTIAL, /* the bytes so far begin a command; more must come */
    MODEL_RESP_REFUSED, /* a protocol error: an error reply, then the connection closes */
};

struct model_resp {
    size_t argc;
    const uint8_t *arg[MODEL_RESP_MAX_ARGS];
    size_t arg_len[MODEL_RESP_MAX_ARGS];
    size_t len;     /* bytes in the whole command, for MODEL_RESP_FRAME */
    uint8_t *words; /* an inline command's words, unquoted: free with model_resp_free */
};

/* What the bytes at the front of a RESP stream are. Always call model_resp_free after. */
enum model_resp_verdict model_resp_command(const uint8_t *data, size_t len,
                                           struct model_resp *m);
void model_resp_free(struct model_resp *m);

#endif

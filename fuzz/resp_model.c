/*
 * resp_model.c - RESP's framing written down a second time, for fuzz_resp.c.
 *
 * docs/protocol.md ("RESP") says what the bytes at the front of a RESP stream are: a whole
 * command (and its arguments), only part of one, or a stream the server must refuse. This
 * model says the same thing the slow, plain way: it starts from the first byte every time
 * (no state kept between reads), reads a number by checking that printing it back gives
 * the same text, and collects inline words one character at a time. It shares no code
 * and no header with the step, so a mistake there cannot hide by being copied here.
 */
#define _POSIX_C_SOURCE 200809L

#include "resp_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal the way docs/protocol.md allows it: exactly what printf prints for it. */
static bool model_number(const uint8_t *text, size_t len, long long *value)
{
    char copy[32], printed[32];
    char *end;

    if (len == 0 || len >= sizeof copy)
        return false;
    memcpy(copy, text, len);
    copy[len] = '\0';
    errno = 0;
    *value = strtoll(copy, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    snprintf(printed, sizeof printed, "%lld", *value);
    return strcmp(printed, copy) == 0 && strcmp(copy, "-0") != 0;
}

/* Where the line starting at from ends: the first \r (or \n) before any NUL, or -1. */
static long find_end(const uint8_t *d, size_t from, size_t len, uint8_t end)
{
    for (size_t i = from; i < len && d[i] != '\0'; i++)
        if (d[i] == end)
            return (long)i;
    return -1;
}

static enum model_resp_verdict add(struct model_resp *m, const uint8_t *bytes, size_t len)
{
    CHECK(m->argc < MODEL_RESP_MAX_ARGS);
    m->arg[m->argc] = bytes;
    m->arg_len[m->argc] = len;
    m->argc++;
    return MODEL_RESP_FRAME;
}

/* A header line at pos: '\r', a byte after it; *number is its digits after the type. */
static enum model_resp_verdict header(const uint8_t *d, size_t len, size_t pos,
                                      size_t *cr)
{
    long end = find_end(d, pos, len, '\r');

    if (end < 0)
        return len - pos > MODEL_RESP_MAX_LINE ? MODEL_RESP_REFUSED : MODEL_RESP_PARTIAL;
    if ((size_t)end + 1 >= len)
        return MODEL_RESP_PARTIAL;
    *cr = (size_t)end;
    return MODEL_RESP_FRAME;
}

static enum model_resp_verdict multibulk(const uint8_t *d, size_t len, struct model_resp *m)
{
    enum model_resp_verdict v;
    long long count, bulk;
    size_t cr, pos;

    if ((v = header(d, len, 0, &cr)) != MODEL_RESP_FRAME)
        return v;
    if (!model_number(d + 1, cr - 1, &count) || count > 1048576 || d[cr + 1] != '\n')
        return MODEL_RESP_REFUSED;
    pos = cr + 2;
    for (long long i = 0; i < count; i++) {
        if ((v = header(d, len, pos, &cr)) != MODEL_RESP_FRAME)
            return v;
        if (d[pos] != '$' || !model_number(d + pos + 1, cr - pos - 1, &bulk) || bulk < 0 ||
            bulk > 33554432 || d[cr + 1] != '\n')
            return MODEL_RESP_REFUSED;
        pos = cr + 2;
        if (len - pos < (size_t)bulk + 2)
            return MODEL_RESP_PARTIAL;
        if (d[pos + bulk] != '\r' || d[pos + bulk + 1] != '\n')
            return MODEL_RESP_REFUSED;
        add(m, d + pos, (size_t)bulk);
        pos += (size_t)bulk + 2;
    }
    m->len = pos;
    return MODEL_RESP_FRAME;
}

static bool blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int hex(uint8_t c)
{
    const char *digits = "0123456789abcdef", *at;

    if (c >= 'A' && c <= 'F')
        c = (uint8_t)(c - 'A' + 'a');
    at = c != '\0' ? strchr(digits, c) : NULL;
    return at != NULL ? (int)(at - digits) : -1;
}

/*
 * Splits line[0 .. n) into words, the quoting rules of docs/protocol.md: "..." with
 * backslash escapes (\xHH, \n, \r, \t, \b, \a, \<any>), '...' with \' alone, quotes may
 * open inside a word, a closing quote needs a blank or the end after it.
 */
static enum model_resp_verdict words(const uint8_t *line, size_t n, struct model_resp *m)
{
    size_t i = 0;
    uint8_t *out = m->words;

    for (;;) {
        size_t start;
        int quote = 0;
        while (i < n && blank(line[i]))
            i++;
        if (i == n)
            return MODEL_RESP_FRAME;
        start = (size_t)(out - m->words);
        for (;;) {
            uint8_t c = i < n ? line[i] : 0;
            if (quote != 0 && i == n)
                return MODEL_RESP_REFUSED;
            if (quote == 0 && (i == n || c == ' ' || c == '\t' || c == '\r' || c == '\n'))
                break;
            if (quote == 0 && (c == '"' || c == '\'')) {
                quote = c;
                i++;
            } else if (quote == c) {
                if (i + 1 < n && !blank(line[i + 1]))
                    return MODEL_RESP_REFUSED;
                i++;
                break;
            } else if (quote == '"' && c == '\\' && i + 3 < n && line[i + 1] == 'x' &&
                       hex(line[i + 2]) >= 0 && hex(line[i + 3]) >= 0) {
                *out++ = (uint8_t)(hex(line[i + 2]) << 4 | hex(line[i + 3]));
                i += 4;
            } else if (quote == '"' && c == '\\' && i + 1 < n) {
                const char *from = "nrtba", *to = "\n\r\t\b\a";
                const char *at = line[i + 1] != '\0' ? strchr(from, line[i + 1]) : NULL;
                *out++ = at != NULL ? (uint8_t)to[at - from] : line[i + 1];
                i += 2;
            } else if (quote == '\'' && c == '\\' && i + 1 < n && line[i + 1] == '\'') {
                *out++ = '\'';
                i += 2;
            } else {
                *out++ = c;
                i++;
            }
        }
        add(m, m->words + start, (size_t)(out - m->words) - start);
    }
}

static enum model_resp_verdict inline_command(const uint8_t *d, size_t len,
                                              struct model_resp *m)
{
    long nl = find_end(d, 0, len, '\n');
    size_t end;

    if (nl < 0)
        return len > MODEL_RESP_MAX_LINE ? MODEL_RESP_REFUSED : MODEL_RESP_PARTIAL;
    end = (size_t)nl;
    if (end > 0 && d[end - 1] == '\r')
        end--;
    m->words = malloc((size_t)nl + 1);
    CHECK(m->words != NULL);
    m->len = (size_t)nl + 1;
    return words(d, end, m);
}

enum model_resp_verdict model_resp_command(const uint8_t *data, size_t len,
                                           struct model_resp *m)
{
    memset(m, 0, sizeof *m);
    if (len == 0)
        return MODEL_RESP_PARTIAL;
    return data[0] == '*' ? multibulk(data, len, m) : inline_command(data, len, m);
}

void model_resp_free(struct model_resp *m)
{
    free(m->words);
    m->words = NULL;
}

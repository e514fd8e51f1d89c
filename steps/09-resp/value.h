/*
 * value.h - a stored value that a reply can share with the store (step 08).
 *
 * Until step 07 a GET copied its value into the connection's output buffer: a 1 MiB value
 * cost a 1 MiB memcpy() per GET, and 1 MiB more memory per reader until it was sent. Now
 * a value lives in one allocation with a reference count. The store holds one reference;
 * a reply waiting to be written holds another, so the bytes stay valid while the socket
 * takes them, even if a SET replaces the key or a DEL or an expiry removes it meanwhile.
 * The last value_release() frees it.
 *
 * One thread uses it, so the count is a plain counter.
 */
#ifndef VALUE_H
#define VALUE_H

#include <stddef.h>
#include <stdint.h>

struct value {
    size_t refs; /* the store's reference, and one per reply in flight */
    size_t len;
    uint8_t bytes[];
};

/* A value holding a copy of bytes[0 .. len), with one reference: the caller's. NULL if
 * there is no memory. */
struct value *value_create(const uint8_t *bytes, size_t len);

/* One more reference. */
void value_hold(struct value *value);

/* One reference fewer: the last one frees it. NULL is allowed and does nothing, as for free(). */
void value_release(struct value *value);

#endif

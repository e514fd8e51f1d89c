/*
 * value.c - creating, holding and releasing a stored value (step 08).
 *
 * The header and the bytes are one allocation (a flexible array member), so a value costs
 * one malloc() and one free(), as its bare bytes did before.
 */
#define _POSIX_C_SOURCE 200809L

#include "value.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct value *value_create(const uint8_t *bytes, size_t len)
{
    struct value *value;

    if (len > SIZE_MAX - sizeof *value) {
        errno = ENOMEM;
        return NULL;
    }
    value = malloc(sizeof *value + len);
    if (value == NULL)
        return NULL;
    value->refs = 1;
    value->len = len;
    if (len > 0) /* memcpy() may not be handed a null pointer, even for zero bytes */
        memcpy(value->bytes, bytes, len);
    return value;
}

void value_hold(struct value *value)
{
    value->refs++;
}

void value_release(struct value *value)
{
    if (value != NULL && --value->refs == 0)
        free(value);
}

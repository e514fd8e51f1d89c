/*
 * wire.h - big-endian integers for the shared tools (kv, kvbench, nullserver).
 *
 * KV/1 sends every integer big-endian ("network byte order"). These helpers build and
 * read them one byte at a time with shifts, never by casting a byte pointer to a wider
 * type: that works whatever the host's byte order and alignment rules. Each step's
 * protocol.c has its own copy, so that a step builds from its own folder alone; the
 * tools in common/ share this one, through kv1.h, which builds the protocol's frames.
 */
#ifndef WIRE_H
#define WIRE_H

#include <stdint.h>

static inline uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif

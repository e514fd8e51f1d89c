/*
 * flood.c - exercise 2 of chapter 05: prints N `kv pipe` lines, "set KEY v", whose keys
 * all have 64-bit FNV-1a hashes with the low 16 bits zero, so that a table that picks the
 * bucket from those bits puts them all in bucket 0.
 *
 * FNV-1a's step is hash = (hash ^ byte) * prime, and the low 16 bits of a product depend
 * only on the low 16 bits of its factors. So for a key ending in two bytes b1 b2: let x
 * be the state after b1; the final hash's low 16 bits are ((x ^ b2) * prime) mod 2^16,
 * zero exactly when x ^ b2 is, that is when bits 8 to 15 of x are zero (one b1 in 256)
 * and b2 is x's low byte. Trying the 256 values of b1 after a counter finds one quickly.
 *
 *   flood N
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define FNV_OFFSET 0xcbf29ce484222325u
#define FNV_PRIME 0x100000001b3u

static uint64_t fnv1a_step(uint64_t hash, uint8_t byte)
{
    return (hash ^ byte) * FNV_PRIME;
}

int main(int argc, char **argv)
{
    long wanted = argc > 1 ? atol(argv[1]) : 20000;

    for (unsigned long counter = 0; wanted > 0; counter++) {
        char prefix[32];
        int len = snprintf(prefix, sizeof prefix, "f:%lu:", counter);
        uint64_t hash = FNV_OFFSET;

        for (int i = 0; i < len; i++)
            hash = fnv1a_step(hash, (uint8_t)prefix[i]);
        for (unsigned b1 = 0; b1 < 256; b1++) {
            uint64_t x = fnv1a_step(hash, (uint8_t)b1);
            if ((x & 0xff00u) == 0) {
                printf("set %s\\x%02x\\x%02x v\n", prefix, b1, (unsigned)(x & 0xffu));
                wanted--;
                break;
            }
        }
    }
    return 0;
}

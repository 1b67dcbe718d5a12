/* siphash.h - SipHash-2-4, a keyed 64-bit hash (Aumasson & Bernstein 2012).
 *
 * For hash tables fed by names that peers choose (topics): without the
 * 128-bit key nobody can predict which names collide, so nobody can pile
 * names onto one bucket or probe window. Pure: no state, no allocation. */
#ifndef WSP_SIPHASH_H
#define WSP_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_BYTES 16

uint64_t siphash24(const uint8_t key[SIPHASH_KEY_BYTES], const void *data, size_t n);

#endif

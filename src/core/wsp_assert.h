/* wsp_assert.h - invariants.
 *
 * WSP_ASSERT is always on: for cheap checks whose failure means a bug that
 * must not go on silently. WSP_DASSERT exists only in debug and sanitizer
 * builds and may sit in hot loops. */
#ifndef WSP_ASSERT_H
#define WSP_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define WSP_ASSERT(x)                                                                              \
    do {                                                                                           \
        if (__builtin_expect(!(x), 0)) {                                                           \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #x);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#if defined(WSP_DEBUG_ASSERTS) || !defined(NDEBUG)
#define WSP_DASSERT(x) WSP_ASSERT(x)
#else
#define WSP_DASSERT(x) ((void)0)
#endif

#define WSP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define WSP_UNUSED(x) ((void)(x))

#endif

/* guard_page.h - test input placed right before a PROT_NONE page, so a
 * parser that reads one byte past the length it was given crashes.
 *
 * For cmocka group setup/teardown: guard_setup maps GUARD_DATA_PAGES
 * writable pages (define it before including; default 24) and one guard
 * page after them. Header-only, one copy per test program. */
#ifndef WSP_TEST_GUARD_PAGE_H
#define WSP_TEST_GUARD_PAGE_H

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef GUARD_DATA_PAGES
#define GUARD_DATA_PAGES 24
#endif

static uint8_t *g_region;
static size_t g_region_len;
static uint8_t *g_guard; /* first byte of the PROT_NONE page */

static int guard_setup(void **state)
{
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    g_region_len = (GUARD_DATA_PAGES + 1) * page;
    void *m = mmap(NULL, g_region_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    g_region = m;
    g_guard = g_region + GUARD_DATA_PAGES * page;
    return mprotect(g_guard, page, PROT_NONE);
}

static int guard_teardown(void **state)
{
    (void)state;
    munmap(g_region, g_region_len);
    return 0;
}

/* Copies d[0..n) so that its last byte sits just before the guard page. */
static const uint8_t *at_guard(const void *d, size_t n)
{
    assert_true(n <= (size_t)(g_guard - g_region));
    uint8_t *p = g_guard - n;
    if (n)
        memcpy(p, d, n);
    return p;
}

#endif

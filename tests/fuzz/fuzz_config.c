/* fuzz_config.c - libFuzzer target for the YAML config file parser
 * (config_file_parse) and its printer (config_show_print).
 *
 * Each input is parsed on top of the defaults: the parser must return 0 or
 * 2, and 2 only after a message. A file that parses is printed with
 * config_show_print and parsed again: the second parse must succeed and
 * give the same settings (secrets aside, which are never printed) - the
 * --print-config round trip, on every input the fuzzer finds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/config_file.h"
#include "config/config_show.h"
#include "core/wsp_assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void same(size_t i, const char *was, const char *now, void *arg)
{
    (void)arg;
    if (!was) /* a secret: printed as a comment, so not carried over */
        return;
    fprintf(stderr, "round trip changed %s: '%s' -> '%s'\n", config_opt_name(i), was, now);
    WSP_ASSERT(!"--print-config round trip");
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    static struct wsp_config base, a, b;
    static FILE *null;
    if (!null) {
        static char *argv[] = {"serve", NULL};
        null = fopen("/dev/null", "w");
        WSP_ASSERT(null && config_parse(&base, 1, argv, null, null) == 0);
    }
    a = base;
    char *msg = NULL;
    size_t msg_len = 0;
    FILE *err = open_memstream(&msg, &msg_len);
    WSP_ASSERT(err);
    int r = config_file_parse(&a, (const char *)d, n, "fuzz.yaml", err);
    fclose(err);
    WSP_ASSERT(r == 0 || r == 2);
    WSP_ASSERT(r == 0 ? msg_len == 0 : msg_len > 0);
    free(msg);
    if (r != 0)
        return 0;

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    WSP_ASSERT(out);
    config_show_print(&a, out);
    fclose(out);
    b = base;
    err = open_memstream(&msg, &msg_len);
    r = config_file_parse(&b, text, len, "printed.yaml", err);
    fclose(err);
    if (r != 0)
        fprintf(stderr, "printed config does not parse: %s\n%s", msg, text);
    WSP_ASSERT(r == 0);
    config_show_diff(&a, &b, same, NULL);
    free(msg);
    free(text);
    return 0;
}

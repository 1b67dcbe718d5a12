/* tune_fmt.c - the small formatters every part of `wspush tune` shares:
 * byte counts for people, u64 JSON fields (TUNE_NONE as null), status
 * names and the write status of an output stream.
 *
 * The bottom of src/tune/: calls nothing else there, holds no state.
 * tune_size.c (the rows), tune_render.c (reports, estimates, --emit) and
 * tune_apply.c use it. */
#include "tune/tune.h"
#include "tune/tune_int.h"

#include <errno.h>
#include <inttypes.h>

#include "core/wsp_assert.h"

int tune_out_status(FILE *out)
{
    return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}

static const char *const status_names[] = {"ok", "low", "workers", "info", "unknown"};

const char *tune_status_name(enum tune_status st)
{
    return (unsigned)st < WSP_ARRAY_LEN(status_names) ? status_names[st] : "?";
}

void tune_fmt_bytes(char *b, size_t cap, uint64_t bytes)
{
    if (bytes == TUNE_NONE)
        snprintf(b, cap, "?");
    else if (bytes >= GIB)
        snprintf(b, cap, "%.1f GiB", (double)bytes / (double)GIB);
    else if (bytes >= KIB * KIB)
        snprintf(b, cap, "%.1f MiB", (double)bytes / (double)(KIB * KIB));
    else
        snprintf(b, cap, "%.1f KiB", (double)bytes / (double)KIB);
}

static void json_u64(FILE *out, uint64_t v)
{
    if (v == TUNE_NONE)
        fputs("null", out);
    else
        fprintf(out, "%" PRIu64, v);
}

void tune_json_key_u64(FILE *out, const char *key, uint64_t v, bool comma)
{
    fprintf(out, "\"%s\":", key);
    json_u64(out, v);
    if (comma)
        fputc(',', out);
}

/* tune_int.h - declarations shared by the files of src/tune/ only. */
#ifndef WSP_TUNE_INT_H
#define WSP_TUNE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define KIB ((uint64_t)1024)
#define GIB (KIB * KIB * KIB)
#define FILE_MAX_HEADROOM_MIN 65536ull
#define CLIENT_PORT_LO 1024u
#define CLIENT_PORT_HI 65535u

/* proc_root, or "/proc" when NULL or empty. */
const char *tune_proc_root(const char *proc_root);

/* "1.5 GiB", "640 KiB", "12 B" into b. */
void tune_fmt_bytes(char *b, size_t cap, uint64_t bytes);

/* `"key":v` and a comma if asked; TUNE_NONE as null. */
void tune_json_key_u64(FILE *out, const char *key, uint64_t v, bool comma);

/* 0 when everything written to out so far reached it, else -EIO. */
int tune_out_status(FILE *out);

#endif

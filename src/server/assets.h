/* assets.h - web files embedded in the binary at build time
 * (cmake/embed_run.cmake writes the table). */
#ifndef WSP_SERVER_ASSETS_H
#define WSP_SERVER_ASSETS_H

#include <stddef.h>

struct asset {
    const char *name; /* "demo.html", "wspush.js", ... */
    const unsigned char *data;
    size_t len;
};

extern const struct asset wsp_assets[]; /* ends with a NULL name */

/* The asset called name, or NULL. */
const struct asset *asset_find(const char *name);

#endif

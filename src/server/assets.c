/* assets.c - lookup in the embedded web asset table (see assets.h). */
#include "server/assets.h"

#include <string.h>

const struct asset *asset_find(const char *name)
{
    for (const struct asset *a = wsp_assets; a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

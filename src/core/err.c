/* err.c - text for error codes. No state. */
#include "core/err.h"

#include <string.h>

const char *wsp_strerror(int err)
{
    switch (err) {
    case WSP_EAGAIN:
        return "incomplete, try again";
    case WSP_EPROTO:
        return "protocol error";
    case WSP_ETOOBIG:
        return "over a configured limit";
    case WSP_ENOMEM:
        return "out of memory";
    case WSP_EINVAL:
        return "invalid value";
    case WSP_ECLOSED:
        return "connection closed";
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}

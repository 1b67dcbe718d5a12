/* extract.h - where a subscriber token sits in an upgrade request.
 *
 * Pure over a parsed request head: no allocation, no logging (a token is
 * never logged). Looks, in this order, at ?token= (what a browser
 * WebSocket can send), Authorization: Bearer (RFC 6750 §2.1, server-side
 * clients), and the cookie named by --auth-cookie. */
#ifndef WSP_AUTH_EXTRACT_H
#define WSP_AUTH_EXTRACT_H

#include <stddef.h>
#include <sys/types.h>

#include "http/http_parse.h"

/* Finds the token; a ?token= value is percent-decoded into buf[0..cap),
 * the others point into the request. cookie: NULL or "" for none.
 * Returns 1 with *tok and *n set, 0 when the request carries none, WSP_ETOOBIG
 * when it is longer than cap, WSP_EPROTO for a bad percent-encoding. */
int auth_token_find(const struct http_req *r, const char *cookie, char *buf, size_t cap,
                    const char **tok, size_t *n);

/* The value of cookie `name` in a Cookie header value (RFC 6265 §4.2.1:
 * "a=b; c=d"), 1 with *v and *vl set, or 0. */
int auth_cookie_find(const char *hdr, size_t len, const char *name, const char **v, size_t *vl);

#endif

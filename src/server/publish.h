/* publish.h - the admin API's publish (POST /publish/<topic>, POST
 * /broadcast) once the request is read and checked: into the ring, or
 * through Redis with --redis, and the one builder of its JSON answer.
 *
 * Master loop only. Knows nothing of connections: the caller sends what
 * it is given. */
#ifndef WSP_SERVER_PUBLISH_H
#define WSP_SERVER_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct node;

struct publish_answer {
    int status;        /* 202, or 413 too large, 500 out of memory, 503 Redis unreachable */
    const char *error; /* status != 202: the message of the {"error": ...} body */
    const char *extra; /* status != 202: more header lines, or NULL */
    size_t len;        /* status 202: the body's length in out */
};

/* Publishes payload (binary or UTF-8 text, already checked) to topic
 * (tlen 0: a broadcast) and fills *a; a 202's body is written to out
 * (cap >= 1024 holds every body). With --redis the message goes to Redis
 * and comes back to every node, this one included, so its sequence number
 * is not known yet ("seq":null) and subscribers_notified counts this
 * node's subscribers only; 503 while Redis is unreachable: never a silent
 * drop. Refusals but 503 count in shared_stats.publish_rejected. */
void publish_http(struct node *n, bool binary, const char *topic, size_t tlen,
                  const uint8_t *payload, size_t len, char *out, size_t cap,
                  struct publish_answer *a);

#endif

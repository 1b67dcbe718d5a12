/* test_cert.h - self-signed certificate/key pairs made at test time with
 * the openssl CLI, in one temporary directory per test program.
 *
 * cert_dir_make() in group setup, cert_make() per pair, cert_dir_remove()
 * in group teardown. Header-only, one copy per test program. */
#ifndef WSP_TEST_CERT_H
#define WSP_TEST_CERT_H

#include <stdio.h>
#include <stdlib.h>

static char cert_dir[] = "/tmp/wspush-test-cert-XXXXXX";

static int cert_dir_make(void)
{
    return mkdtemp(cert_dir) ? 0 : -1;
}

/* A pair for host name cn (also its subjectAltName) into crt and key
 * (256 bytes each). 0 or -1. */
static int cert_make(const char *cn, char *crt, char *key)
{
    char cmd[1024];
    snprintf(crt, 256, "%s/%s.pem", cert_dir, cn);
    snprintf(key, 256, "%s/%s.key", cert_dir, cn);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 "
             "-subj /CN=%s -addext subjectAltName=DNS:%s >/dev/null 2>&1",
             key, crt, cn, cn);
    return system(cmd) == 0 ? 0 : -1;
}

static int cert_dir_remove(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", cert_dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif

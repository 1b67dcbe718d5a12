/* err.h - error codes shared by every module.
 *
 * Functions return 0 or a count on success and a negative value on failure:
 * -errno for system errors, or one of these project codes, which sit below
 * errno's range so the two never collide. */
#ifndef WSP_ERR_H
#define WSP_ERR_H

enum wsp_err {
    WSP_EAGAIN = -4096,  /* need more bytes or buffer space; retry later */
    WSP_EPROTO = -4097,  /* peer broke the protocol; details in an out-param */
    WSP_ETOOBIG = -4098, /* over a configured limit */
    WSP_ENOMEM = -4099,  /* allocation failed */
    WSP_EINVAL = -4100,  /* bad argument or configuration value */
    WSP_ECLOSED = -4101, /* the peer or the connection is gone */
};

/* A static string for err (a wsp_err or -errno). Never NULL. */
const char *wsp_strerror(int err);

#endif

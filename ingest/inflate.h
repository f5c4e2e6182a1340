#pragma once
/* gzip decoding (RFC 1952) with a cap on the output. */

#include <stddef.h>

#include "common/err.h"

/* True when data starts with the gzip magic 1f 8b. */
int trpt_inflate_is_gzip(const void *data, size_t len);

/*
 * Inflates a gzip stream, all members of a multi-member stream, into a
 * freshly allocated NUL-terminated buffer (*out, caller frees).  Fails with
 * TRPT_ELIMIT as soon as the output would exceed max bytes, having used at
 * most max bytes of memory (a gzip bomb costs nothing), and TRPT_EPARSE on
 * a corrupt or truncated stream.
 */
int trpt_inflate_gzip(const void *data, size_t len, size_t max, char **out,
    size_t *outlen, struct trpt_err *err);

/*
 * The same, and *work (may be NULL) gets the bytes inflated whatever the
 * outcome (an exception to out-parameters written on success only): what
 * the attempt cost, for a budget over several streams.
 */
int trpt_inflate_gzip_work(const void *data, size_t len, size_t max, char **out,
    size_t *outlen, size_t *work, struct trpt_err *err);

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

/*
 * A gzip decoder kept from one stream to the next, so that zlib's state
 * and its 32 KiB window are allocated once rather than per input (two
 * large mallocs per small report, and malloc_consolidate with them).  Used
 * by one thread at a time.
 */
struct trpt_inflater;

int trpt_inflater_new(struct trpt_inflater **out, struct trpt_err *err);
void trpt_inflater_free(struct trpt_inflater **zp);

/* trpt_inflate_gzip_work with z's state (z may be NULL: a state of its
 * own); the same outcomes. */
int trpt_inflater_gzip(struct trpt_inflater *z, const void *data, size_t len,
    size_t max, char **out, size_t *outlen, size_t *work, struct trpt_err *err);

/*
 * The same into a buffer z keeps from one stream to the next (outputs up
 * to 64 KiB): on success *owned says whether *out is the caller's to free
 * (1: a larger output, or z NULL) or lent by z (0: valid until the next
 * call with z or trpt_inflater_free; the caller must not free it).  The
 * outcomes, messages and *work are trpt_inflater_gzip's.
 */
int trpt_inflater_gzip_reuse(struct trpt_inflater *z, const void *data,
    size_t len, size_t max, char **out, size_t *outlen, int *owned,
    size_t *work, struct trpt_err *err);

#include "ingest/inflate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

/*
 * Outputs up to this size are inflated into a buffer the inflater keeps
 * for the next stream (trpt_inflater_gzip_reuse): a malloc of the output
 * per small report, from the large bins, ran malloc_consolidate over the
 * chunks the last report's tree had freed (6-7% of `ingest`'s reading
 * thread, perf, issue 15).  Larger ones are handed over, so that a large
 * report's text is still freed as soon as it is parsed.
 */
#define KEEP_MAX ((size_t)64 * 1024)

struct trpt_inflater {
	z_stream zs;
	int ready;   /* zs was initialised: reset it for the next stream */
	char *keep;  /* the output buffer kept (KEEP_MAX), or NULL */
	size_t kcap; /* its size */
};

int
trpt_inflate_is_gzip(const void *data, size_t len)
{
	const unsigned char *p = data;

	return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* Only zero padding may follow the last member (some tools pad to a block). */
static int
only_zeros(const unsigned char *p, size_t n)
{
	while (n > 0 && *p == 0) {
		p++;
		n--;
	}
	return n == 0;
}

int
trpt_inflater_new(struct trpt_inflater **out, struct trpt_err *err)
{
	struct trpt_inflater *z = calloc(1, sizeof(*z));

	if (z == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "gzip: out of memory");
	*out = z;
	return TRPT_OK;
}

void
trpt_inflater_free(struct trpt_inflater **zp)
{
	if (zp == NULL || *zp == NULL)
		return;
	if ((*zp)->ready)
		inflateEnd(&(*zp)->zs);
	free((*zp)->keep);
	free(*zp);
	*zp = NULL;
}

/*
 * The first size to allocate for the output.  A gzip member ends with its
 * inflated size modulo 2^32 (RFC 1952 ISIZE): for the usual single member
 * that is the exact size, so a small report gets a buffer of its size
 * rather than 64 KiB (a large chunk per input that malloc consolidates and
 * trims again).  The trailer is the sender's word: a size deflate cannot
 * reach from len bytes (at most 1032:1), zero (padding) or past max is
 * ignored, and a wrong one only means growing the buffer as before.
 */
static size_t
first_cap(const unsigned char *p, size_t len, size_t max)
{
	size_t cap, isize;

	if (len >= 18) {
		isize = (size_t)p[len - 4] | (size_t)p[len - 3] << 8 |
			(size_t)p[len - 2] << 16 | (size_t)p[len - 1] << 24;
		if (isize > 0 && isize <= max && isize / 1032 <= len)
			return isize + 1 < 256 ? 256 : isize + 1;
	}
	/* Start near a typical ratio and grow. */
	cap = len < SIZE_MAX / 8 ? len * 8 : SIZE_MAX;
	return cap < 65536 ? 65536 : cap;
}

/*
 * Inflates into *bufp (size *allocp, NULL and 0 for none: allocated,
 * grown, and left there with its size whatever the outcome).  On success
 * *outlen bytes and a NUL are in it.
 */
static int
inflate_with(z_stream *zs, const void *data, size_t len, size_t max,
    char **bufp, size_t *allocp, size_t *outlen, size_t *total_out,
    struct trpt_err *err)
{
	char *buf = *bufp, *nb;
	size_t cap, total = 0;
	int zrc, rc;

	/* Never past max + 1, the spare byte telling an exact fit from an
	 * overflow. */
	cap = first_cap(data, len, max);
	if (cap > max + 1)
		cap = max + 1;
	if (buf != NULL && *allocp > cap) {
		/* A buffer kept from the last stream: all of it is room. */
		cap = *allocp - 1 < max + 1 ? *allocp - 1 : max + 1;
	} else {
		nb = realloc(buf, cap + 1);
		if (nb == NULL) {
			rc = trpt_err_set(
			    err, TRPT_ENOMEM, "gzip: out of memory");
			goto out;
		}
		*bufp = buf = nb;
		*allocp = cap + 1;
	}
	zs->next_in = (Bytef *)(uintptr_t)data;
	zs->avail_in = (uInt)len;
	for (;;) {
		if (total == cap) {
			if (cap > max) {
				rc = trpt_err_set(err, TRPT_ELIMIT,
				    "gzip: inflated size exceeds the limit of "
				    "%zu bytes",
				    max);
				goto out;
			}
			cap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				rc = trpt_err_set(
				    err, TRPT_ENOMEM, "gzip: out of memory");
				goto out;
			}
			*bufp = buf = nb;
			*allocp = cap + 1;
		}
		zs->next_out = (Bytef *)buf + total;
		zs->avail_out =
		    (uInt)(cap - total > UINT32_MAX ? UINT32_MAX : cap - total);
		zrc = inflate(zs, Z_NO_FLUSH);
		total = (size_t)((char *)zs->next_out - buf);
		if (zrc == Z_STREAM_END) {
			/* Another member follows: go on with it. */
			if (zs->avail_in >= 2 &&
			    trpt_inflate_is_gzip(zs->next_in, zs->avail_in)) {
				if (inflateReset(zs) != Z_OK) {
					rc = trpt_err_set(err, TRPT_EPARSE,
					    "gzip: cannot reset stream");
					goto out;
				}
				continue;
			}
			if (zs->avail_in > 0 &&
			    !only_zeros(zs->next_in, zs->avail_in)) {
				rc = trpt_err_set(err, TRPT_EPARSE,
				    "gzip: %u bytes of garbage after the "
				    "stream",
				    zs->avail_in);
				goto out;
			}
			break;
		}
		if (zrc == Z_OK)
			continue;
		if (zrc == Z_BUF_ERROR && zs->avail_out == 0)
			continue; /* output full: grow */
		if (zrc == Z_BUF_ERROR || zrc == Z_OK)
			rc = trpt_err_set(err, TRPT_EPARSE,
			    "gzip: truncated stream after %zu bytes", total);
		else if (zrc == Z_MEM_ERROR)
			rc = trpt_err_set(
			    err, TRPT_ENOMEM, "gzip: out of memory");
		else
			rc = trpt_err_set(err, TRPT_EPARSE, "gzip: %s",
			    zs->msg != NULL ? zs->msg : "corrupt stream");
		goto out;
	}
	if (total > max) {
		rc = trpt_err_set(err, TRPT_ELIMIT,
		    "gzip: inflated size exceeds the limit of %zu bytes", max);
		goto out;
	}
	buf[total] = '\0';
	*outlen = total;
	rc = TRPT_OK;
out:
	*total_out = total;
	return rc;
}

/* What every entry point checks before zlib sees the bytes. */
static int
check_input(const void *data, size_t len, struct trpt_err *err)
{
	if (!trpt_inflate_is_gzip(data, len))
		return trpt_err_set(err, TRPT_EPARSE, "gzip: bad magic number");
	if (len > UINT32_MAX)
		return trpt_err_set(
		    err, TRPT_ELIMIT, "gzip: compressed size too large");
	return TRPT_OK;
}

int
trpt_inflate_gzip(const void *data, size_t len, size_t max, char **out,
    size_t *outlen, struct trpt_err *err)
{
	return trpt_inflate_gzip_work(data, len, max, out, outlen, NULL, err);
}

int
trpt_inflate_gzip_work(const void *data, size_t len, size_t max, char **out,
    size_t *outlen, size_t *work, struct trpt_err *err)
{
	return trpt_inflater_gzip(NULL, data, len, max, out, outlen, work, err);
}

/* Resets z's stream, or initialises zs (z's or own) for a new one. */
static int
stream_start(struct trpt_inflater *z, z_stream *own, z_stream **zsp,
    struct trpt_err *err)
{
	z_stream *zs = NULL;

	if (z != NULL && z->ready) {
		/* The state and window of the last stream, reset. */
		zs = &z->zs;
		if (inflateReset(zs) != Z_OK)
			return trpt_err_set(
			    err, TRPT_EPARSE, "gzip: cannot reset stream");
	} else {
		zs = z != NULL ? &z->zs : own;
		memset(zs, 0, sizeof(*zs));
		if (inflateInit2(zs, 15 + 16) != Z_OK)
			return trpt_err_set(
			    err, TRPT_ENOMEM, "gzip: out of memory");
		if (z != NULL)
			z->ready = 1;
	}
	*zsp = zs;
	return TRPT_OK;
}

int
trpt_inflater_gzip(struct trpt_inflater *z, const void *data, size_t len,
    size_t max, char **out, size_t *outlen, size_t *work, struct trpt_err *err)
{
	z_stream own, *zs = NULL;
	char *buf = NULL;
	size_t total = 0, alloc = 0;
	int rc;

	if (work != NULL)
		*work = 0;
	if ((rc = check_input(data, len, err)) != TRPT_OK)
		return rc;
	if ((rc = stream_start(z, &own, &zs, err)) != TRPT_OK)
		return rc;
	rc =
	    inflate_with(zs, data, len, max, &buf, &alloc, outlen, &total, err);
	if (work != NULL)
		*work = total;
	if (z == NULL)
		inflateEnd(zs);
	if (rc == TRPT_OK)
		*out = buf;
	else
		free(buf);
	return rc;
}

int
trpt_inflater_gzip_reuse(struct trpt_inflater *z, const void *data, size_t len,
    size_t max, char **out, size_t *outlen, int *owned, size_t *work,
    struct trpt_err *err)
{
	z_stream *zs = NULL;
	char *buf;
	size_t total = 0, alloc;
	int rc;

	if (z == NULL) {
		rc = trpt_inflater_gzip(
		    NULL, data, len, max, out, outlen, work, err);
		if (rc == TRPT_OK)
			*owned = 1;
		return rc;
	}
	if (work != NULL)
		*work = 0;
	if ((rc = check_input(data, len, err)) != TRPT_OK)
		return rc;
	if ((rc = stream_start(z, NULL, &zs, err)) != TRPT_OK)
		return rc;
	buf = z->keep;
	alloc = z->kcap;
	z->keep = NULL;
	z->kcap = 0;
	rc =
	    inflate_with(zs, data, len, max, &buf, &alloc, outlen, &total, err);
	if (work != NULL)
		*work = total;
	if (alloc <= KEEP_MAX) {
		z->keep = buf; /* kept: lent to the caller on success */
		z->kcap = alloc;
		if (rc == TRPT_OK) {
			*out = buf;
			*owned = 0;
		}
	} else if (rc == TRPT_OK) {
		*out = buf; /* too large to keep: the caller's */
		*owned = 1;
	} else
		free(buf);
	return rc;
}

#include "ingest/inflate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

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
trpt_inflate_gzip(const void *data, size_t len, size_t max, char **out,
    size_t *outlen, struct trpt_err *err)
{
	return trpt_inflate_gzip_work(data, len, max, out, outlen, NULL, err);
}

int
trpt_inflate_gzip_work(const void *data, size_t len, size_t max, char **out,
    size_t *outlen, size_t *work, struct trpt_err *err)
{
	z_stream zs;
	char *buf = NULL, *nb;
	size_t cap, total = 0;
	int zrc, rc;

	if (work != NULL)
		*work = 0;
	if (!trpt_inflate_is_gzip(data, len))
		return trpt_err_set(err, TRPT_EPARSE, "gzip: bad magic number");
	if (len > UINT32_MAX)
		return trpt_err_set(
		    err, TRPT_ELIMIT, "gzip: compressed size too large");
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return trpt_err_set(err, TRPT_ENOMEM, "gzip: out of memory");
	/* Start near a typical ratio and grow; never past max + 1, the spare
	 * byte telling an exact fit from an overflow. */
	cap = len < SIZE_MAX / 8 ? len * 8 : SIZE_MAX;
	if (cap < 65536)
		cap = 65536;
	if (cap > max + 1)
		cap = max + 1;
	buf = malloc(cap + 1);
	if (buf == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "gzip: out of memory");
		goto out;
	}
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = (uInt)len;
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
			buf = nb;
		}
		zs.next_out = (Bytef *)buf + total;
		zs.avail_out =
		    (uInt)(cap - total > UINT32_MAX ? UINT32_MAX : cap - total);
		zrc = inflate(&zs, Z_NO_FLUSH);
		total = (size_t)((char *)zs.next_out - buf);
		if (zrc == Z_STREAM_END) {
			/* Another member follows: go on with it. */
			if (zs.avail_in >= 2 &&
			    trpt_inflate_is_gzip(zs.next_in, zs.avail_in)) {
				if (inflateReset(&zs) != Z_OK) {
					rc = trpt_err_set(err, TRPT_EPARSE,
					    "gzip: cannot reset stream");
					goto out;
				}
				continue;
			}
			if (zs.avail_in > 0 &&
			    !only_zeros(zs.next_in, zs.avail_in)) {
				rc = trpt_err_set(err, TRPT_EPARSE,
				    "gzip: %u bytes of garbage after the "
				    "stream",
				    zs.avail_in);
				goto out;
			}
			break;
		}
		if (zrc == Z_OK)
			continue;
		if (zrc == Z_BUF_ERROR && zs.avail_out == 0)
			continue; /* output full: grow */
		if (zrc == Z_BUF_ERROR || zrc == Z_OK)
			rc = trpt_err_set(err, TRPT_EPARSE,
			    "gzip: truncated stream after %zu bytes", total);
		else if (zrc == Z_MEM_ERROR)
			rc = trpt_err_set(
			    err, TRPT_ENOMEM, "gzip: out of memory");
		else
			rc = trpt_err_set(err, TRPT_EPARSE, "gzip: %s",
			    zs.msg != NULL ? zs.msg : "corrupt stream");
		goto out;
	}
	if (total > max) {
		rc = trpt_err_set(err, TRPT_ELIMIT,
		    "gzip: inflated size exceeds the limit of %zu bytes", max);
		goto out;
	}
	buf[total] = '\0';
	*out = buf;
	*outlen = total;
	buf = NULL;
	rc = TRPT_OK;
out:
	if (work != NULL)
		*work = total;
	inflateEnd(&zs);
	free(buf);
	return rc;
}

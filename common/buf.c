#include "common/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
trpt_buf_init(struct trpt_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

int
trpt_buf_reserve(struct trpt_buf *b, size_t n, char **p, struct trpt_err *err)
{
	size_t want, ncap;
	char *nd;

	if (n > b->max - b->len)
		return trpt_err_set(err, TRPT_ELIMIT,
		    "size exceeds the limit of %zu bytes", b->max);
	want = b->len + n;
	if (want > b->cap || b->data == NULL) {
		ncap = b->cap < 256 ? 256 : b->cap;
		while (ncap < want)
			ncap = ncap > b->max / 2 ? b->max : ncap * 2;
		if (ncap > b->max)
			ncap = b->max;
		if (ncap < want)
			ncap = want;
		nd = realloc(b->data, ncap + 1);
		if (nd == NULL)
			return trpt_err_set(err, TRPT_ENOMEM,
			    "out of memory growing a buffer to %zu bytes",
			    ncap);
		b->data = nd;
		b->cap = ncap;
		b->data[b->len] = '\0';
	}
	*p = b->data + b->len;
	return TRPT_OK;
}

void
trpt_buf_commit(struct trpt_buf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = '\0';
}

int
trpt_buf_append(
    struct trpt_buf *b, const void *p, size_t n, struct trpt_err *err)
{
	char *dst;
	int rc;

	if ((rc = trpt_buf_reserve(b, n, &dst, err)) != TRPT_OK)
		return rc;
	if (n > 0)
		memcpy(dst, p, n);
	trpt_buf_commit(b, n);
	return TRPT_OK;
}

int
trpt_buf_appendf(struct trpt_buf *b, struct trpt_err *err, const char *fmt, ...)
{
	char small[512], *dst;
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return trpt_err_set(err, TRPT_EINVAL, "bad format");
	if ((size_t)n < sizeof(small))
		return trpt_buf_append(b, small, (size_t)n, err);
	if ((rc = trpt_buf_reserve(b, (size_t)n, &dst, err)) != TRPT_OK)
		return rc;
	va_start(ap, fmt);
	vsnprintf(dst, (size_t)n + 1, fmt, ap);
	va_end(ap);
	trpt_buf_commit(b, (size_t)n);
	return TRPT_OK;
}

void
trpt_buf_reset(struct trpt_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

char *
trpt_buf_steal(struct trpt_buf *b, size_t *len)
{
	char *d = b->data;

	if (d == NULL)
		d = calloc(1, 1);
	if (len != NULL)
		*len = d != NULL ? b->len : 0;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}

void
trpt_buf_free(struct trpt_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Appends the rest of fd to b (up to b->max). */
static int
read_into(struct trpt_buf *b, int fd, const char *name, struct trpt_err *err)
{
	char *dst;
	ssize_t n;
	int rc;

	for (;;) {
		/* Ask for one byte past the cap so an oversized input is
		 * detected without reading it all. */
		if ((rc = trpt_buf_reserve(b, 65536, &dst, NULL)) != TRPT_OK &&
		    (rc = trpt_buf_reserve(b, 1, &dst, NULL)) != TRPT_OK) {
			if (rc == TRPT_ELIMIT) {
				char c;
				n = read(fd, &c, 1);
				if (n == 0)
					return TRPT_OK;
				return trpt_err_set(err, TRPT_ELIMIT,
				    "%s: larger than the limit of %zu bytes",
				    name, b->max);
			}
			return trpt_err_set(err, rc, "%s: out of memory", name);
		}
		/* b may have room past max (a buffer used again with a
		 * lower max): never read beyond max. */
		n = read(fd, dst, (b->cap < b->max ? b->cap : b->max) - b->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return trpt_err_set(
			    err, TRPT_EIO, "%s: %s", name, strerror(errno));
		}
		if (n == 0)
			return TRPT_OK;
		trpt_buf_commit(b, (size_t)n);
	}
}

int
trpt_buf_read_fd(int fd, const char *name, size_t max, char **out, size_t *len,
    struct trpt_err *err)
{
	struct trpt_buf b;
	int rc;

	trpt_buf_init(&b, max);
	if ((rc = read_into(&b, fd, name, err)) != TRPT_OK) {
		trpt_buf_free(&b);
		return rc;
	}
	*out = trpt_buf_steal(&b, len);
	if (*out == NULL)
		return trpt_err_set(
		    err, TRPT_ENOMEM, "%s: out of memory", name);
	return TRPT_OK;
}

int
trpt_buf_read_file(
    const char *path, size_t max, char **out, size_t *len, struct trpt_err *err)
{
	int fd, rc;

	if (strcmp(path, "-") == 0)
		return trpt_buf_read_fd(0, "<stdin>", max, out, len, err);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return trpt_err_set(
		    err, TRPT_EIO, "%s: %s", path, strerror(errno));
	rc = trpt_buf_read_fd(fd, path, max, out, len, err);
	close(fd);
	return rc;
}

int
trpt_buf_load_file(struct trpt_buf *b, const char *path, struct trpt_err *err)
{
	int fd, rc;

	trpt_buf_reset(b);
	if (strcmp(path, "-") == 0)
		rc = read_into(b, 0, "<stdin>", err);
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return trpt_err_set(
		    err, TRPT_EIO, "%s: %s", path, strerror(errno));
	else {
		rc = read_into(b, fd, path, err);
		close(fd);
	}
	if (rc != TRPT_OK)
		trpt_buf_reset(b);
	return rc;
}

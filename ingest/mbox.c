#include "ingest/mbox.h"

#include <stdlib.h>
#include <string.h>

int
trpt_mbox_looks_like(const char *data, size_t len)
{
	const char *nl;

	if (len < 6 || memcmp(data, "From ", 5) != 0)
		return 0;
	/* "From sender date": a header would be "From:" instead. */
	nl = memchr(data, '\n', len);
	return nl != NULL && nl - data > 5;
}

/* Start of the next line after p, or end. */
static const char *
next_line(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl != NULL ? nl + 1 : end;
}

static int
is_separator(const char *p, const char *end)
{
	return end - p >= 5 && memcmp(p, "From ", 5) == 0;
}

/* Is this line ">From ", ">>From " ... (mboxrd quoting)? */
static int
is_quoted_from(const char *p, const char *end)
{
	while (p < end && *p == '>')
		p++;
	return end - p >= 5 && memcmp(p, "From ", 5) == 0;
}

static int
emit(const char *start, const char *stop, size_t max, int n,
    int (*fn)(void *, int, const char *, size_t, int), void *arg,
    struct trpt_err *err)
{
	const char *p, *nl;
	char *copy, *o;
	size_t len = (size_t)(stop - start);
	int rc;

	if (len > max)
		return fn(arg, n, NULL, len, 1);
	copy = malloc(len + 1);
	if (copy == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "mbox: out of memory");
	for (o = copy, p = start; p < stop; p = nl) {
		nl = next_line(p, stop);
		if (*p == '>' && is_quoted_from(p, nl))
			p++; /* one level of quoting comes off */
		memcpy(o, p, (size_t)(nl - p));
		o += nl - p;
	}
	*o = '\0';
	rc = fn(arg, n, copy, (size_t)(o - copy), 0);
	free(copy);
	return rc;
}

int
trpt_mbox_each(const char *data, size_t len, size_t max,
    int (*fn)(void *arg, int n, const char *msg, size_t msglen, int toobig),
    void *arg, struct trpt_err *err)
{
	const char *end = data + len, *p, *msg = NULL, *prev_blank = NULL;
	int n = 0, rc;

	for (p = data; p < end; p = next_line(p, end)) {
		if (is_separator(p, end)) {
			if (msg != NULL) {
				/* The blank line before a separator belongs
				 * to the mbox, not to the message. */
				const char *stop = prev_blank == p ? p - 1 : p;

				if (stop > msg && stop[-1] == '\r')
					stop--;
				if ((rc = emit(msg, stop, max, ++n, fn, arg,
					 err)) != TRPT_OK)
					return rc;
			}
			msg = next_line(p, end);
		}
		/* Remember where a blank line ends, to trim it later. */
		{
			const char *nl = next_line(p, end);

			prev_blank = (nl - p == 1 && *p == '\n') ||
					     (nl - p == 2 && p[0] == '\r')
					 ? nl
					 : NULL;
		}
	}
	if (msg != NULL && msg < end)
		return emit(msg, end, max, ++n, fn, arg, err);
	return TRPT_OK;
}

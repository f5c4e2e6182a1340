#include "ingest/mbox.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

/* True when the line at p is a separator: "From " at the start of a line. */
static int
is_separator(const char *p, const char *end)
{
	return end - p >= 5 && memcmp(p, "From ", 5) == 0;
}

/* True when the line at p is a quoted separator: one or more '>' then
 * "From " (mboxrd quoting; mboxo quotes only one level, same rule). */
static int
is_quoted(const char *p, const char *end)
{
	while (p < end && *p == '>')
		p++;
	return end - p >= 5 && memcmp(p, "From ", 5) == 0;
}

static const char *
line_next(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl != NULL ? nl + 1 : end;
}

/* The start of the next separator line at or after p, or end. */
static const char *
next_separator(const char *p, const char *end)
{
	while (p < end && !is_separator(p, end))
		p = line_next(p, end);
	return p;
}

int
trpt_mbox_looks_like(const char *data, size_t len)
{
	return data != NULL && is_separator(data, data + len);
}

int
trpt_mbox_each(const char *data, size_t len, size_t max,
    int (*fn)(void *arg, int n, const char *msg, size_t msglen, int toobig),
    void *arg, struct trpt_err *err)
{
	const char *p, *end, *msg, *stop, *l;
	char *copy = NULL, *o;
	size_t msglen, nquoted, cap = 0;
	int n = 0, rc = TRPT_OK;

	if (data == NULL || len == 0)
		return TRPT_OK;
	p = data;
	end = data + len;
	if (!is_separator(p, end))
		return trpt_err_set(err, TRPT_EPARSE,
		    "not an mbox: no \"From \" line at the start");
	while (p < end && rc == TRPT_OK) {
		n++;
		msg = line_next(p, end);
		stop = next_separator(msg, end);
		p = stop;
		/* The blank line written before the next separator is not
		 * part of the message. */
		if (stop > msg && stop[-1] == '\n') {
			const char *s = stop - 1;

			if (s > msg && s[-1] == '\r')
				s--;
			if (s > msg && s[-1] == '\n')
				stop = s;
		}
		nquoted = 0;
		for (l = msg; l < stop; l = line_next(l, stop))
			if (*l == '>' && is_quoted(l, stop))
				nquoted++;
		msglen = (size_t)(stop - msg) - nquoted;
		if (msglen > max) {
			rc = fn(arg, n, msg, max, TRPT_ELIMIT);
			continue;
		}
		if (nquoted == 0) {
			rc = fn(arg, n, msg, msglen, 0);
			continue;
		}
		if (msglen + 1 > cap) {
			o = realloc(copy, msglen + 1);
			if (o == NULL) {
				rc = trpt_err_set(
				    err, TRPT_ENOMEM, "out of memory");
				break;
			}
			copy = o;
			cap = msglen + 1;
		}
		o = copy;
		for (l = msg; l < stop;) {
			const char *next = line_next(l, stop);

			if (*l == '>' && is_quoted(l, stop))
				l++;
			memcpy(o, l, (size_t)(next - l));
			o += next - l;
			l = next;
		}
		*o = '\0';
		rc = fn(arg, n, copy, msglen, 0);
	}
	free(copy);
	return rc;
}

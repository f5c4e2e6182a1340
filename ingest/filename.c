#include "ingest/filename.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/*
 * RFC 8460 §5.1:
 *   filename = sender "!" policy-domain "!" begin-timestamp
 *              "!" end-timestamp [ "!" unique-id ] "." extension
 *   extension = "json" / "json.gz"
 *   unique-id = 1*(ALPHA / DIGIT)
 * The extension is compared without regard to case.  Sender and domain are
 * taken as they are, as long as they are non-empty printable ASCII without
 * '!'.
 */

/* Copies [p, p + n) into dst (size dstlen) when it is a usable field. */
static int
copy_field(const char *p, size_t n, char *dst, size_t dstlen)
{
	size_t i;

	if (n == 0 || n >= dstlen)
		return 0;
	for (i = 0; i < n; i++)
		if (p[i] <= ' ' || p[i] > '~')
			return 0;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 1;
}

static int
is_alnum_field(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
			(p[i] >= 'a' && p[i] <= 'z') ||
			(p[i] >= 'A' && p[i] <= 'Z')))
			return 0;
	return 1;
}

/* Parses [p, p + n) as decimal digits that fit int64_t. */
static int
parse_ts(const char *p, size_t n, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		if (v > (INT64_MAX - (p[i] - '0')) / 10)
			return 0;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 1;
}

static int
has_suffix(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);

	return n > k && strncasecmp(s + n - k, suf, k) == 0;
}

int
trpt_filename_parse(const char *name, struct trpt_filename *out)
{
	struct trpt_filename f;
	const char *base, *field[5];
	size_t n, len[5], nf = 0, i;

	if (name == NULL)
		return 0;
	base = strrchr(name, '/');
	base = base != NULL ? base + 1 : name;
	n = strlen(base);
	memset(&f, 0, sizeof(f));
	if (has_suffix(base, n, ".json.gz")) {
		f.gzip = 1;
		n -= 8;
	} else if (has_suffix(base, n, ".json"))
		n -= 5;
	else
		return 0;
	field[0] = base;
	for (i = 0; i < n; i++) {
		if (base[i] != '!')
			continue;
		if (nf == 4)
			return 0;
		len[nf] = (size_t)(base + i - field[nf]);
		field[++nf] = base + i + 1;
	}
	len[nf] = (size_t)(base + n - field[nf]);
	nf++;
	if (nf != 4 && nf != 5)
		return 0;
	if (!copy_field(field[0], len[0], f.sender, sizeof(f.sender)) ||
	    !copy_field(field[1], len[1], f.domain, sizeof(f.domain)) ||
	    !parse_ts(field[2], len[2], &f.begin) ||
	    !parse_ts(field[3], len[3], &f.end))
		return 0;
	if (nf == 5 && (!is_alnum_field(field[4], len[4]) ||
			   !copy_field(field[4], len[4], f.unique_id,
			       sizeof(f.unique_id))))
		return 0;
	*out = f;
	return 1;
}

#include "ingest/filename.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int
copy_field(const char *s, size_t n, char *dst, size_t dstlen)
{
	if (n == 0 || n >= dstlen)
		return 0;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 1;
}

static int
parse_stamp(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (n == 0 || n > 18)
		return 0;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 1;
}

int
trpt_filename_parse(const char *name, struct trpt_filename *out)
{
	struct trpt_filename fn;
	const char *base = strrchr(name, '/'), *f[6], *ext;
	size_t flen[6], len, nf = 0, i;
	const char *p, *start;

	base = base != NULL ? base + 1 : name;
	len = strlen(base);
	memset(&fn, 0, sizeof(fn));
	if (len > 8 && strcasecmp(base + len - 8, ".json.gz") == 0) {
		fn.gzip = 1;
		len -= 8;
	} else if (len > 5 && strcasecmp(base + len - 5, ".json") == 0)
		len -= 5;
	else
		return 0;
	ext = base + len;
	for (start = p = base; p <= ext; p++) {
		if (p == ext || *p == '!') {
			if (nf == 6)
				return 0;
			f[nf] = start;
			flen[nf++] = (size_t)(p - start);
			start = p + 1;
		}
	}
	if (nf != 4 && nf != 5)
		return 0;
	if (!copy_field(f[0], flen[0], fn.sender, sizeof(fn.sender)) ||
	    !copy_field(f[1], flen[1], fn.domain, sizeof(fn.domain)) ||
	    !parse_stamp(f[2], flen[2], &fn.begin) ||
	    !parse_stamp(f[3], flen[3], &fn.end))
		return 0;
	if (nf == 5) {
		for (i = 0; i < flen[4]; i++)
			if (!isalnum((unsigned char)f[4][i]))
				return 0;
		if (!copy_field(
			f[4], flen[4], fn.unique_id, sizeof(fn.unique_id)))
			return 0;
	}
	/* A domain is letters, digits, hyphens and dots. */
	for (i = 0; fn.domain[i] != '\0'; i++)
		if (!isalnum((unsigned char)fn.domain[i]) &&
		    fn.domain[i] != '-' && fn.domain[i] != '.' &&
		    fn.domain[i] != '_')
			return 0;
	*out = fn;
	return 1;
}

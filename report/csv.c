#include "report/csv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/datetime.h"
#include "common/err.h"

/* A list cell is never longer than the JSON it came from, and SQLite
 * keeps no text longer than this. */
#define LIST_MAX 1000000000u

void
trpt_csv_init(struct trpt_csv *c, FILE *out)
{
	c->out = out;
	c->nfields = 0;
	trpt_err_clear(&c->err);
	trpt_buf_init(&c->scratch, LIST_MAX);
}

void
trpt_csv_free(struct trpt_csv *c)
{
	trpt_buf_free(&c->scratch);
}

static void
write_error(struct trpt_csv *c)
{
	if (c->err.code == TRPT_OK)
		trpt_err_set(&c->err, TRPT_EIO, "writing CSV: %s",
		    strerror(errno != 0 ? errno : EIO));
}

static void
put(struct trpt_csv *c, const char *s, size_t n)
{
	if (c->err.code != TRPT_OK || n == 0)
		return;
	if (fwrite(s, 1, n, c->out) != n)
		write_error(c);
}

static void
separator(struct trpt_csv *c)
{
	if (c->nfields++ > 0)
		put(c, ",", 1);
}

/*
 * The guard against spreadsheet formulas: cells starting with one of these
 * get a leading single quote.
 */
static int
needs_guard(const char *s, size_t len)
{
	return len > 0 && strchr("=+-@\t\r", s[0]) != NULL && s[0] != '\0';
}

static int
needs_quotes(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n')
			return 1;
	return 0;
}

void
trpt_csv_field_n(struct trpt_csv *c, const char *s, size_t len)
{
	const char *q;
	int quote;

	separator(c);
	quote = needs_quotes(s, len);
	if (quote)
		put(c, "\"", 1);
	if (needs_guard(s, len))
		put(c, "'", 1);
	if (!quote) {
		put(c, s, len);
		return;
	}
	while (len > 0 && (q = memchr(s, '"', len)) != NULL) {
		put(c, s,
		    (size_t)(q - s) + 1); /* up to the quote, then it again */
		put(c, "\"", 1);
		len -= (size_t)(q - s) + 1;
		s = q + 1;
	}
	put(c, s, len);
	put(c, "\"", 1);
}

void
trpt_csv_field(struct trpt_csv *c, const char *s)
{
	if (s == NULL)
		s = "";
	trpt_csv_field_n(c, s, strlen(s));
}

void
trpt_csv_int(struct trpt_csv *c, int64_t v)
{
	char num[24];
	int n;

	separator(c);
	n = snprintf(num, sizeof(num), "%" PRId64, v);
	put(c, num, (size_t)n);
}

/* The times that have a four-digit year: 0000-01-01 to 9999-12-31. */
#define DATE_MIN (-62167219200LL)
#define DATE_MAX 253402300799LL

void
trpt_csv_date(struct trpt_csv *c, int64_t t)
{
	char date[32];

	if (t < DATE_MIN || t > DATE_MAX) {
		/* Not a date any report can carry: the number, as stored. */
		trpt_csv_int(c, t);
		return;
	}
	separator(c);
	trpt_datetime_format(t, date, sizeof(date));
	put(c, date, strlen(date));
}

static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static int
hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			v |= (unsigned)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			v |= (unsigned)(p[i] - 'a' + 10);
		else if (p[i] >= 'A' && p[i] <= 'F')
			v |= (unsigned)(p[i] - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Appends the UTF-8 encoding of code point u (not a surrogate). */
static int
put_utf8(struct trpt_buf *b, unsigned u, struct trpt_err *err)
{
	char e[4];
	size_t n;

	if (u < 0x80) {
		e[0] = (char)u;
		n = 1;
	} else if (u < 0x800) {
		e[0] = (char)(0xc0 | u >> 6);
		e[1] = (char)(0x80 | (u & 0x3f));
		n = 2;
	} else if (u < 0x10000) {
		e[0] = (char)(0xe0 | u >> 12);
		e[1] = (char)(0x80 | (u >> 6 & 0x3f));
		e[2] = (char)(0x80 | (u & 0x3f));
		n = 3;
	} else {
		e[0] = (char)(0xf0 | u >> 18);
		e[1] = (char)(0x80 | (u >> 12 & 0x3f));
		e[2] = (char)(0x80 | (u >> 6 & 0x3f));
		e[3] = (char)(0x80 | (u & 0x3f));
		n = 4;
	}
	return trpt_buf_append(b, e, n, err);
}

/*
 * Decodes the JSON string at *pp (just after its opening quote) onto b,
 * and leaves *pp after the closing quote.  Returns TRPT_EPARSE (with no
 * message) for bad syntax.
 */
static int
json_string(const char **pp, struct trpt_buf *b, struct trpt_err *err)
{
	const char *p = *pp, *start;
	unsigned u, lo;
	char ch;
	int rc;

	for (;;) {
		start = p;
		while (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
			p++;
		if ((rc = trpt_buf_append(
			 b, start, (size_t)(p - start), err)) != TRPT_OK)
			return rc;
		if (*p == '"')
			break;
		if (*p != '\\')
			return TRPT_EPARSE; /* control character or the end */
		p++;
		switch (*p) {
		case '"':
		case '\\':
		case '/':
			ch = *p;
			break;
		case 'b':
			ch = '\b';
			break;
		case 'f':
			ch = '\f';
			break;
		case 'n':
			ch = '\n';
			break;
		case 'r':
			ch = '\r';
			break;
		case 't':
			ch = '\t';
			break;
		case 'u':
			if (hex4(p + 1, &u) != 0)
				return TRPT_EPARSE;
			p += 4;
			if (u >= 0xdc00 && u <= 0xdfff)
				return TRPT_EPARSE;
			if (u >= 0xd800 && u <= 0xdbff) {
				if (p[1] != '\\' || p[2] != 'u' ||
				    hex4(p + 3, &lo) != 0 || lo < 0xdc00 ||
				    lo > 0xdfff)
					return TRPT_EPARSE;
				u = 0x10000 + ((u - 0xd800) << 10) +
				    (lo - 0xdc00);
				p += 6;
			}
			if (u == 0)
				return TRPT_EPARSE; /* would end a C string */
			if ((rc = put_utf8(b, u, err)) != TRPT_OK)
				return rc;
			p++;
			continue;
		default:
			return TRPT_EPARSE;
		}
		if ((rc = trpt_buf_append(b, &ch, 1, err)) != TRPT_OK)
			return rc;
		p++;
	}
	*pp = p + 1;
	return TRPT_OK;
}

/* The strings of a JSON array joined by '|', into b. */
static int
join_list(const char *json, struct trpt_buf *b, struct trpt_err *err)
{
	const char *p = skip_ws(json);
	int rc;

	trpt_buf_reset(b);
	if (*p++ != '[')
		return TRPT_EPARSE;
	p = skip_ws(p);
	if (*p == ']')
		return *skip_ws(p + 1) == '\0' ? TRPT_OK : TRPT_EPARSE;
	for (;;) {
		if (*p++ != '"')
			return TRPT_EPARSE;
		if ((rc = json_string(&p, b, err)) != TRPT_OK)
			return rc;
		p = skip_ws(p);
		if (*p == ']')
			break;
		if (*p++ != ',')
			return TRPT_EPARSE;
		if ((rc = trpt_buf_append(b, "|", 1, err)) != TRPT_OK)
			return rc;
		p = skip_ws(p);
	}
	return *skip_ws(p + 1) == '\0' ? TRPT_OK : TRPT_EPARSE;
}

void
trpt_csv_list(struct trpt_csv *c, const char *json)
{
	struct trpt_err err;
	int rc;

	if (json == NULL) {
		trpt_csv_field_n(c, "", 0);
		return;
	}
	rc = join_list(json, &c->scratch, &err);
	if (rc == TRPT_EPARSE) {
		if (c->err.code == TRPT_OK)
			trpt_err_set(&c->err, TRPT_EPARSE,
			    "not a JSON array of strings: %.60s", json);
	} else if (rc != TRPT_OK) {
		if (c->err.code == TRPT_OK)
			c->err = err;
	}
	if (rc != TRPT_OK) {
		separator(c);
		return;
	}
	trpt_csv_field_n(
	    c, c->scratch.data != NULL ? c->scratch.data : "", c->scratch.len);
}

int
trpt_csv_end_row(struct trpt_csv *c, struct trpt_err *err)
{
	put(c, "\r\n", 2);
	c->nfields = 0;
	if (c->err.code == TRPT_OK && ferror(c->out))
		write_error(c);
	if (c->err.code != TRPT_OK) {
		if (err != NULL)
			*err = c->err;
		return c->err.code;
	}
	return TRPT_OK;
}

#include "report/csv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

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

/* The strings of a JSON array joined by '|', into b (read with jansson). */
static int
join_list(const char *json, struct trpt_buf *b, struct trpt_err *err)
{
	json_t *a, *v;
	size_t i;
	int rc = TRPT_OK;

	trpt_buf_reset(b);
	a = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_array(a)) {
		json_decref(a);
		return TRPT_EPARSE;
	}
	json_array_foreach (a, i, v) {
		if (!json_is_string(v) || memchr(json_string_value(v), '\0',
					      json_string_length(v)) != NULL) {
			rc = TRPT_EPARSE;
			break;
		}
		if ((i > 0 &&
			(rc = trpt_buf_append(b, "|", 1, err)) != TRPT_OK) ||
		    (rc = trpt_buf_append(b, json_string_value(v),
			 json_string_length(v), err)) != TRPT_OK)
			break;
	}
	json_decref(a);
	return rc;
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

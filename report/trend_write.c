#include "report/trend_write.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/calendar.h"
#include "common/limits.h"
#include "common/text.h"
#include "report/csv.h"
#include "report/export.h"
#include "report/trend.h"
#include "schema/export_rows.h"

const char *
trpt_trend_spark(double rate)
{
	static const char *const bars[] = { "\u2581", "\u2582", "\u2583",
		"\u2584", "\u2585", "\u2586", "\u2587", "\u2588" };
	int i;

	if (rate < 0)
		return "\u00b7";
	/* Full block only at 100%, so any failure shows. */
	if (rate >= 1.0)
		return bars[7];
	i = (int)(rate * 7.0);
	return bars[i < 0 ? 0 : i > 6 ? 6 : i];
}

const char *
trpt_trend_spark_scaled(double rate, double lo, double hi)
{
	static const char *const bars[] = { "\u2581", "\u2582", "\u2583",
		"\u2584", "\u2585", "\u2586", "\u2587", "\u2588" };
	int i;

	if (rate < 0)
		return "\u00b7";
	if (hi - lo < 0.01) /* flat: the absolute scale */
		return trpt_trend_spark(rate);
	i = (int)((rate - lo) / (hi - lo) * 7.0 + 0.5);
	if (rate < 1.0 && i > 6)
		i = 6;
	return bars[i < 0 ? 0 : i > 7 ? 7 : i];
}

/*
 * A JSON string, written by jansson.  Text that is not UTF-8 (it comes
 * from the database, where only jansson-read text should be) has each
 * byte outside ASCII replaced by '?' first.
 */
void
trpt_trend_json_string(FILE *out, const char *s)
{
	json_t *j = json_string(s);
	char *copy, *p;

	if (j == NULL && (copy = strdup(s)) != NULL) {
		for (p = copy; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		j = json_string(copy);
		free(copy);
	}
	if (j == NULL || json_dumpf(j, out, JSON_ENCODE_ANY) != 0)
		fputs("\"\"", out);
	json_decref(j);
}

/* ---- output ---- */

static double
rate(int64_t s, int64_t f)
{
	return s > 0 || f > 0 ? (double)s / ((double)s + (double)f) : -1.0;
}

static int
is_failure_dim(enum trpt_trend_dim d)
{
	return d == TRPT_DIM_MX || d == TRPT_DIM_IP || d == TRPT_DIM_TYPE;
}

/*
 * Fixed-point text of v with decimals (at most 4) digits after the point,
 * exactly as printf's "%.Nf" writes it (the double's exact binary value
 * rounded half to even), into buf (size bytes); its length, as snprintf's.  A
 * year of trends by org and domain writes 485,000 rates, and glibc's
 * printf of a double (its multi-precision digits) was the largest part of
 * writing them (perf: __printf_fp, hack_digit, __mpn_divrem a quarter of
 * the CLI's weekly table); this is exact, not an approximation (the test
 * compares it with snprintf).  Values outside [0, 1e6) go to snprintf,
 * as every value does where the compiler has no 128-bit integer (Debian's
 * 32-bit architectures: i386, armhf).
 */
#ifdef __SIZEOF_INT128__
__extension__ typedef unsigned __int128 u128;

size_t
trpt_trend_format_fixed(double v, int decimals, char *buf, size_t size)
{
	static const uint64_t pow10[] = { 1, 10, 100, 1000, 10000 };
	uint64_t m, n, ip, fp;
	u128 x, rem, half;
	char tmp[24];
	size_t len = 0, k;
	int e, shift, i;
	double f;

	if (!(v >= 0 && v < 1e6) || decimals < 0 || decimals > 4 || size < 32) {
		i = snprintf(buf, size, "%.*f", decimals, v);
		return i < 0 ? 0 : (size_t)i;
	}
	/* v = m * 2^-shift, m an integer of 53 bits (v > 0). */
	f = frexp(v, &e);
	m = (uint64_t)ldexp(f, 53);
	shift = 53 - e;
	if (v == 0 || shift > 120)
		n = 0; /* below 2^-67: rounds to 0 at 4 decimals */
	else if (shift <= 0)
		n = (m << -shift) *
		    pow10[decimals]; /* an integer (no: < 1e6) */
	else {
		x = (u128)m * pow10[decimals];
		n = (uint64_t)(x >> shift);
		rem = x - ((u128)n << shift);
		half = (u128)1 << (shift - 1);
		if (rem > half || (rem == half && (n & 1)))
			n++;
	}
	ip = n / pow10[decimals];
	fp = n % pow10[decimals];
	k = 0;
	do
		tmp[k++] = (char)('0' + ip % 10);
	while ((ip /= 10) != 0);
	while (k > 0)
		buf[len++] = tmp[--k];
	if (decimals > 0) {
		buf[len++] = '.';
		for (i = decimals - 1; i >= 0; i--) {
			buf[len + (size_t)i] = (char)('0' + fp % 10);
			fp /= 10;
		}
		len += (size_t)decimals;
	}
	buf[len] = '\0';
	return len;
}
#else
size_t
trpt_trend_format_fixed(double v, int decimals, char *buf, size_t size)
{
	int i = snprintf(buf, size, "%.*f", decimals, v);

	return i < 0 ? 0 : (size_t)i;
}
#endif

/* A line built in memory, written with one fwrite: the rows' fprintf
 * calls (the format parsed each time) were the rest of that quarter. */
struct line {
	char b[512];
	size_t n;
};

static void
put(struct line *l, const char *s, size_t n)
{
	if (n > sizeof(l->b) - l->n)
		n = sizeof(l->b) - l->n; /* never: the rows are short */
	memcpy(l->b + l->n, s, n);
	l->n += n;
}

static void
puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* v right-aligned in width (printf's "%*" PRId64). */
static void
put_int(struct line *l, int64_t v, int width)
{
	char tmp[24];
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	size_t k = 0;

	do
		tmp[sizeof(tmp) - ++k] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		tmp[sizeof(tmp) - ++k] = '-';
	for (; width > (int)k; width--)
		put(l, " ", 1);
	put(l, tmp + sizeof(tmp) - k, k);
}

/* v with decimals, right-aligned in width ("%*.Nf"); a rate is at most
 * 100, so tmp's room is only for the odd value snprintf writes. */
static void
put_fixed(struct line *l, double v, int decimals, int width)
{
	char tmp[128];
	size_t k = trpt_trend_format_fixed(v, decimals, tmp, sizeof(tmp));

	if (k >= sizeof(tmp))
		k = sizeof(tmp) - 1;
	for (; width > (int)k; width--)
		put(l, " ", 1);
	put(l, tmp, k);
}

/*
 * The periods' labels, made once (a label is a calendar conversion and
 * an snprintf; a year by org and domain writes each 10,000 times), when
 * there are not too many of them; NULL otherwise (and when out of
 * memory): the writers then make each as they go.
 */
#define LABEL_LEN  16
#define LABELS_MAX 65536

static char *
make_labels(const struct trpt_trend *t)
{
	char *v;
	int64_t p;

	if (t->nperiods <= 0 || t->nperiods > LABELS_MAX ||
	    (v = malloc((size_t)t->nperiods * LABEL_LEN)) == NULL)
		return NULL;
	for (p = 0; p < t->nperiods; p++)
		trpt_trend_period_label(t->q.period, t->first_period + p,
		    v + (size_t)p * LABEL_LEN, LABEL_LEN);
	return v;
}

static const char *
label_of(const struct trpt_trend *t, const char *labels, int64_t p, char *buf)
{
	if (labels != NULL)
		return labels + (size_t)p * LABEL_LEN;
	trpt_trend_period_label(
	    t->q.period, t->first_period + p, buf, LABEL_LEN);
	return buf;
}

/*
 * Each group's key columns as written in every row of it (CSV: the
 * fields with their commas; JSON: the members), written once per group
 * into one memory stream by the same writers: *text the bytes, off[i] and
 * off[i + 1] group i's.  TRPT_ENOMEM when the stream fails.
 */
static int
group_keys(const struct trpt_trend *t, int json, char **text, size_t **off,
    struct trpt_err *err)
{
	struct trpt_csv c;
	char *buf = NULL;
	size_t len = 0, i, *o;
	FILE *ms;
	off_t at;
	int k, rc = TRPT_OK;

	if ((o = malloc((t->ngroups + 1) * sizeof(*o))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	if ((ms = open_memstream(&buf, &len)) == NULL) {
		free(o);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	trpt_csv_init(&c, ms);
	o[0] = 0;
	for (i = 0; i < t->ngroups && rc == TRPT_OK; i++) {
		const struct trpt_trend_group *g = &t->groups[i];

		for (k = 0; k < t->q.ndims; k++) {
			if (!json) {
				trpt_csv_field(&c, g->key[k]);
				continue;
			}
			fprintf(ms,
			    ", \"%s\": ", trpt_trend_dim_column(t->q.dims[k]));
			if (g->key[k][0] == '\0' &&
			    is_failure_dim(t->q.dims[k]))
				fputs("null", ms);
			else
				trpt_trend_json_string(ms, g->key[k]);
		}
		/* CSV: a row a group, so that the next group's fields
		 * start without a comma; its CRLF is not written out. */
		if (!json && (rc = trpt_csv_end_row(&c, err)) != TRPT_OK)
			break;
		if (fflush(ms) != 0 || (at = ftello(ms)) < 0)
			break;
		o[i + 1] = (size_t)at;
	}
	trpt_csv_free(&c);
	if (fclose(ms) != 0 || i < t->ngroups) {
		free(buf);
		free(o);
		return rc != TRPT_OK
			   ? rc
			   : trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	*text = buf;
	*off = o;
	return TRPT_OK;
}

static int
write_csv(
    const struct trpt_trend *t, FILE *out, uint64_t *rows, struct trpt_err *err)
{
	struct trpt_csv c;
	struct line l;
	char lb[LABEL_LEN], *labels = NULL, *keys = NULL;
	size_t i, *off = NULL, klen;
	int64_t p;
	int k, rc;

	trpt_csv_init(&c, out);
	trpt_csv_field(&c, "period");
	for (k = 0; k < t->q.ndims; k++)
		trpt_csv_field(&c, trpt_trend_dim_column(t->q.dims[k]));
	trpt_csv_field(&c, "successful");
	trpt_csv_field(&c, "failed");
	trpt_csv_field(&c, "success_rate");
	rc = trpt_csv_end_row(&c, err);
	trpt_csv_free(&c);
	if (rc != TRPT_OK || t->ngroups == 0)
		return rc;
	/* The rows as report/csv.c would write them: the label and numbers
	 * need no quotes or guard, the keys were written by it. */
	if ((rc = group_keys(t, 0, &keys, &off, err)) != TRPT_OK)
		return rc;
	labels = make_labels(t);
	for (i = 0; i < t->ngroups; i++) {
		const struct trpt_trend_group *g = &t->groups[i];

		klen = off[i + 1] - off[i] - 2; /* without its CRLF */
		for (p = 0; p < t->nperiods; p++) {
			const struct trpt_trend_cell *cl = &g->cells[p];

			if (cl->successful == 0 && cl->failed == 0)
				continue;
			l.n = 0;
			puts_(&l, label_of(t, labels, p, lb));
			if (t->q.ndims > 0) {
				put(&l, ",", 1);
				if (fwrite(l.b, 1, l.n, out) != l.n ||
				    fwrite(keys + off[i], 1, klen, out) != klen)
					goto io;
				l.n = 0;
			}
			put(&l, ",", 1);
			put_int(&l, cl->successful, 0);
			put(&l, ",", 1);
			put_int(&l, cl->failed, 0);
			put(&l, ",", 1);
			put_fixed(&l, rate(cl->successful, cl->failed), 4, 0);
			put(&l, "\r\n", 2);
			if (fwrite(l.b, 1, l.n, out) != l.n)
				goto io;
			(*rows)++;
		}
	}
	goto out;
io:
	rc = trpt_err_set(err, TRPT_EIO, "writing CSV: %s",
	    strerror(errno != 0 ? errno : EIO));
out:
	free(labels);
	free(keys);
	free(off);
	return rc;
}

static int
write_json(
    const struct trpt_trend *t, FILE *out, uint64_t *rows, struct trpt_err *err)
{
	struct line l;
	char lb[LABEL_LEN], *labels = NULL, *keys = NULL;
	size_t i, *off = NULL, klen;
	int64_t p;
	int first = 1, rc;

	fputc('[', out);
	if (t->ngroups > 0 &&
	    (rc = group_keys(t, 1, &keys, &off, err)) != TRPT_OK)
		return rc;
	labels = make_labels(t);
	for (i = 0; i < t->ngroups; i++) {
		const struct trpt_trend_group *g = &t->groups[i];

		klen = off[i + 1] - off[i];
		/* A stream that failed (a closed pipe) stops the rows. */
		if (ferror(out))
			break;
		for (p = 0; p < t->nperiods; p++) {
			const struct trpt_trend_cell *c = &g->cells[p];

			if (c->successful == 0 && c->failed == 0)
				continue;
			l.n = 0;
			puts_(&l, first ? "\n  {\"period\": \""
					: ",\n  {\"period\": \"");
			puts_(&l, label_of(t, labels, p, lb));
			put(&l, "\"", 1);
			first = 0;
			(*rows)++;
			fwrite(l.b, 1, l.n, out);
			fwrite(keys + off[i], 1, klen, out);
			l.n = 0;
			puts_(&l, ", \"successful\": ");
			put_int(&l, c->successful, 0);
			puts_(&l, ", \"failed\": ");
			put_int(&l, c->failed, 0);
			puts_(&l, ", \"success_rate\": ");
			put_fixed(&l, rate(c->successful, c->failed), 4, 0);
			put(&l, "}", 1);
			fwrite(l.b, 1, l.n, out);
		}
	}
	fputs(first ? "]\n" : "\n]\n", out);
	free(labels);
	free(keys);
	free(off);
	return TRPT_OK;
}

#define SPARK_MAX 60

/* Groups by a failure dimension: the most failed first. */
static int
cmp_group_failed(const void *a, const void *b)
{
	const struct trpt_trend_group *x =
	    *(const struct trpt_trend_group *const *)a;
	const struct trpt_trend_group *y =
	    *(const struct trpt_trend_group *const *)b;

	if (x->failed != y->failed)
		return x->failed > y->failed ? -1 : 1;
	return 0;
}

#define RED   "\033[31m"
#define BOLD  "\033[1m"
#define RESET "\033[0m"

static void
write_table(const struct trpt_trend *t, FILE *out, int color)
{
	const struct trpt_trend_group **order;
	struct line l;
	char lb[LABEL_LEN], *labels;
	size_t i;
	int64_t p, from;
	double lo, hi, cr;
	int k;

	if (t->ngroups == 0) {
		fputs("no sessions in the selected range\n", out);
		return;
	}
	labels = make_labels(t);
	order = calloc(t->ngroups, sizeof(*order));
	for (i = 0; i < t->ngroups; i++)
		if (order != NULL)
			order[i] = &t->groups[i];
	if (order != NULL && is_failure_dim(t->q.dims[0]))
		qsort(order, t->ngroups, sizeof(*order), cmp_group_failed);
	for (i = 0; i < t->ngroups; i++) {
		const struct trpt_trend_group *g =
		    order != NULL ? order[i] : &t->groups[i];
		double r = rate(g->successful, g->failed);

		if (color)
			fputs(BOLD, out);
		/* Keys come from reports: escaped for the terminal. */
		for (k = 0; k < t->q.ndims; k++) {
			fputs(k > 0 ? " / " : "", out);
			trpt_text_fputs(g->key[k][0] != '\0' ? g->key[k]
					: is_failure_dim(t->q.dims[k])
					    ? "(none)"
					    : "(unknown)",
			    out);
		}
		fprintf(out, "%s\n  ", color ? RESET : "");
		from = t->nperiods > SPARK_MAX ? t->nperiods - SPARK_MAX : 0;
		lo = 2;
		hi = -1;
		for (p = from; p < t->nperiods; p++) {
			cr = rate(g->cells[p].successful, g->cells[p].failed);
			if (cr < 0)
				continue;
			lo = cr < lo ? cr : lo;
			hi = cr > hi ? cr : hi;
		}
		for (p = from; p < t->nperiods; p++)
			fputs(
			    trpt_trend_spark_scaled(rate(g->cells[p].successful,
							g->cells[p].failed),
				lo, hi),
			    out);
		l.n = 0;
		if (hi >= 0) { /* " %.2f%%..%.2f%%" */
			put(&l, " ", 1);
			put_fixed(&l, lo * 100.0, 2, 0);
			put(&l, "%..", 3);
			put_fixed(&l, hi * 100.0, 2, 0);
			put(&l, "%", 1);
		}
		/* "  %" PRId64 " sessions, %s%" PRId64 " failed%s" */
		put(&l, "  ", 2);
		put_int(&l, trpt_count_add(g->successful, g->failed), 0);
		put(&l, " sessions, ", 11);
		puts_(&l, color && g->failed > 0 ? RED : "");
		put_int(&l, g->failed, 0);
		put(&l, " failed", 7);
		puts_(&l, color && g->failed > 0 ? RESET : "");
		if (r >= 0) { /* ", %.2f%% successful" */
			put(&l, ", ", 2);
			put_fixed(&l, r * 100.0, 2, 0);
			put(&l, "% successful", 12);
		}
		put(&l, "\n", 1);
		fwrite(l.b, 1, l.n, out);
		for (p = 0; p < t->nperiods; p++) {
			const struct trpt_trend_cell *c = &g->cells[p];
			const char *lp;
			size_t n;

			if (c->successful == 0 && c->failed == 0)
				continue;
			/* "  %-10s %12" PRId64 " ok %s%10" PRId64
			 * " failed %7.2f%%%s\n" */
			l.n = 0;
			put(&l, "  ", 2);
			lp = label_of(t, labels, p, lb);
			puts_(&l, lp);
			for (n = strlen(lp); n < 10; n++)
				put(&l, " ", 1);
			put(&l, " ", 1);
			put_int(&l, c->successful, 12);
			put(&l, " ok ", 4);
			puts_(&l, color && c->failed > 0 ? RED : "");
			put_int(&l, c->failed, 10);
			put(&l, " failed ", 8);
			put_fixed(
			    &l, rate(c->successful, c->failed) * 100.0, 2, 7);
			put(&l, "%", 1);
			puts_(&l, color && c->failed > 0 ? RESET : "");
			put(&l, "\n", 1);
			fwrite(l.b, 1, l.n, out);
		}
	}
	free(labels);
	free(order);
}

int
trpt_trend_write_count(const struct trpt_trend *t, enum trpt_trend_format fmt,
    FILE *out, uint64_t *rows, struct trpt_err *err)
{
	uint64_t n = 0;
	int rc = TRPT_OK;

	/* One lock for the whole output instead of one per stdio call. */
	flockfile(out);
	switch (fmt) {
	case TRPT_FORMAT_CSV:
		rc = write_csv(t, out, &n, err);
		break;
	case TRPT_FORMAT_JSON:
		rc = write_json(t, out, &n, err);
		break;
	default:
		write_table(t, out, fmt == TRPT_FORMAT_TABLE_COLOR);
		break;
	}
	funlockfile(out);
	if (rc != TRPT_OK)
		return rc;
	if (fflush(out) != 0 || ferror(out))
		return trpt_err_set(
		    err, TRPT_EIO, "writing trends: %s", "output error");
	if (rows != NULL)
		*rows = n;
	return TRPT_OK;
}

int
trpt_trend_write(const struct trpt_trend *t, enum trpt_trend_format fmt,
    FILE *out, struct trpt_err *err)
{
	return trpt_trend_write_count(t, fmt, out, NULL, err);
}

int
trpt_trend_export_daily(struct trpt_db *db, const struct trpt_export_filter *f,
    FILE *out, uint64_t *rows, struct trpt_err *err)
{
	struct trpt_trend_query q;
	struct trpt_trend *t = NULL;
	int rc;

	trpt_trend_query_init(&q);
	if (f != NULL && f->since != 0 && f->since != INT64_MIN)
		q.since_day = trpt_calendar_day_ceil(f->since);
	if (f != NULL && f->until != 0 && f->until != INT64_MAX)
		q.until_day = trpt_calendar_day_ceil(f->until) - 1;
	if (f != NULL && f->domain != NULL && f->domain[0] != '\0')
		q.domain = f->domain;
	if ((rc = trpt_trend_run(db, &q, &t, err)) != TRPT_OK)
		return rc;
	rc = trpt_trend_write_count(t, TRPT_FORMAT_CSV, out, rows, err);
	trpt_trend_free(&t);
	return rc;
}

struct reports_csv {
	struct trpt_csv c;
	uint64_t n;
	struct trpt_err *err;
};

static int
report_row(void *arg, const struct trpt_export_cell *row)
{
	struct reports_csv *x = arg;
	char day[16];
	int i, rc;

	trpt_csv_int(&x->c, row[0].num);
	for (i = 1; i < 4; i++)
		trpt_csv_field(&x->c, row[i].text);
	trpt_csv_date(&x->c, row[4].num);
	trpt_csv_date(&x->c, row[5].num);
	trpt_calendar_day_label(row[6].num, day, sizeof(day));
	trpt_csv_field(&x->c, day);
	for (i = 7; i < 10; i++)
		trpt_csv_int(&x->c, row[i].num);
	trpt_csv_date(&x->c, row[10].num);
	for (i = 11; i < 14; i++)
		trpt_csv_int(&x->c, row[i].num);
	for (i = 14; i < 19; i++)
		trpt_csv_field(&x->c, row[i].text);
	trpt_csv_int(&x->c, row[19].num);
	trpt_csv_field(&x->c, row[20].text);
	if ((rc = trpt_csv_end_row(&x->c, x->err)) != TRPT_OK)
		return rc;
	x->n++;
	return TRPT_OK;
}

int
trpt_trend_export_reports(struct trpt_db *db,
    const struct trpt_export_filter *f, FILE *out, uint64_t *rows,
    struct trpt_err *err)
{
	static const char *const cols[] = { "id", "organization_name",
		"report_id", "contact_info", "begin_date", "end_date", "day",
		"policies", "successful_session_count", "failed_session_count",
		"received_at", "seen_count", "copy", "conflict", "dkim",
		"dkim_domain", "dkim_selector", "dkim_aligned",
		"dkim_key_service", "dkim_accepted", "dkim_reason" };
	struct trpt_export_rows_filter b;
	struct reports_csv x;
	size_t i;
	int rc;

	x.n = 0;
	x.err = err;
	trpt_csv_init(&x.c, out);
	trpt_export_filter_rows(f, &b);
	for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		trpt_csv_field(&x.c, cols[i]);
	if ((rc = trpt_csv_end_row(&x.c, err)) != TRPT_OK ||
	    (rc = trpt_export_rows_reports(db, &b, report_row, &x, err)) !=
		TRPT_OK)
		goto out;
	if (fflush(out) != 0 || ferror(out))
		rc = trpt_err_set(err, TRPT_EIO, "export reports: write error");
	else if (rows != NULL)
		*rows = x.n;
out:
	trpt_csv_free(&x.c);
	return rc;
}

#include "report/trend_write.h"

#include <inttypes.h>
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

static int
write_csv(
    const struct trpt_trend *t, FILE *out, uint64_t *rows, struct trpt_err *err)
{
	struct trpt_csv c;
	char label[16], num[32];
	size_t i;
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
	for (i = 0; rc == TRPT_OK && i < t->ngroups; i++) {
		const struct trpt_trend_group *g = &t->groups[i];

		for (p = 0; rc == TRPT_OK && p < t->nperiods; p++) {
			const struct trpt_trend_cell *cl = &g->cells[p];

			if (cl->successful == 0 && cl->failed == 0)
				continue;
			trpt_trend_period_label(t->q.period,
			    t->first_period + p, label, sizeof(label));
			trpt_csv_field(&c, label);
			for (k = 0; k < t->q.ndims; k++)
				trpt_csv_field(&c, g->key[k]);
			trpt_csv_int(&c, cl->successful);
			trpt_csv_int(&c, cl->failed);
			snprintf(num, sizeof(num), "%.4f",
			    rate(cl->successful, cl->failed));
			trpt_csv_field(&c, num);
			rc = trpt_csv_end_row(&c, err);
			(*rows)++;
		}
	}
	trpt_csv_free(&c);
	return rc;
}

static void
write_json(const struct trpt_trend *t, FILE *out, uint64_t *rows)
{
	char label[16];
	size_t i;
	int64_t p;
	int k, first = 1;

	fputc('[', out);
	for (i = 0; i < t->ngroups; i++) {
		const struct trpt_trend_group *g = &t->groups[i];

		for (p = 0; p < t->nperiods; p++) {
			const struct trpt_trend_cell *c = &g->cells[p];

			if (c->successful == 0 && c->failed == 0)
				continue;
			trpt_trend_period_label(t->q.period,
			    t->first_period + p, label, sizeof(label));
			fprintf(out, "%s\n  {\"period\": \"%s\"",
			    first ? "" : ",", label);
			first = 0;
			(*rows)++;
			for (k = 0; k < t->q.ndims; k++) {
				fprintf(out, ", \"%s\": ",
				    trpt_trend_dim_column(t->q.dims[k]));
				if (g->key[k][0] == '\0' &&
				    is_failure_dim(t->q.dims[k]))
					fputs("null", out);
				else
					trpt_trend_json_string(out, g->key[k]);
			}
			fprintf(out,
			    ", \"successful\": %" PRId64
			    ", \"failed\": %" PRId64
			    ", \"success_rate\": %.4f}",
			    c->successful, c->failed,
			    rate(c->successful, c->failed));
		}
	}
	fputs(first ? "]\n" : "\n]\n", out);
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
	char label[16];
	size_t i;
	int64_t p, from;
	double lo, hi, cr;
	int k;

	if (t->ngroups == 0) {
		fputs("no sessions in the selected range\n", out);
		return;
	}
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
		if (hi >= 0)
			fprintf(out, " %.2f%%..%.2f%%", lo * 100.0, hi * 100.0);
		fprintf(out, "  %" PRId64 " sessions, %s%" PRId64 " failed%s",
		    trpt_count_add(g->successful, g->failed),
		    color && g->failed > 0 ? RED : "", g->failed,
		    color && g->failed > 0 ? RESET : "");
		if (r >= 0)
			fprintf(out, ", %.2f%% successful", r * 100.0);
		fputc('\n', out);
		for (p = 0; p < t->nperiods; p++) {
			const struct trpt_trend_cell *c = &g->cells[p];

			if (c->successful == 0 && c->failed == 0)
				continue;
			trpt_trend_period_label(t->q.period,
			    t->first_period + p, label, sizeof(label));
			fprintf(out,
			    "  %-10s %12" PRId64 " ok %s%10" PRId64
			    " failed %7.2f%%%s\n",
			    label, c->successful,
			    color && c->failed > 0 ? RED : "", c->failed,
			    rate(c->successful, c->failed) * 100.0,
			    color && c->failed > 0 ? RESET : "");
		}
	}
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
		write_json(t, out, &n);
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

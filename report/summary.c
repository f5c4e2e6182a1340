#include "report/summary.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/buf.h"
#include "report/causes.h"
#include "report/trend.h"

#define TOP         5
#define MAX_TYPES   16
#define MESSAGE_MAX (64u * 1024 * 1024)

struct item {
	char *name;
	int64_t failed, sessions;
};

struct dom {
	char *name;
	int64_t s, f;   /* this week */
	int64_t ps, pf; /* the week before */
	int64_t ds[7], df[7];
	struct item senders[TOP], mx[TOP], types[MAX_TYPES];
	size_t nsenders, nmx, ntypes;
	size_t nalerts;
	int full; /* details loaded (the first max_domains domains) */
};

struct model {
	struct dom *d;
	size_t nd;
	int64_t s, f, ps, pf;
	struct trpt_alerts *alerts;
	size_t nalerts; /* shown: of the listed domains, and senders */
	char week[16], first[16], last[16];
};

static int
db_fail(struct trpt_db *db, const char *what, struct trpt_err *err)
{
	return trpt_err_set(err, TRPT_EDB, "database %s: summary: %s: %s",
	    trpt_db_path(db), what, sqlite3_errmsg(trpt_db_handle(db)));
}

static void
model_free(struct model *m)
{
	size_t i, j;

	for (i = 0; i < m->nd; i++) {
		free(m->d[i].name);
		for (j = 0; j < m->d[i].nsenders; j++)
			free(m->d[i].senders[j].name);
		for (j = 0; j < m->d[i].nmx; j++)
			free(m->d[i].mx[j].name);
		for (j = 0; j < m->d[i].ntypes; j++)
			free(m->d[i].types[j].name);
	}
	free(m->d);
	trpt_alert_free(&m->alerts);
}

/* Runs sql (?1 domain, ?2 first day, ?3 last day) into items. */
static int
load_items(struct trpt_db *db, const char *sql, const char *domain, int64_t d1,
    int64_t d2, struct item *it, size_t max, size_t *n, struct trpt_err *err)
{
	sqlite3_stmt *st = NULL;
	const char *name;
	int src, rc = TRPT_OK;

	if (sqlite3_prepare_v2(trpt_db_handle(db), sql, -1, &st, NULL) !=
	    SQLITE_OK)
		return db_fail(db, "query", err);
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, d1);
	sqlite3_bind_int64(st, 3, d2);
	while (*n < max && (src = sqlite3_step(st)) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(st, 0);
		if (name == NULL || (it[*n].name = strdup(name)) == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			break;
		}
		it[*n].failed = sqlite3_column_int64(st, 1);
		it[*n].sessions = sqlite3_column_int64(st, 2);
		(*n)++;
	}
	if (rc == TRPT_OK && *n < max && src != SQLITE_DONE)
		rc = db_fail(db, "query", err);
	sqlite3_finalize(st);
	return rc;
}

/* The week before always; the days and the details when full. */
static int
load_domain(struct trpt_db *db, struct dom *d, int64_t monday, int full,
    struct trpt_err *err)
{
	sqlite3_stmt *st = NULL;
	int64_t day;
	int src, rc;

	if (sqlite3_prepare_v2(trpt_db_handle(db),
		"SELECT day, successful, failed FROM rollup_domain_day WHERE "
		"domain = ?1 AND day BETWEEN ?2 AND ?3",
		-1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "query", err);
	sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, monday - 7);
	sqlite3_bind_int64(st, 3, monday + 6);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		day = sqlite3_column_int64(st, 0);
		if (day < monday) {
			d->ps += sqlite3_column_int64(st, 1);
			d->pf += sqlite3_column_int64(st, 2);
		} else {
			d->ds[day - monday] = sqlite3_column_int64(st, 1);
			d->df[day - monday] = sqlite3_column_int64(st, 2);
		}
	}
	sqlite3_finalize(st);
	if (src != SQLITE_DONE)
		return db_fail(db, "query", err);
	if (!full) {
		memset(d->ds, 0, sizeof(d->ds));
		memset(d->df, 0, sizeof(d->df));
		return TRPT_OK;
	}
	if ((rc = load_items(db,
		 "SELECT org, sum(failed), sum(successful) + sum(failed) FROM "
		 "rollup_daily WHERE domain = ?1 AND day BETWEEN ?2 AND ?3 "
		 "GROUP BY org HAVING sum(failed) > 0 ORDER BY 2 DESC, 1",
		 d->name, monday, monday + 6, d->senders, TOP, &d->nsenders,
		 err)) != TRPT_OK ||
	    (rc = load_items(db,
		 "SELECT mx, sum(failed), 0 FROM rollup_failures WHERE domain "
		 "= ?1 AND day BETWEEN ?2 AND ?3 AND mx <> '' GROUP BY mx "
		 "ORDER BY 2 DESC, 1",
		 d->name, monday, monday + 6, d->mx, TOP, &d->nmx, err)) !=
		TRPT_OK ||
	    (rc = load_items(db,
		 "SELECT result_type, sum(failed), 0 FROM rollup_failures "
		 "WHERE domain = ?1 AND day BETWEEN ?2 AND ?3 GROUP BY "
		 "result_type ORDER BY 2 DESC, 1",
		 d->name, monday, monday + 6, d->types, MAX_TYPES, &d->ntypes,
		 err)) != TRPT_OK)
		return rc;
	return TRPT_OK;
}

/* The alert belongs to the week and to a listed domain or a sender. */
static int
alert_shown(const struct model *m, const struct trpt_alert *al, int64_t monday,
    struct dom **dp)
{
	size_t i;

	*dp = NULL;
	if (al->last_day < monday || al->first_day > monday + 6 + 1)
		return 0;
	if (al->sender)
		return 1;
	for (i = 0; i < m->nd; i++)
		if (strcmp(m->d[i].name, al->subject) == 0) {
			*dp = &m->d[i];
			return 1;
		}
	return 0;
}

static int
load_model(struct trpt_db *db, const struct trpt_summary_opts *o,
    struct model *m, struct trpt_err *err)
{
	struct trpt_alert_config defaults;
	sqlite3_stmt *st = NULL;
	struct dom *d, *nd;
	const char *name;
	size_t cap = 0, i;
	int src, rc = TRPT_OK;

	trpt_trend_period_label(TRPT_PERIOD_WEEK,
	    trpt_trend_period_of(TRPT_PERIOD_WEEK, o->monday), m->week,
	    sizeof(m->week));
	trpt_trend_period_label(
	    TRPT_PERIOD_DAY, o->monday, m->first, sizeof(m->first));
	trpt_trend_period_label(
	    TRPT_PERIOD_DAY, o->monday + 6, m->last, sizeof(m->last));
	if (sqlite3_prepare_v2(trpt_db_handle(db),
		o->domain != NULL
		    ? "SELECT domain, sum(successful), sum(failed) FROM "
		      "rollup_domain_day WHERE domain = ?3 AND day BETWEEN ?1 "
		      "AND ?2 GROUP BY domain"
		    : "SELECT domain, sum(successful), sum(failed) FROM "
		      "rollup_domain_day WHERE day BETWEEN ?1 AND ?2 GROUP BY "
		      "domain ORDER BY sum(failed) DESC, domain",
		-1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "query", err);
	sqlite3_bind_int64(st, 1, o->monday);
	sqlite3_bind_int64(st, 2, o->monday + 6);
	if (o->domain != NULL)
		sqlite3_bind_text(st, 3, o->domain, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (m->nd == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			nd = realloc(m->d, cap * sizeof(*nd));
			if (nd == NULL) {
				rc = trpt_err_set(
				    err, TRPT_ENOMEM, "out of memory");
				break;
			}
			m->d = nd;
		}
		d = &m->d[m->nd];
		memset(d, 0, sizeof(*d));
		name = (const char *)sqlite3_column_text(st, 0);
		if (name == NULL || (d->name = strdup(name)) == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			break;
		}
		m->nd++;
		d->s = sqlite3_column_int64(st, 1);
		d->f = sqlite3_column_int64(st, 2);
		m->s += d->s;
		m->f += d->f;
	}
	if (rc == TRPT_OK && src != SQLITE_DONE)
		rc = db_fail(db, "query", err);
	sqlite3_finalize(st);
	for (i = 0; rc == TRPT_OK && i < m->nd; i++) {
		d = &m->d[i];
		d->full = i < (o->max_domains != 0 ? o->max_domains : 100);
		rc = load_domain(db, d, o->monday, d->full, err);
		m->ps += d->ps;
		m->pf += d->pf;
	}
	if (rc != TRPT_OK)
		return rc;
	trpt_alert_config_init(&defaults);
	rc = trpt_alert_detect(db, o->alerts != NULL ? o->alerts : &defaults,
	    o->monday, o->monday + 7, &m->alerts, err);
	if (rc != TRPT_OK)
		return rc;
	for (i = 0; i < m->alerts->n; i++) {
		if (alert_shown(m, &m->alerts->v[i], o->monday, &d)) {
			m->nalerts++;
			if (d != NULL)
				d->nalerts++;
		}
	}
	return TRPT_OK;
}

static double
rate(int64_t s, int64_t f)
{
	return s + f > 0 ? 100.0 * (double)s / (double)(s + f) : -1.0;
}

/* "99.12%" or "n/a"; and the change in points, "+0.40" or "". */
static void
fmt_rate(char *buf, size_t len, int64_t s, int64_t f)
{
	double r = rate(s, f);

	if (r < 0)
		snprintf(buf, len, "n/a");
	else
		snprintf(buf, len, "%.2f%%", r);
}

static int
fmt_change(char *buf, size_t len, int64_t s, int64_t f, int64_t ps, int64_t pf)
{
	double r = rate(s, f), p = rate(ps, pf);

	if (r < 0 || p < 0) {
		snprintf(buf, len, "no data the week before");
		return 0;
	}
	snprintf(buf, len, "%+.2f points", r - p);
	return 1;
}

static const char *const wdays[7] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
	"Sun" };

/* ---- text/plain ---- */

static void
text_bar(FILE *f, int64_t s, int64_t fl, int64_t max)
{
	int n = 0, nf = 0, i;

	if (max > 0 && s + fl > 0) {
		n = (int)((s + fl) * 30 / max);
		if (n == 0)
			n = 1;
		nf = (int)(fl * n / (s + fl));
		if (fl > 0 && nf == 0)
			nf = 1;
	}
	for (i = 0; i < 30; i++)
		fputs(i < n - nf ? "\u2588" : i < n ? "\u2591" : " ", f);
}

static void
render_text(const struct model *m, int64_t monday, FILE *f)
{
	char r[32], c[64], day[16];
	const struct trpt_cause *cause;
	struct dom *owner;
	size_t i, j;
	int64_t max;
	int k;

	fprintf(f, "SMTP TLS reporting: week %s (%s to %s)\n\n", m->week,
	    m->first, m->last);
	fmt_rate(r, sizeof(r), m->s, m->f);
	fmt_change(c, sizeof(c), m->s, m->f, m->ps, m->pf);
	fprintf(f,
	    "%zu domain%s, %" PRId64 " sessions, %s encrypted (%s), %" PRId64
	    " failed, %zu alert%s.\n",
	    m->nd, m->nd == 1 ? "" : "s", m->s + m->f, r, c, m->f, m->nalerts,
	    m->nalerts == 1 ? "" : "s");
	if (m->nd == 0)
		fputs("\nNo reports counted sessions this week.\n", f);
	for (i = 0; i < m->nd; i++) {
		const struct dom *d = &m->d[i];

		fprintf(f, "\n== %s ==\n", d->name);
		fmt_rate(r, sizeof(r), d->s, d->f);
		fmt_change(c, sizeof(c), d->s, d->f, d->ps, d->pf);
		fprintf(f,
		    "%" PRId64 " sessions, %" PRId64 " failed, %s successful "
		    "(%s)\n",
		    d->s + d->f, d->f, r, c);
		if (!d->full)
			continue; /* past max_domains: the figures only */
		for (max = 0, k = 0; k < 7; k++)
			if (d->ds[k] + d->df[k] > max)
				max = d->ds[k] + d->df[k];
		for (k = 0; k < 7; k++) {
			trpt_trend_period_label(
			    TRPT_PERIOD_DAY, monday + k, day, sizeof(day));
			fprintf(f, "  %s %s ", wdays[k], day);
			text_bar(f, d->ds[k], d->df[k], max);
			fmt_rate(r, sizeof(r), d->ds[k], d->df[k]);
			fprintf(
			    f, " %10" PRId64 " %8s\n", d->ds[k] + d->df[k], r);
		}
		if (d->nsenders > 0) {
			fputs("Senders with the most failures:\n", f);
			for (j = 0; j < d->nsenders; j++)
				fprintf(f,
				    "  %s: %" PRId64 " failed of %" PRId64 "\n",
				    d->senders[j].name, d->senders[j].failed,
				    d->senders[j].sessions);
		}
		if (d->nmx > 0) {
			fputs("MX hosts with the most failures:\n", f);
			for (j = 0; j < d->nmx; j++)
				fprintf(f, "  %s: %" PRId64 " failed\n",
				    d->mx[j].name, d->mx[j].failed);
		}
		if (d->ntypes > 0)
			fputs("Failure types:\n", f);
		for (j = 0; j < d->ntypes; j++) {
			if (d->types[j].name[0] == '\0') {
				fprintf(f,
				    "  %" PRId64 " failed sessions without "
				    "details from the sender\n",
				    d->types[j].failed);
				continue;
			}
			cause = trpt_causes_lookup(d->types[j].name);
			fprintf(f,
			    "  %s (%s): %" PRId64 " sessions\n"
			    "    Probable cause: %s\n    Fix: %s\n",
			    d->types[j].name, cause->title, d->types[j].failed,
			    cause->causes, cause->fixes);
		}
		if (d->nalerts > 0) {
			fputs("Alerts:\n", f);
			for (j = 0; j < m->alerts->n; j++)
				if (alert_shown(
					m, &m->alerts->v[j], monday, &owner) &&
				    owner == d)
					trpt_alert_write_one(&m->alerts->v[j],
					    TRPT_FORMAT_TABLE, f);
		}
	}
	for (j = 0, k = 0; j < m->alerts->n; j++) {
		if (!alert_shown(m, &m->alerts->v[j], monday, &owner) ||
		    !m->alerts->v[j].sender)
			continue;
		if (k++ == 0)
			fputs("\n== Reporting organisations ==\n", f);
		trpt_alert_write_one(&m->alerts->v[j], TRPT_FORMAT_TABLE, f);
	}
	fputs("\n-- \ntlsrpt-collector: SMTP TLS reports (RFC 8460). A report "
	      "counts on the UTC day its range starts; a domain's sessions "
	      "count once per report.\n",
	    f);
}

/* ---- text/html ---- */

static void
html_esc(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static void
html_bar(FILE *f, int64_t s, int64_t fl, int64_t max)
{
	int w = 0, wf = 0;

	if (max > 0 && s + fl > 0) {
		w = (int)((s + fl) * 240 / max);
		if (w < 2)
			w = 2;
		wf = (int)(fl * w / (s + fl));
		if (fl > 0 && wf < 2)
			wf = 2;
	}
	fprintf(f,
	    "<span style=\"display:inline-block;height:12px;width:%dpx;"
	    "background:#2e7d32\"></span><span style=\"display:inline-block;"
	    "height:12px;width:%dpx;background:#c62828\"></span>",
	    w - wf, wf);
}

static void
html_alerts(const struct model *m, int64_t monday, const struct dom *d, FILE *f)
{
	struct dom *owner;
	char *buf = NULL;
	size_t len = 0, j;
	FILE *mf;

	for (j = 0; j < m->alerts->n; j++) {
		if (!alert_shown(m, &m->alerts->v[j], monday, &owner) ||
		    owner != d || (d == NULL && !m->alerts->v[j].sender))
			continue;
		mf = open_memstream(&buf, &len);
		if (mf == NULL)
			continue;
		trpt_alert_write_one(&m->alerts->v[j], TRPT_FORMAT_TABLE, mf);
		fclose(mf);
		fputs("<pre style=\"white-space:pre-wrap;background:#fff3e0;"
		      "padding:6px;font-size:12px\">",
		    f);
		html_esc(f, buf);
		fputs("</pre>\n", f);
		free(buf);
		buf = NULL;
	}
}

static void
render_html(const struct model *m, int64_t monday, FILE *f)
{
	char r[32], c[64], day[16];
	const struct trpt_cause *cause;
	size_t i, j;
	int64_t max;
	int k;

	fprintf(f,
	    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
	    "<title>SMTP TLS reporting %s</title></head>\n"
	    "<body style=\"font-family:sans-serif;color:#222\">\n"
	    "<h1 style=\"font-size:20px\">SMTP TLS reporting: week %s</h1>\n"
	    "<p>%s to %s</p>\n",
	    m->week, m->week, m->first, m->last);
	fmt_rate(r, sizeof(r), m->s, m->f);
	fmt_change(c, sizeof(c), m->s, m->f, m->ps, m->pf);
	fprintf(f,
	    "<p><b>%zu</b> domain%s, <b>%" PRId64 "</b> sessions, <b>%s</b> "
	    "encrypted (%s), %" PRId64 " failed, <b>%zu</b> alert%s.</p>\n",
	    m->nd, m->nd == 1 ? "" : "s", m->s + m->f, r, c, m->f, m->nalerts,
	    m->nalerts == 1 ? "" : "s");
	if (m->nd == 0)
		fputs("<p>No reports counted sessions this week.</p>\n", f);
	for (i = 0; i < m->nd; i++) {
		const struct dom *d = &m->d[i];

		fputs("<h2 style=\"font-size:17px\">", f);
		html_esc(f, d->name);
		fmt_rate(r, sizeof(r), d->s, d->f);
		fmt_change(c, sizeof(c), d->s, d->f, d->ps, d->pf);
		fprintf(f,
		    "</h2>\n<p>%" PRId64 " sessions, %" PRId64 " failed, "
		    "<b>%s</b> successful (%s)</p>\n",
		    d->s + d->f, d->f, r, c);
		if (!d->full)
			continue;
		for (max = 0, k = 0; k < 7; k++)
			if (d->ds[k] + d->df[k] > max)
				max = d->ds[k] + d->df[k];
		fputs(
		    "<table style=\"border-collapse:collapse;font-size:13px\">"
		    "\n",
		    f);
		for (k = 0; k < 7; k++) {
			trpt_trend_period_label(
			    TRPT_PERIOD_DAY, monday + k, day, sizeof(day));
			fmt_rate(r, sizeof(r), d->ds[k], d->df[k]);
			fprintf(f, "<tr><td>%s %s</td><td>", wdays[k], day);
			html_bar(f, d->ds[k], d->df[k], max);
			fprintf(f,
			    "</td><td style=\"text-align:right\">%" PRId64
			    "</td><td style=\"text-align:right\">%s</td></tr>"
			    "\n",
			    d->ds[k] + d->df[k], r);
		}
		fputs("</table>\n", f);
		if (d->nsenders > 0) {
			fputs(
			    "<p>Senders with the most failures:</p><ul>\n", f);
			for (j = 0; j < d->nsenders; j++) {
				fputs("<li>", f);
				html_esc(f, d->senders[j].name);
				fprintf(f,
				    ": %" PRId64 " failed of %" PRId64
				    "</li>\n",
				    d->senders[j].failed,
				    d->senders[j].sessions);
			}
			fputs("</ul>\n", f);
		}
		if (d->nmx > 0) {
			fputs(
			    "<p>MX hosts with the most failures:</p><ul>\n", f);
			for (j = 0; j < d->nmx; j++) {
				fputs("<li>", f);
				html_esc(f, d->mx[j].name);
				fprintf(f, ": %" PRId64 " failed</li>\n",
				    d->mx[j].failed);
			}
			fputs("</ul>\n", f);
		}
		if (d->ntypes > 0)
			fputs("<p>Failure types:</p><ul>\n", f);
		for (j = 0; j < d->ntypes; j++) {
			if (d->types[j].name[0] == '\0') {
				fprintf(f,
				    "<li>%" PRId64 " failed sessions without "
				    "details from the sender</li>\n",
				    d->types[j].failed);
				continue;
			}
			cause = trpt_causes_lookup(d->types[j].name);
			fputs("<li><b>", f);
			html_esc(f, d->types[j].name);
			fputs("</b> (", f);
			html_esc(f, cause->title);
			fprintf(f,
			    "): %" PRId64 " sessions<br>Probable cause: ",
			    d->types[j].failed);
			html_esc(f, cause->causes);
			fputs("<br>Fix: ", f);
			html_esc(f, cause->fixes);
			fputs("</li>\n", f);
		}
		if (d->ntypes > 0)
			fputs("</ul>\n", f);
		if (d->nalerts > 0) {
			fputs("<p>Alerts:</p>\n", f);
			html_alerts(m, monday, d, f);
		}
	}
	fputs("<h2 style=\"font-size:17px\">Reporting organisations</h2>\n", f);
	html_alerts(m, monday, NULL, f);
	fputs("<p style=\"color:#666;font-size:12px\">tlsrpt-collector: SMTP "
	      "TLS reports (RFC 8460). A report counts on the UTC day its "
	      "range starts; a domain's sessions count once per "
	      "report.</p>\n</body></html>\n",
	    f);
}

/* ---- the message ---- */

static int
b64(struct trpt_buf *b, const char *s, size_t len, struct trpt_err *err)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[80];
	size_t i, n = 0;
	uint32_t v;
	int rc;

	for (i = 0; i < len; i += 3) {
		v = (uint32_t)(unsigned char)s[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)(unsigned char)s[i + 1] << 8;
		if (i + 2 < len)
			v |= (uint32_t)(unsigned char)s[i + 2];
		line[n++] = tab[(v >> 18) & 63];
		line[n++] = tab[(v >> 12) & 63];
		line[n++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		line[n++] = i + 2 < len ? tab[v & 63] : '=';
		if (n == 76 || i + 3 >= len) {
			line[n++] = '\r';
			line[n++] = '\n';
			if ((rc = trpt_buf_append(b, line, n, err)) != TRPT_OK)
				return rc;
			n = 0;
		}
	}
	return TRPT_OK;
}

static int
check_addr(const char *what, const char *a, struct trpt_err *err)
{
	const char *p;

	if (a == NULL || a[0] == '\0' || strchr(a, '@') == NULL)
		return trpt_err_set(err, TRPT_EINVAL,
		    "summary: %s address \"%s\" is not an e-mail address", what,
		    a != NULL ? a : "");
	for (p = a; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return trpt_err_set(err, TRPT_EINVAL,
			    "summary: %s address contains a control "
			    "character",
			    what);
	return TRPT_OK;
}

/* Appends a header, folded at spaces before 78 columns; only printable
 * ASCII is kept (report data may hold anything). */
static int
header(struct trpt_buf *b, const char *name, const char *value,
    struct trpt_err *err)
{
	size_t col, i, wlen;
	const char *p = value, *sp;
	char c;
	int rc;

	if ((rc = trpt_buf_appendf(b, err, "%s:", name)) != TRPT_OK)
		return rc;
	col = strlen(name) + 1;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		sp = strchr(p, ' ');
		wlen = sp != NULL ? (size_t)(sp - p) : strlen(p);
		if (col + 1 + wlen > 76 && col > strlen(name) + 1) {
			if ((rc = trpt_buf_append(b, "\r\n", 2, err)) !=
			    TRPT_OK)
				return rc;
			col = 0;
		}
		if ((rc = trpt_buf_append(b, " ", 1, err)) != TRPT_OK)
			return rc;
		for (i = 0; i < wlen; i++) {
			c = p[i];
			if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7e)
				c = '?';
			if ((rc = trpt_buf_append(b, &c, 1, err)) != TRPT_OK)
				return rc;
		}
		col += 1 + wlen;
		p += wlen;
	}
	return trpt_buf_append(b, "\r\n", 2, err);
}

static int
render(const struct model *m, int64_t monday,
    void (*fn)(const struct model *, int64_t, FILE *), char **out, size_t *len,
    struct trpt_err *err)
{
	FILE *f;

	*out = NULL;
	*len = 0;
	f = open_memstream(out, len);
	if (f == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	fn(m, monday, f);
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	return TRPT_OK;
}

static int
subject(const struct model *m, const struct trpt_summary_opts *o, char *buf,
    size_t len)
{
	char r[32], c[64];

	fmt_rate(r, sizeof(r), m->s, m->f);
	if (!fmt_change(c, sizeof(c), m->s, m->f, m->ps, m->pf))
		snprintf(c, sizeof(c), "new");
	if (m->nd == 0)
		return snprintf(buf, len,
		    "TLS report %s: %s: no sessions, %zu "
		    "alert%s",
		    m->week, o->domain != NULL ? o->domain : "all domains",
		    m->nalerts, m->nalerts == 1 ? "" : "s");
	if (m->nd == 1)
		return snprintf(buf, len,
		    "TLS report %s: %s: %s encrypted (%s), %zu alert%s",
		    m->week, m->d[0].name, r, c, m->nalerts,
		    m->nalerts == 1 ? "" : "s");
	if (m->nd == 2)
		return snprintf(buf, len,
		    "TLS report %s: %s, %s: %s encrypted (%s), %zu alert%s",
		    m->week, m->d[0].name, m->d[1].name, r, c, m->nalerts,
		    m->nalerts == 1 ? "" : "s");
	return snprintf(buf, len,
	    "TLS report %s: %s, %s and %zu more: %s encrypted (%s), %zu "
	    "alert%s",
	    m->week, m->d[0].name, m->d[1].name, m->nd - 2, r, c, m->nalerts,
	    m->nalerts == 1 ? "" : "s");
}

int
trpt_summary_build(struct trpt_db *db, const struct trpt_summary_opts *o,
    char **out, size_t *len, struct trpt_err *err)
{
	struct model m;
	struct trpt_buf b;
	char *text = NULL, *html = NULL, subj[400], date[64], boundary[64];
	const char *host;
	size_t tlen = 0, hlen = 0, i;
	time_t t = (time_t)o->date;
	struct tm tm;
	int rc;

	memset(&m, 0, sizeof(m));
	trpt_buf_init(&b, MESSAGE_MAX);
	if ((rc = check_addr("from", o->from, err)) != TRPT_OK)
		return rc;
	if (o->nto == 0)
		return trpt_err_set(err, TRPT_EINVAL, "summary: no recipient");
	for (i = 0; i < o->nto; i++)
		if ((rc = check_addr("to", o->to[i], err)) != TRPT_OK)
			return rc;
	if ((rc = load_model(db, o, &m, err)) != TRPT_OK ||
	    (rc = render(&m, o->monday, render_text, &text, &tlen, err)) !=
		TRPT_OK ||
	    (rc = render(&m, o->monday, render_html, &html, &hlen, err)) !=
		TRPT_OK)
		goto out;
	subject(&m, o, subj, sizeof(subj));
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(boundary, sizeof(boundary), "=_tlsrpt_%s_%lld_%ld", m.week,
	    (long long)o->date, (long)getpid());
	host = strchr(o->from, '@') + 1;
	if ((rc = header(&b, "From", o->from, err)) != TRPT_OK)
		goto out;
	rc = trpt_buf_appendf(&b, err, "To:");
	for (i = 0; rc == TRPT_OK && i < o->nto; i++)
		rc = trpt_buf_appendf(&b, err, "%s %s%s", i > 0 ? "\r\n" : "",
		    o->to[i], i + 1 < o->nto ? "," : "\r\n");
	if (rc == TRPT_OK)
		rc = header(&b, "Subject", subj, err);
	if (rc == TRPT_OK)
		rc = trpt_buf_appendf(&b, err,
		    "Date: %s\r\n"
		    "Message-ID: <tlsrpt-summary.%s.%lld.%ld@%s>\r\n"
		    "MIME-Version: 1.0\r\n"
		    "Auto-Submitted: auto-generated\r\n"
		    "Content-Type: multipart/alternative;\r\n"
		    " boundary=\"%s\"\r\n"
		    "\r\n"
		    "This is a MIME message: a text and an HTML version.\r\n"
		    "\r\n--%s\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n",
		    date, m.week, (long long)o->date, (long)getpid(), host,
		    boundary, boundary);
	if (rc == TRPT_OK)
		rc = b64(&b, text, tlen, err);
	if (rc == TRPT_OK)
		rc = trpt_buf_appendf(&b, err,
		    "\r\n--%s\r\n"
		    "Content-Type: text/html; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n",
		    boundary);
	if (rc == TRPT_OK)
		rc = b64(&b, html, hlen, err);
	if (rc == TRPT_OK)
		rc = trpt_buf_appendf(&b, err, "\r\n--%s--\r\n", boundary);
	if (rc == TRPT_OK)
		*out = trpt_buf_steal(&b, len);
out:
	trpt_buf_free(&b);
	free(text);
	free(html);
	model_free(&m);
	return rc;
}

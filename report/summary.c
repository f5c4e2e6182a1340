#include "report/summary.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/calendar.h"
#include "common/limits.h"
#include "common/width.h"
#include "report/causes.h"
#include "report/trend.h"
#include "schema/analysis.h"
#include "schema/view.h"

#define TOP         5
#define MAX_TYPES   16
#define MESSAGE_MAX (64u * 1024 * 1024)
#define REASONS     3            /* the senders' reason codes shown per type */
#define TEXT_BUDGET (64u * 1024) /* default size cap of the text part */

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
	size_t nalerts, open;
	int full; /* details loaded (the first max_domains domains) */
	struct trpt_view_rows *reasons; /* what the senders said, when full */
};

struct model {
	struct dom *d;
	size_t nd;
	int64_t s, f, ps, pf;
	struct trpt_alerts *alerts;
	size_t nalerts; /* shown: of the listed domains, and senders */
	size_t nopen;
	size_t ndetail; /* domains given in detail (set by render_text) */
	size_t naction; /* domains with failures or alerts */
	size_t budget;  /* bytes of the text part before details stop */
	int64_t monday;
	int types_seen[64]; /* registered types met in details, by index */
	char week[16], first[16], last[16];
};

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
		trpt_view_free(&m->d[i].reasons);
	}
	free(m->d);
	trpt_alert_free(&m->alerts);
}

/* Items read into a fixed array. */
struct items {
	struct item *v;
	size_t max, *n;
	int sessions; /* keep the sessions (senders) */
};

static int
add_item(void *arg, const struct trpt_analysis_sum *s)
{
	struct items *it = arg;
	struct item *i;

	if (*it->n == it->max)
		return TRPT_OK;
	i = &it->v[*it->n];
	if ((i->name = strdup(s->name)) == NULL)
		return TRPT_ENOMEM;
	i->failed = s->failed;
	i->sessions =
	    it->sessions ? trpt_count_add(s->successful, s->failed) : 0;
	(*it->n)++;
	return TRPT_OK;
}

/* The failures of domain d1..d2 summed by column by (MX hosts named). */
static int
load_top(struct trpt_db *db, const char *domain, int64_t d1, int64_t d2,
    enum trpt_analysis_col by, struct item *v, size_t max, size_t *n,
    struct trpt_err *err)
{
	struct trpt_analysis_top_query q;
	struct items it = { v, max, n, 0 };

	memset(&q, 0, sizeof(q));
	q.subject_col = TRPT_ANALYSIS_DOMAIN;
	q.subject = domain;
	q.by = by;
	q.named = by == TRPT_ANALYSIS_MX;
	q.first_day = d1;
	q.last_day = d2;
	q.max = max;
	return trpt_analysis_top_failures(db, &q, add_item, &it, err);
}

struct week_days {
	struct dom *d;
	int64_t monday;
};

/* A day of the week before goes to the totals, one of the week to its
 * bar. */
static int
add_day(void *arg, const struct trpt_analysis_row *r)
{
	struct week_days *w = arg;
	struct dom *d = w->d;

	if (r->day < w->monday) {
		d->ps = trpt_count_add(d->ps, r->successful);
		d->pf = trpt_count_add(d->pf, r->failed);
	} else {
		d->ds[r->day - w->monday] = r->successful;
		d->df[r->day - w->monday] = r->failed;
	}
	return TRPT_OK;
}

/* The week before always; the days and the details when full. */
static int
load_domain(struct trpt_db *db, struct dom *d, int64_t monday, int full,
    struct trpt_err *err)
{
	struct trpt_analysis_query q;
	struct week_days w = { d, monday };
	struct items senders = { d->senders, TOP, &d->nsenders, 1 };
	int rc;

	memset(&q, 0, sizeof(q));
	q.cols = 1u << TRPT_ANALYSIS_DOMAIN;
	q.domain = d->name;
	q.first_day = monday - 7;
	q.last_day = monday + 6;
	if ((rc = trpt_analysis_rollup_rows(db, &q, add_day, &w, err)) !=
	    TRPT_OK)
		goto fail;
	if (!full) {
		memset(d->ds, 0, sizeof(d->ds));
		memset(d->df, 0, sizeof(d->df));
		return TRPT_OK;
	}
	if ((rc = trpt_analysis_failing_senders(db, d->name, monday, monday + 6,
		 TOP, add_item, &senders, err)) != TRPT_OK ||
	    (rc = load_top(db, d->name, monday, monday + 6, TRPT_ANALYSIS_MX,
		 d->mx, TOP, &d->nmx, err)) != TRPT_OK ||
	    (rc = load_top(db, d->name, monday, monday + 6, TRPT_ANALYSIS_TYPE,
		 d->types, MAX_TYPES, &d->ntypes, err)) != TRPT_OK)
		goto fail;
	if (d->f > 0) {
		struct trpt_view_filter vf = { monday, monday + 6, d->name,
			NULL, 100 };

		if ((rc = trpt_view_reasons(db, &vf, &d->reasons, err)) !=
		    TRPT_OK)
			return rc;
	}
	return TRPT_OK;
fail:
	if (rc == TRPT_ENOMEM)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	trpt_err_prefix(err, "summary");
	return rc;
}

static struct dom *
find_dom(const struct model *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nd; i++)
		if (strcmp(m->d[i].name, name) == 0)
			return &m->d[i];
	return NULL;
}

/*
 * The alert belongs to the week and to a listed domain, or is a sender's
 * that names a listed domain among those it affected (*dp NULL): a
 * summary for one domain shows no other domain's alerts.
 */
static int
alert_shown(const struct model *m, const struct trpt_alert *al, int64_t monday,
    struct dom **dp)
{
	size_t i;

	*dp = NULL;
	if (al->last_day < monday || al->first_day > monday + 6 + 1)
		return 0;
	if (al->sender) {
		for (i = 0; i < al->others.n; i++)
			if (find_dom(m, al->others.v[i].name) != NULL)
				return 1;
		/* A silent sender names no domain: it concerns every
		 * domain it reported on, shown when all are listed. */
		return al->others.n == 0 && m->nd > 1;
	}
	*dp = find_dom(m, al->subject);
	return *dp != NULL;
}

/* What needs action first: open alerts, alerts, failed sessions. */
static int
cmp_dom(const void *a, const void *b)
{
	const struct dom *x = a, *y = b;

	if (x->open != y->open)
		return x->open > y->open ? -1 : 1;
	if (x->nalerts != y->nalerts)
		return x->nalerts > y->nalerts ? -1 : 1;
	if (x->f != y->f)
		return x->f > y->f ? -1 : 1;
	return strcmp(x->name, y->name);
}

struct doms {
	struct model *m;
	size_t cap;
	struct trpt_err *err;
};

/* One domain of the week, with its sessions. */
static int
add_dom(void *arg, const struct trpt_analysis_sum *s)
{
	struct doms *x = arg;
	struct model *m = x->m;
	struct dom *d, *nd;
	size_t ncap;

	if (m->nd == x->cap) {
		ncap = x->cap == 0 ? 16 : x->cap * 2;
		if ((nd = realloc(m->d, ncap * sizeof(*nd))) == NULL)
			return trpt_err_set(
			    x->err, TRPT_ENOMEM, "out of memory");
		m->d = nd;
		x->cap = ncap;
	}
	d = &m->d[m->nd];
	memset(d, 0, sizeof(*d));
	if ((d->name = strdup(s->name)) == NULL)
		return trpt_err_set(x->err, TRPT_ENOMEM, "out of memory");
	m->nd++;
	d->s = s->successful;
	d->f = s->failed;
	m->s = trpt_count_add(m->s, d->s);
	m->f = trpt_count_add(m->f, d->f);
	return TRPT_OK;
}

static int
load_model(struct trpt_db *db, const struct trpt_summary_opts *o,
    struct model *m, struct trpt_err *err)
{
	struct trpt_alert_config defaults;
	struct doms x = { m, 0, err };
	struct dom *d;
	size_t i;
	int rc;

	trpt_calendar_week_label(
	    trpt_calendar_week(o->monday), m->week, sizeof(m->week));
	trpt_calendar_day_label(o->monday, m->first, sizeof(m->first));
	trpt_calendar_day_label(o->monday + 6, m->last, sizeof(m->last));
	rc = trpt_analysis_domain_totals(
	    db, o->domain, o->monday, o->monday + 6, add_dom, &x, err);
	if (rc != TRPT_OK && rc != TRPT_ENOMEM)
		trpt_err_prefix(err, "summary");
	/* Domains arrive the most failed first: details for the first
	 * max_domains that had failures (alerts are added below). */
	for (i = 0; rc == TRPT_OK && i < m->nd; i++) {
		d = &m->d[i];
		d->full = i < (o->max_domains != 0 ? o->max_domains : 100);
		rc = load_domain(db, d, o->monday, d->full, err);
		m->ps = trpt_count_add(m->ps, d->ps);
		m->pf = trpt_count_add(m->pf, d->pf);
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
			m->nopen += m->alerts->v[i].open != 0;
			if (d != NULL) {
				d->nalerts++;
				d->open += m->alerts->v[i].open != 0;
			}
		}
	}
	if (m->nd > 1)
		qsort(m->d, m->nd, sizeof(*m->d), cmp_dom);
	for (i = 0; i < m->nd; i++)
		if (m->d[i].f > 0 || m->d[i].nalerts > 0)
			m->naction++;
	m->budget = o->max_text != 0 ? o->max_text : TEXT_BUDGET;
	m->monday = o->monday;
	return TRPT_OK;
}

static double
rate(int64_t s, int64_t f)
{
	return s > 0 || f > 0 ? 100.0 * (double)s / ((double)s + (double)f)
			      : -1.0;
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

/* The change alone, for the overview ("-4.76", "new"). */
static void
fmt_delta(char *buf, size_t len, const struct dom *d)
{
	double r = rate(d->s, d->f), p = rate(d->ps, d->pf);

	if (r < 0 || p < 0)
		snprintf(buf, len, "new");
	else
		snprintf(buf, len, "%+.2f", r - p);
}

static const char *const wdays[7] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
	"Sun" };

/* Remembers that the details named this failure type (for the causes). */
static void
type_seen(struct model *m, const char *type)
{
	size_t i, n = trpt_causes_count();

	for (i = 0; i < n && i < 64; i++)
		if (strcmp(trpt_causes_at(i)->result_type, type) == 0)
			m->types_seen[i] = 1;
	if (!trpt_causes_registered(type) && type[0] != '\0' && n < 64)
		m->types_seen[n] = 1; /* the entry for unknown types */
}

/* Prints s without control characters (report data on a terminal or in
 * a mail reader). */
static void
text_str(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

/* ---- text/plain ---- */

static void
text_bar(FILE *f, int64_t s, int64_t fl, int64_t max)
{
	int n = 0, nf = 0, i;

	if (max > 0 && (s > 0 || fl > 0)) {
		/* in double: hostile counts may reach INT64_MAX */
		n = (int)(((double)s + (double)fl) * 30 / (double)max);
		if (n == 0)
			n = 1;
		nf = (int)((double)fl * n / ((double)s + (double)fl));
		if (fl > 0 && nf == 0)
			nf = 1;
	}
	for (i = 0; i < 30; i++)
		fputs(i < n - nf ? "\u2588" : i < n ? "\u2591" : " ", f);
}

/* One alert in a line or two: no causes (they come once, at the end). */
static void
text_alert(FILE *f, const struct trpt_alert *al)
{
	char d1[16], d2[16];
	const struct trpt_alert_items *lists[4];
	static const char *const names[4] = { "types", "MX", "IPs", NULL };
	size_t i, k;

	trpt_calendar_day_label(al->first_day, d1, sizeof(d1));
	trpt_calendar_day_label(al->last_day, d2, sizeof(d2));
	fprintf(f, "  %s %s %s ", al->open ? "OPEN" : "closed",
	    trpt_alert_kind_name(al->kind), al->sender ? "sender" : "domain");
	text_str(f, al->subject);
	if (al->type != NULL) {
		fputs(": ", f);
		text_str(f, al->type);
	}
	fprintf(f, ", %s .. %s", d1, d2);
	if (al->rate_before >= 0 && al->rate_after >= 0)
		fprintf(f, ": %.2f%% -> %.2f%%", al->rate_before * 100,
		    al->rate_after * 100);
	if (al->failed_after > 0)
		fprintf(f, ", %" PRId64 " failed", al->failed_after);
	fputc('\n', f);
	lists[0] = &al->types;
	lists[1] = &al->mx;
	lists[2] = &al->ips;
	lists[3] = &al->others;
	for (k = 0; k < 4; k++) {
		if (lists[k]->n == 0)
			continue;
		fprintf(f, "    %s: ",
		    names[k] != NULL ? names[k]
		    : al->sender     ? "domains"
				     : "senders");
		for (i = 0; i < lists[k]->n; i++) {
			if (i > 0)
				fputs(", ", f);
			text_str(f, lists[k]->v[i].name[0] != '\0'
					? lists[k]->v[i].name
					: "(none)");
			fprintf(f, " (%" PRId64 ")", lists[k]->v[i].failed);
		}
		fputc('\n', f);
	}
}

/* The senders' own words about a failure type of the domain. */
static void
text_reasons(FILE *f, const struct dom *d, const char *type)
{
	const struct trpt_view_rows *r = d->reasons;
	size_t i, shown = 0;

	for (i = 0; r != NULL && i < r->nrows; i++) {
		if (strcmp(trpt_view_text(r, i, 0), type) != 0)
			continue;
		if (shown++ == REASONS)
			break;
		fputs("    ", f);
		text_str(f, trpt_view_null(r, i, 1) ? "(no MX given)"
						    : trpt_view_text(r, i, 1));
		fprintf(f, ": %" PRId64 " failed", trpt_view_int(r, i, 4));
		if (!trpt_view_null(r, i, 2)) {
			fputs(", \"", f);
			text_str(f, trpt_view_text(r, i, 2));
			fputc('"', f);
		}
		if (!trpt_view_null(r, i, 3)) {
			fputs(" (", f);
			text_str(f, trpt_view_text(r, i, 3));
			fputc(')', f);
		}
		fputs(" - ", f);
		text_str(f, trpt_view_text(r, i, 6));
		fputc('\n', f);
	}
}

static void
text_detail(struct model *m, const struct dom *d, FILE *f)
{
	char r[32], c[64], day[16];
	const struct trpt_cause *cause;
	struct dom *owner;
	size_t j;
	int64_t max;
	int k;

	fputs("\n== ", f);
	text_str(f, d->name);
	fputs(" ==\n", f);
	fmt_rate(r, sizeof(r), d->s, d->f);
	fmt_change(c, sizeof(c), d->s, d->f, d->ps, d->pf);
	fprintf(f,
	    "%" PRId64 " sessions, %" PRId64 " failed, %s successful (%s)\n",
	    trpt_count_add(d->s, d->f), d->f, r, c);
	for (max = 0, k = 0; k < 7; k++)
		if (d->ds[k] + d->df[k] > max)
			max = d->ds[k] + d->df[k];
	for (k = 0; k < 7; k++) {
		trpt_calendar_day_label(m->monday + k, day, sizeof(day));
		fprintf(f, "  %s %s ", wdays[k], day);
		text_bar(f, d->ds[k], d->df[k], max);
		fmt_rate(r, sizeof(r), d->ds[k], d->df[k]);
		fprintf(f, " %10" PRId64 " %8s\n", d->ds[k] + d->df[k], r);
	}
	if (d->nalerts > 0) {
		fputs("Alerts:\n", f);
		for (j = 0; j < m->alerts->n; j++)
			if (alert_shown(
				m, &m->alerts->v[j], m->monday, &owner) &&
			    owner == d)
				text_alert(f, &m->alerts->v[j]);
	}
	if (d->nsenders > 0) {
		fputs("Senders with the most failures:\n", f);
		for (j = 0; j < d->nsenders; j++) {
			fputs("  ", f);
			text_str(f, d->senders[j].name);
			fprintf(f, ": %" PRId64 " failed of %" PRId64 "\n",
			    d->senders[j].failed, d->senders[j].sessions);
		}
	}
	if (d->nmx > 0) {
		fputs("MX hosts with the most failures:\n", f);
		for (j = 0; j < d->nmx; j++) {
			fputs("  ", f);
			text_str(f, d->mx[j].name);
			fprintf(f, ": %" PRId64 " failed\n", d->mx[j].failed);
		}
	}
	if (d->ntypes > 0)
		fputs("Failure types (causes and fixes below), with what the "
		      "senders said:\n",
		    f);
	for (j = 0; j < d->ntypes; j++) {
		if (d->types[j].name[0] == '\0') {
			fprintf(f,
			    "  %" PRId64 " failed sessions without details "
			    "from the sender\n",
			    d->types[j].failed);
			continue;
		}
		type_seen(m, d->types[j].name);
		cause = trpt_causes_lookup(d->types[j].name);
		fputs("  ", f);
		text_str(f, d->types[j].name);
		fprintf(f, " (%s): %" PRId64 " sessions\n", cause->title,
		    d->types[j].failed);
		text_reasons(f, d, d->types[j].name);
	}
}

static int
needs_detail(const struct dom *d)
{
	return d->full && (d->f > 0 || d->nalerts > 0);
}

static void
render_text(struct model *m, FILE *f)
{
	char r[32], c[64];
	const struct trpt_cause *cause;
	struct dom *owner;
	size_t i, j, left = 0, n;
	long pos;
	int k;

	fprintf(f, "SMTP TLS reporting: week %s (%s to %s)\n\n", m->week,
	    m->first, m->last);
	fmt_rate(r, sizeof(r), m->s, m->f);
	fmt_change(c, sizeof(c), m->s, m->f, m->ps, m->pf);
	fprintf(f,
	    "%zu domain%s, %" PRId64 " sessions, %s encrypted (%s), %" PRId64
	    " failed, %zu alert%s.\n",
	    m->nd, m->nd == 1 ? "" : "s", trpt_count_add(m->s, m->f), r, c,
	    m->f, m->nalerts, m->nalerts == 1 ? "" : "s");
	if (m->nd == 0) {
		fputs("\nNo reports counted sessions this week.\n", f);
	} else {
		fprintf(f,
		    "Needing action: %zu domain%s with failures or alerts "
		    "(%zu open alert%s).\n\n",
		    m->naction, m->naction == 1 ? "" : "s", m->nopen,
		    m->nopen == 1 ? "" : "s");
		fprintf(f, "%-32s %10s %8s %8s %7s %6s\n", "DOMAIN", "SESSIONS",
		    "FAILED", "SHARE", "CHANGE", "ALERTS");
	}
	for (i = 0; i < m->nd; i++) {
		const struct dom *d = &m->d[i];

		fmt_rate(r, sizeof(r), d->s, d->f);
		fmt_delta(c, sizeof(c), d);
		fputs(d->f > 0 || d->nalerts > 0 ? "! " : "  ", f);
		/* Padded by the cells a UTF-8 name takes. */
		n = trpt_width(d->name);
		text_str(f, d->name);
		fprintf(f, "%*s %10" PRId64 " %8" PRId64 " %8s %7s %6zu\n",
		    n < 30 ? (int)(30 - n) : 0, "", trpt_count_add(d->s, d->f),
		    d->f, r, c, d->nalerts);
	}
	for (i = 0; i < m->nd; i++) {
		if (!needs_detail(&m->d[i]))
			continue;
		pos = ftell(f);
		if (pos >= 0 && (size_t)pos > m->budget) {
			left++;
			continue;
		}
		text_detail(m, &m->d[i], f);
		m->ndetail++;
	}
	if (left > 0) {
		fprintf(f,
		    "\n%zu more domain%s with failures or alerts %s left out "
		    "to keep this mail short:",
		    left, left == 1 ? "" : "s", left == 1 ? "is" : "are");
		for (i = 0, k = 0; i < m->nd; i++) {
			if (!needs_detail(&m->d[i]) || k++ < (int)m->ndetail)
				continue;
			fputc(' ', f);
			text_str(f, m->d[i].name);
		}
		fprintf(f,
		    ".\nSee the dashboard, or: tlsrpt-collector report html "
		    "-o FILE --since %s --domain DOMAIN\n",
		    m->first);
	}
	for (j = 0, k = 0; j < m->alerts->n; j++) {
		if (!alert_shown(m, &m->alerts->v[j], m->monday, &owner) ||
		    !m->alerts->v[j].sender)
			continue;
		if (k++ == 0)
			fputs("\n== Reporting organisations ==\n", f);
		text_alert(f, &m->alerts->v[j]);
		for (i = 0; i < m->alerts->v[j].types.n; i++)
			type_seen(m, m->alerts->v[j].types.v[i].name);
	}
	for (i = 0, k = 0; i < 64 && i <= trpt_causes_count(); i++) {
		if (!m->types_seen[i])
			continue;
		cause = i < trpt_causes_count() ? trpt_causes_at(i)
						: trpt_causes_lookup("");
		if (k++ == 0)
			fputs("\n== Causes and fixes ==\n", f);
		fprintf(f, "%s (%s)\n  Probable cause: %s\n  Fix: %s\n",
		    cause->result_type[0] != '\0' ? cause->result_type
						  : "other types",
		    cause->title, cause->causes, cause->fixes);
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
			if ((unsigned char)*s < 0x20 && *s != '\n' &&
			    *s != '\r' && *s != '\t')
				fputc('?', f);
			else
				fputc(*s, f);
		}
	}
}

#define TD "<td style=\"padding:2px 8px;border-bottom:1px solid #ddd\">"
#define TDN                                                                    \
	"<td style=\"padding:2px 8px;border-bottom:1px solid #ddd;"            \
	"text-align:right\">"
#define TH                                                                     \
	"<th style=\"padding:2px 8px;text-align:left;"                         \
	"border-bottom:2px solid #999\">"
#define TABLE "<table style=\"border-collapse:collapse;font-size:13px\">"

static void
html_bar(FILE *f, int64_t s, int64_t fl, int64_t max)
{
	int w = 0, wf = 0;

	if (max > 0 && (s > 0 || fl > 0)) {
		w = (int)(((double)s + (double)fl) * 240 / (double)max);
		if (w < 2)
			w = 2;
		wf = (int)((double)fl * w / ((double)s + (double)fl));
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
html_alert(FILE *f, const struct trpt_alert *al)
{
	char d1[16], d2[16];
	const struct trpt_alert_items *lists[4];
	static const char *const names[4] = { "Result types", "MX hosts",
		"Sending IPs", NULL };
	size_t i, k;

	trpt_calendar_day_label(al->first_day, d1, sizeof(d1));
	trpt_calendar_day_label(al->last_day, d2, sizeof(d2));
	fprintf(f,
	    "<div style=\"border-left:4px solid %s;padding:4px 8px;"
	    "margin:6px 0;background:#fff8f0\"><b>%s %s</b> %s <b>",
	    al->open ? "#c62828" : "#999", al->open ? "OPEN" : "closed",
	    trpt_alert_kind_name(al->kind), al->sender ? "sender" : "domain");
	html_esc(f, al->subject);
	fputs("</b>", f);
	if (al->type != NULL) {
		fputs(": ", f);
		html_esc(f, al->type);
	}
	fprintf(f, ", %s to %s", d1, d2);
	if (al->rate_before >= 0 && al->rate_after >= 0)
		fprintf(f,
		    ": %.2f%% &rarr; <b style=\"color:#c62828\">%.2f%%"
		    "</b>",
		    al->rate_before * 100, al->rate_after * 100);
	if (al->failed_after > 0)
		fprintf(f, ", %" PRId64 " failed", al->failed_after);
	lists[0] = &al->types;
	lists[1] = &al->mx;
	lists[2] = &al->ips;
	lists[3] = &al->others;
	for (k = 0; k < 4; k++) {
		if (lists[k]->n == 0)
			continue;
		fprintf(f, "<br>%s: ",
		    names[k] != NULL ? names[k]
		    : al->sender     ? "Domains"
				     : "Senders");
		for (i = 0; i < lists[k]->n; i++) {
			if (i > 0)
				fputs(", ", f);
			html_esc(f, lists[k]->v[i].name[0] != '\0'
					? lists[k]->v[i].name
					: "(none)");
			fprintf(f, " (%" PRId64 ")", lists[k]->v[i].failed);
		}
	}
	fputs("</div>\n", f);
}

static void
html_reasons(FILE *f, const struct dom *d, const char *type)
{
	const struct trpt_view_rows *r = d->reasons;
	size_t i, shown = 0;

	for (i = 0; r != NULL && i < r->nrows; i++) {
		if (strcmp(trpt_view_text(r, i, 0), type) != 0)
			continue;
		if (shown++ == REASONS)
			break;
		fputs("<br><span style=\"font-size:12px;color:#444\">", f);
		html_esc(f, trpt_view_null(r, i, 1) ? "(no MX given)"
						    : trpt_view_text(r, i, 1));
		fprintf(f, ": %" PRId64 " failed", trpt_view_int(r, i, 4));
		if (!trpt_view_null(r, i, 2)) {
			fputs(", <code>", f);
			html_esc(f, trpt_view_text(r, i, 2));
			fputs("</code>", f);
		}
		if (!trpt_view_null(r, i, 3)) {
			fputs(" (", f);
			html_esc(f, trpt_view_text(r, i, 3));
			fputc(')', f);
		}
		fputs(" &ndash; ", f);
		html_esc(f, trpt_view_text(r, i, 6));
		fputs("</span>", f);
	}
}

static void
html_detail(const struct model *m, const struct dom *d, FILE *f)
{
	char r[32], c[64], day[16];
	const struct trpt_cause *cause;
	struct dom *owner;
	size_t j;
	int64_t max;
	int k;

	fputs("<h2 style=\"font-size:17px\">", f);
	html_esc(f, d->name);
	fmt_rate(r, sizeof(r), d->s, d->f);
	fmt_change(c, sizeof(c), d->s, d->f, d->ps, d->pf);
	fprintf(f,
	    "</h2>\n<p>%" PRId64 " sessions, %" PRId64 " failed, "
	    "<b>%s</b> successful (%s)</p>\n",
	    trpt_count_add(d->s, d->f), d->f, r, c);
	for (max = 0, k = 0; k < 7; k++)
		if (d->ds[k] + d->df[k] > max)
			max = d->ds[k] + d->df[k];
	fputs(TABLE "\n", f);
	for (k = 0; k < 7; k++) {
		trpt_calendar_day_label(m->monday + k, day, sizeof(day));
		fmt_rate(r, sizeof(r), d->ds[k], d->df[k]);
		fprintf(f, "<tr><td>%s %s</td><td>", wdays[k], day);
		html_bar(f, d->ds[k], d->df[k], max);
		fprintf(f,
		    "</td><td style=\"text-align:right\">%" PRId64
		    "</td><td style=\"text-align:right\">%s</td></tr>\n",
		    d->ds[k] + d->df[k], r);
	}
	fputs("</table>\n", f);
	for (j = 0; j < m->alerts->n && d->nalerts > 0; j++)
		if (alert_shown(m, &m->alerts->v[j], m->monday, &owner) &&
		    owner == d)
			html_alert(f, &m->alerts->v[j]);
	if (d->nsenders > 0) {
		fputs("<p>Senders with the most failures: ", f);
		for (j = 0; j < d->nsenders; j++) {
			if (j > 0)
				fputs(", ", f);
			html_esc(f, d->senders[j].name);
			fprintf(f, " %" PRId64 " of %" PRId64,
			    d->senders[j].failed, d->senders[j].sessions);
		}
		fputs("</p>\n", f);
	}
	if (d->nmx > 0) {
		fputs("<p>MX hosts with the most failures: ", f);
		for (j = 0; j < d->nmx; j++) {
			if (j > 0)
				fputs(", ", f);
			html_esc(f, d->mx[j].name);
			fprintf(f, " %" PRId64, d->mx[j].failed);
		}
		fputs("</p>\n", f);
	}
	if (d->ntypes > 0)
		fputs("<ul style=\"font-size:13px\">\n", f);
	for (j = 0; j < d->ntypes; j++) {
		if (d->types[j].name[0] == '\0') {
			fprintf(f,
			    "<li>%" PRId64 " failed sessions without details "
			    "from the sender</li>\n",
			    d->types[j].failed);
			continue;
		}
		cause = trpt_causes_lookup(d->types[j].name);
		fputs("<li><b>", f);
		html_esc(f, d->types[j].name);
		fputs("</b> (", f);
		html_esc(f, cause->title);
		fprintf(f, "): %" PRId64 " sessions", d->types[j].failed);
		html_reasons(f, d, d->types[j].name);
		fputs("</li>\n", f);
	}
	if (d->ntypes > 0)
		fputs("</ul>\n", f);
}

static void
render_html(struct model *m, FILE *f)
{
	char r[32], c[64];
	const struct trpt_cause *cause;
	struct dom *owner;
	size_t i, j, shown = 0, left = 0;
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
	    "encrypted (%s), %" PRId64 " failed, <b>%zu</b> alert%s. Needing "
	    "action: <b>%zu</b>.</p>\n",
	    m->nd, m->nd == 1 ? "" : "s", trpt_count_add(m->s, m->f), r, c,
	    m->f, m->nalerts, m->nalerts == 1 ? "" : "s", m->naction);
	if (m->nd == 0)
		fputs("<p>No reports counted sessions this week.</p>\n", f);
	else
		fputs(TABLE "<tr>" TH "Domain</th>" TH "Sessions</th>" TH
			    "Failed</th>" TH "Share</th>" TH "Change</th>" TH
			    "Alerts</th></tr>\n",
		    f);
	for (i = 0; i < m->nd; i++) {
		const struct dom *d = &m->d[i];

		fmt_rate(r, sizeof(r), d->s, d->f);
		fmt_delta(c, sizeof(c), d);
		fputs("<tr>" TD, f);
		if (d->f > 0 || d->nalerts > 0)
			fputs("<b style=\"color:#c62828\">", f);
		html_esc(f, d->name);
		if (d->f > 0 || d->nalerts > 0)
			fputs("</b>", f);
		fprintf(f,
		    "</td>" TDN "%" PRId64 "</td>" TDN "%" PRId64 "</td>" TDN
		    "%s</td>" TDN "%s</td>" TDN "%zu</td></tr>\n",
		    trpt_count_add(d->s, d->f), d->f, r, c, d->nalerts);
	}
	if (m->nd > 0)
		fputs("</table>\n", f);
	for (i = 0; i < m->nd; i++) {
		if (!needs_detail(&m->d[i]))
			continue;
		if (shown++ >= m->ndetail) {
			left++;
			continue;
		}
		html_detail(m, &m->d[i], f);
	}
	if (left > 0) {
		fprintf(f,
		    "<p style=\"color:#666\">%zu more domain%s with failures "
		    "or alerts left out to keep this mail short:",
		    left, left == 1 ? "" : "s");
		for (i = 0, j = 0; i < m->nd; i++) {
			if (!needs_detail(&m->d[i]) || j++ < m->ndetail)
				continue;
			fputc(' ', f);
			html_esc(f, m->d[i].name);
		}
		fputs(". See the dashboard or <code>tlsrpt-collector report "
		      "html</code>.</p>\n",
		    f);
	}
	for (j = 0, k = 0; j < m->alerts->n; j++) {
		if (!alert_shown(m, &m->alerts->v[j], m->monday, &owner) ||
		    !m->alerts->v[j].sender)
			continue;
		if (k++ == 0)
			fputs("<h2 style=\"font-size:17px\">Reporting "
			      "organisations</h2>\n",
			    f);
		html_alert(f, &m->alerts->v[j]);
	}
	for (i = 0, k = 0; i < 64 && i <= trpt_causes_count(); i++) {
		if (!m->types_seen[i])
			continue;
		cause = i < trpt_causes_count() ? trpt_causes_at(i)
						: trpt_causes_lookup("");
		if (k++ == 0)
			fputs("<h2 style=\"font-size:17px\">Causes and fixes"
			      "</h2>\n",
			    f);
		fputs("<p style=\"font-size:13px\"><b>", f);
		html_esc(f, cause->result_type[0] != '\0' ? cause->result_type
							  : "other types");
		fputs("</b> (", f);
		html_esc(f, cause->title);
		fputs(")<br>Probable cause: ", f);
		html_esc(f, cause->causes);
		fputs("<br>Fix: ", f);
		html_esc(f, cause->fixes);
		fputs("</p>\n", f);
	}
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

/*
 * A header whose value holds UTF-8 (a domain name in U-labels): RFC 2047
 * encoded-words, =?UTF-8?B?...?=, each at most 75 characters and on a
 * line of its own, never splitting a character.  Control characters
 * become '?'.  Plain ASCII goes through header().
 */
static int
header_utf8(struct trpt_buf *b, const char *name, const char *value,
    struct trpt_err *err)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)value;
	unsigned char chunk[45];
	size_t n, i, cl;
	uint32_t v;
	char enc[4];
	int rc, first = 1;

	for (i = 0; p[i] != '\0' && p[i] < 0x80; i++)
		;
	if (p[i] == '\0')
		return header(b, name, value, err);
	if ((rc = trpt_buf_appendf(b, err, "%s:", name)) != TRPT_OK)
		return rc;
	while (*p != '\0') {
		/* up to 45 bytes (60 of base64: 72 with the markers) */
		n = 0;
		while (*p != '\0') {
			cl = *p < 0x80    ? 1
			     : *p >= 0xf0 ? 4
			     : *p >= 0xe0 ? 3
					  : 2;
			for (i = 1; i < cl; i++)
				if (p[i] == '\0')
					cl = i;
			if (n + cl > sizeof(chunk))
				break;
			for (i = 0; i < cl; i++)
				chunk[n++] =
				    p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i];
			p += cl;
		}
		if ((rc = trpt_buf_appendf(b, err, "%s=?UTF-8?B?",
			 first ? " " : "\r\n ")) != TRPT_OK)
			return rc;
		first = 0;
		for (i = 0; i < n; i += 3) {
			v = (uint32_t)chunk[i] << 16;
			if (i + 1 < n)
				v |= (uint32_t)chunk[i + 1] << 8;
			if (i + 2 < n)
				v |= chunk[i + 2];
			enc[0] = tab[(v >> 18) & 63];
			enc[1] = tab[(v >> 12) & 63];
			enc[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
			enc[3] = i + 2 < n ? tab[v & 63] : '=';
			if ((rc = trpt_buf_append(b, enc, 4, err)) != TRPT_OK)
				return rc;
		}
		if ((rc = trpt_buf_append(b, "?=", 2, err)) != TRPT_OK)
			return rc;
	}
	return trpt_buf_append(b, "\r\n", 2, err);
}

static int
render(struct model *m, void (*fn)(struct model *, FILE *), char **out,
    size_t *len, struct trpt_err *err)
{
	FILE *f;

	*out = NULL;
	*len = 0;
	f = open_memstream(out, len);
	if (f == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	fn(m, f);
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
	    (rc = render(&m, render_text, &text, &tlen, err)) != TRPT_OK ||
	    (rc = render(&m, render_html, &html, &hlen, err)) != TRPT_OK)
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
		rc = header_utf8(&b, "Subject", subj, err);
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

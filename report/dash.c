#include "report/dash.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/datetime.h"
#include "common/limits.h"
#include "report/causes.h"
#include "report/svg.h"
#include "report/trend.h"
#include "schema/view.h"

#define REPORTS_SHOWN  50
#define REASONS_SHOWN  200
#define FAILURES_SHOWN 1000

static size_t
max_rows(const struct trpt_dash *d)
{
	return d->max_rows != 0 ? d->max_rows : 2000;
}

static double
rate(int64_t s, int64_t f)
{
	return s > 0 || f > 0 ? (double)s / ((double)s + (double)f) : -1.0;
}

/* "since=...&until=..." for the links of the dashboard (after "?"), or
 * "&since=..." after another parameter. */
static void
range_first(struct trpt_html *h, const struct trpt_dash *d)
{
	trpt_html_raw(h, "since=");
	trpt_html_day(h, d->since_day);
	trpt_html_raw(h, "&amp;until=");
	trpt_html_day(h, d->until_day);
}

static void
range_query(struct trpt_html *h, const struct trpt_dash *d)
{
	trpt_html_raw(h, "&amp;since=");
	trpt_html_day(h, d->since_day);
	trpt_html_raw(h, "&amp;until=");
	trpt_html_day(h, d->until_day);
}

static void
link_domain(struct trpt_html *h, const struct trpt_dash *d, const char *dom)
{
	if (d->static_file) {
		trpt_html_raw(h, "<a href=\"#d-");
		trpt_html_url(h, dom);
	} else {
		trpt_html_raw(h, "<a href=\"/domain?d=");
		trpt_html_url(h, dom);
		range_query(h, d);
	}
	trpt_html_raw(h, "\">");
	trpt_html_text(h, dom[0] != '\0' ? dom : "(no domain)");
	trpt_html_raw(h, "</a>");
}

static void
link_sender(struct trpt_html *h, const struct trpt_dash *d, const char *org)
{
	if (d->static_file) {
		trpt_html_raw(h, "<a href=\"#o-");
		trpt_html_url(h, org);
	} else {
		trpt_html_raw(h, "<a href=\"/sender?o=");
		trpt_html_url(h, org);
		range_query(h, d);
	}
	trpt_html_raw(h, "\">");
	trpt_html_text(h, org);
	trpt_html_raw(h, "</a>");
}

static void
link_report(struct trpt_html *h, const struct trpt_dash *d, int64_t id,
    const char *text)
{
	if (d->static_file) {
		trpt_html_text(h, text);
		return;
	}
	trpt_html_rawf(h, "<a href=\"/report?id=%" PRId64 "\">", id);
	trpt_html_text(h, text);
	trpt_html_raw(h, "</a>");
}

static void
ts_cell(struct trpt_html *h, int64_t ts)
{
	char b[32];

	trpt_datetime_format(ts, b, sizeof(b));
	trpt_html_raw(h, b);
}

void
trpt_dash_begin(
    struct trpt_html *h, const struct trpt_dash *d, const char *title)
{
	trpt_html_raw(h,
	    "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width\">"
	    "<title>");
	trpt_html_text(h, title);
	trpt_html_raw(h, " \xe2\x80\x93 tlsrpt-collector</title>");
	if (d->static_file) {
		trpt_html_raw(h, "<style>");
		trpt_html_raw(h, trpt_html_css());
		trpt_html_raw(h, "</style>");
	} else {
		trpt_html_raw(h, "<link rel=\"stylesheet\" href=\"/style.css\">"
				 "<link rel=\"icon\" href=\"/favicon.svg\" "
				 "type=\"image/svg+xml\">");
	}
	trpt_html_raw(h, "</head><body><header><strong>TLS reports</strong> ");
	if (d->static_file) {
		trpt_html_raw(h, "<a href=\"#overview\">Overview</a>"
				 "<a href=\"#quarantine\">Quarantine</a>");
	} else {
		trpt_html_raw(h, "<a href=\"/?");
		range_first(h, d);
		trpt_html_raw(h, "\">Overview</a><a href=\"/quarantine\">"
				 "Quarantine</a>");
	}
	trpt_html_raw(h, "</header><main>");
}

void
trpt_dash_end(struct trpt_html *h)
{
	trpt_html_raw(h, "</main></body></html>\n");
}

void
trpt_dash_range_form(struct trpt_html *h, const struct trpt_dash *d,
    const char *path, const char *name, const char *value)
{
	static const int spans[] = { 7, 30, 90, 365 };
	size_t i;

	if (d->static_file) {
		trpt_html_raw(h, "<p class=\"muted\">");
		trpt_html_day(h, d->since_day);
		trpt_html_raw(h, " to ");
		trpt_html_day(h, d->until_day);
		trpt_html_raw(h, " (UTC days the reports begin)</p>");
		return;
	}
	trpt_html_raw(h, "<form method=\"get\" action=\"");
	trpt_html_text(h, path);
	trpt_html_raw(h, "\">");
	if (name != NULL) {
		trpt_html_raw(h, "<input type=\"hidden\" name=\"");
		trpt_html_text(h, name);
		trpt_html_raw(h, "\" value=\"");
		trpt_html_text(h, value);
		trpt_html_raw(h, "\">");
	}
	trpt_html_raw(h, "<label>From <input type=\"date\" name=\"since\" "
			 "value=\"");
	trpt_html_day(h, d->since_day);
	trpt_html_raw(h, "\"></label> <label>to <input type=\"date\" "
			 "name=\"until\" value=\"");
	trpt_html_day(h, d->until_day);
	trpt_html_raw(h, "\"></label> ");
	if (name == NULL) {
		trpt_html_raw(h, "<label>domain <input name=\"domain\" "
				 "value=\"");
		trpt_html_text(h, d->domain);
		trpt_html_raw(h, "\"></label> ");
	}
	trpt_html_raw(h, "<button>Show</button> <span class=\"muted\">last");
	for (i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		trpt_html_raw(h, " <a href=\"");
		trpt_html_text(h, path);
		trpt_html_raw(h, "?");
		if (name != NULL) {
			trpt_html_text(h, name);
			trpt_html_raw(h, "=");
			trpt_html_url(h, value);
			trpt_html_raw(h, "&amp;");
		}
		trpt_html_raw(h, "since=");
		trpt_html_day(h, d->until_day - spans[i] + 1);
		trpt_html_raw(h, "&amp;until=");
		trpt_html_day(h, d->until_day);
		trpt_html_rawf(h, "\">%d days</a>", spans[i]);
	}
	trpt_html_raw(h, "</span></form>");
}

/* ---- alerts ---- */

static int
items_have(const struct trpt_alert_items *it, const char *name)
{
	size_t i;

	for (i = 0; i < it->n; i++)
		if (strcmp(it->v[i].name, name) == 0)
			return 1;
	return 0;
}

/* Alerts about the domain itself, or about a sender that names it. */
static int
alert_about_domain(const struct trpt_alert *al, const char *domain)
{
	if (!al->sender)
		return strcmp(al->subject, domain) == 0;
	return items_have(&al->others, domain);
}

static size_t
open_alerts_of_domain(const struct trpt_dash *d, const char *domain)
{
	size_t i, n = 0;

	if (d->alerts == NULL)
		return 0;
	for (i = 0; i < d->alerts->n; i++)
		if (d->alerts->v[i].open && !d->alerts->v[i].sender &&
		    strcmp(d->alerts->v[i].subject, domain) == 0)
			n++;
	return n;
}

static void
alert_items(struct trpt_html *h, const struct trpt_dash *d, const char *label,
    const struct trpt_alert_items *it, int kind)
{
	size_t i;

	if (it->n == 0)
		return;
	trpt_html_raw(h, "<div>");
	trpt_html_text(h, label);
	trpt_html_raw(h, ": ");
	for (i = 0; i < it->n; i++) {
		if (i > 0)
			trpt_html_raw(h, ", ");
		if (kind == 'd' && it->v[i].name[0] != '\0')
			link_domain(h, d, it->v[i].name);
		else if (kind == 'o')
			link_sender(h, d, it->v[i].name);
		else
			trpt_html_text(h, it->v[i].name[0] != '\0'
					      ? it->v[i].name
					      : "(none given)");
		trpt_html_raw(h, " <span class=\"muted\">(");
		trpt_html_count(h, it->v[i].failed);
		trpt_html_raw(h, " failed)</span>");
	}
	trpt_html_raw(h, "</div>");
}

/* The live-check evidence (alerts --recheck, run): one line per MX host. */
static void
live_items(struct trpt_html *h, const struct trpt_alert *al)
{
	size_t i;

	if (al->nlive == 0)
		return;
	trpt_html_raw(h, "<div>Live check:");
	for (i = 0; i < al->nlive; i++) {
		trpt_html_raw(h, i > 0 ? "; " : " ");
		trpt_html_text(h, al->live[i]);
	}
	if (al->open && al->live_ok)
		trpt_html_raw(h, " <span class=\"muted\">(passes: the alert "
				 "closes when reports confirm it)</span>");
	trpt_html_raw(h, "</div>");
}

static void
alert_block(
    struct trpt_html *h, const struct trpt_dash *d, const struct trpt_alert *al)
{
	trpt_html_rawf(h, "<div class=\"alert%s\"><strong>%s %s</strong> ",
	    al->open ? "" : " closed", al->open ? "OPEN" : "closed",
	    trpt_alert_kind_name(al->kind));
	trpt_html_raw(h, al->sender ? "sender " : "domain ");
	if (al->sender)
		link_sender(h, d, al->subject);
	else
		link_domain(h, d, al->subject);
	if (al->type != NULL) {
		trpt_html_raw(h, ": <code>");
		trpt_html_text(h, al->type);
		trpt_html_raw(h, "</code>");
	}
	trpt_html_raw(h, ", ");
	trpt_html_day(h, al->first_day);
	trpt_html_raw(h, " to ");
	trpt_html_day(h, al->last_day);
	trpt_html_raw(h, "<div>");
	switch (al->kind) {
	case TRPT_ALERT_DROP:
		trpt_html_raw(h, "Success rate ");
		trpt_html_rate(h, al->rate_before);
		trpt_html_raw(h, " \xe2\x86\x92 <span class=\"bad\">");
		trpt_html_rate(h, al->rate_after);
		trpt_html_raw(h, "</span> (baseline ");
		trpt_html_count(h, al->sessions_before);
		trpt_html_raw(h, " sessions; during the drop ");
		trpt_html_count(h, al->sessions_after);
		trpt_html_raw(h, " sessions, ");
		trpt_html_count(h, al->failed_after);
		trpt_html_raw(h, " failed)");
		break;
	case TRPT_ALERT_RECOVERY:
		trpt_html_raw(h, "Success rate ");
		trpt_html_rate(h, al->rate_before);
		trpt_html_raw(h, " during the drop, back to ");
		trpt_html_rate(h, al->rate_after);
		break;
	case TRPT_ALERT_NEW_TYPE:
		trpt_html_count(h, al->failed_after);
		trpt_html_raw(h, " failed sessions of a type not seen for this "
				 "domain before");
		break;
	case TRPT_ALERT_SILENT:
		trpt_html_rawf(h,
		    "No report for %" PRId64 " days (usually every %" PRId64
		    " day%s; limit %" PRId64 " days)",
		    al->last_day - al->first_day + 1, al->gap_days,
		    al->gap_days == 1 ? "" : "s", al->limit_days);
		break;
	case TRPT_ALERT_TESTING:
		trpt_html_raw(h, "MTA-STS policy in testing mode: ");
		trpt_html_count(h, al->failed_after);
		trpt_html_raw(h, " of ");
		trpt_html_count(h, al->sessions_after);
		trpt_html_raw(h, " sessions failed; fix them before switching "
				 "to enforce");
		break;
	case TRPT_ALERT_COLLECTION:
		trpt_html_rawf(h,
		    "No report at all received for %" PRId64
		    " days (limit %" PRId64
		    "): check the mailbox, the sources and the _smtp._tls "
		    "record",
		    al->gap_days, al->limit_days);
		break;
	}
	if (al->stale)
		trpt_html_raw(h, " (no longer reported)");
	trpt_html_raw(h, "</div>");
	alert_items(h, d, "Result types", &al->types, 't');
	alert_items(h, d, "MX hosts", &al->mx, 't');
	alert_items(h, d, "Sending IPs", &al->ips, 't');
	alert_items(h, d, al->sender ? "Domains" : "Senders", &al->others,
	    al->sender ? 'd' : 'o');
	live_items(h, al);
	trpt_html_raw(h, "</div>");
}

/* ---- trends ---- */

static int
trend(const struct trpt_dash *d, const char *dims, const char *domain,
    struct trpt_trend **out, struct trpt_err *err)
{
	struct trpt_trend_query q;
	int rc;

	trpt_trend_query_init(&q);
	if ((rc = trpt_trend_parse_dims(dims, &q, err)) != TRPT_OK)
		return rc;
	q.period = TRPT_PERIOD_DAY;
	q.since_day = d->since_day;
	q.until_day = d->until_day;
	q.domain = domain;
	return trpt_trend_run(d->db, &q, out, err);
}

/* The share chart of one group's cells (or the sum of all groups). */
static int
share_chart(struct trpt_html *h, const struct trpt_trend *t,
    const struct trpt_trend_group *g, const char *label, struct trpt_err *err)
{
	double *r;
	int64_t *s, ss, ff;
	size_t i, k, n = (size_t)t->nperiods;

	if (n == 0) {
		trpt_html_raw(h, "<p class=\"muted\">No sessions in this "
				 "range.</p>");
		return TRPT_OK;
	}
	r = calloc(n, sizeof(*r));
	s = calloc(n, sizeof(*s));
	if (r == NULL || s == NULL) {
		free(r);
		free(s);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		ss = ff = 0;
		for (k = 0; k < t->ngroups; k++) {
			if (g != NULL && &t->groups[k] != g)
				continue;
			ss = trpt_count_add(
			    ss, t->groups[k].cells[i].successful);
			ff = trpt_count_add(ff, t->groups[k].cells[i].failed);
		}
		r[i] = rate(ss, ff);
		s[i] = trpt_count_add(ss, ff);
	}
	trpt_svg_share(h, r, s, n, t->first_period, label);
	free(r);
	free(s);
	return TRPT_OK;
}

static int
spark(struct trpt_html *h, const struct trpt_trend *t,
    const struct trpt_trend_group *g, struct trpt_err *err)
{
	double *r;
	size_t i, n = (size_t)t->nperiods;

	if (n == 0)
		return TRPT_OK;
	if ((r = calloc(n, sizeof(*r))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		r[i] = rate(g->cells[i].successful, g->cells[i].failed);
	trpt_svg_spark(h, r, n);
	free(r);
	return TRPT_OK;
}

/* Failure types stacked per day, with a legend.  Types are the groups of
 * a "type" trend other than "" (successful sessions). */
static int
types_chart(struct trpt_html *h, const struct trpt_trend *t, const char *label,
    struct trpt_err *err)
{
	size_t n = (size_t)t->nperiods, i, k, ns = 0;
	const char **names;
	int64_t *counts;

	names = calloc(t->ngroups + 1, sizeof(*names));
	counts = calloc((t->ngroups + 1) * (n + 1), sizeof(*counts));
	if (names == NULL || counts == NULL) {
		free(names);
		free(counts);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	for (k = 0; k < t->ngroups; k++) {
		if (t->groups[k].key[0][0] == '\0' || t->groups[k].failed == 0)
			continue;
		names[ns] = t->groups[k].key[0];
		for (i = 0; i < n; i++)
			counts[ns * n + i] = t->groups[k].cells[i].failed;
		ns++;
	}
	if (n > 0)
		trpt_svg_stacked(
		    h, counts, names, ns, n, t->first_period, label);
	trpt_html_raw(h, "<div class=\"legend\">");
	for (k = 0; k < ns; k++) {
		trpt_html_rawf(
		    h, "<span><i class=\"sw c%zu\"></i>", k % TRPT_SVG_NCOLORS);
		trpt_html_text(h, names[k]);
		trpt_html_raw(h, "</span>");
	}
	trpt_html_raw(h, "</div>");
	free(names);
	free(counts);
	return TRPT_OK;
}

/* Sorting groups: the most failed first, then the name. */
static int
cmp_failed(const void *a, const void *b)
{
	const struct trpt_trend_group *x = a, *y = b;

	if (x->failed != y->failed)
		return x->failed > y->failed ? -1 : 1;
	return strcmp(x->key[0], y->key[0]);
}

static void
table_head(struct trpt_html *h, const char *first)
{
	trpt_html_raw(h, "<table><tr><th>");
	trpt_html_raw(h, first);
	trpt_html_raw(h, "</th><th class=\"n\">Failed</th><th class=\"n\">"
			 "Sessions</th><th class=\"n\">Share</th>"
			 "<th>Per day</th></tr>");
}

static void
figures(struct trpt_html *h, int64_t s, int64_t f)
{
	trpt_html_rawf(h, "<td class=\"n%s\">", f > 0 ? " bad" : "");
	trpt_html_count(h, f);
	trpt_html_raw(h, "</td><td class=\"n\">");
	trpt_html_count(h, trpt_count_add(s, f));
	trpt_html_raw(h, "</td><td class=\"n\">");
	trpt_html_rate(h, rate(s, f));
	trpt_html_raw(h, "</td>");
}

/* ---- names (for the static report) ---- */

struct dom_row {
	const struct trpt_trend_group *g;
	size_t open;
};

static int
cmp_dom_row(const void *a, const void *b)
{
	const struct dom_row *x = a, *y = b;

	if (x->open != y->open)
		return x->open > y->open ? -1 : 1;
	if (x->g->failed != y->g->failed)
		return x->g->failed > y->g->failed ? -1 : 1;
	return strcmp(x->g->key[0], y->g->key[0]);
}

/* The domain groups of t sorted by what needs action.  Caller frees. */
static int
sorted_domains(const struct trpt_dash *d, const struct trpt_trend *t,
    struct dom_row **out, struct trpt_err *err)
{
	struct dom_row *v;
	size_t i;

	if ((v = calloc(t->ngroups + 1, sizeof(*v))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	for (i = 0; i < t->ngroups; i++) {
		v[i].g = &t->groups[i];
		v[i].open = open_alerts_of_domain(d, t->groups[i].key[0]);
	}
	qsort(v, t->ngroups, sizeof(*v), cmp_dom_row);
	*out = v;
	return TRPT_OK;
}

void
trpt_dash_names_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n && v != NULL; i++)
		free(v[i]);
	free(v);
}

static int
names_of(const struct trpt_dash *d, const char *dims, char ***out, size_t *n,
    struct trpt_err *err)
{
	struct trpt_trend *t = NULL;
	struct dom_row *rows = NULL;
	char **v = NULL;
	size_t i, k = 0;
	int rc;

	if ((rc = trend(d, dims, d->domain, &t, err)) != TRPT_OK)
		return rc;
	if ((rc = sorted_domains(d, t, &rows, err)) != TRPT_OK)
		goto out;
	if ((v = calloc(t->ngroups + 1, sizeof(*v))) == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < t->ngroups && i < max_rows(d); i++) {
		if ((v[k] = strdup(rows[i].g->key[0])) == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			goto out;
		}
		k++;
	}
	*out = v;
	*n = k;
	v = NULL;
	rc = TRPT_OK;
out:
	trpt_dash_names_free(v, k);
	free(rows);
	trpt_trend_free(&t);
	return rc;
}

int
trpt_dash_domains(
    const struct trpt_dash *d, char ***out, size_t *n, struct trpt_err *err)
{
	return names_of(d, "domain", out, n, err);
}

int
trpt_dash_senders(
    const struct trpt_dash *d, char ***out, size_t *n, struct trpt_err *err)
{
	return names_of(d, "org", out, n, err);
}

/* ---- overview ---- */

int
trpt_dash_overview(
    const struct trpt_dash *d, struct trpt_html *h, struct trpt_err *err)
{
	struct trpt_trend *t = NULL, *types = NULL;
	struct dom_row *rows = NULL;
	int64_t s = 0, f = 0, quarantined = 0;
	size_t i, open = 0;
	int rc;

	if ((rc = trend(d, "domain", d->domain, &t, err)) != TRPT_OK ||
	    (rc = trend(d, "type", d->domain, &types, err)) != TRPT_OK ||
	    (rc = trpt_view_quarantine_count(d->db, &quarantined, err)) !=
		TRPT_OK ||
	    (rc = sorted_domains(d, t, &rows, err)) != TRPT_OK)
		goto out;
	for (i = 0; i < t->ngroups; i++) {
		s = trpt_count_add(s, t->groups[i].successful);
		f = trpt_count_add(f, t->groups[i].failed);
	}
	for (i = 0; d->alerts != NULL && i < d->alerts->n; i++)
		if (d->alerts->v[i].open &&
		    (d->domain == NULL ||
			alert_about_domain(&d->alerts->v[i], d->domain)))
			open++;
	trpt_html_raw(h, "<section id=\"overview\"><h1>");
	if (d->domain != NULL)
		trpt_html_text(h, d->domain);
	else
		trpt_html_rawf(h, "All domains (%zu)", t->ngroups);
	trpt_html_raw(h, "</h1>");
	trpt_dash_range_form(h, d, "/", NULL, NULL);
	trpt_html_raw(h, "<p>");
	trpt_html_count(h, trpt_count_add(s, f));
	trpt_html_raw(h, " sessions, <span class=\"");
	trpt_html_raw(h, f > 0 ? "bad" : "ok");
	trpt_html_raw(h, "\">");
	trpt_html_count(h, f);
	trpt_html_raw(h, " failed</span>, ");
	trpt_html_rate(h, rate(s, f));
	trpt_html_rawf(h,
	    " encrypted successfully; <span class=\"%s\">%zu open alert%s"
	    "</span>; ",
	    open > 0 ? "bad" : "ok", open, open == 1 ? "" : "s");
	if (!d->static_file)
		trpt_html_raw(h, "<a href=\"/quarantine\">");
	trpt_html_count(h, quarantined);
	trpt_html_raw(h, " inputs in quarantine");
	if (!d->static_file)
		trpt_html_raw(h, "</a>");
	trpt_html_raw(h, ".");
	if (!d->static_file) {
		trpt_html_raw(h, " CSV: <a href=\"/csv/daily?");
		range_first(h, d);
		if (d->domain != NULL) {
			trpt_html_raw(h, "&amp;domain=");
			trpt_html_url(h, d->domain);
		}
		trpt_html_raw(h, "\">daily</a>, <a href=\"/csv/failures?");
		range_first(h, d);
		if (d->domain != NULL) {
			trpt_html_raw(h, "&amp;domain=");
			trpt_html_url(h, d->domain);
		}
		trpt_html_raw(h, "\">failure details</a>");
	}
	trpt_html_raw(h, "</p><h2>Encrypted share per day</h2>");
	if ((rc = share_chart(h, t, NULL,
		 "share of sessions encrypted "
		 "successfully per day",
		 err)) != TRPT_OK)
		goto out;
	trpt_html_raw(h, "<h2>Failed sessions per day, by result type</h2>");
	if ((rc = types_chart(
		 h, types, "failed sessions per day by type", err)) != TRPT_OK)
		goto out;
	trpt_html_raw(h, "<h2>Domains, the ones needing action first</h2>");
	trpt_html_raw(h, "<table id=\"domains\"><tr><th>Domain</th>"
			 "<th class=\"n\">Open alerts</th><th class=\"n\">"
			 "Failed</th><th class=\"n\">Sessions</th>"
			 "<th class=\"n\">Share</th><th>Per day</th></tr>");
	for (i = 0; i < t->ngroups && i < max_rows(d); i++) {
		const struct trpt_trend_group *g = rows[i].g;

		trpt_html_raw(h, rows[i].open > 0 || g->failed > 0
				     ? "<tr class=\"act\"><td>"
				     : "<tr><td>");
		link_domain(h, d, g->key[0]);
		trpt_html_rawf(h, "</td><td class=\"n%s\">%zu</td>",
		    rows[i].open > 0 ? " bad" : "", rows[i].open);
		trpt_html_rawf(
		    h, "<td class=\"n%s\">", g->failed > 0 ? " bad" : "");
		trpt_html_count(h, g->failed);
		trpt_html_raw(h, "</td><td class=\"n\">");
		trpt_html_count(h, trpt_count_add(g->successful, g->failed));
		trpt_html_raw(h, "</td><td class=\"n\">");
		trpt_html_rate(h, rate(g->successful, g->failed));
		trpt_html_raw(h, "</td><td>");
		if ((rc = spark(h, t, g, err)) != TRPT_OK)
			goto out;
		trpt_html_raw(h, "</td></tr>");
	}
	trpt_html_raw(h, "</table>");
	if (t->ngroups > max_rows(d))
		trpt_html_rawf(h,
		    "<p class=\"muted\">%zu more domains not "
		    "shown.</p>",
		    t->ngroups - max_rows(d));
	if (d->alerts != NULL && open > 0) {
		trpt_html_raw(h, "<h2>Open alerts</h2>");
		for (i = 0; i < d->alerts->n; i++)
			if (d->alerts->v[i].open &&
			    (d->domain == NULL ||
				alert_about_domain(
				    &d->alerts->v[i], d->domain)))
				alert_block(h, d, &d->alerts->v[i]);
	}
	trpt_html_raw(h, "</section>");
	rc = TRPT_OK;
out:
	free(rows);
	trpt_trend_free(&t);
	trpt_trend_free(&types);
	return rc;
}

/* ---- causes, fixes and what the senders said ---- */

static void
reason_rows(struct trpt_html *h, const struct trpt_view_rows *r,
    const char *type, int by_sender)
{
	size_t i;
	int any = 0;

	for (i = 0; i < r->nrows; i++) {
		if (strcmp(trpt_view_text(r, i, 0), type) != 0)
			continue;
		if (!any)
			trpt_html_rawf(h,
			    "<table><tr><th>MX host</th><th>Reason code "
			    "(failure-reason-code)</th><th>Additional "
			    "information</th><th class=\"n\">Failed</th>"
			    "<th class=\"n\">Reports</th><th>%s</th>"
			    "<th>Last day</th></tr>",
			    by_sender ? "Domains" : "Senders");
		any = 1;
		trpt_html_raw(h, "<tr><td><code>");
		trpt_html_text(h, trpt_view_null(r, i, 1)
				      ? "(none given)"
				      : trpt_view_text(r, i, 1));
		trpt_html_raw(h, "</code></td><td><code>");
		trpt_html_text(h, trpt_view_text(r, i, 2));
		trpt_html_raw(h, "</code></td><td>");
		trpt_html_text(h, trpt_view_text(r, i, 3));
		trpt_html_raw(h, "</td><td class=\"n bad\">");
		trpt_html_count(h, trpt_view_int(r, i, 4));
		trpt_html_raw(h, "</td><td class=\"n\">");
		trpt_html_count(h, trpt_view_int(r, i, 5));
		trpt_html_raw(h, "</td><td>");
		trpt_html_text(h, trpt_view_text(r, i, 6));
		trpt_html_raw(h, "</td><td>");
		trpt_html_day(h, trpt_view_int(r, i, 7));
		trpt_html_raw(h, "</td></tr>");
	}
	if (any)
		trpt_html_raw(h, "</table>");
}

/* One block per failure type: what it means, what to do, and the
 * senders' own words (reason codes), with the MX hosts. */
static void
causes(struct trpt_html *h, const struct trpt_trend *types,
    const struct trpt_view_rows *reasons, int by_sender)
{
	const struct trpt_cause *c;
	size_t k;
	int any = 0;

	trpt_html_raw(h, "<h2>Causes and fixes</h2>");
	for (k = 0; k < types->ngroups; k++) {
		const struct trpt_trend_group *g = &types->groups[k];

		if (g->key[0][0] == '\0' || g->failed == 0)
			continue;
		any = 1;
		c = trpt_causes_lookup(g->key[0]);
		trpt_html_raw(h, "<div class=\"cause\"><h3><code>");
		trpt_html_text(h, g->key[0]);
		trpt_html_raw(h, "</code>: ");
		trpt_html_text(h, c->title);
		trpt_html_raw(h, " <span class=\"bad\">");
		trpt_html_count(h, g->failed);
		trpt_html_raw(h, " failed sessions</span></h3><p><strong>"
				 "Probable causes:</strong> ");
		trpt_html_text(h, c->causes);
		trpt_html_raw(h, "</p><p><strong>Fix:</strong> ");
		trpt_html_text(h, c->fixes);
		trpt_html_raw(h, "</p>");
		if (reasons != NULL)
			reason_rows(h, reasons, g->key[0], by_sender);
		trpt_html_raw(h, "</div>");
	}
	if (!any)
		trpt_html_raw(h, "<p class=\"ok\">No failed sessions with "
				 "details in this range.</p>");
}

static int
reports_table(struct trpt_html *h, const struct trpt_dash *d,
    const char *domain, const char *org, struct trpt_err *err)
{
	struct trpt_view_filter f = { d->since_day, d->until_day, domain, org,
		REPORTS_SHOWN };
	struct trpt_view_rows *r = NULL;
	size_t i;
	int rc;

	if ((rc = trpt_view_reports(d->db, &f, &r, err)) != TRPT_OK)
		return rc;
	trpt_html_rawf(h, "<h2>Latest reports (%zu%s)</h2>", r->nrows,
	    r->nrows == REPORTS_SHOWN ? " at most" : "");
	trpt_html_raw(h, "<table><tr><th>Begins</th><th>Sender</th>"
			 "<th>Report-ID</th><th class=\"n\">Successful</th>"
			 "<th class=\"n\">Failed</th></tr>");
	for (i = 0; i < r->nrows; i++) {
		trpt_html_raw(h, "<tr><td>");
		ts_cell(h, trpt_view_int(r, i, TRPT_VR_BEGIN));
		trpt_html_raw(h, "</td><td>");
		trpt_html_text(h, trpt_view_text(r, i, TRPT_VR_ORG));
		trpt_html_raw(h, "</td><td>");
		link_report(h, d, trpt_view_int(r, i, TRPT_VR_ID),
		    trpt_view_text(r, i, TRPT_VR_REPORT_ID));
		trpt_html_raw(h, "</td><td class=\"n\">");
		trpt_html_count(h, trpt_view_int(r, i, TRPT_VR_SUCCESSFUL));
		trpt_html_rawf(h, "</td><td class=\"n%s\">",
		    trpt_view_int(r, i, TRPT_VR_FAILED) > 0 ? " bad" : "");
		trpt_html_count(h, trpt_view_int(r, i, TRPT_VR_FAILED));
		trpt_html_raw(h, "</td></tr>");
	}
	trpt_html_raw(h, "</table>");
	trpt_view_free(&r);
	return TRPT_OK;
}

/* A table of t's groups (first dim) with their figures and sparkline,
 * the most failed first; skip_empty leaves out the "" group. */
static int
groups_table(struct trpt_html *h, const struct trpt_dash *d,
    struct trpt_trend *t, const char *head, int kind, int skip_empty,
    struct trpt_err *err)
{
	size_t i, shown = 0;
	int rc;

	qsort(t->groups, t->ngroups, sizeof(*t->groups), cmp_failed);
	if (kind == 'm') /* failed sessions only: no share to show */
		trpt_html_rawf(h,
		    "<table><tr><th>%s</th><th class=\"n\">"
		    "Failed</th></tr>",
		    head);
	else
		table_head(h, head);
	for (i = 0; i < t->ngroups && shown < max_rows(d); i++) {
		const struct trpt_trend_group *g = &t->groups[i];

		if (skip_empty && g->key[0][0] == '\0')
			continue;
		shown++;
		trpt_html_raw(h, "<tr><td>");
		if (kind == 'o')
			link_sender(h, d, g->key[0]);
		else if (kind == 'd')
			link_domain(h, d, g->key[0]);
		else {
			trpt_html_raw(h, "<code>");
			trpt_html_text(h, g->key[0]);
			trpt_html_raw(h, "</code>");
		}
		trpt_html_raw(h, "</td>");
		if (kind == 'm') {
			trpt_html_raw(h, "<td class=\"n bad\">");
			trpt_html_count(h, g->failed);
			trpt_html_raw(h, "</td></tr>");
			continue;
		}
		figures(h, g->successful, g->failed);
		trpt_html_raw(h, "<td>");
		if ((rc = spark(h, t, g, err)) != TRPT_OK)
			return rc;
		trpt_html_raw(h, "</td></tr>");
	}
	if (shown == 0)
		trpt_html_raw(h, "<tr><td colspan=\"5\" class=\"muted\">"
				 "none</td></tr>");
	trpt_html_raw(h, "</table>");
	return TRPT_OK;
}

/* ---- a domain ---- */

int
trpt_dash_domain(const struct trpt_dash *d, const char *domain,
    struct trpt_html *h, struct trpt_err *err)
{
	struct trpt_trend *all = NULL, *types = NULL, *orgs = NULL, *mx = NULL;
	struct trpt_view_filter f = { d->since_day, d->until_day, domain, NULL,
		REASONS_SHOWN };
	struct trpt_view_rows *reasons = NULL;
	size_t i, n = 0;
	int rc;

	if ((rc = trend(d, "domain", domain, &all, err)) != TRPT_OK ||
	    (rc = trend(d, "type", domain, &types, err)) != TRPT_OK ||
	    (rc = trend(d, "org", domain, &orgs, err)) != TRPT_OK ||
	    (rc = trend(d, "mx", domain, &mx, err)) != TRPT_OK ||
	    (rc = trpt_view_reasons(d->db, &f, &reasons, err)) != TRPT_OK)
		goto out;
	trpt_html_raw(h, "<section id=\"d-");
	trpt_html_url(h, domain);
	trpt_html_raw(h, "\" class=\"domain\"><h1>");
	trpt_html_text(h, domain[0] != '\0' ? domain : "(no domain)");
	trpt_html_raw(h, "</h1>");
	trpt_dash_range_form(h, d, "/domain", "d", domain);
	trpt_html_raw(h, "<p>");
	if (all->ngroups > 0) {
		trpt_html_count(h, trpt_count_add(all->groups[0].successful,
				       all->groups[0].failed));
		trpt_html_raw(h, " sessions, ");
		trpt_html_count(h, all->groups[0].failed);
		trpt_html_raw(h, " failed, ");
		trpt_html_rate(
		    h, rate(all->groups[0].successful, all->groups[0].failed));
		trpt_html_raw(h, " encrypted successfully.");
	} else {
		trpt_html_raw(h, "No sessions in this range.");
	}
	if (!d->static_file) {
		trpt_html_raw(h, " CSV: <a href=\"/csv/daily?domain=");
		trpt_html_url(h, domain);
		range_query(h, d);
		trpt_html_raw(
		    h, "\">daily</a>, <a href=\"/csv/failures?domain=");
		trpt_html_url(h, domain);
		range_query(h, d);
		trpt_html_raw(h, "\">failure details</a>, <a href=\"/csv/"
				 "policies?domain=");
		trpt_html_url(h, domain);
		range_query(h, d);
		trpt_html_raw(h, "\">policies</a>");
	}
	trpt_html_raw(h, "</p>");
	for (i = 0; d->alerts != NULL && i < d->alerts->n; i++) {
		if (!alert_about_domain(&d->alerts->v[i], domain))
			continue;
		if (n++ == 0)
			trpt_html_raw(h, "<h2>Alerts</h2>");
		alert_block(h, d, &d->alerts->v[i]);
	}
	trpt_html_raw(h, "<h2>Encrypted share per day</h2>");
	if ((rc = share_chart(h, all, NULL, "share encrypted per day", err)) !=
	    TRPT_OK)
		goto out;
	trpt_html_raw(h, "<h2>Failed sessions per day, by result type</h2>");
	if ((rc = types_chart(h, types, "failed sessions by type", err)) !=
	    TRPT_OK)
		goto out;
	causes(h, types, reasons, 0);
	trpt_html_raw(h, "<h2>Senders</h2>");
	if ((rc = groups_table(h, d, orgs, "Sender", 'o', 0, err)) != TRPT_OK)
		goto out;
	trpt_html_raw(h, "<h2>MX hosts with failures</h2>");
	if ((rc = groups_table(h, d, mx, "MX host", 'm', 1, err)) != TRPT_OK)
		goto out;
	if ((rc = reports_table(h, d, domain, NULL, err)) != TRPT_OK)
		goto out;
	trpt_html_raw(h, "</section>");
out:
	trpt_view_free(&reasons);
	trpt_trend_free(&all);
	trpt_trend_free(&types);
	trpt_trend_free(&orgs);
	trpt_trend_free(&mx);
	return rc;
}

/* ---- a sender ---- */

int
trpt_dash_sender(const struct trpt_dash *d, const char *org,
    struct trpt_html *h, struct trpt_err *err)
{
	struct trpt_trend *orgs = NULL;
	struct trpt_trend_group *g = NULL;
	struct trpt_view_filter f = { d->since_day, d->until_day, NULL, org,
		REASONS_SHOWN };
	struct trpt_view_rows *reasons = NULL, *doms = NULL;
	size_t i, n = 0;
	int rc;

	if ((rc = trend(d, "org", NULL, &orgs, err)) != TRPT_OK ||
	    (rc = trpt_view_reasons(d->db, &f, &reasons, err)) != TRPT_OK)
		goto out;
	f.limit = max_rows(d);
	if ((rc = trpt_view_sender_domains(d->db, &f, &doms, err)) != TRPT_OK)
		goto out;
	for (i = 0; i < orgs->ngroups; i++)
		if (strcmp(orgs->groups[i].key[0], org) == 0)
			g = &orgs->groups[i];
	trpt_html_raw(h, "<section id=\"o-");
	trpt_html_url(h, org);
	trpt_html_raw(h, "\" class=\"sender\"><h1>Sender ");
	trpt_html_text(h, org);
	trpt_html_raw(h, "</h1>");
	trpt_dash_range_form(h, d, "/sender", "o", org);
	trpt_html_raw(h, "<p>");
	if (g != NULL) {
		trpt_html_count(h, trpt_count_add(g->successful, g->failed));
		trpt_html_raw(h, " sessions reported, ");
		trpt_html_count(h, g->failed);
		trpt_html_raw(h, " failed, ");
		trpt_html_rate(h, rate(g->successful, g->failed));
		trpt_html_raw(h, " successful.");
	} else {
		trpt_html_raw(h, "No sessions in this range.");
	}
	trpt_html_raw(h, "</p>");
	for (i = 0; d->alerts != NULL && i < d->alerts->n; i++) {
		const struct trpt_alert *al = &d->alerts->v[i];

		if (!al->sender || strcmp(al->subject, org) != 0)
			continue;
		if (n++ == 0)
			trpt_html_raw(h, "<h2>Alerts</h2>");
		alert_block(h, d, al);
	}
	trpt_html_raw(h, "<h2>Encrypted share per day</h2>");
	if (g != NULL &&
	    (rc = share_chart(h, orgs, g, "share per day", err)) != TRPT_OK)
		goto out;
	trpt_html_raw(h, "<h2>What the sender said about its failures</h2>");
	if (reasons->nrows == 0)
		trpt_html_raw(h, "<p class=\"ok\">No failure details in this "
				 "range.</p>");
	for (i = 0; i < reasons->nrows; i++) {
		const char *type = trpt_view_text(reasons, i, 0);
		size_t j;
		int seen = 0;

		for (j = 0; j < i; j++)
			if (strcmp(trpt_view_text(reasons, j, 0), type) == 0)
				seen = 1;
		if (seen)
			continue;
		trpt_html_raw(h, "<h3><code>");
		trpt_html_text(h, type);
		trpt_html_raw(h, "</code>: ");
		trpt_html_text(h, trpt_causes_lookup(type)->title);
		trpt_html_raw(h, "</h3>");
		reason_rows(h, reasons, type, 1);
	}
	trpt_html_raw(h, "<h2>Domains with failed sessions</h2><table><tr>"
			 "<th>Domain</th><th class=\"n\">Failed</th>"
			 "<th class=\"n\">Sessions</th><th class=\"n\">Share"
			 "</th></tr>");
	for (i = 0; i < doms->nrows; i++) {
		trpt_html_raw(h, "<tr><td>");
		link_domain(h, d, trpt_view_text(doms, i, 0));
		trpt_html_raw(h, "</td>");
		figures(
		    h, trpt_view_int(doms, i, 1), trpt_view_int(doms, i, 2));
		trpt_html_raw(h, "</tr>");
	}
	if (doms->nrows == 0)
		trpt_html_raw(h, "<tr><td colspan=\"4\" class=\"muted\">"
				 "none</td></tr>");
	trpt_html_raw(h, "</table>");
	if ((rc = reports_table(h, d, NULL, org, err)) != TRPT_OK)
		goto out;
	trpt_html_raw(h, "</section>");
out:
	trpt_view_free(&reasons);
	trpt_view_free(&doms);
	trpt_trend_free(&orgs);
	return rc;
}

/* ---- a report ---- */

static void
kv(struct trpt_html *h, const char *key, const char *value)
{
	trpt_html_raw(h, "<tr><th>");
	trpt_html_raw(h, key);
	trpt_html_raw(h, "</th><td>");
	trpt_html_text(h, value);
	trpt_html_raw(h, "</td></tr>");
}

static void
kv_ts(struct trpt_html *h, const char *key, int64_t ts)
{
	trpt_html_raw(h, "<tr><th>");
	trpt_html_raw(h, key);
	trpt_html_raw(h, "</th><td>");
	ts_cell(h, ts);
	trpt_html_raw(h, "</td></tr>");
}

/* A JSON array of strings as stored (policy strings, MX hosts): shown as
 * it is, escaped, one per line once the brackets are gone is not worth a
 * parser here: the stored text is what the sender sent, re-encoded. */
static void
json_cell(
    struct trpt_html *h, const struct trpt_view_rows *r, size_t i, size_t c)
{
	if (trpt_view_null(r, i, c)) {
		trpt_html_raw(h, "<span class=\"muted\">(absent)</span>");
		return;
	}
	trpt_html_raw(h, "<code>");
	trpt_html_text(h, trpt_view_text(r, i, c));
	trpt_html_raw(h, "</code>");
}

/* The DKIM verdict on the mail the report came in (RFC 8460 section 3). */
static void
dkim_row(struct trpt_html *h, const struct trpt_view_rows *r)
{
	const char *v = trpt_view_text(r, 0, TRPT_VR_DKIM);

	trpt_html_raw(h, "<tr><th>DKIM</th><td>");
	if (trpt_view_null(r, 0, TRPT_VR_DKIM)) {
		trpt_html_raw(h, "<span class=\"muted\">not verified (not a "
				 "mail, or [dkim] require = no)</span>");
	} else {
		trpt_html_raw(h, strcmp(v, "pass") == 0
				     ? "<strong class=\"ok\">"
				     : "<strong class=\"bad\">");
		trpt_html_text(h, v);
		trpt_html_raw(h, "</strong>");
		if (!trpt_view_null(r, 0, TRPT_VR_DKIM_DOMAIN)) {
			trpt_html_raw(h, " d=");
			trpt_html_text(
			    h, trpt_view_text(r, 0, TRPT_VR_DKIM_DOMAIN));
		}
		if (!trpt_view_null(r, 0, TRPT_VR_DKIM_SELECTOR)) {
			trpt_html_raw(h, " s=");
			trpt_html_text(
			    h, trpt_view_text(r, 0, TRPT_VR_DKIM_SELECTOR));
		}
		if (!trpt_view_null(r, 0, TRPT_VR_DKIM_ALIGNED)) {
			trpt_html_raw(h, ", aligned with the sender: ");
			trpt_html_text(
			    h, trpt_view_text(r, 0, TRPT_VR_DKIM_ALIGNED));
		}
		if (!trpt_view_null(r, 0, TRPT_VR_DKIM_REASON)) {
			trpt_html_raw(h, " (");
			trpt_html_text(
			    h, trpt_view_text(r, 0, TRPT_VR_DKIM_REASON));
			trpt_html_raw(h, ")");
		}
	}
	if (trpt_view_int(r, 0, TRPT_VR_DKIM_ACCEPTED) != 0)
		trpt_html_raw(h, "; released by an operator");
	trpt_html_raw(h, "</td></tr>");
}

/* Text that is shown as is: no NUL and not gzip. */
static int
is_text(const char *p, size_t n)
{
	if (n >= 2 && (unsigned char)p[0] == 0x1f &&
	    (unsigned char)p[1] == 0x8b)
		return 0;
	return memchr(p, '\0', n) == NULL;
}

int
trpt_dash_report(const struct trpt_dash *d, int64_t id, const char *decoded,
    struct trpt_html *h, struct trpt_err *err)
{
	struct trpt_view_rows *r = NULL, *pol = NULL, *fl = NULL, *w = NULL;
	const char *bytes;
	size_t i, blen;
	int64_t size;
	int rc;

	if ((rc = trpt_view_report(d->db, id, &r, err)) != TRPT_OK ||
	    (rc = trpt_view_policies(d->db, id, &pol, err)) != TRPT_OK ||
	    (rc = trpt_view_failures(d->db, id, FAILURES_SHOWN, &fl, err)) !=
		TRPT_OK ||
	    (rc = trpt_view_warnings(d->db, id, &w, err)) != TRPT_OK)
		goto out;
	trpt_html_raw(h, "<section class=\"report\"><h1>Report ");
	trpt_html_text(h, trpt_view_text(r, 0, TRPT_VR_REPORT_ID));
	trpt_html_raw(h, "</h1><table class=\"kv\">");
	trpt_html_raw(h, "<tr><th>Sender</th><td>");
	link_sender(h, d, trpt_view_text(r, 0, TRPT_VR_ORG));
	trpt_html_raw(h, "</td></tr>");
	kv(h, "Contact", trpt_view_text(r, 0, TRPT_VR_CONTACT));
	kv_ts(h, "Begins", trpt_view_int(r, 0, TRPT_VR_BEGIN));
	kv_ts(h, "Ends", trpt_view_int(r, 0, TRPT_VR_END));
	trpt_html_raw(h, "<tr><th>Sessions</th><td>");
	trpt_html_count(h, trpt_view_int(r, 0, TRPT_VR_SUCCESSFUL));
	trpt_html_raw(h, " successful, ");
	trpt_html_count(h, trpt_view_int(r, 0, TRPT_VR_FAILED));
	trpt_html_raw(h, " failed</td></tr>");
	dkim_row(h, r);
	trpt_html_raw(h, "</table><h2>Policies</h2><table><tr><th>#</th>"
			 "<th>Type</th><th>Domain</th><th>Policy</th>"
			 "<th>MX hosts</th><th class=\"n\">Successful</th>"
			 "<th class=\"n\">Failed</th><th class=\"n\">In "
			 "details</th></tr>");
	for (i = 0; i < pol->nrows; i++) {
		trpt_html_rawf(h, "<tr><td>%" PRId64 "</td><td>",
		    trpt_view_int(pol, i, 0));
		trpt_html_text(h, trpt_view_text(pol, i, 1));
		trpt_html_raw(h, "</td><td>");
		link_domain(h, d, trpt_view_text(pol, i, 2));
		trpt_html_raw(h, "</td><td>");
		json_cell(h, pol, i, 3);
		trpt_html_raw(h, "</td><td>");
		json_cell(h, pol, i, 4);
		trpt_html_raw(h, "</td><td class=\"n\">");
		trpt_html_count(h, trpt_view_int(pol, i, 5));
		trpt_html_rawf(h, "</td><td class=\"n%s\">",
		    trpt_view_int(pol, i, 6) > 0 ? " bad" : "");
		trpt_html_count(h, trpt_view_int(pol, i, 6));
		trpt_html_raw(h, "</td><td class=\"n\">");
		trpt_html_count(h, trpt_view_int(pol, i, 7));
		trpt_html_raw(h, "</td></tr>");
	}
	trpt_html_raw(h, "</table><h2>Failure details</h2>");
	if (fl->nrows == 0)
		trpt_html_raw(h, "<p>None.</p>");
	else
		trpt_html_raw(h, "<table><tr><th>Policy</th><th>Result type"
				 "</th><th>Sending MTA</th><th>Receiving MX"
				 "</th><th>HELO</th><th>Receiving IP</th>"
				 "<th class=\"n\">Failed</th><th>Reason code"
				 "</th><th>Additional information</th></tr>");
	for (i = 0; i < fl->nrows; i++) {
		size_t c;

		trpt_html_rawf(
		    h, "<tr><td>%" PRId64 "</td>", trpt_view_int(fl, i, 0));
		for (c = 1; c <= 5; c++) {
			trpt_html_raw(h, "<td><code>");
			trpt_html_text(h, trpt_view_text(fl, i, c));
			trpt_html_raw(h, "</code></td>");
		}
		trpt_html_raw(h, "<td class=\"n bad\">");
		trpt_html_count(h, trpt_view_int(fl, i, 6));
		trpt_html_raw(h, "</td><td><code>");
		trpt_html_text(h, trpt_view_text(fl, i, 7));
		trpt_html_raw(h, "</code></td><td>");
		trpt_html_text(h, trpt_view_text(fl, i, 8));
		trpt_html_raw(h, "</td></tr>");
	}
	if (fl->nrows > 0)
		trpt_html_raw(h, "</table>");
	if (fl->nrows == FAILURES_SHOWN)
		trpt_html_rawf(h,
		    "<p class=\"muted\">The first %d failure "
		    "details are shown.</p>",
		    FAILURES_SHOWN);
	trpt_html_raw(h, "<h2>Warnings</h2>");
	if (w->nrows == 0)
		trpt_html_raw(h, "<p>None: the report followed RFC 8460.</p>");
	else
		trpt_html_raw(h, "<ul>");
	for (i = 0; i < w->nrows; i++) {
		trpt_html_raw(h, "<li>");
		trpt_html_text(h, trpt_view_text(w, i, 0));
		trpt_html_raw(h, "</li>");
	}
	if (w->nrows > 0)
		trpt_html_raw(h, "</ul>");
	trpt_html_raw(h, "<h2>Provenance</h2><table class=\"kv\">");
	kv(h, "Source", trpt_view_text(r, 0, TRPT_VR_SOURCE_KIND));
	kv(h, "From", trpt_view_text(r, 0, TRPT_VR_SOURCE));
	kv(h, "Message-ID", trpt_view_text(r, 0, TRPT_VR_MESSAGE_ID));
	kv(h, "TLS-Report-Domain", trpt_view_text(r, 0, TRPT_VR_REPORT_DOMAIN));
	kv(h, "TLS-Report-Submitter", trpt_view_text(r, 0, TRPT_VR_SUBMITTER));
	if (!trpt_view_null(r, 0, TRPT_VR_CLIENT))
		kv(h, "Client", trpt_view_text(r, 0, TRPT_VR_CLIENT));
	kv_ts(h, "Received", trpt_view_int(r, 0, TRPT_VR_RAW_RECEIVED));
	kv_ts(h, "Last seen", trpt_view_int(r, 0, TRPT_VR_LAST_SEEN));
	trpt_html_rawf(h,
	    "<tr><th>Times received</th><td>%" PRId64 "</td></tr>",
	    trpt_view_int(r, 0, TRPT_VR_SEEN));
	trpt_html_rawf(h, "<tr><th>Part</th><td>%" PRId64 "</td></tr>",
	    trpt_view_int(r, 0, TRPT_VR_PART));
	kv(h, "SHA-256", trpt_view_text(r, 0, TRPT_VR_SHA256));
	size = trpt_view_int(r, 0, TRPT_VR_SIZE);
	trpt_html_raw(h, "<tr><th>Size</th><td>");
	trpt_html_count(h, size);
	trpt_html_raw(h, " bytes</td></tr></table>");
	bytes = trpt_view_text(r, 0, TRPT_VR_BYTES);
	blen = r->len[TRPT_VR_BYTES];
	trpt_html_raw(h, "<h2>Raw input</h2>");
	if (!d->static_file)
		trpt_html_rawf(h,
		    "<p><a href=\"/raw?id=%" PRId64
		    "\">Download the bytes as received</a></p>",
		    id);
	if (decoded != NULL) {
		trpt_html_raw(h, "<p class=\"muted\">gzip, inflated:</p><pre>");
		trpt_html_text(h, decoded);
		trpt_html_raw(h, "</pre>");
	} else if (is_text(bytes, blen)) {
		trpt_html_raw(h, "<pre>");
		trpt_html_textn(h, bytes, blen);
		trpt_html_raw(h, "</pre>");
		if ((int64_t)blen < size)
			trpt_html_raw(h, "<p class=\"muted\">(cut short)</p>");
	} else {
		trpt_html_raw(h, "<p class=\"muted\">Binary input (gzip).</p>");
	}
	trpt_html_raw(h, "</section>");
out:
	trpt_view_free(&r);
	trpt_view_free(&pol);
	trpt_view_free(&fl);
	trpt_view_free(&w);
	return rc;
}

/* ---- the quarantine ---- */

int
trpt_dash_quarantine(
    const struct trpt_dash *d, struct trpt_html *h, struct trpt_err *err)
{
	struct trpt_view_rows *q = NULL;
	int64_t count = 0;
	size_t i;
	int rc;

	if ((rc = trpt_view_quarantine_count(d->db, &count, err)) != TRPT_OK ||
	    (rc = trpt_view_quarantine(d->db, max_rows(d), &q, err)) != TRPT_OK)
		goto out;
	trpt_html_raw(h, "<section id=\"quarantine\"><h1>Quarantine</h1><p>");
	trpt_html_count(h, count);
	trpt_html_raw(h, " rejected inputs, kept with their bytes; "
			 "<code>tlsrpt-collector reprocess</code> runs them "
			 "again.</p>");
	trpt_html_raw(h, "<table><tr><th>Last seen</th><th>Reason</th>"
			 "<th>Source</th><th>From</th><th>File name</th>"
			 "<th>TLS-Report-Domain</th><th class=\"n\">Bytes</th>"
			 "<th class=\"n\">Times</th></tr>");
	for (i = 0; i < q->nrows; i++) {
		trpt_html_raw(h, "<tr><td>");
		ts_cell(h, trpt_view_int(q, i, 7));
		trpt_html_raw(h, "</td><td class=\"bad\">");
		trpt_html_text(h, trpt_view_text(q, i, 1));
		trpt_html_raw(h, "</td><td>");
		trpt_html_text(h, trpt_view_text(q, i, 2));
		trpt_html_raw(h, "</td><td><code>");
		trpt_html_text(h, trpt_view_text(q, i, 3));
		if (trpt_view_int(q, i, 10) > 0)
			trpt_html_rawf(
			    h, " part %" PRId64, trpt_view_int(q, i, 10));
		trpt_html_raw(h, "</code></td><td><code>");
		trpt_html_text(h, trpt_view_text(q, i, 8));
		trpt_html_raw(h, "</code></td><td>");
		trpt_html_text(h, trpt_view_text(q, i, 9));
		trpt_html_raw(h, "</td><td class=\"n\">");
		trpt_html_count(h, trpt_view_int(q, i, 4));
		trpt_html_raw(h, "</td><td class=\"n\">");
		trpt_html_count(h, trpt_view_int(q, i, 5));
		trpt_html_raw(h, "</td></tr>");
	}
	trpt_html_raw(h, "</table>");
	if ((int64_t)q->nrows < count)
		trpt_html_rawf(h,
		    "<p class=\"muted\">The latest %zu are "
		    "shown.</p>",
		    q->nrows);
	trpt_html_raw(h, "</section>");
out:
	trpt_view_free(&q);
	return rc;
}

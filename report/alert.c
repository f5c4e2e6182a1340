#include "report/alert.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/calendar.h"
#include "common/datetime.h"
#include "common/limits.h"
#include "common/text.h"
#include "report/causes.h"
#include "schema/analysis.h"
#include "schema/livecheck.h"

void
trpt_alert_config_init(struct trpt_alert_config *c)
{
	c->drop_threshold = 0.05;
	c->min_sessions = 50;
	c->baseline_days = 14;
	c->min_history_days = 7;
	c->recent_days = 7;
	c->silence_min_days = 3;
	c->silence_min_reports = 5;
	c->collection_days = 0;
}

const char *
trpt_alert_kind_name(enum trpt_alert_kind k)
{
	static const char *const names[] = { "drop", "recovery", "new-type",
		"silent", "testing", "collection" };

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

struct day {
	int64_t day, s, f;
	int in_drop;
};

struct ctx {
	struct trpt_db *db;
	const struct trpt_alert_config *c;
	struct trpt_alerts *a;
	int64_t since, today;
	struct trpt_err *err;
	struct day *days;
	size_t ndays, capdays;
};

static void
items_free(struct trpt_alert_items *it)
{
	size_t i;

	for (i = 0; i < it->n; i++)
		free(it->v[i].name);
	free(it->v);
	it->v = NULL;
	it->n = 0;
}

static void
alert_clear(struct trpt_alert *al)
{
	free(al->subject);
	free(al->type);
	items_free(&al->types);
	items_free(&al->mx);
	items_free(&al->ips);
	items_free(&al->others);
	while (al->nlive > 0)
		free(al->live[--al->nlive]);
	free(al->live);
}

void
trpt_alert_free(struct trpt_alerts **ap)
{
	struct trpt_alerts *a = *ap;
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n; i++)
		alert_clear(&a->v[i]);
	free(a->v);
	free(a);
	*ap = NULL;
}

size_t
trpt_alert_open_count(const struct trpt_alerts *a)
{
	size_t i, n = 0;

	for (i = 0; i < a->n; i++)
		n += a->v[i].open != 0;
	return n;
}

/* Evidence: the result types, MX hosts, sending IPs and the other
 * side (the senders of a domain, the domains of a sender) with the most
 * failed sessions, from one read of the subject's failures. */
static int
add_item(
    void *arg, enum trpt_analysis_col by, const struct trpt_analysis_sum *s)
{
	struct trpt_alert *al = arg;
	struct trpt_alert_items *it;

	switch (by) {
	case TRPT_ANALYSIS_TYPE:
		it = &al->types;
		break;
	case TRPT_ANALYSIS_MX:
		it = &al->mx;
		break;
	case TRPT_ANALYSIS_IP:
		it = &al->ips;
		break;
	default: /* ORG of a domain, DOMAIN of a sender */
		it = &al->others;
		break;
	}
	if (it->n == TRPT_ALERT_TOP)
		return TRPT_OK;
	if ((it->v[it->n].name = strdup(s->name)) == NULL)
		return TRPT_ENOMEM;
	it->v[it->n++].failed = s->failed;
	return TRPT_OK;
}

static int
load_items(struct ctx *x, struct trpt_alert *al, struct trpt_err *err)
{
	struct trpt_alert_items *its[4] = { &al->types, &al->mx, &al->ips,
		&al->others };
	struct trpt_analysis_top_query q;
	size_t i;
	int rc;

	for (i = 0; i < 4; i++)
		if ((its[i]->v = calloc(TRPT_ALERT_TOP, sizeof(*its[i]->v))) ==
		    NULL)
			return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	memset(&q, 0, sizeof(q));
	q.subject_col = al->sender ? TRPT_ANALYSIS_ORG : TRPT_ANALYSIS_DOMAIN;
	q.subject = al->subject;
	q.type = al->type;
	q.first_day = al->first_day;
	q.last_day = al->last_day;
	q.max = TRPT_ALERT_TOP;
	rc = trpt_analysis_evidence(x->db, &q, add_item, al, err);
	if (rc == TRPT_ENOMEM)
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	else if (rc != TRPT_OK)
		trpt_err_prefix(err, "alerts: reading evidence");
	return rc;
}

#define LIVE_MAX 10 /* live-check lines kept per alert */

static int
live_row(void *arg, const struct trpt_livecheck_row *r)
{
	struct trpt_alert *al = arg;
	char when[32], *line;
	int n;

	if (al->nlive == LIVE_MAX)
		return TRPT_OK;
	trpt_datetime_format(r->checked_at, when, sizeof(when));
	when[10] = ' ';
	when[16] = '\0'; /* "YYYY-MM-DD HH:MM" */
	n = snprintf(NULL, 0, "%s: %s: %s, live check at %s UTC",
	    r->mx[0] != '\0' ? r->mx : r->domain, r->result_type, r->detail,
	    when);
	if (n < 0 || (line = malloc((size_t)n + 1)) == NULL)
		return TRPT_ENOMEM;
	snprintf(line, (size_t)n + 1, "%s: %s: %s, live check at %s UTC",
	    r->mx[0] != '\0' ? r->mx : r->domain, r->result_type, r->detail,
	    when);
	al->live[al->nlive++] = line;
	if (strcmp(r->result_type, "ok") != 0)
		al->live_ok = 0;
	return TRPT_OK;
}

/* The live-check evidence of the alert's domain, or its sender's. */
static int
load_live(struct ctx *x, struct trpt_alert *al, struct trpt_err *err)
{
	size_t i;
	int rc = TRPT_OK;

	if ((al->live = calloc(LIVE_MAX, sizeof(*al->live))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	al->live_ok = 1;
	if (!al->sender)
		rc = trpt_livecheck_latest(x->db, al->subject,
		    al->first_day * 86400, LIVE_MAX, live_row, al, err);
	for (i = 0; rc == TRPT_OK && al->sender && i < al->others.n; i++)
		rc = trpt_livecheck_latest(x->db, al->others.v[i].name,
		    al->first_day * 86400, LIVE_MAX, live_row, al, err);
	if (rc == TRPT_ENOMEM && err != NULL && err->code != TRPT_ENOMEM)
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	if (al->nlive == 0)
		al->live_ok = 0;
	return rc;
}

static int
add_alert(struct ctx *x, const struct trpt_alert *tmpl, struct trpt_err *err)
{
	struct trpt_alerts *a = x->a;
	struct trpt_alert *al, *nv;
	size_t ncap;
	int rc;

	if (a->n == a->cap) {
		ncap = a->cap == 0 ? 16 : a->cap * 2;
		nv = realloc(a->v, ncap * sizeof(*nv));
		if (nv == NULL)
			return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		a->v = nv;
		a->cap = ncap;
	}
	al = &a->v[a->n];
	*al = *tmpl;
	al->subject = strdup(tmpl->subject);
	al->type = tmpl->type != NULL ? strdup(tmpl->type) : NULL;
	memset(&al->types, 0, sizeof(al->types));
	memset(&al->mx, 0, sizeof(al->mx));
	memset(&al->ips, 0, sizeof(al->ips));
	memset(&al->others, 0, sizeof(al->others));
	al->live = NULL;
	al->nlive = 0;
	a->n++;
	if (al->subject == NULL || (tmpl->type != NULL && al->type == NULL))
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	if ((rc = load_items(x, al, err)) != TRPT_OK ||
	    (rc = load_live(x, al, err)) != TRPT_OK)
		return rc;
	return TRPT_OK;
}

static double
rate(int64_t s, int64_t f)
{
	return s > 0 || f > 0 ? (double)s / ((double)s + (double)f) : -1.0;
}

/*
 * Drops and recoveries in one entity's daily series x->days (sorted).
 */
static int
scan_series(
    struct ctx *x, const char *subject, int sender, struct trpt_err *err)
{
	const struct trpt_alert_config *c = x->c;
	struct trpt_alert al;
	struct day *d;
	int64_t bs, bf, ds = 0, dfl = 0, first = 0, last = 0, base_n = 0;
	double base = -1, r;
	size_t i, j;
	int in_drop = 0, ndays, rc;

	for (i = 0; i < x->ndays; i++) {
		d = &x->days[i];
		if (d->day > x->today)
			break;
		d->in_drop = 0;
		r = rate(d->s, d->f);
		if (!in_drop) {
			bs = bf = 0;
			ndays = 0;
			for (j = i; j-- > 0 && x->days[j].day >=
						   d->day - c->baseline_days;) {
				if (x->days[j].in_drop)
					continue;
				bs = trpt_count_add(bs, x->days[j].s);
				bf = trpt_count_add(bf, x->days[j].f);
				ndays++;
			}
			if (trpt_count_add(d->s, d->f) < c->min_sessions ||
			    ndays < 3 ||
			    trpt_count_add(bs, bf) < c->min_sessions)
				continue;
			base = rate(bs, bf);
			if (base - r < c->drop_threshold)
				continue;
			in_drop = 1;
			first = last = d->day;
			ds = d->s;
			dfl = d->f;
			base_n = trpt_count_add(bs, bf);
			d->in_drop = 1;
			continue;
		}
		d->in_drop = 1;
		if (trpt_count_add(d->s, d->f) < c->min_sessions)
			continue; /* too few to judge: stays in the drop */
		if (base - r >= c->drop_threshold / 2) {
			last = d->day;
			ds = trpt_count_add(ds, d->s);
			dfl = trpt_count_add(dfl, d->f);
			continue;
		}
		/* Recovered. */
		d->in_drop = 0;
		in_drop = 0;
		if (d->day < x->since)
			continue;
		memset(&al, 0, sizeof(al));
		al.kind = TRPT_ALERT_DROP;
		al.sender = sender;
		al.subject = (char *)subject;
		al.first_day = first;
		al.last_day = last;
		al.rate_before = base;
		al.rate_after = rate(ds, dfl);
		al.sessions_before = base_n;
		al.sessions_after = ds + dfl;
		al.failed_after = dfl;
		if (last >= x->since &&
		    (rc = add_alert(x, &al, err)) != TRPT_OK)
			return rc;
		al.kind = TRPT_ALERT_RECOVERY;
		al.first_day = first;
		al.last_day = d->day;
		al.rate_before = rate(ds, dfl);
		al.rate_after = r;
		al.sessions_before = ds + dfl;
		al.sessions_after = trpt_count_add(d->s, d->f);
		al.failed_after = d->f;
		if ((rc = add_alert(x, &al, err)) != TRPT_OK)
			return rc;
	}
	if (in_drop) {
		int64_t seen = last;

		/* The last day with data: when it is older than
		 * recent_days, the drop is over for want of data. */
		for (i = 0; i < x->ndays && x->days[i].day <= x->today; i++)
			seen = x->days[i].day;
		memset(&al, 0, sizeof(al));
		al.kind = TRPT_ALERT_DROP;
		al.open = seen > x->today - c->recent_days;
		al.stale = !al.open;
		al.sender = sender;
		al.subject = (char *)subject;
		al.first_day = first;
		al.last_day = last;
		al.rate_before = base;
		al.rate_after = rate(ds, dfl);
		al.sessions_before = base_n;
		al.sessions_after = ds + dfl;
		al.failed_after = dfl;
		if ((rc = add_alert(x, &al, err)) != TRPT_OK)
			return rc;
	}
	return TRPT_OK;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* A sender that stopped reporting, judged against its own gaps. */
static int
check_silence(struct ctx *x, const char *org, struct trpt_err *err)
{
	const struct trpt_alert_config *c = x->c;
	struct trpt_alert al;
	int64_t *gaps, median, p90, limit, last;
	size_t i, n = 0, ng;

	for (i = 0; i < x->ndays && x->days[i].day <= x->today; i++)
		n++;
	/* Gaps need two report days at least, whatever the setting: with
	 * silence_min_reports 0 or 1 this read days[-1] and gaps[0] of an
	 * empty array (issue 9 item 14). */
	if ((int64_t)n < c->silence_min_reports || n < 2)
		return TRPT_OK;
	last = x->days[n - 1].day;
	if (x->today - last > 90)
		return TRPT_OK; /* long gone: not news any more */
	ng = n - 1;
	if ((gaps = malloc(ng * sizeof(*gaps))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	for (i = 0; i < ng; i++)
		gaps[i] = x->days[i + 1].day - x->days[i].day;
	qsort(gaps, ng, sizeof(*gaps), cmp_i64);
	median = gaps[ng / 2];
	p90 = gaps[(ng * 9) / 10 < ng ? (ng * 9) / 10 : ng - 1];
	free(gaps);
	limit = c->silence_min_days;
	if (2 * median + 1 > limit)
		limit = 2 * median + 1;
	if (p90 + 2 > limit)
		limit = p90 + 2;
	if (x->today - last <= limit)
		return TRPT_OK;
	memset(&al, 0, sizeof(al));
	al.kind = TRPT_ALERT_SILENT;
	al.open = 1;
	al.sender = 1;
	al.subject = (char *)org;
	al.first_day = last + 1;
	al.last_day = x->today;
	al.rate_before = al.rate_after = -1;
	al.sessions_before = (int64_t)n;
	al.gap_days = median;
	al.limit_days = limit;
	return add_alert(x, &al, err);
}

static int
push_day(struct ctx *x, int64_t day, int64_t s, int64_t f, struct trpt_err *err)
{
	struct day *nd;
	size_t ncap;

	if (x->ndays == x->capdays) {
		ncap = x->capdays == 0 ? 512 : x->capdays * 2;
		nd = realloc(x->days, ncap * sizeof(*nd));
		if (nd == NULL)
			return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		x->days = nd;
		x->capdays = ncap;
	}
	x->days[x->ndays].day = day;
	x->days[x->ndays].s = s;
	x->days[x->ndays].f = f;
	x->days[x->ndays].in_drop = 0;
	x->ndays++;
	return TRPT_OK;
}

struct series {
	struct ctx *x;
	int sender;
	char *cur; /* the entity whose days are in x->days */
	struct trpt_err *err;
};

/* The days of one entity are complete: judge them. */
static int
series_end(struct series *sr)
{
	int rc;

	rc = scan_series(sr->x, sr->cur, sr->sender, sr->err);
	if (rc == TRPT_OK && sr->sender)
		rc = check_silence(sr->x, sr->cur, sr->err);
	free(sr->cur);
	sr->cur = NULL;
	sr->x->ndays = 0;
	return rc;
}

static int
series_day(void *arg, const struct trpt_analysis_sum *d)
{
	struct series *sr = arg;
	int rc;

	if (sr->cur != NULL && strcmp(d->name, sr->cur) != 0 &&
	    (rc = series_end(sr)) != TRPT_OK)
		return rc;
	if (sr->cur == NULL && (sr->cur = strdup(d->name)) == NULL)
		return trpt_err_set(sr->err, TRPT_ENOMEM, "out of memory");
	return push_day(sr->x, d->first_day, d->successful, d->failed, sr->err);
}

/* Walks the daily series of every sender (or domain) in (entity, day)
 * order. */
static int
scan_table(struct ctx *x, int sender, struct trpt_err *err)
{
	struct series sr = { x, sender, NULL, err };
	int rc;

	x->ndays = 0;
	/*
	 * A domain's drop begins on a day of at least min_sessions
	 * sessions whose rate is drop_threshold below its baseline, which
	 * is at most 100%: a day with at least that share failed.  The
	 * domains without such a day cannot alert (a domain's series only
	 * yields drops and recoveries), so only the others are read: on a
	 * year of 1,000 domains a handful of series instead of 369,000
	 * days.  The share is indexed from 1% up (the lowest threshold the
	 * configuration takes); a setting outside what the index answers
	 * reads every series.  The margin covers rounding.
	 */
	if (!sender && x->c->drop_threshold >= 0.01 && x->c->min_sessions >= 1)
		rc = trpt_analysis_daily_series_failing(x->db,
		    x->c->drop_threshold - 1e-9, x->c->min_sessions, series_day,
		    &sr, err);
	else
		rc = trpt_analysis_daily_series(x->db,
		    sender ? TRPT_ANALYSIS_ORG : TRPT_ANALYSIS_DOMAIN,
		    series_day, &sr, err);
	if (rc == TRPT_OK && sr.cur != NULL)
		rc = series_end(&sr);
	free(sr.cur);
	return rc;
}

static int
new_type(void *arg, const struct trpt_analysis_sum *s)
{
	struct ctx *x = arg;
	struct trpt_alert al;

	/* The domain's first day of data must lie min_history_days before
	 * the type's first day. */
	if (s->first_day - s->history_day < x->c->min_history_days)
		return TRPT_OK;
	memset(&al, 0, sizeof(al));
	al.kind = TRPT_ALERT_NEW_TYPE;
	al.subject = (char *)s->name;
	al.type = (char *)s->type;
	al.first_day = s->first_day;
	al.last_day = s->last_day;
	al.failed_after = s->failed;
	al.rate_before = al.rate_after = -1;
	al.open = al.last_day > x->today - x->c->recent_days;
	return add_alert(x, &al, x->err);
}

static int
scan_new_types(struct ctx *x, struct trpt_err *err)
{
	return trpt_analysis_new_failure_types(x->db, x->since, x->today,
	    x->c->min_history_days, new_type, x, err);
}

static int
testing(void *arg, const struct trpt_analysis_sum *s)
{
	struct ctx *x = arg;
	struct trpt_alert al;

	memset(&al, 0, sizeof(al));
	al.kind = TRPT_ALERT_TESTING;
	al.subject = (char *)s->name;
	al.first_day = s->first_day;
	al.last_day = s->last_day;
	al.sessions_after = trpt_count_add(s->successful, s->failed);
	al.failed_after = s->failed;
	al.rate_before = -1;
	al.rate_after = rate(s->successful, al.failed_after);
	al.open = al.last_day > x->today - x->c->recent_days;
	return add_alert(x, &al, x->err);
}

static int
scan_testing(struct ctx *x, struct trpt_err *err)
{
	return trpt_analysis_testing_failures(
	    x->db, x->since, x->today, testing, x, err);
}

static int
cmp_alerts(const void *p, const void *q)
{
	const struct trpt_alert *a = p, *b = q;
	int c;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->sender != b->sender)
		return a->sender > b->sender ? -1 : 1;
	if ((c = strcmp(a->subject, b->subject)) != 0)
		return c;
	if (a->first_day != b->first_day)
		return a->first_day < b->first_day ? -1 : 1;
	if (a->type != NULL && b->type != NULL)
		return strcmp(a->type, b->type);
	return 0;
}

/* No report at all received for more than collection_days days. */
static int
scan_collection(struct ctx *x, struct trpt_err *err)
{
	struct trpt_alert al;
	int64_t last, at = 0;
	int found = 0, rc;

	if (x->c->collection_days <= 0)
		return TRPT_OK;
	/* Quiet when a report came on one of the last collection_days days
	 * (or later): the newest reports answer that at once.  Otherwise
	 * the last one received, from all of them. */
	if ((rc = trpt_analysis_received_since(x->db,
		 (x->today - x->c->collection_days) * 86400, &found, err)) ==
		TRPT_OK &&
	    found)
		return TRPT_OK;
	if (rc != TRPT_OK || (rc = trpt_analysis_last_received(
				  x->db, &found, &at, err)) != TRPT_OK) {
		trpt_err_prefix(
		    err, "alerts: reading the last report received");
		return rc;
	}
	/* Nothing ever received is a new installation, not a break. */
	if (!found)
		return TRPT_OK;
	last = trpt_calendar_day(at);
	if (x->today - last <= x->c->collection_days)
		return TRPT_OK;
	memset(&al, 0, sizeof(al));
	al.kind = TRPT_ALERT_COLLECTION;
	al.open = 1;
	al.subject = (char *)"";
	al.first_day = last + 1;
	al.last_day = x->today;
	al.rate_before = al.rate_after = -1;
	al.gap_days = x->today - last;
	al.limit_days = x->c->collection_days;
	return add_alert(x, &al, err);
}

int
trpt_alert_detect(struct trpt_db *db, const struct trpt_alert_config *c,
    int64_t since_day, int64_t today, struct trpt_alerts **out,
    struct trpt_err *err)
{
	struct ctx x;
	int rc;

	memset(&x, 0, sizeof(x));
	x.db = db;
	x.err = err;
	x.c = c;
	x.since = since_day;
	x.today = today;
	if ((x.a = calloc(1, sizeof(*x.a))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	x.a->today = today;
	if ((rc = scan_table(&x, 1, err)) != TRPT_OK ||
	    (rc = scan_table(&x, 0, err)) != TRPT_OK ||
	    (rc = scan_new_types(&x, err)) != TRPT_OK ||
	    (rc = scan_testing(&x, err)) != TRPT_OK ||
	    (rc = scan_collection(&x, err)) != TRPT_OK)
		goto out;
	if (x.a->n > 1)
		qsort(x.a->v, x.a->n, sizeof(*x.a->v), cmp_alerts);
	*out = x.a;
	x.a = NULL;
out:
	free(x.days);
	trpt_alert_free(&x.a);
	return rc;
}

/* ---- output ---- */

static void
day_label(int64_t day, char *buf, size_t len)
{
	trpt_calendar_day_label(day, buf, len);
}

static const char *
item_name(const char *s, const char *none)
{
	return s[0] != '\0' ? s : none;
}

static void
text_items(FILE *out, const char *label, const struct trpt_alert_items *it,
    const char *none)
{
	size_t i;

	if (it->n == 0)
		return;
	fprintf(out, "  %s:", label);
	for (i = 0; i < it->n; i++) {
		fputs(i > 0 ? ", " : " ", out);
		trpt_text_fputs(item_name(it->v[i].name, none), out);
		fprintf(out, " (%" PRId64 ")", it->v[i].failed);
	}
	fputc('\n', out);
}

static void
text_rate(FILE *out, double r)
{
	if (r < 0)
		fputs("n/a", out);
	else
		fprintf(out, "%.2f%%", r * 100.0);
}

static void
write_text(const struct trpt_alert *al, FILE *out, int color)
{
	const struct trpt_cause *cause;
	char d1[16], d2[16];
	size_t i;

	day_label(al->first_day, d1, sizeof(d1));
	day_label(al->last_day, d2, sizeof(d2));
	/* Subjects, types and names come from reports: escaped. */
	if (al->kind == TRPT_ALERT_COLLECTION) {
		fprintf(out, "%s%-6s%s collection, %s .. %s\n",
		    color && al->open ? "\033[1;31m" : "",
		    al->open ? "OPEN" : "closed",
		    color && al->open ? "\033[0m" : "", d1, d2);
	} else {
		fprintf(out, "%s%-6s%s %s %s ",
		    color && al->open ? "\033[1;31m" : "",
		    al->open ? "OPEN" : "closed",
		    color && al->open ? "\033[0m" : "",
		    trpt_alert_kind_name(al->kind),
		    al->sender ? "sender" : "domain");
		trpt_text_fputs(al->subject, out);
		if (al->type != NULL) {
			fputs(": ", out);
			trpt_text_fputs(al->type, out);
		}
		fprintf(out, ", %s .. %s%s\n", d1, d2,
		    al->stale ? " (no longer reported)" : "");
	}
	switch (al->kind) {
	case TRPT_ALERT_DROP:
		fputs("  success rate ", out);
		text_rate(out, al->rate_before);
		fputs(" -> ", out);
		text_rate(out, al->rate_after);
		fprintf(out,
		    " (baseline %" PRId64 " sessions; during the drop %" PRId64
		    " sessions, %" PRId64 " failed)\n",
		    al->sessions_before, al->sessions_after, al->failed_after);
		break;
	case TRPT_ALERT_RECOVERY:
		fputs("  success rate ", out);
		text_rate(out, al->rate_before);
		fputs(" during the drop, ", out);
		text_rate(out, al->rate_after);
		fprintf(out,
		    " on %s (%" PRId64 " sessions, %" PRId64 " failed)\n", d2,
		    al->sessions_after, al->failed_after);
		break;
	case TRPT_ALERT_NEW_TYPE:
		fprintf(out,
		    "  %" PRId64 " failed sessions of a type not seen "
		    "for this domain before\n",
		    al->failed_after);
		break;
	case TRPT_ALERT_SILENT:
		fprintf(out,
		    "  no report for %" PRId64 " days (it reported on %" PRId64
		    " days, usually every %" PRId64 " day%s; limit %" PRId64
		    " days)\n",
		    al->last_day - al->first_day + 1, al->sessions_before,
		    al->gap_days, al->gap_days == 1 ? "" : "s", al->limit_days);
		break;
	case TRPT_ALERT_TESTING:
		fprintf(out,
		    "  MTA-STS policy in testing mode: %" PRId64 " of %" PRId64
		    " sessions failed (",
		    al->failed_after, al->sessions_after);
		text_rate(out, al->rate_after);
		fputs(" successful); fix them before switching to enforce\n",
		    out);
		break;
	case TRPT_ALERT_COLLECTION:
		fprintf(out,
		    "  no report at all received for %" PRId64
		    " days (limit %" PRId64
		    "): check the mailbox or source and the _smtp._tls "
		    "record\n",
		    al->gap_days, al->limit_days);
		break;
	}
	text_items(out, "result types", &al->types, "(no details)");
	text_items(out, "MX hosts", &al->mx, "(none given)");
	text_items(out, "sending IPs", &al->ips, "(none given)");
	text_items(out, al->sender ? "domains" : "senders", &al->others, "?");
	for (i = 0; i < al->nlive; i++) {
		fputs("  live: ", out);
		trpt_text_fputs(al->live[i], out);
		fputc('\n', out);
	}
	if (al->open && al->live_ok)
		fputs("  the live check passes: the alert closes when reports "
		      "confirm it\n",
		    out);
	for (i = 0; i < al->types.n; i++) {
		if (al->types.v[i].name[0] == '\0')
			continue;
		cause = trpt_causes_lookup(al->types.v[i].name);
		fputs("  ", out);
		trpt_text_fputs(al->types.v[i].name, out);
		fprintf(out, " (%s)\n    causes: %s\n    fix: %s\n",
		    cause->title, cause->causes, cause->fixes);
	}
}

static void
json_num_rate(FILE *out, const char *key, double r)
{
	if (r < 0)
		fprintf(out, ", \"%s\": null", key);
	else
		fprintf(out, ", \"%s\": %.4f", key, r);
}

static void
json_items(
    FILE *out, const char *key, const struct trpt_alert_items *it, int causes)
{
	const struct trpt_cause *cause;
	size_t i;

	fprintf(out, ", \"%s\": [", key);
	for (i = 0; i < it->n; i++) {
		fprintf(out, "%s{\"name\": ", i > 0 ? ", " : "");
		if (it->v[i].name[0] == '\0')
			fputs("null", out);
		else
			trpt_trend_json_string(out, it->v[i].name);
		fprintf(out, ", \"failed\": %" PRId64, it->v[i].failed);
		if (causes && it->v[i].name[0] != '\0') {
			cause = trpt_causes_lookup(it->v[i].name);
			fputs(", \"title\": ", out);
			trpt_trend_json_string(out, cause->title);
			fputs(", \"causes\": ", out);
			trpt_trend_json_string(out, cause->causes);
			fputs(", \"fixes\": ", out);
			trpt_trend_json_string(out, cause->fixes);
		}
		fputc('}', out);
	}
	fputc(']', out);
}

static void
write_json(const struct trpt_alert *al, FILE *out)
{
	char d1[16], d2[16];
	size_t i;

	day_label(al->first_day, d1, sizeof(d1));
	day_label(al->last_day, d2, sizeof(d2));
	fprintf(out, "{\"kind\": \"%s\", \"open\": %s, \"scope\": \"%s\", ",
	    trpt_alert_kind_name(al->kind), al->open ? "true" : "false",
	    al->kind == TRPT_ALERT_COLLECTION ? "all"
	    : al->sender                      ? "sender"
					      : "domain");
	fputs(al->sender ? "\"organization_name\": " : "\"policy_domain\": ",
	    out);
	trpt_trend_json_string(out, al->subject);
	if (al->type != NULL) {
		fputs(", \"result_type\": ", out);
		trpt_trend_json_string(out, al->type);
	}
	fprintf(out, ", \"first_day\": \"%s\", \"last_day\": \"%s\"", d1, d2);
	json_num_rate(out, "rate_before", al->rate_before);
	json_num_rate(out, "rate_after", al->rate_after);
	fprintf(out,
	    ", \"sessions_before\": %" PRId64 ", \"sessions_after\": %" PRId64
	    ", \"failed_after\": %" PRId64,
	    al->sessions_before, al->sessions_after, al->failed_after);
	if (al->stale)
		fputs(", \"stale\": true", out);
	if (al->kind == TRPT_ALERT_COLLECTION)
		fprintf(out,
		    ", \"days_without_reports\": %" PRId64
		    ", \"limit_days\": %" PRId64,
		    al->gap_days, al->limit_days);
	if (al->kind == TRPT_ALERT_SILENT)
		fprintf(out,
		    ", \"silent_days\": %" PRId64
		    ", \"usual_gap_days\": %" PRId64
		    ", \"limit_days\": %" PRId64,
		    al->last_day - al->first_day + 1, al->gap_days,
		    al->limit_days);
	json_items(out, "result_types", &al->types, 1);
	json_items(out, "mx_hosts", &al->mx, 0);
	json_items(out, "sending_ips", &al->ips, 0);
	json_items(out, al->sender ? "policy_domains" : "organizations",
	    &al->others, 0);
	fputs(", \"live_checks\": [", out);
	for (i = 0; i < al->nlive; i++) {
		fputs(i > 0 ? ", " : "", out);
		trpt_trend_json_string(out, al->live[i]);
	}
	fprintf(out, "], \"live_check_passes\": %s}",
	    al->live_ok ? "true" : "false");
}

void
trpt_alert_write_one(
    const struct trpt_alert *al, enum trpt_trend_format fmt, FILE *out)
{
	if (fmt == TRPT_FORMAT_JSON)
		write_json(al, out);
	else
		write_text(al, out, fmt == TRPT_FORMAT_TABLE_COLOR);
}

int
trpt_alert_write(const struct trpt_alerts *a, enum trpt_trend_format fmt,
    FILE *out, struct trpt_err *err)
{
	size_t i;

	if (fmt == TRPT_FORMAT_JSON) {
		fputc('[', out);
		for (i = 0; i < a->n; i++) {
			fputs(i > 0 ? ",\n  " : "\n  ", out);
			write_json(&a->v[i], out);
		}
		fputs(a->n > 0 ? "\n]\n" : "]\n", out);
	} else {
		for (i = 0; i < a->n; i++) {
			if (i > 0)
				fputc('\n', out);
			write_text(
			    &a->v[i], out, fmt == TRPT_FORMAT_TABLE_COLOR);
		}
		fprintf(out, "%s%zu alert%s, %zu open\n", a->n > 0 ? "\n" : "",
		    a->n, a->n == 1 ? "" : "s", trpt_alert_open_count(a));
	}
	if (fflush(out) != 0 || ferror(out))
		return trpt_err_set(
		    err, TRPT_EIO, "writing alerts: write error");
	return TRPT_OK;
}

#include "report/trend.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "common/calendar.h"
#include "common/datetime.h"

static const char *const dim_names[TRPT_DIM_COUNT_] = { "org", "domain", "mx",
	"ip", "type" };
static const char *const dim_columns[TRPT_DIM_COUNT_] = { "organization_name",
	"policy_domain", "mx_host", "sending_mta_ip", "result_type" };

void
trpt_trend_query_init(struct trpt_trend_query *q)
{
	memset(q, 0, sizeof(*q));
	q->dims[0] = TRPT_DIM_ORG;
	q->dims[1] = TRPT_DIM_DOMAIN;
	q->ndims = 2;
	q->period = TRPT_PERIOD_DAY;
	q->since_day = TRPT_DAY_MIN;
	q->until_day = TRPT_DAY_MAX;
	q->max_cells = TRPT_TREND_MAX_CELLS_DEFAULT;
}

const char *
trpt_trend_dim_column(enum trpt_trend_dim d)
{
	return (unsigned)d < TRPT_DIM_COUNT_ ? dim_columns[d] : "?";
}

int
trpt_trend_parse_dims(
    const char *s, struct trpt_trend_query *q, struct trpt_err *err)
{
	enum trpt_trend_dim dims[TRPT_DIM_COUNT_];
	unsigned seen = 0;
	int n = 0, d;
	const char *p = s, *e;
	size_t len;

	for (;;) {
		e = strchr(p, ',');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		for (d = 0; d < TRPT_DIM_COUNT_; d++)
			if (strlen(dim_names[d]) == len &&
			    strncmp(dim_names[d], p, len) == 0)
				break;
		if (d == TRPT_DIM_COUNT_)
			return trpt_err_set(err, TRPT_EINVAL,
			    "--by \"%s\": unknown dimension \"%.*s\" (use org, "
			    "domain, mx, ip, type)",
			    s, (int)(len > 40 ? 40 : len), p);
		if (seen & (1u << d))
			return trpt_err_set(err, TRPT_EINVAL,
			    "--by \"%s\": \"%s\" given twice", s, dim_names[d]);
		seen |= 1u << d;
		dims[n++] = (enum trpt_trend_dim)d;
		if (e == NULL)
			break;
		p = e + 1;
	}
	memcpy(q->dims, dims, sizeof(dims));
	q->ndims = n;
	return TRPT_OK;
}

/* ---- periods (common/calendar.h) ---- */

int64_t
trpt_trend_period_of(enum trpt_trend_period p, int64_t day)
{
	return p == TRPT_PERIOD_DAY ? day : trpt_calendar_week(day);
}

int64_t
trpt_trend_period_start(enum trpt_trend_period p, int64_t period)
{
	return p == TRPT_PERIOD_DAY ? period
				    : trpt_calendar_week_monday(period);
}

void
trpt_trend_period_label(
    enum trpt_trend_period p, int64_t period, char *buf, size_t len)
{
	if (p == TRPT_PERIOD_DAY)
		trpt_calendar_day_label(period, buf, len);
	else
		trpt_calendar_week_label(period, buf, len);
}

int
trpt_trend_parse_week(const char *s, int64_t *monday, struct trpt_err *err)
{
	return trpt_calendar_parse_week(s, monday, err);
}

/* ---- queries ---- */

/*
 * Where the rows come from: the smallest rollup that has the dimensions
 * asked for.  Columns: day (a week's Monday for weekly tables), one per
 * trpt_trend_dim, successful, failed.  ?1 ?2 are the first and last day,
 * ?3 the domain, ?4 ?5 the first and last week.
 */
enum {
	T_ORG_DAY,
	T_DOMAIN_DAY,
	T_DOMAIN_WEEK,
	T_DAILY,
	T_DAILY_SCAN,
	T_WEEKLY,
	T_COUNT_
};

#define DOM "domain = ?3 AND "
#define ORG_DAY(F)                                                             \
	"SELECT day, org, '', '', '', '', successful, " F " FROM "             \
	"rollup_org_day WHERE day BETWEEN ?1 AND ?2"
#define DOMAIN_DAY(F, W)                                                       \
	"SELECT day, '', domain, '', '', '', successful, " F " FROM "          \
	"rollup_domain_day WHERE " W "day BETWEEN ?1 AND ?2"
#define DOMAIN_WEEK(F, W)                                                      \
	"SELECT week * 7 - 3, '', domain, '', '', '', successful, " F          \
	" FROM rollup_domain_week WHERE " W "week BETWEEN ?4 AND ?5"
#define DAILY(F, W)                                                            \
	"SELECT day, org, domain, '', '', '', successful, " F " FROM "         \
	"rollup_daily WHERE " W "day BETWEEN ?1 AND ?2"
/* "+day": no index on day, for ranges that cover most of the data. */
#define DAILY_SCAN(F, W)                                                       \
	"SELECT day, org, domain, '', '', '', successful, " F " FROM "         \
	"rollup_daily WHERE " W "+day BETWEEN ?1 AND ?2"
#define WEEKLY(F, W)                                                           \
	"SELECT week * 7 - 3, org, domain, '', '', '', successful, " F         \
	" FROM rollup_weekly WHERE " W "week BETWEEN ?4 AND ?5"
#define FAILS(W)                                                               \
	" UNION ALL SELECT day, org, domain, mx, ip, result_type, 0, failed "  \
	"FROM rollup_failures WHERE " W "day BETWEEN ?1 AND ?2"

/* [table][domain filter][failure dims] */
static const char *const source_sql[T_COUNT_][2][2] = {
	{ { ORG_DAY("failed"), ORG_DAY("0") FAILS("") }, { NULL, NULL } },
	{ { DOMAIN_DAY("failed", ""), DOMAIN_DAY("0", "") FAILS("") },
	    { DOMAIN_DAY("failed", DOM), DOMAIN_DAY("0", DOM) FAILS(DOM) } },
	{ { DOMAIN_WEEK("failed", ""), DOMAIN_WEEK("0", "") FAILS("") },
	    { DOMAIN_WEEK("failed", DOM), DOMAIN_WEEK("0", DOM) FAILS(DOM) } },
	{ { DAILY("failed", ""), DAILY("0", "") FAILS("") },
	    { DAILY_SCAN("failed", DOM), DAILY_SCAN("0", DOM) FAILS(DOM) } },
	{ { DAILY_SCAN("failed", ""), DAILY_SCAN("0", "") FAILS("") },
	    { DAILY_SCAN("failed", DOM), DAILY_SCAN("0", DOM) FAILS(DOM) } },
	{ { WEEKLY("failed", ""), WEEKLY("0", "") FAILS("") },
	    { WEEKLY("failed", DOM), WEEKLY("0", DOM) FAILS(DOM) } },
};

/* wide: the days asked for cover much of the data (scan, no index). */
static const char *
pick_source(const struct trpt_trend_query *q, int wide)
{
	unsigned m = 0;
	int i, t, fails, week = q->period == TRPT_PERIOD_WEEK;

	for (i = 0; i < q->ndims; i++)
		m |= 1u << q->dims[i];
	fails = (m & ((1u << TRPT_DIM_MX) | (1u << TRPT_DIM_IP) |
			 (1u << TRPT_DIM_TYPE))) != 0;
	if (!(m & (1u << TRPT_DIM_DOMAIN)) && q->domain == NULL)
		t = T_ORG_DAY;
	else if (!(m & (1u << TRPT_DIM_ORG)))
		t = week ? T_DOMAIN_WEEK : T_DOMAIN_DAY;
	else
		t = week ? T_WEEKLY : wide ? T_DAILY_SCAN : T_DAILY;
	return source_sql[t][q->domain != NULL][fails];
}

struct agg {
	struct trpt_trend *t;
	size_t cap;
	size_t *slots; /* hash: group index + 1, 0 empty */
	size_t nslots;
	uint64_t max_cells;
};

static uint64_t
hash_keys(const char *const *k, int n)
{
	uint64_t h = 1469598103934665603u;
	const unsigned char *p;
	int i;

	for (i = 0; i < n; i++) {
		for (p = (const unsigned char *)k[i]; *p != '\0'; p++)
			h = (h ^ *p) * 1099511628211u;
		h = (h ^ 0x1f) * 1099511628211u;
	}
	return h;
}

static int
same_keys(char *const *a, const char *const *b, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

static int
rehash(struct agg *a, struct trpt_err *err)
{
	size_t n = a->nslots == 0 ? 1024 : a->nslots * 2, i, j;
	size_t *s = calloc(n, sizeof(*s));

	if (s == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	for (i = 0; i < a->t->ngroups; i++) {
		j = hash_keys((const char *const *)a->t->groups[i].key,
			a->t->q.ndims) &
		    (n - 1);
		while (s[j] != 0)
			j = (j + 1) & (n - 1);
		s[j] = i + 1;
	}
	free(a->slots);
	a->slots = s;
	a->nslots = n;
	return TRPT_OK;
}

static int
find_group(struct agg *a, const char *const *keys,
    struct trpt_trend_group **out, struct trpt_err *err)
{
	struct trpt_trend *t = a->t;
	struct trpt_trend_group *g, *ng;
	size_t j, ncap;
	int i, rc;

	if (a->nslots == 0 || (t->ngroups + 1) * 2 > a->nslots)
		if ((rc = rehash(a, err)) != TRPT_OK)
			return rc;
	j = hash_keys(keys, t->q.ndims) & (a->nslots - 1);
	while (a->slots[j] != 0) {
		g = &t->groups[a->slots[j] - 1];
		if (same_keys(g->key, keys, t->q.ndims)) {
			*out = g;
			return TRPT_OK;
		}
		j = (j + 1) & (a->nslots - 1);
	}
	if ((uint64_t)(t->ngroups + 1) * (uint64_t)t->nperiods > a->max_cells)
		return trpt_err_set(err, TRPT_ELIMIT,
		    "trends: more than %zu groups over %" PRId64
		    " periods exceed the limit of %" PRIu64
		    " cells; narrow with --since, --until, --domain or "
		    "--period week",
		    t->ngroups, t->nperiods, a->max_cells);
	if (t->ngroups == a->cap) {
		ncap = a->cap == 0 ? 64 : a->cap * 2;
		ng = realloc(t->groups, ncap * sizeof(*ng));
		if (ng == NULL)
			return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		t->groups = ng;
		a->cap = ncap;
	}
	g = &t->groups[t->ngroups];
	memset(g, 0, sizeof(*g));
	g->cells = calloc((size_t)t->nperiods, sizeof(*g->cells));
	if (g->cells == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	for (i = 0; i < t->q.ndims; i++) {
		g->key[i] = strdup(keys[i]);
		if (g->key[i] == NULL) {
			while (i-- > 0)
				free(g->key[i]);
			free(g->cells);
			return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		}
	}
	a->slots[j] = ++t->ngroups;
	*out = g;
	return TRPT_OK;
}

/* Keys past the query's dims are NULL in every group. */
static int
cmp_groups(const void *x, const void *y)
{
	const struct trpt_trend_group *a = x, *b = y;
	int i, c;

	for (i = 0; i < TRPT_DIM_COUNT_ && a->key[i] != NULL; i++)
		if ((c = strcmp(a->key[i], b->key[i])) != 0)
			return c;
	return 0;
}

/*
 * The first and last day with data within [from, until] (the days asked
 * for, by default the plausible window): days outside the window (a
 * report stored before dates were checked) never stretch a default range.
 */
static int
data_range(sqlite3 *h, struct trpt_db *db, const char *domain, int64_t from,
    int64_t until, int64_t *lo, int64_t *hi, struct trpt_err *err)
{
	sqlite3_stmt *st = NULL;
	int src, rc = TRPT_OK;

	src = sqlite3_prepare_v2(h,
	    domain != NULL ? "SELECT min(day), max(day) FROM rollup_domain_day "
			     "WHERE domain = ?1 AND day BETWEEN ?2 AND ?3"
			   : "SELECT min(day), max(day) FROM rollup_org_day "
			     "WHERE day BETWEEN ?2 AND ?3",
	    -1, &st, NULL);
	if (src == SQLITE_OK && domain != NULL)
		sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	if (src == SQLITE_OK) {
		sqlite3_bind_int64(st, 2, from);
		sqlite3_bind_int64(st, 3, until);
	}
	if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
			*lo = 1;
			*hi = 0;
		} else {
			*lo = sqlite3_column_int64(st, 0);
			*hi = sqlite3_column_int64(st, 1);
		}
		src = SQLITE_OK;
	}
	if (src != SQLITE_OK)
		rc = trpt_err_set(err, TRPT_EDB, "database %s: trends: %s",
		    trpt_db_path(db), sqlite3_errmsg(h));
	sqlite3_finalize(st);
	return rc;
}

int
trpt_trend_run(struct trpt_db *db, const struct trpt_trend_query *q,
    struct trpt_trend **out, struct trpt_err *err)
{
	sqlite3 *h = trpt_db_handle(db);
	sqlite3_stmt *st = NULL;
	struct trpt_trend *t;
	struct trpt_trend_group *g = NULL;
	struct agg a;
	const char *keys[TRPT_DIM_COUNT_];
	int64_t lo = 0, hi = 0, wlo, whi, dspan, day, idx;
	int i, src, rc;

	memset(&a, 0, sizeof(a));
	a.max_cells =
	    q->max_cells != 0 ? q->max_cells : TRPT_TREND_MAX_CELLS_DEFAULT;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	t->q = *q;
	t->q.domain = NULL;
	a.t = t;
	/* A bound not asked for is the plausible window's, unless the other
	 * one asked for lies beyond it. */
	wlo = TRPT_DATE_EARLIEST / 86400;
	whi = ((int64_t)time(NULL) + TRPT_DATE_AHEAD) / 86400;
	if (q->since_day != TRPT_DAY_MIN)
		wlo = q->since_day;
	else if (q->until_day < wlo)
		wlo = TRPT_DAY_MIN;
	if (q->until_day != TRPT_DAY_MAX)
		whi = q->until_day;
	else if (q->since_day > whi)
		whi = TRPT_DAY_MAX;
	if ((rc = data_range(h, db, q->domain, wlo, whi, &lo, &hi, err)) !=
	    TRPT_OK)
		goto out;
	dspan = hi - lo + 1;
	if (lo < q->since_day)
		lo = q->since_day;
	if (hi > q->until_day)
		hi = q->until_day;
	if (q->period == TRPT_PERIOD_WEEK) {
		/* Whole weeks only: the weekly rollups hold whole weeks. */
		lo = trpt_trend_period_start(
		    q->period, trpt_trend_period_of(q->period, lo));
		hi = trpt_trend_period_start(
			 q->period, trpt_trend_period_of(q->period, hi)) +
		     6;
	}
	if (lo > hi) {
		rc = TRPT_OK; /* nothing in range */
		goto done;
	}
	t->first_period = trpt_trend_period_of(q->period, lo);
	t->nperiods = trpt_trend_period_of(q->period, hi) - t->first_period + 1;
	src = sqlite3_prepare_v2(
	    h, pick_source(q, (hi - lo + 1) * 4 > dspan), -1, &st, NULL);
	if (src != SQLITE_OK)
		goto dberr;
	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, hi);
	sqlite3_bind_int64(st, 4, trpt_trend_period_of(TRPT_PERIOD_WEEK, lo));
	sqlite3_bind_int64(st, 5, trpt_trend_period_of(TRPT_PERIOD_WEEK, hi));
	if (q->domain != NULL)
		sqlite3_bind_text(st, 3, q->domain, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		day = sqlite3_column_int64(st, 0);
		for (i = 0; i < q->ndims; i++) {
			keys[i] = (const char *)sqlite3_column_text(
			    st, 1 + (int)q->dims[i]);
			if (keys[i] == NULL) {
				rc = trpt_err_set(
				    err, TRPT_ENOMEM, "out of memory");
				goto out;
			}
		}
		if ((rc = find_group(&a, keys, &g, err)) != TRPT_OK)
			goto out;
		idx = trpt_trend_period_of(q->period, day) - t->first_period;
		g->cells[idx].successful += sqlite3_column_int64(st, 6);
		g->cells[idx].failed += sqlite3_column_int64(st, 7);
		g->successful += sqlite3_column_int64(st, 6);
		g->failed += sqlite3_column_int64(st, 7);
	}
	if (src != SQLITE_DONE)
		goto dberr;
	if (t->ngroups > 1)
		qsort(t->groups, t->ngroups, sizeof(*t->groups), cmp_groups);
done:
	*out = t;
	t = NULL;
	rc = TRPT_OK;
	goto out;
dberr:
	rc = trpt_db_error(db, src, "trends", err);
out:
	sqlite3_finalize(st);
	free(a.slots);
	trpt_trend_free(&t);
	return rc;
}

void
trpt_trend_free(struct trpt_trend **tp)
{
	struct trpt_trend *t = *tp;
	size_t i;
	int k;

	if (t == NULL)
		return;
	for (i = 0; i < t->ngroups; i++) {
		for (k = 0; k < t->q.ndims; k++)
			free(t->groups[i].key[k]);
		free(t->groups[i].cells);
	}
	free(t->groups);
	free(t);
	*tp = NULL;
}

#include "report/trend.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/calendar.h"
#include "common/datetime.h"
#include "common/limits.h"
#include "schema/analysis.h"

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

/* The rollup column of each dimension (schema/analysis.h). */
static const enum trpt_analysis_col dim_col[TRPT_DIM_COUNT_] = {
	TRPT_ANALYSIS_ORG, TRPT_ANALYSIS_DOMAIN, TRPT_ANALYSIS_MX,
	TRPT_ANALYSIS_IP, TRPT_ANALYSIS_TYPE
};

struct agg {
	struct trpt_trend *t;
	size_t cap;
	size_t *slots; /* hash: group index + 1, 0 empty */
	size_t nslots;
	uint64_t max_cells;
	struct trpt_err *err;
	size_t last; /* the group of the row before, + 1; 0: none */
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

/* One rollup row into its group and period. */
static int
add_row(void *arg, const struct trpt_analysis_row *r)
{
	struct agg *a = arg;
	const struct trpt_trend_query *q = &a->t->q;
	struct trpt_trend_group *g = NULL;
	const char *keys[TRPT_DIM_COUNT_];
	int64_t idx;
	int i, rc;

	/* The weeks of one row of rollup_weeks come one after another with
	 * the same strings: one look-up for a year's 53 weeks. */
	if (r->again && a->last != 0)
		g = &a->t->groups[a->last - 1];
	else {
		for (i = 0; i < q->ndims; i++)
			keys[i] = r->col[dim_col[q->dims[i]]];
		if ((rc = find_group(a, keys, &g, a->err)) != TRPT_OK)
			return rc;
		a->last = (size_t)(g - a->t->groups) + 1;
	}
	idx = trpt_trend_period_of(q->period, r->day) - a->t->first_period;
	g->cells[idx].successful =
	    trpt_count_add(g->cells[idx].successful, r->successful);
	g->cells[idx].failed = trpt_count_add(g->cells[idx].failed, r->failed);
	g->successful = trpt_count_add(g->successful, r->successful);
	g->failed = trpt_count_add(g->failed, r->failed);
	return TRPT_OK;
}

int
trpt_trend_run(struct trpt_db *db, const struct trpt_trend_query *q,
    struct trpt_trend **out, struct trpt_err *err)
{
	struct trpt_analysis_query aq;
	struct trpt_trend *t;
	struct agg a;
	int64_t lo = 0, hi = 0, wlo, whi, dspan;
	int i, rc;

	memset(&a, 0, sizeof(a));
	a.err = err;
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
	/* The first and last day with data within the window: days outside
	 * it (a report stored before dates were checked) never stretch a
	 * default range. */
	if ((rc = trpt_analysis_data_range(
		 db, q->domain, wlo, whi, &lo, &hi, err)) != TRPT_OK)
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
	if (lo > hi)
		goto done; /* nothing in range */
	t->first_period = trpt_trend_period_of(q->period, lo);
	t->nperiods = trpt_trend_period_of(q->period, hi) - t->first_period + 1;
	memset(&aq, 0, sizeof(aq));
	for (i = 0; i < q->ndims; i++)
		aq.cols |= 1u << dim_col[q->dims[i]];
	aq.weekly = q->period == TRPT_PERIOD_WEEK;
	aq.wide = (hi - lo + 1) * 4 > dspan;
	aq.domain = q->domain;
	aq.first_day = lo;
	aq.last_day = hi;
	if ((rc = trpt_analysis_rollup_rows(db, &aq, add_row, &a, err)) !=
	    TRPT_OK)
		goto out;
	if (t->ngroups > 1)
		qsort(t->groups, t->ngroups, sizeof(*t->groups), cmp_groups);
done:
	*out = t;
	t = NULL;
	rc = TRPT_OK;
out:
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

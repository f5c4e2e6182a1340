#include "report/trend.h"

#include <inttypes.h>
#include <stddef.h>
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

/*
 * The groups' cells and key strings come from chunks freed together: a
 * year by org and domain makes 10,000 groups, and an allocation or three
 * each (and their frees) were a tenth of the run, the keys spread among
 * the cells a cache miss each when the groups are sorted (perf).  Chunks
 * are zeroed (calloc): new cells start at 0.  They stay under glibc's
 * mmap threshold (128 KiB), so a process running trends again reuses its
 * heap instead of taking fresh pages (page faults) each time.
 */
struct trpt_trend_chunk {
	struct trpt_trend_chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct arena {
	struct trpt_trend_chunk *cur; /* the chunk being filled, or NULL */
	size_t next_size;             /* of the next chunk, doubling */
	size_t max_size;
};

/* size zeroed bytes from a, the chunk linked into t->mem; NULL: out of
 * memory. */
static void *
arena_alloc(struct trpt_trend *t, struct arena *a, size_t size)
{
	struct trpt_trend_chunk *c = a->cur;
	size_t room;
	void *p;

	size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (c == NULL || c->size - c->used < size) {
		room = size > a->next_size ? size : a->next_size;
		if (room > SIZE_MAX - sizeof(*c) ||
		    (c = calloc(1, sizeof(*c) + room)) == NULL)
			return NULL;
		c->size = room;
		c->next = t->mem;
		t->mem = c;
		a->cur = c;
		if (a->next_size < a->max_size)
			a->next_size *= 2;
	}
	p = (unsigned char *)c->data + c->used;
	c->used += size;
	return p;
}

struct agg {
	struct trpt_trend *t;
	size_t cap;
	/* hash table: a group's index + 1 (0: empty) and its keys' hash,
	 * so that a probe compares strings only where the hashes match (the
	 * keys' strings, away from the table, cost a cache miss each) */
	struct slot {
		uint64_t hash;
		size_t group;
	} * slots;
	size_t nslots;
	uint64_t max_cells;
	struct trpt_err *err;
	size_t last;  /* the group of the row before, + 1; 0: none */
	int last_hit; /* the row before was in the group of the one before */
	int64_t first_day; /* of the first period */
	struct arena cells, keys;
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
	struct slot *s = calloc(n, sizeof(*s));

	if (s == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	for (i = 0; i < a->nslots; i++) {
		if (a->slots[i].group == 0)
			continue;
		j = a->slots[i].hash & (n - 1);
		while (s[j].group != 0)
			j = (j + 1) & (n - 1);
		s[j] = a->slots[i];
	}
	free(a->slots);
	a->slots = s;
	a->nslots = n;
	return TRPT_OK;
}

/* A new group, its cells and keys from the arenas. */
static struct trpt_trend_group *
new_group(struct agg *a, const char *const *keys, struct trpt_err *err)
{
	struct trpt_trend *t = a->t;
	struct trpt_trend_group *g, *ng;
	size_t len, ncap;
	char *p;
	int i;

	if ((uint64_t)(t->ngroups + 1) * (uint64_t)t->nperiods > a->max_cells) {
		trpt_err_set(err, TRPT_ELIMIT,
		    "trends: more than %zu groups over %" PRId64
		    " periods exceed the limit of %" PRIu64
		    " cells; narrow with --since, --until, --domain or "
		    "--period week",
		    t->ngroups, t->nperiods, a->max_cells);
		return NULL;
	}
	if (t->ngroups == a->cap) {
		ncap = a->cap == 0 ? 64 : a->cap * 2;
		ng = realloc(t->groups, ncap * sizeof(*ng));
		if (ng == NULL)
			goto nomem;
		t->groups = ng;
		a->cap = ncap;
	}
	g = &t->groups[t->ngroups];
	memset(g, 0, sizeof(*g));
	/* nperiods * cells is within max_cells (checked above). */
	g->cells =
	    arena_alloc(t, &a->cells, (size_t)t->nperiods * sizeof(*g->cells));
	if (g->cells == NULL)
		goto nomem;
	for (i = 0; i < t->q.ndims; i++) {
		len = strlen(keys[i]) + 1;
		if ((p = arena_alloc(t, &a->keys, len)) == NULL)
			goto nomem;
		g->key[i] = memcpy(p, keys[i], len);
	}
	t->ngroups++;
	return g;
nomem:
	trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	return NULL;
}

static int
find_group(struct agg *a, const char *const *keys,
    struct trpt_trend_group **out, struct trpt_err *err)
{
	struct trpt_trend *t = a->t;
	struct trpt_trend_group *g;
	uint64_t h;
	size_t j;
	int rc;

	if (a->nslots == 0 || (t->ngroups + 1) * 2 > a->nslots)
		if ((rc = rehash(a, err)) != TRPT_OK)
			return rc;
	h = hash_keys(keys, t->q.ndims);
	j = h & (a->nslots - 1);
	while (a->slots[j].group != 0) {
		g = &t->groups[a->slots[j].group - 1];
		if (a->slots[j].hash == h &&
		    same_keys(g->key, keys, t->q.ndims)) {
			*out = g;
			return TRPT_OK;
		}
		j = (j + 1) & (a->nslots - 1);
	}
	if ((g = new_group(a, keys, err)) == NULL)
		return err->code;
	a->slots[j].hash = h;
	a->slots[j].group = t->ngroups;
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

static int
cmp_group_ptrs(const void *x, const void *y)
{
	return cmp_groups(*(const struct trpt_trend_group *const *)x,
	    *(const struct trpt_trend_group *const *)y);
}

/*
 * The groups in key order.  Rows often come in it already (by domain from
 * rollup_weeks): one pass checks.  Otherwise pointers are sorted, not the
 * 64-byte groups, which glibc's merge sort copied back and forth (a tenth
 * of a year by org and domain, perf), and the groups moved once.
 */
static int
sort_groups(struct trpt_trend *t, struct trpt_err *err)
{
	struct trpt_trend_group **p, *v;
	size_t i;

	for (i = 1; i < t->ngroups; i++)
		if (cmp_groups(&t->groups[i - 1], &t->groups[i]) > 0)
			break;
	if (i >= t->ngroups)
		return TRPT_OK;
	p = malloc(t->ngroups * sizeof(*p));
	v = malloc(t->ngroups * sizeof(*v));
	if (p == NULL || v == NULL) {
		free(p);
		free(v);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	for (i = 0; i < t->ngroups; i++)
		p[i] = &t->groups[i];
	qsort(p, t->ngroups, sizeof(*p), cmp_group_ptrs);
	for (i = 0; i < t->ngroups; i++)
		v[i] = *p[i];
	free(p);
	free(t->groups);
	t->groups = v;
	return TRPT_OK;
}

/* One day's (or week's) sessions into group g. */
static inline int
add_cell(struct agg *a, struct trpt_trend_group *g, int64_t day,
    int64_t successful, int64_t failed)
{
	struct trpt_trend_cell *c;
	int64_t idx;

	/* The period's index without the calendar: the range starts on its
	 * first period's first day (a Monday for weeks). */
	idx = day - a->first_day;
	if (a->t->q.period == TRPT_PERIOD_WEEK)
		idx /= 7;
	if (day < a->first_day || idx >= a->t->nperiods)
		return trpt_err_set(a->err, TRPT_EDB,
		    "trends: a rollup row of day %" PRId64
		    " outside the range asked for",
		    day);
	c = &g->cells[idx];
	c->successful = trpt_count_add(c->successful, successful);
	c->failed = trpt_count_add(c->failed, failed);
	g->successful = trpt_count_add(g->successful, successful);
	g->failed = trpt_count_add(g->failed, failed);
	return TRPT_OK;
}

/* A block's weeks into group g (a week period: blocks come only for
 * weekly queries), the group's totals kept in registers: this loop runs
 * once per cell of the result (485,000 for a year by org and domain). */
static int
add_cells(struct agg *a, struct trpt_trend_group *g,
    const struct trpt_analysis_cell *c, size_t n)
{
	const struct trpt_analysis_cell *end = c + n;
	struct trpt_trend_cell *cells = g->cells, *x;
	int64_t first = a->first_day, np = a->t->nperiods, idx;
	int64_t gs = g->successful, gf = g->failed;
	int rc = TRPT_OK;

	if (a->t->q.period != TRPT_PERIOD_WEEK) {
		for (; c < end; c++)
			if ((rc = add_cell(a, g, c->day, c->successful,
				 c->failed)) != TRPT_OK)
				break;
		return rc;
	}
	for (; c < end; c++) {
		if (c->day < first || (idx = (c->day - first) / 7) >= np) {
			rc = add_cell(a, g, c->day, 0, 0); /* the error */
			break;
		}
		x = &cells[idx];
		x->successful = trpt_count_add(x->successful, c->successful);
		x->failed = trpt_count_add(x->failed, c->failed);
		gs = trpt_count_add(gs, c->successful);
		gf = trpt_count_add(gf, c->failed);
	}
	g->successful = gs;
	g->failed = gf;
	return rc;
}

/* One rollup row into its group and period(s). */
static int
add_row(void *arg, const struct trpt_analysis_row *r)
{
	struct agg *a = arg;
	const struct trpt_trend_query *q = &a->t->q;
	struct trpt_trend_group *g = NULL;
	const char *keys[TRPT_DIM_COUNT_];
	int i, rc;

	/* The weeks of one row of rollup_weeks come one after another with
	 * the same strings: one look-up for a year's 53 weeks.  Rows come
	 * in their table's key order, so the group of the row before is
	 * often this one's too: comparing its keys is cheaper than hashing
	 * them. */
	if (a->last != 0 && (r->again || a->last_hit)) {
		g = &a->t->groups[a->last - 1];
		if (!r->again)
			for (i = 0; i < q->ndims; i++)
				if (strcmp(g->key[i],
					r->col[dim_col[q->dims[i]]]) != 0) {
					g = NULL;
					break;
				}
	}
	/* Where the rows' order is not the groups' (by day: a day's senders
	 * one after another), the comparison would miss every time: it is
	 * tried again only after a row that found its group by hash was the
	 * last one's. */
	if (g == NULL) {
		for (i = 0; i < q->ndims; i++)
			keys[i] = r->col[dim_col[q->dims[i]]];
		if ((rc = find_group(a, keys, &g, a->err)) != TRPT_OK)
			return rc;
		a->last_hit = a->last == (size_t)(g - a->t->groups) + 1;
		a->last = (size_t)(g - a->t->groups) + 1;
	} else
		a->last_hit = 1;
	if (r->ncells == 0)
		return add_cell(a, g, r->day, r->successful, r->failed);
	return add_cells(a, g, r->cells, r->ncells);
}

int
trpt_trend_run(struct trpt_db *db, const struct trpt_trend_query *q,
    struct trpt_trend **out, struct trpt_err *err)
{
	struct trpt_analysis_query aq;
	struct trpt_trend *t;
	struct agg a;
	int64_t lo = 0, hi = 0, wlo, whi;
	int i, rc;

	memset(&a, 0, sizeof(a));
	a.err = err;
	a.cells.next_size = 16384;
	a.cells.max_size = 65536;
	a.keys.next_size = 4096;
	a.keys.max_size = 65536;
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
	a.first_day = trpt_trend_period_start(q->period, t->first_period);
	t->nperiods = trpt_trend_period_of(q->period, hi) - t->first_period + 1;
	memset(&aq, 0, sizeof(aq));
	for (i = 0; i < q->ndims; i++)
		aq.cols |= 1u << dim_col[q->dims[i]];
	aq.weekly = q->period == TRPT_PERIOD_WEEK;
	aq.blocks = 1;
	aq.domain = q->domain;
	aq.first_day = lo;
	aq.last_day = hi;
	if ((rc = trpt_analysis_rollup_rows(db, &aq, add_row, &a, err)) !=
	    TRPT_OK)
		goto out;
	if ((rc = sort_groups(t, err)) != TRPT_OK)
		goto out;
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
	struct trpt_trend_chunk *c, *next;

	if (t == NULL)
		return;
	for (c = t->mem; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(t->groups);
	free(t);
	*tp = NULL;
}

#include "schema/analysis.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/calendar.h"
#include "common/hash.h"
#include "common/limits.h"
#include "schema/db.h"
#include "schema/sql.h"
#include "schema/weeks.h"

/* A NOT NULL text column read as NULL: the driver ran out of memory. */
static int
nomem(struct trpt_db *db, struct trpt_err *err)
{
	return trpt_err_set(
	    err, TRPT_ENOMEM, "database %s: out of memory", trpt_db_path(db));
}

/* Steps st to its end: each row to row(); closes st. */
static int
each(struct trpt_stmt **stp, int (*row)(struct trpt_stmt *st, void *ctx),
    void *ctx, struct trpt_err *err)
{
	int src, rc = TRPT_OK;

	while ((src = trpt_sql_step(*stp, err)) == 1)
		if ((rc = row(*stp, ctx)) != TRPT_OK)
			break;
	if (src < 0)
		rc = src;
	trpt_sql_finalize(stp);
	return rc;
}

int
trpt_analysis_data_range(struct trpt_db *db, const char *domain, int64_t from,
    int64_t until, int64_t *first, int64_t *last, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int i = 1, rc;

	/* Any domain: each sender's first and last day in the range, two
	 * seeks a sender on rollup_org_day's key (org, day), not a scan of
	 * its rows (0.9 ms for the bench year, 0.2 ms this way: every
	 * trends query asks this first). */
	rc = trpt_sql_prepare(db,
	    domain != NULL
		? "SELECT min(day), max(day) FROM rollup_domain_day "
		  "WHERE domain = ? AND day BETWEEN ? AND ?"
		: "WITH RECURSIVE o(org) AS (SELECT min(org) FROM "
		  "rollup_org_day UNION ALL SELECT (SELECT min(org) FROM "
		  "rollup_org_day WHERE org > o.org) FROM o WHERE o.org IS NOT "
		  "NULL) SELECT min(lo), max(hi) FROM (SELECT "
		  "(SELECT min(day) FROM rollup_org_day r WHERE r.org = o.org "
		  "AND r.day BETWEEN ? AND ?) AS lo, "
		  "(SELECT max(day) FROM rollup_org_day r WHERE r.org = o.org "
		  "AND r.day BETWEEN ? AND ?) AS hi FROM o) x",
	    &st, err);
	if (rc != TRPT_OK)
		return rc;
	if (domain != NULL)
		trpt_sql_bind_text(st, i++, domain);
	trpt_sql_bind_int(st, i++, from);
	trpt_sql_bind_int(st, i++, until);
	if (domain == NULL) {
		trpt_sql_bind_int(st, i++, from);
		trpt_sql_bind_int(st, i, until);
	}
	if ((rc = trpt_sql_step(st, err)) == 1) {
		if (trpt_sql_is_null(st, 0)) {
			*first = 1;
			*last = 0;
		} else {
			*first = trpt_sql_int(st, 0);
			*last = trpt_sql_int(st, 1);
		}
		rc = TRPT_OK;
	} else if (rc == 0)
		rc = trpt_err_set(err, TRPT_EDB, "database %s: no data range",
		    trpt_db_path(db));
	trpt_sql_finalize(&st);
	return rc;
}

/* ---- rollup rows ---- */

/*
 * The sources, from the smallest: columns day (a week's Monday for the
 * weekly tables), org, domain, mx, ip, result type, successful, failed.
 * Parameters: the domain when filtered, then the first and last day (or
 * block of weeks).  The failure rows (fails_sql) come after them from a
 * statement of their own, by day or by week as the query is.
 */
enum {
	T_ORG_DAY,
	T_ORG_DAY_W, /* rows by day, failure rows by week */
	T_DOMAIN_DAY,
	T_DAILY,
	T_WEEKLY,
	T_WEEKLY_DOMAIN, /* the same blocks, the organisation not read */
	T_COUNT_
};

#define DOM "domain = ? AND "
#define ORG_DAY(F)                                                             \
	"SELECT day, org, '', '', '', '', successful, " F " FROM "             \
	"rollup_org_day WHERE day BETWEEN ? AND ?"
#define DOMAIN_DAY(F, W)                                                       \
	"SELECT day, '', domain, '', '', '', successful, " F " FROM "          \
	"rollup_domain_day WHERE " W "day BETWEEN ? AND ?"
/*
 * A range of days in every domain: the domains one by one (a recursive
 * walk of the key, a seek each) and each one's days in the range from
 * its key (domain, day, ...) in order.  rollup_daily's index on day gave
 * the rows in day order, each a seek into the table for its sums: the
 * CLI's default table (30 days by org and domain) read 278,000 rows in
 * 0.35 s of CPU that way, 0.10 s this way (sqlite3 shell), and a scan of
 * the table, for ranges that cover much of the data, was as fast as this
 * for a whole year (1.2 s, 3.6 million rows) and slower for anything
 * less.
 */
#define SKIP(T)                                                                \
	"WITH RECURSIVE d(domain) AS (SELECT min(domain) FROM " T              \
	" UNION ALL SELECT (SELECT min(domain) FROM " T                        \
	" WHERE domain > d.domain) FROM d WHERE d.domain IS NOT NULL) "
#define DOMAIN_DAY_SKIP(F)                                                     \
	SKIP("rollup_domain_day")                                              \
	"SELECT r.day, '', r.domain, '', '', '', r.successful, " F " FROM d "  \
	"JOIN rollup_domain_day r ON r.domain = d.domain AND r.day BETWEEN ? " \
	"AND ?"
#define DAILY(F)                                                               \
	SKIP("rollup_daily")                                                   \
	"SELECT r.day, r.org, r.domain, '', '', '', r.successful, " F          \
	" FROM d JOIN rollup_daily r ON r.domain = d.domain AND "              \
	"r.day BETWEEN ? AND ?"
/* One domain: its key's days ("+day": not the index on day). */
#define DAILY_SCAN(F, W)                                                       \
	"SELECT day, org, domain, '', '', '', successful, " F " FROM "         \
	"rollup_daily WHERE " W "+day BETWEEN ? AND ?"
/* Blocks of 32 weeks (schema/weeks.h), unpacked by weeks_rows. */
#define WEEKLY(O, W)                                                           \
	"SELECT block, " O ", domain, cells FROM rollup_weeks WHERE " W        \
	"block BETWEEN ? AND ?"

/* [table][domain filter][failure columns: the sessions' failed as 0] */
static const char *const source_sql[T_COUNT_][2][2] = {
	{ { ORG_DAY("failed"), ORG_DAY("0") }, { NULL, NULL } },
	{ { ORG_DAY("failed"), ORG_DAY("0") }, { NULL, NULL } },
	{ { DOMAIN_DAY_SKIP("r.failed"), DOMAIN_DAY_SKIP("0") },
	    { DOMAIN_DAY("failed", DOM), DOMAIN_DAY("0", DOM) } },
	{ { DAILY("r.failed"), DAILY("0") },
	    { DAILY_SCAN("failed", DOM), DAILY_SCAN("0", DOM) } },
	{ { WEEKLY("org", ""), WEEKLY("org", "") },
	    { WEEKLY("org", DOM), WEEKLY("org", DOM) } },
	{ { WEEKLY("''", ""), WEEKLY("''", "") },
	    { WEEKLY("''", DOM), WEEKLY("''", DOM) } },
};

/*
 * The failure rows, by day (rollup_failures) or by week (rollup_failures_
 * week, migration 0018: a seventh of the rows), with only the columns
 * asked for: a column SQLite reads costs about as much as the row's other
 * work (the weekly failure rows of a year by type: 111M instructions with
 * every column, 78M with the type alone; callgrind), so each set of
 * columns (org, domain, mx, ip, type: bit TRPT_ANALYSIS_x) has its
 * statement, written out by FAIL_SQL.  [columns][weekly][domain filter]
 */
#define FCOL_0(c) "''"
#define FCOL_1(c) c
#define FCOLS3(m, i, t)                                                        \
	FCOL_##m("mx") ", " FCOL_##i("ip") ", " FCOL_##t("result_type")
#define FCOLS(o, d, m, i, t)                                                   \
	FCOL_##o("org") ", " FCOL_##d("domain") ", " FCOLS3(m, i, t)
#define FDAY(C) "SELECT day, " C ", 0, failed FROM rollup_failures WHERE "
#define FWEEK(C)                                                               \
	"SELECT week * 7 - 3, " C ", 0, failed FROM rollup_failures_week "     \
	"WHERE "
#define FDAYS(C)                                                               \
	{                                                                      \
		FDAY(C)                                                        \
		"day BETWEEN ? AND ?", FDAY(C) DOM "day BETWEEN ? AND ?"       \
	}
#define FWEEKS(C)                                                              \
	{                                                                      \
		FWEEK(C)                                                       \
		"week BETWEEN ? AND ?", FWEEK(C) DOM "week BETWEEN ? AND ?"    \
	}
#define FAIL_SQL_(C)                                                           \
	{                                                                      \
		FDAYS(C), FWEEKS(C)                                            \
	}
#define FAIL_SQL(o, d, m, i, t) FAIL_SQL_(FCOLS(o, d, m, i, t))
_Static_assert(TRPT_ANALYSIS_ORG == 0 && TRPT_ANALYSIS_DOMAIN == 1 &&
		   TRPT_ANALYSIS_MX == 2 && TRPT_ANALYSIS_IP == 3 &&
		   TRPT_ANALYSIS_TYPE == 4 && TRPT_ANALYSIS_NCOLS == 5,
    "fails_sql: a bit per column, in the order of its SELECT");
static const char *const fails_sql[32][2][2] = { FAIL_SQL(0, 0, 0, 0, 0),
	FAIL_SQL(1, 0, 0, 0, 0), FAIL_SQL(0, 1, 0, 0, 0),
	FAIL_SQL(1, 1, 0, 0, 0), FAIL_SQL(0, 0, 1, 0, 0),
	FAIL_SQL(1, 0, 1, 0, 0), FAIL_SQL(0, 1, 1, 0, 0),
	FAIL_SQL(1, 1, 1, 0, 0), FAIL_SQL(0, 0, 0, 1, 0),
	FAIL_SQL(1, 0, 0, 1, 0), FAIL_SQL(0, 1, 0, 1, 0),
	FAIL_SQL(1, 1, 0, 1, 0), FAIL_SQL(0, 0, 1, 1, 0),
	FAIL_SQL(1, 0, 1, 1, 0), FAIL_SQL(0, 1, 1, 1, 0),
	FAIL_SQL(1, 1, 1, 1, 0), FAIL_SQL(0, 0, 0, 0, 1),
	FAIL_SQL(1, 0, 0, 0, 1), FAIL_SQL(0, 1, 0, 0, 1),
	FAIL_SQL(1, 1, 0, 0, 1), FAIL_SQL(0, 0, 1, 0, 1),
	FAIL_SQL(1, 0, 1, 0, 1), FAIL_SQL(0, 1, 1, 0, 1),
	FAIL_SQL(1, 1, 1, 0, 1), FAIL_SQL(0, 0, 0, 1, 1),
	FAIL_SQL(1, 0, 0, 1, 1), FAIL_SQL(0, 1, 0, 1, 1),
	FAIL_SQL(1, 1, 0, 1, 1), FAIL_SQL(0, 0, 1, 1, 1),
	FAIL_SQL(1, 0, 1, 1, 1), FAIL_SQL(0, 1, 1, 1, 1),
	FAIL_SQL(1, 1, 1, 1, 1) };

static int
pick_source(const struct trpt_analysis_query *q)
{
	if (!(q->cols & (1u << TRPT_ANALYSIS_DOMAIN)) && q->domain == NULL)
		return q->weekly ? T_ORG_DAY_W : T_ORG_DAY;
	/* Weekly by domain: rollup_weeks' blocks (a row per domain, sender
	 * and 32 weeks) are fewer rows than rollup_domain_week's (a row per
	 * domain and week), and a row read costs more than its cells. */
	if (q->weekly)
		return q->cols & (1u << TRPT_ANALYSIS_ORG) ? T_WEEKLY
							   : T_WEEKLY_DOMAIN;
	return q->cols & (1u << TRPT_ANALYSIS_ORG) ? T_DAILY : T_DOMAIN_DAY;
}

struct rows_ctx {
	struct trpt_db *db;
	int (*fn)(void *arg, const struct trpt_analysis_row *r);
	void *arg;
	struct trpt_err *err;
	unsigned cols;                 /* the columns asked for */
	int64_t first_week, last_week; /* weeks_row: the range asked for */
	int fails;                     /* weeks_row: failed goes as 0 */
	int blocks;                    /* weeks_row: a block in one row */
};

/*
 * A row of rollup_weeks: each of its weeks in the range as a row, the
 * strings of the first one also the next ones' (again = 1).
 */
static int
weeks_row(struct trpt_stmt *st, void *ctx)
{
	static const char none[] = "";
	struct rows_ctx *x = ctx;
	struct trpt_weeks_cell c[TRPT_WEEKS_BLOCK];
	struct trpt_analysis_row r;
	const void *cells;
	int64_t block = trpt_sql_int(st, 0), week;
	size_t len = 0;
	int i, n, rc;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < TRPT_ANALYSIS_NCOLS; i++)
		r.col[i] = none;
	/* The organisation only when asked for: by domain, the blocks of a
	 * domain's senders add up to the domain's weeks. */
	if (((x->cols & (1u << TRPT_ANALYSIS_ORG)) &&
		(r.col[TRPT_ANALYSIS_ORG] = trpt_sql_text(st, 1)) == NULL) ||
	    (r.col[TRPT_ANALYSIS_DOMAIN] = trpt_sql_text(st, 2)) == NULL)
		return nomem(x->db, x->err);
	cells = trpt_sql_blob(st, 3, &len);
	if ((n = trpt_weeks_read(cells, len, c)) < 0)
		return trpt_err_set(x->err, TRPT_EDB,
		    "database %s: rollup_weeks: malformed cells for %s, %s, "
		    "block %" PRId64,
		    trpt_db_path(x->db), r.col[TRPT_ANALYSIS_DOMAIN],
		    r.col[TRPT_ANALYSIS_ORG], block);
	if (x->blocks) {
		/* The block's weeks in one call: a call per week was a third
		 * of a year's trends by org and domain (callgrind). */
		struct trpt_analysis_cell w[TRPT_WEEKS_BLOCK];
		size_t m = 0;

		for (i = 0; i < n; i++) {
			week = block * TRPT_WEEKS_BLOCK + c[i].place;
			if (week < x->first_week || week > x->last_week)
				continue;
			w[m].day = trpt_calendar_week_monday(week);
			w[m].successful = c[i].successful;
			w[m].failed = x->fails ? 0 : c[i].failed;
			m++;
		}
		if (m == 0)
			return TRPT_OK;
		r.cells = w;
		r.ncells = m;
		return x->fn(x->arg, &r);
	}
	for (i = 0; i < n; i++) {
		week = block * TRPT_WEEKS_BLOCK + c[i].place;
		if (week < x->first_week || week > x->last_week)
			continue;
		r.day = trpt_calendar_week_monday(week);
		r.successful = c[i].successful;
		r.failed = x->fails ? 0 : c[i].failed;
		if ((rc = x->fn(x->arg, &r)) != TRPT_OK)
			return rc;
		r.again = 1;
	}
	return TRPT_OK;
}

/* A row of the other sources; only the columns asked for are read (each
 * text column read was a fifth of the weekly failure rows' cost). */
static int
rollup_row(struct trpt_stmt *st, void *ctx)
{
	static const char none[] = "";
	struct rows_ctx *x = ctx;
	struct trpt_analysis_row r;
	int i;

	r.again = 0;
	r.cells = NULL;
	r.ncells = 0;
	r.day = trpt_sql_int(st, 0);
	for (i = 0; i < TRPT_ANALYSIS_NCOLS; i++)
		if (!(x->cols & (1u << i)))
			r.col[i] = none;
		else if ((r.col[i] = trpt_sql_text(st, 1 + i)) == NULL)
			return nomem(x->db, x->err);
	r.successful = trpt_sql_int(st, 6);
	r.failed = trpt_sql_int(st, 7);
	return x->fn(x->arg, &r);
}

int
trpt_analysis_rollup_rows(struct trpt_db *db,
    const struct trpt_analysis_query *q,
    int (*fn)(void *arg, const struct trpt_analysis_row *r), void *arg,
    struct trpt_err *err)
{
	struct rows_ctx x = { db, fn, arg, err, q->cols, 0, 0, 0, q->blocks };
	struct trpt_stmt *st = NULL;
	int t = pick_source(q);
	int fails =
	    (q->cols & ((1u << TRPT_ANALYSIS_MX) | (1u << TRPT_ANALYSIS_IP) |
			   (1u << TRPT_ANALYSIS_TYPE))) != 0;
	int i = 1, rc;

	rc = trpt_sql_prepare(
	    db, source_sql[t][q->domain != NULL][fails], &st, err);
	if (rc != TRPT_OK)
		return rc;
	if (q->domain != NULL)
		trpt_sql_bind_text(st, i++, q->domain);
	if (t == T_WEEKLY || t == T_WEEKLY_DOMAIN) {
		x.first_week = trpt_calendar_week(q->first_day);
		x.last_week = trpt_calendar_week(q->last_day);
		x.fails = fails;
		trpt_sql_bind_int(st, i++, x.first_week >> TRPT_WEEKS_SHIFT);
		trpt_sql_bind_int(st, i, x.last_week >> TRPT_WEEKS_SHIFT);
		rc = each(&st, weeks_row, &x, err);
	} else {
		trpt_sql_bind_int(st, i++, q->first_day);
		trpt_sql_bind_int(st, i, q->last_day);
		rc = each(&st, rollup_row, &x, err);
	}
	if (rc != TRPT_OK || !fails)
		return rc;
	/* Weekly queries come in whole weeks (trend.c): the weeks hold the
	 * same failures as their days. */
	rc = trpt_sql_prepare(db,
	    fails_sql[q->cols & 31][q->weekly != 0][q->domain != NULL], &st,
	    err);
	if (rc != TRPT_OK)
		return rc;
	i = 1;
	if (q->domain != NULL)
		trpt_sql_bind_text(st, i++, q->domain);
	trpt_sql_bind_int(st, i++,
	    q->weekly ? trpt_calendar_week(q->first_day) : q->first_day);
	trpt_sql_bind_int(
	    st, i, q->weekly ? trpt_calendar_week(q->last_day) : q->last_day);
	return each(&st, rollup_row, &x, err);
}

/* ---- sums ---- */

struct sum_ctx {
	struct trpt_db *db;
	int (*fn)(void *arg, const struct trpt_analysis_sum *s);
	void *arg;
	struct trpt_err *err;
	int kind; /* which columns the statement gives */
};

enum { K_ITEM, K_SENDER, K_TOTAL, K_DAY, K_NEW_TYPE, K_TESTING };

static int
sum_row(struct trpt_stmt *st, void *ctx)
{
	struct sum_ctx *x = ctx;
	struct trpt_analysis_sum s;

	memset(&s, 0, sizeof(s));
	if ((s.name = trpt_sql_text(st, 0)) == NULL)
		return nomem(x->db, x->err);
	switch (x->kind) {
	case K_ITEM: /* name, failed */
		s.failed = trpt_sql_int(st, 1);
		break;
	case K_SENDER: /* name, failed, successful */
		s.failed = trpt_sql_int(st, 1);
		s.successful = trpt_sql_int(st, 2);
		break;
	case K_TOTAL: /* name, successful, failed */
		s.successful = trpt_sql_int(st, 1);
		s.failed = trpt_sql_int(st, 2);
		break;
	case K_DAY: /* name, day, successful, failed */
		s.first_day = s.last_day = trpt_sql_int(st, 1);
		s.successful = trpt_sql_int(st, 2);
		s.failed = trpt_sql_int(st, 3);
		break;
	case K_NEW_TYPE: /* domain, type, first, last, failed, history */
		if ((s.type = trpt_sql_text(st, 1)) == NULL)
			return nomem(x->db, x->err);
		s.first_day = trpt_sql_int(st, 2);
		s.last_day = trpt_sql_int(st, 3);
		s.failed = trpt_sql_int(st, 4);
		s.history_day = trpt_sql_int(st, 5);
		break;
	case K_TESTING: /* domain, first, last, successful, failed */
		s.first_day = trpt_sql_int(st, 1);
		s.last_day = trpt_sql_int(st, 2);
		s.successful = trpt_sql_int(st, 3);
		s.failed = trpt_sql_int(st, 4);
		break;
	}
	return x->fn(x->arg, &s);
}

/*
 * Failed sessions of a subject summed by a column.  Parameters: the
 * subject, the result type (TYPED; ANYTYPE: the subject again), the
 * first and last day, the limit.
 *
 * ANYTYPE: a domain's failures of any type, type by type: every result
 * type of the domain (rollup_type_first, migration 0016) and '' (no
 * details), so that rollup_failures_domain (domain, result_type, day)
 * seeks the days asked for of each instead of reading all of the
 * domain's days (a year's where an alert asks for a week).
 */
#define TOP(col, key, typed, named)                                            \
	"SELECT " col ", sum(failed) FROM rollup_failures WHERE " key          \
	" = ?" typed " AND day BETWEEN ? AND ?" named " GROUP BY " col         \
	" ORDER BY 2 DESC, 1 LIMIT ?"
#define TYPED " AND result_type = ?"
#define ANYTYPE                                                                \
	" AND result_type IN (SELECT t.result_type FROM rollup_type_first t"   \
	" WHERE t.domain = ? UNION ALL SELECT '')"
#define TOPS(col, key, any)                                                    \
	{                                                                      \
		{ TOP(col, key, any, ""), TOP(col, key, any, NAMED(col)) },    \
		{                                                              \
			TOP(col, key, TYPED, ""),                              \
			    TOP(col, key, TYPED, NAMED(col))                   \
		}                                                              \
	}
#define NAMED(col) " AND " col " <> ''"

/* [subject: org, domain][by][typed][named]; NULL: by is the subject. */
static const char *const top_sql[2][TRPT_ANALYSIS_NCOLS][2][2] = {
	{
	    { { NULL, NULL }, { NULL, NULL } },
	    TOPS("domain", "org", ""),
	    TOPS("mx", "org", ""),
	    TOPS("ip", "org", ""),
	    TOPS("result_type", "org", ""),
	},
	{
	    TOPS("org", "domain", ANYTYPE),
	    { { NULL, NULL }, { NULL, NULL } },
	    TOPS("mx", "domain", ANYTYPE),
	    TOPS("ip", "domain", ANYTYPE),
	    TOPS("result_type", "domain", ANYTYPE),
	},
};

/*
 * A domain's failures over a range with whole weeks in it: the weeks
 * from rollup_failures_week (migration 0018), the days before the first
 * and after the last from rollup_failures (a year's evidence reads 52
 * weeks instead of 365 days).  Parameters: the subject, the result type
 * (TYPED) or nothing, the first and last week; then twice the subject,
 * the type (or ANYTYPE's subject), the first and last day of an edge;
 * the limit.
 */
#define WTOP(col, typed, any, named)                                           \
	"SELECT " col ", sum(failed) FROM (SELECT " col ", failed FROM "       \
	"rollup_failures_week WHERE domain = ?" typed " AND week BETWEEN ? "   \
	"AND ? UNION ALL SELECT " col ", failed FROM rollup_failures WHERE "   \
	"domain = ?" any " AND day BETWEEN ? AND ? UNION ALL SELECT " col      \
	", failed FROM rollup_failures WHERE domain = ?" any " AND day "       \
	"BETWEEN ? AND ?) x WHERE 1 = 1" named " GROUP BY " col                \
	" ORDER BY 2 DESC, 1 LIMIT ?"
#define WTOPS(col)                                                             \
	{                                                                      \
		{ WTOP(col, "", ANYTYPE, ""),                                  \
			WTOP(col, "", ANYTYPE, NAMED(col)) },                  \
		{                                                              \
			WTOP(col, TYPED, TYPED, ""),                           \
			    WTOP(col, TYPED, TYPED, NAMED(col))                \
		}                                                              \
	}

/* [by][typed][named] of a domain; NULL: by is the domain. */
static const char *const week_top_sql[TRPT_ANALYSIS_NCOLS][2][2] = {
	WTOPS("org"),
	{ { NULL, NULL }, { NULL, NULL } },
	WTOPS("mx"),
	WTOPS("ip"),
	WTOPS("result_type"),
};

/* The whole weeks in [first, last] (days since 1970: the rollup's week
 * is (day + 3) / 7, truncated): 0 when there is none. */
static int
whole_weeks(int64_t first, int64_t last, int64_t *w1, int64_t *w2)
{
	if (first < 0 || last < first)
		return 0;
	*w1 = trpt_calendar_week(first);
	if (trpt_calendar_week_monday(*w1) < first)
		(*w1)++;
	*w2 = trpt_calendar_week(last);
	if (trpt_calendar_week_monday(*w2) + 6 > last)
		(*w2)--;
	return *w1 <= *w2;
}

/*
 * Binds, from parameter i on, the two ranges of edge days around the
 * whole weeks w1..w2 (the window's days before Monday of w1, and from
 * Monday after w2), each with the subject and the type (the subject
 * again when there is none); returns the next parameter.
 */
static int
bind_edge_days(struct trpt_stmt *st, int i,
    const struct trpt_analysis_top_query *q, int64_t w1, int64_t w2)
{
	int k;

	for (k = 0; k < 2; k++) {
		trpt_sql_bind_text(st, i++, q->subject);
		trpt_sql_bind_text(
		    st, i++, q->type != NULL ? q->type : q->subject);
		trpt_sql_bind_int(st, i++,
		    k == 0 ? q->first_day : trpt_calendar_week_monday(w2) + 7);
		trpt_sql_bind_int(st, i++,
		    k == 0 ? trpt_calendar_week_monday(w1) - 1 : q->last_day);
	}
	return i;
}

static int
top_by_weeks(struct trpt_db *db, const struct trpt_analysis_top_query *q,
    int64_t w1, int64_t w2, struct sum_ctx *x, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	const char *sql;
	int i = 1, rc;

	sql = week_top_sql[q->by][q->type != NULL][q->named != 0];
	if ((rc = trpt_sql_prepare(db, sql, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, i++, q->subject);
	if (q->type != NULL)
		trpt_sql_bind_text(st, i++, q->type);
	trpt_sql_bind_int(st, i++, w1);
	trpt_sql_bind_int(st, i++, w2);
	i = bind_edge_days(st, i, q, w1, w2);
	trpt_sql_bind_int(
	    st, i, q->max > INT64_MAX ? INT64_MAX : (int64_t)q->max);
	return each(&st, sum_row, x, err);
}

int
trpt_analysis_top_failures(struct trpt_db *db,
    const struct trpt_analysis_top_query *q,
    int (*fn)(void *arg, const struct trpt_analysis_sum *s), void *arg,
    struct trpt_err *err)
{
	struct sum_ctx x = { db, fn, arg, err, K_ITEM };
	struct trpt_stmt *st = NULL;
	const char *sql = NULL;
	int64_t w1, w2;
	int i = 1, rc;

	if ((q->subject_col == TRPT_ANALYSIS_ORG ||
		q->subject_col == TRPT_ANALYSIS_DOMAIN) &&
	    (unsigned)q->by < TRPT_ANALYSIS_NCOLS)
		sql = top_sql[q->subject_col == TRPT_ANALYSIS_DOMAIN][q->by]
			     [q->type != NULL][q->named != 0];
	if (sql == NULL)
		return trpt_err_set(err, TRPT_EINVAL,
		    "top failures: no such grouping (%d by %d)",
		    (int)q->subject_col, (int)q->by);
	if (q->subject_col == TRPT_ANALYSIS_DOMAIN &&
	    whole_weeks(q->first_day, q->last_day, &w1, &w2))
		return top_by_weeks(db, q, w1, w2, &x, err);
	if ((rc = trpt_sql_prepare(db, sql, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, i++, q->subject);
	if (q->type != NULL)
		trpt_sql_bind_text(st, i++, q->type);
	else if (q->subject_col == TRPT_ANALYSIS_DOMAIN)
		trpt_sql_bind_text(st, i++, q->subject);
	trpt_sql_bind_int(st, i++, q->first_day);
	trpt_sql_bind_int(st, i++, q->last_day);
	trpt_sql_bind_int(
	    st, i, q->max > INT64_MAX ? INT64_MAX : (int64_t)q->max);
	return each(&st, sum_row, &x, err);
}

/* ---- evidence: four columns in one read ---- */

/*
 * The subject's failure rows, each with the other side (the organisation
 * of a domain's row, the domain of an organisation's), result type, MX,
 * IP and failed; summed in C by each of the four columns.  Parameters as
 * for top_sql and week_top_sql, without the limit.  An alert shows four
 * columns: four GROUP BYs read the rows four times and sorted them eight
 * (2.6M instructions a column for an alert over a year of one domain,
 * docs/PERFORMANCE.md stop 25), one read and a hash table in C a quarter
 * of the rows and no sort but the few names found.
 */
#define EV_COLS   "result_type, mx, ip, failed FROM "
#define EV(other) "SELECT " other ", " EV_COLS
#define EV_DAYS(other, key, typed)                                             \
	EV(other)                                                              \
	"rollup_failures WHERE " key " = ?" typed " AND day BETWEEN ? AND ?"
#define EV_WEEKS(typed, any)                                                   \
	EV("org")                                                              \
	"rollup_failures_week WHERE domain = ?" typed                          \
	" AND week BETWEEN ? AND ? UNION ALL " EV(                             \
	    "org") "rollup_failures WHERE domain = ?" any                      \
		   " AND day BETWEEN ? AND ? UNION ALL " EV(                   \
		       "org") "rollup_failures WHERE domain = ?" any           \
			      " AND day BETWEEN ? AND ?"

enum { EV_ORG_DAYS, EV_DOMAIN_DAYS, EV_DOMAIN_WEEKS };

/* [source][typed]; kept prepared on the connection (trpt_sql_cached):
 * the alerts ask for the evidence of each alert. */
static const char *const ev_sql[3][2] = {
	[EV_ORG_DAYS] = { EV_DAYS("domain", "org", ""),
	    EV_DAYS("domain", "org", TYPED) },
	[EV_DOMAIN_DAYS] = { EV_DAYS("org", "domain", ANYTYPE),
	    EV_DAYS("org", "domain", TYPED) },
	[EV_DOMAIN_WEEKS] = { EV_WEEKS("", ANYTYPE), EV_WEEKS(TYPED, TYPED) },
};

struct ev_name {
	char *name; /* NUL-terminated copy */
	size_t len;
	int64_t failed;
};

/* One column's sums by name: open addressing, slots hold index + 1. */
struct ev_col {
	struct ev_name *v;
	size_t n, cap;
	size_t *slots, nslots; /* a power of 2, at least twice n */
};

static int
ev_grow(struct ev_col *c)
{
	struct ev_name *nv;
	size_t *ns, nn, i, j, ncap;

	if (c->n == c->cap) {
		ncap = c->cap == 0 ? 16 : c->cap * 2;
		if (ncap > SIZE_MAX / 2 / sizeof(*ns) ||
		    (nv = realloc(c->v, ncap * sizeof(*nv))) == NULL)
			return TRPT_ENOMEM;
		c->v = nv;
		c->cap = ncap;
	}
	if (c->nslots >= 2 * (c->n + 1))
		return TRPT_OK;
	nn = c->nslots == 0 ? 32 : c->nslots * 2;
	if ((ns = calloc(nn, sizeof(*ns))) == NULL)
		return TRPT_ENOMEM;
	for (i = 0; i < c->n; i++) {
		j = (size_t)trpt_hash_fnv1a(c->v[i].name, c->v[i].len) &
		    (nn - 1);
		while (ns[j] != 0)
			j = (j + 1) & (nn - 1);
		ns[j] = i + 1;
	}
	free(c->slots);
	c->slots = ns;
	c->nslots = nn;
	return TRPT_OK;
}

static int
ev_add(struct ev_col *c, const char *s, size_t len, int64_t failed)
{
	struct ev_name *e;
	size_t j;

	if (ev_grow(c) != TRPT_OK)
		return TRPT_ENOMEM;
	j = (size_t)trpt_hash_fnv1a(s, len) & (c->nslots - 1);
	for (; c->slots[j] != 0; j = (j + 1) & (c->nslots - 1)) {
		e = &c->v[c->slots[j] - 1];
		if (e->len == len && memcmp(e->name, s, len) == 0) {
			e->failed = trpt_count_add(e->failed, failed);
			return TRPT_OK;
		}
	}
	e = &c->v[c->n];
	if ((e->name = malloc(len + 1)) == NULL)
		return TRPT_ENOMEM;
	memcpy(e->name, s, len);
	e->name[len] = '\0';
	e->len = len;
	e->failed = failed;
	c->slots[j] = ++c->n;
	return TRPT_OK;
}

/* The most failed first, then by name as SQLite's BINARY collation and
 * PostgreSQL's "C" order them (ORDER BY 2 DESC, 1 of top_sql). */
static int
ev_cmp(const void *p, const void *q)
{
	const struct ev_name *a = p, *b = q;
	int c;

	if (a->failed != b->failed)
		return a->failed > b->failed ? -1 : 1;
	c = memcmp(a->name, b->name, a->len < b->len ? a->len : b->len);
	if (c != 0)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

static void
ev_free(struct ev_col *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->v[i].name);
	free(c->v);
	free(c->slots);
}

static void
ev_bind(struct trpt_stmt *st, int src, const struct trpt_analysis_top_query *q,
    int64_t w1, int64_t w2)
{
	int i = 1;

	trpt_sql_bind_text(st, i++, q->subject);
	if (q->type != NULL)
		trpt_sql_bind_text(st, i++, q->type);
	else if (src == EV_DOMAIN_DAYS)
		trpt_sql_bind_text(st, i++, q->subject); /* ANYTYPE */
	if (src != EV_DOMAIN_WEEKS) {
		trpt_sql_bind_int(st, i++, q->first_day);
		trpt_sql_bind_int(st, i, q->last_day);
		return;
	}
	trpt_sql_bind_int(st, i++, w1);
	trpt_sql_bind_int(st, i++, w2);
	bind_edge_days(st, i, q, w1, w2);
}

int
trpt_analysis_evidence(struct trpt_db *db,
    const struct trpt_analysis_top_query *q,
    int (*fn)(void *arg, enum trpt_analysis_col by,
	const struct trpt_analysis_sum *s),
    void *arg, struct trpt_err *err)
{
	/* the statement's columns 1-3, then 0 */
	static const enum trpt_analysis_col by[2][4] = {
		{ TRPT_ANALYSIS_TYPE, TRPT_ANALYSIS_MX, TRPT_ANALYSIS_IP,
		    TRPT_ANALYSIS_DOMAIN },
		{ TRPT_ANALYSIS_TYPE, TRPT_ANALYSIS_MX, TRPT_ANALYSIS_IP,
		    TRPT_ANALYSIS_ORG },
	};
	struct ev_col cols[4];
	struct trpt_analysis_sum s;
	struct trpt_stmt *st = NULL;
	const char *name;
	size_t len, i;
	int64_t w1 = 0, w2 = 0, failed;
	int dom, src, k, rc;

	if (q->subject_col != TRPT_ANALYSIS_ORG &&
	    q->subject_col != TRPT_ANALYSIS_DOMAIN)
		return trpt_err_set(err, TRPT_EINVAL,
		    "evidence: of an organisation or a domain only");
	dom = q->subject_col == TRPT_ANALYSIS_DOMAIN;
	src = !dom ? EV_ORG_DAYS
	      : whole_weeks(q->first_day, q->last_day, &w1, &w2)
		  ? EV_DOMAIN_WEEKS
		  : EV_DOMAIN_DAYS;
	if ((rc = trpt_sql_cached(
		 db, ev_sql[src][q->type != NULL], &st, err)) != TRPT_OK)
		return rc;
	memset(cols, 0, sizeof(cols));
	ev_bind(st, src, q, w1, w2);
	while ((rc = trpt_sql_step(st, err)) == 1) {
		failed = trpt_sql_int(st, 4);
		for (k = 0; k < 4; k++) {
			name = trpt_sql_textn(st, (k + 1) % 4, &len);
			if (name == NULL) {
				rc = nomem(db, err);
				goto out;
			}
			if (ev_add(&cols[k], name, len, failed) != TRPT_OK) {
				rc = nomem(db, err);
				goto out;
			}
		}
	}
	trpt_sql_reset(st);
	if (rc < 0)
		goto out;
	rc = TRPT_OK;
	for (k = 0; k < 4 && rc == TRPT_OK; k++) {
		if (cols[k].n > 1)
			qsort(cols[k].v, cols[k].n, sizeof(*cols[k].v), ev_cmp);
		for (i = 0; i < cols[k].n && i < q->max && rc == TRPT_OK; i++) {
			memset(&s, 0, sizeof(s));
			s.name = cols[k].v[i].name;
			s.failed = cols[k].v[i].failed;
			rc = fn(arg, by[dom][k], &s);
		}
	}
out:
	trpt_sql_reset(st);
	for (k = 0; k < 4; k++)
		ev_free(&cols[k]);
	return rc;
}

int
trpt_analysis_failing_senders(struct trpt_db *db, const char *domain,
    int64_t first_day, int64_t last_day, size_t max,
    int (*fn)(void *arg, const struct trpt_analysis_sum *s), void *arg,
    struct trpt_err *err)
{
	struct sum_ctx x = { db, fn, arg, err, K_SENDER };
	struct trpt_stmt *st = NULL;
	int rc;

	rc = trpt_sql_prepare(db,
	    "SELECT org, sum(failed), sum(successful) FROM rollup_daily "
	    "WHERE domain = ? AND day BETWEEN ? AND ? GROUP BY org HAVING "
	    "sum(failed) > 0 ORDER BY 2 DESC, 1 LIMIT ?",
	    &st, err);
	if (rc != TRPT_OK)
		return rc;
	trpt_sql_bind_text(st, 1, domain);
	trpt_sql_bind_int(st, 2, first_day);
	trpt_sql_bind_int(st, 3, last_day);
	trpt_sql_bind_int(st, 4, max > INT64_MAX ? INT64_MAX : (int64_t)max);
	return each(&st, sum_row, &x, err);
}

int
trpt_analysis_domain_totals(struct trpt_db *db, const char *domain,
    int64_t first_day, int64_t last_day,
    int (*fn)(void *arg, const struct trpt_analysis_sum *s), void *arg,
    struct trpt_err *err)
{
	struct sum_ctx x = { db, fn, arg, err, K_TOTAL };
	struct trpt_stmt *st = NULL;
	int i = 1, rc;

	rc = trpt_sql_prepare(db,
	    domain != NULL
		? "SELECT domain, sum(successful), sum(failed) FROM "
		  "rollup_domain_day WHERE domain = ? AND day BETWEEN ? AND ? "
		  "GROUP BY domain"
		: "SELECT domain, sum(successful), sum(failed) FROM "
		  "rollup_domain_day WHERE day BETWEEN ? AND ? GROUP BY "
		  "domain ORDER BY sum(failed) DESC, domain",
	    &st, err);
	if (rc != TRPT_OK)
		return rc;
	if (domain != NULL)
		trpt_sql_bind_text(st, i++, domain);
	trpt_sql_bind_int(st, i++, first_day);
	trpt_sql_bind_int(st, i, last_day);
	return each(&st, sum_row, &x, err);
}

int
trpt_analysis_daily_series(struct trpt_db *db, enum trpt_analysis_col by,
    int (*fn)(void *arg, const struct trpt_analysis_sum *s), void *arg,
    struct trpt_err *err)
{
	struct sum_ctx x = { db, fn, arg, err, K_DAY };
	struct trpt_stmt *st = NULL;
	int rc;

	if (by != TRPT_ANALYSIS_ORG && by != TRPT_ANALYSIS_DOMAIN)
		return trpt_err_set(err, TRPT_EINVAL,
		    "daily series: by organisation or domain only");
	rc = trpt_sql_prepare(db,
	    by == TRPT_ANALYSIS_ORG
		? "SELECT org, day, successful, failed FROM rollup_org_day "
		  "ORDER BY org, day"
		: "SELECT domain, day, successful, failed FROM "
		  "rollup_domain_day ORDER BY domain, day",
	    &st, err);
	if (rc != TRPT_OK)
		return rc;
	return each(&st, sum_row, &x, err);
}

/* The terms of the partial index rollup_domain_day_failing (migration
 * 0025), as it writes them: SQLite uses the index only for a query that
 * repeats them.  The index is keyed by a class of the failed share (then
 * the day); the exact share is checked on each day it finds. */
#define FAILING_CLASS                                                          \
	"CASE WHEN successful > failed * 99.0 THEN 0 "                         \
	"WHEN successful > failed * 49.0 THEN 1 "                              \
	"WHEN successful > failed * 24.0 THEN 2 "                              \
	"WHEN successful > failed * 11.5 THEN 3 "                              \
	"WHEN successful > failed * 5.25 THEN 4 "                              \
	"WHEN successful > failed * 2.125 THEN 5 "                             \
	"WHEN successful > failed * 0.5625 THEN 6 ELSE 7 END"
#define FAILING_DAY                                                            \
	"failed > 0 AND successful <= failed * 199.0 AND " FAILING_CLASS       \
	" >= ? AND failed / NULLIF(successful + failed * 1.0, 0)"

/*
 * The class of the index that holds every day of at least share failed:
 * the last whose lowest share (0.5% doubled class by class) is at most
 * share, less a margin that no rounding of the exact share crosses (the
 * classes are exact comparisons; the share is a division).
 */
static int64_t
failing_class(double share)
{
	double low = 0.01;
	int64_t c = 0;

	while (c < 7 && low <= share * 0.999) {
		low *= 2;
		c++;
	}
	return c;
}

int
trpt_analysis_daily_series_failing(struct trpt_db *db, double min_share,
    int64_t min_sessions,
    int (*fn)(void *arg, const struct trpt_analysis_sum *s), void *arg,
    struct trpt_err *err)
{
	struct sum_ctx x = { db, fn, arg, err, K_DAY };
	struct trpt_stmt *st = NULL;
	int rc;

	/* The index holds the days from 0.5% failed: a margin that no
	 * rounding of the shares crosses. */
	if (!(min_share >= 0.009))
		return trpt_err_set(err, TRPT_EINVAL,
		    "daily series: a failed share below 0.9%% is not indexed");
	rc = trpt_sql_prepare(db,
	    "SELECT domain, day, successful, failed FROM rollup_domain_day "
	    "WHERE domain IN (SELECT domain FROM rollup_domain_day "
	    "WHERE " FAILING_DAY " >= ? AND successful + failed * 1.0 >= ?) "
	    "ORDER BY domain, day",
	    &st, err);
	if (rc != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, failing_class(min_share));
	trpt_sql_bind_double(st, 2, min_share);
	trpt_sql_bind_int(st, 3, min_sessions);
	return each(&st, sum_row, &x, err);
}

int
trpt_analysis_new_failure_types(struct trpt_db *db, int64_t since,
    int64_t until, int64_t min_history,
    int (*fn)(void *arg, const struct trpt_analysis_sum *s), void *arg,
    struct trpt_err *err)
{
	struct sum_ctx x = { db, fn, arg, err, K_NEW_TYPE };
	struct trpt_stmt *st = NULL;
	int rc;

	/*
	 * A pair is new when its first day of all is in the window:
	 * rollup_type_first (migration 0016, kept by the store) has it, by
	 * day.  Only the pairs that are new and late enough in their
	 * domain's history sum their failures up to until (a pair whose
	 * first day is >= since has all its rows up to until inside the
	 * window).  On a year of 1,000 domains x 10 senders this reads a
	 * few hundred rows where grouping rollup_failures read 350,000
	 * (docs/PERFORMANCE.md).
	 */
	rc = trpt_sql_prepare(db,
	    "SELECT n.domain, n.result_type, min(f.day), max(f.day), "
	    "sum(f.failed), n.history FROM (SELECT t.domain AS domain, "
	    "t.result_type AS result_type, t.first_day AS first_day, "
	    "coalesce((SELECT min(d.day) FROM rollup_domain_day d WHERE "
	    "d.domain = t.domain), 0) AS history FROM rollup_type_first t "
	    "WHERE t.first_day BETWEEN ? AND ?) n CROSS JOIN rollup_failures "
	    "f WHERE n.first_day - n.history >= ? AND f.domain = n.domain AND "
	    "f.result_type = n.result_type AND f.day <= ? GROUP BY n.domain, "
	    "n.result_type, n.history",
	    &st, err);
	if (rc != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, since);
	trpt_sql_bind_int(st, 2, until);
	trpt_sql_bind_int(st, 3, min_history);
	trpt_sql_bind_int(st, 4, until);
	return each(&st, sum_row, &x, err);
}

/*
 * The whole weeks of the window from rollup_testing_week (migration
 * 0027), the days before and after them from rollup_testing, sought by
 * domain (its key leads with the domain; a domain with a row in any week
 * is in rollup_testing_week); each domain's first and last day sought in
 * rollup_testing.  Grouping rollup_testing's rows of the window read
 * 64,720 of them for a year of 20 domains in testing mode from 10 senders
 * (30 ms); this reads 52 weeks and a few edge days of each domain.
 * Parameters: the first and last week (empty: none whole), the first
 * and last day of each edge (empty: none), then the window twice.
 */
#define TESTING_EDGE                                                           \
	" UNION ALL SELECT domain, successful, failed FROM rollup_testing"     \
	" WHERE domain IN (SELECT DISTINCT domain FROM rollup_testing_week)"   \
	" AND day BETWEEN ? AND ?"
#define TESTING_DAY(fn)                                                        \
	"(SELECT " fn "(t.day) FROM rollup_testing t WHERE"                    \
	" t.domain = x.domain AND t.day BETWEEN ? AND ?)"

int
trpt_analysis_testing_failures(struct trpt_db *db, int64_t first_day,
    int64_t last_day, int (*fn)(void *arg, const struct trpt_analysis_sum *s),
    void *arg, struct trpt_err *err)
{
	static const char sql[] =
	    "SELECT x.domain, " TESTING_DAY("min") ", " TESTING_DAY(
		"max") ", sum(x.s), sum(x.f) FROM (SELECT domain, successful "
		       "AS s,"
		       " failed AS f FROM rollup_testing_week WHERE week "
		       "BETWEEN ? AND ?" TESTING_EDGE TESTING_EDGE
		       ") x GROUP BY x.domain";
	struct sum_ctx x = { db, fn, arg, err, K_TESTING };
	struct trpt_stmt *st = NULL;
	int64_t w1, w2, e[4];
	int rc;

	if (whole_weeks(first_day, last_day, &w1, &w2)) {
		e[0] = first_day;
		e[1] = trpt_calendar_week_monday(w1) - 1;
		e[2] = trpt_calendar_week_monday(w2) + 7;
		e[3] = last_day;
	} else {
		w1 = e[2] = 1;
		w2 = e[3] = 0;
		e[0] = first_day;
		e[1] = last_day;
	}
	if ((rc = trpt_sql_prepare(db, sql, &st, err)) != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, first_day);
	trpt_sql_bind_int(st, 2, last_day);
	trpt_sql_bind_int(st, 3, first_day);
	trpt_sql_bind_int(st, 4, last_day);
	trpt_sql_bind_int(st, 5, w1);
	trpt_sql_bind_int(st, 6, w2);
	trpt_sql_bind_int(st, 7, e[0]);
	trpt_sql_bind_int(st, 8, e[1]);
	trpt_sql_bind_int(st, 9, e[2]);
	trpt_sql_bind_int(st, 10, e[3]);
	return each(&st, sum_row, &x, err);
}

int
trpt_analysis_received_since(
    struct trpt_db *db, int64_t since, int *found, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc;

	/* reports has no index on received_at (one more per stored report
	 * for this one question): the newest rows come first. */
	rc = trpt_sql_prepare(db,
	    "SELECT 1 FROM reports WHERE received_at >= ? ORDER BY id DESC "
	    "LIMIT 1",
	    &st, err);
	if (rc != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, since);
	if ((rc = trpt_sql_step(st, err)) >= 0) {
		*found = rc;
		rc = TRPT_OK;
	}
	trpt_sql_finalize(&st);
	return rc;
}

int
trpt_analysis_last_received(
    struct trpt_db *db, int *found, int64_t *at, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	int rc;

	rc = trpt_sql_prepare(
	    db, "SELECT max(received_at) FROM reports", &st, err);
	if (rc != TRPT_OK)
		return rc;
	if ((rc = trpt_sql_step(st, err)) == 1) {
		*found = !trpt_sql_is_null(st, 0);
		if (*found)
			*at = trpt_sql_int(st, 0);
		rc = TRPT_OK;
	} else if (rc == 0)
		rc = trpt_err_set(err, TRPT_EDB,
		    "database %s: no last report received", trpt_db_path(db));
	trpt_sql_finalize(&st);
	return rc;
}

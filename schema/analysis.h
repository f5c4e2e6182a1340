#pragma once
/*
 * What trends, alerts and the weekly summary read: the rollups
 * (schema/migrations/sqlite/0003_rollup.sql) by day or week, per organisation,
 * policy domain, MX host, sending IP and result type.  These functions only
 * read, so they work on a read-only database or a replica.
 *
 * Days are days since the epoch and weeks Monday-based week numbers
 * (common/calendar.h); ranges are inclusive.  Rows go to a callback: its
 * strings are borrowed, valid only during the call (copy what you keep).
 * The callback returns TRPT_OK to go on; anything else stops the read and
 * is returned as it is.  The callback may run other queries.  Errors:
 * TRPT_ETEMP for a busy database, TRPT_ENOMEM, TRPT_EDB; the message
 * names the database.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct trpt_db;

/* The columns rows are grouped by. */
enum trpt_analysis_col {
	TRPT_ANALYSIS_ORG,    /* reporting organisation */
	TRPT_ANALYSIS_DOMAIN, /* policy domain */
	TRPT_ANALYSIS_MX,     /* receiving MX host of a failure */
	TRPT_ANALYSIS_IP,     /* sending MTA IP of a failure */
	TRPT_ANALYSIS_TYPE,   /* result type of a failure */
	TRPT_ANALYSIS_NCOLS
};

/*
 * The first and last day with sessions within [from, until], for domain
 * (NULL: any).  *first > *last when there is none.
 */
int trpt_analysis_data_range(struct trpt_db *db, const char *domain,
    int64_t from, int64_t until, int64_t *first, int64_t *last,
    struct trpt_err *err);

struct trpt_analysis_query {
	unsigned cols;      /* 1u << TRPT_ANALYSIS_x for each column wanted */
	int weekly;         /* rows per week rather than per day */
	const char *domain; /* only this policy domain, or NULL */
	int64_t first_day, last_day; /* weekly: whole weeks, Monday first */
	int blocks; /* 1: the weeks of one stored block may come in one row
		       (trpt_analysis_row.cells) */
};

struct trpt_analysis_cell {
	int64_t day; /* the week's Monday */
	int64_t successful, failed;
};

struct trpt_analysis_row {
	int64_t day; /* weekly: the week's Monday */
	/* Per column: "" where the row has no value for it (a column not
	 * asked for, or the sessions of a failure column). */
	const char *col[TRPT_ANALYSIS_NCOLS];
	int64_t successful, failed;
	/* 1: the same strings as the row before (the same pointers may
	 * come with other strings when again is 0). */
	int again;
	/* With q->blocks, a row may carry several weeks: ncells > 0, the
	 * weeks in cells[0..ncells) (ascending, borrowed as the strings are),
	 * and day, successful and failed not set.  0 otherwise. */
	const struct trpt_analysis_cell *cells;
	size_t ncells;
};

/*
 * The sessions of the days (or weeks) in q's range from the smallest
 * rollup that has q's columns, several rows per group and day in no
 * particular order (add them up).  With a failure column (MX, IP or
 * type) the failed sessions come split by failure details in rows of
 * their own (successful 0), and the session rows have failed 0: failed
 * sessions without details are in rows whose failure columns are "".
 */
int trpt_analysis_rollup_rows(struct trpt_db *db,
    const struct trpt_analysis_query *q,
    int (*fn)(void *arg, const struct trpt_analysis_row *r), void *arg,
    struct trpt_err *err);

/* One summed row; which fields a function sets is said with it. */
struct trpt_analysis_sum {
	const char *name; /* an organisation, domain, MX host, IP or type */
	const char *type; /* a result type, or NULL */
	int64_t first_day, last_day;
	int64_t successful, failed;
	int64_t history_day; /* the first day the domain has data */
};

/*
 * Failed sessions of one organisation or policy domain (q->subject_col,
 * q->subject) in a range, summed by another column (q->by: MX, IP, type,
 * or the domain of an organisation, the organisation of a domain), the
 * most failed first (then by name), at most q->max rows.  Sets name
 * ("" for failures without that detail) and failed.
 */
struct trpt_analysis_top_query {
	enum trpt_analysis_col subject_col; /* ORG or DOMAIN */
	const char *subject;
	enum trpt_analysis_col by;
	const char *type; /* only failures of this result type, or NULL */
	int named;        /* leave out failures without the detail */
	int64_t first_day, last_day;
	size_t max;
};
int trpt_analysis_top_failures(struct trpt_db *db,
    const struct trpt_analysis_top_query *q,
    int (*fn)(void *arg, const struct trpt_analysis_sum *s), void *arg,
    struct trpt_err *err);

/*
 * The evidence of an alert in one read of its subject's failures: what
 * trpt_analysis_top_failures gives (named 0) by result type, MX host,
 * sending IP and the other side (the organisations of a domain, the
 * domains of an organisation), in that order: fn gets by (TYPE, MX, IP,
 * then ORG or DOMAIN) with each row, at most q->max rows of each, the most
 * failed first (then by name, bytewise).  q->by and q->named are not read.
 * The statement is done before the first row goes to fn, so fn may run
 * any query.
 */
int trpt_analysis_evidence(struct trpt_db *db,
    const struct trpt_analysis_top_query *q,
    int (*fn)(void *arg, enum trpt_analysis_col by,
	const struct trpt_analysis_sum *s),
    void *arg, struct trpt_err *err);

/*
 * The organisations with failed sessions to domain in the range, the
 * most failed first (then by name), at most max: name, successful,
 * failed.
 */
int trpt_analysis_failing_senders(struct trpt_db *db, const char *domain,
    int64_t first_day, int64_t last_day, size_t max,
    int (*fn)(void *arg, const struct trpt_analysis_sum *s), void *arg,
    struct trpt_err *err);

/*
 * Sessions per policy domain over the range (domain: only that one;
 * NULL: every domain with sessions, the most failed first, then by
 * name): name, successful, failed.
 */
int trpt_analysis_domain_totals(struct trpt_db *db, const char *domain,
    int64_t first_day, int64_t last_day,
    int (*fn)(void *arg, const struct trpt_analysis_sum *s), void *arg,
    struct trpt_err *err);

/*
 * Every day with sessions of every organisation (by ORG) or policy
 * domain (by DOMAIN), sorted by name, then day: name, first_day and
 * last_day (the day), successful, failed.
 */
int trpt_analysis_daily_series(struct trpt_db *db, enum trpt_analysis_col by,
    int (*fn)(void *arg, const struct trpt_analysis_sum *s), void *arg,
    struct trpt_err *err);

/*
 * The same for the policy domains that have a day with at least
 * min_sessions sessions of which a share of at least min_share failed
 * (index rollup_domain_day_failing): only those can see a drop of
 * min_share points.  min_share must be at least 0.009 (the index holds the
 * days with 0.5% failed or more, a margin for rounding): TRPT_EINVAL
 * otherwise.
 */
int trpt_analysis_daily_series_failing(struct trpt_db *db, double min_share,
    int64_t min_sessions,
    int (*fn)(void *arg, const struct trpt_analysis_sum *s), void *arg,
    struct trpt_err *err);

/*
 * The result types of each domain's failures that were first seen on or
 * after since (up to until), at least min_history days after the
 * domain's first day of data (INT64_MIN: however soon): name (the
 * domain), type, first_day and last_day of the type's failures up to
 * until, failed (their sum) and history_day (the domain's first day, 0
 * when it has none).  In no particular order.
 */
int trpt_analysis_new_failure_types(struct trpt_db *db, int64_t since,
    int64_t until, int64_t min_history,
    int (*fn)(void *arg, const struct trpt_analysis_sum *s), void *arg,
    struct trpt_err *err);

/*
 * The policy domains with failed sessions under an MTA-STS policy in
 * testing mode in the range: name, first_day, last_day, successful,
 * failed.  In no particular order.
 */
int trpt_analysis_testing_failures(struct trpt_db *db, int64_t first_day,
    int64_t last_day, int (*fn)(void *arg, const struct trpt_analysis_sum *s),
    void *arg, struct trpt_err *err);

/*
 * Whether a report was received at or after since (UTC seconds): *found
 * 1 or 0.  Looks from the newest report back, so it answers at once
 * where reports keep arriving (trpt_analysis_last_received reads them
 * all).
 */
int trpt_analysis_received_since(
    struct trpt_db *db, int64_t since, int *found, struct trpt_err *err);

/*
 * When the last report was received (UTC seconds): *found 0 when no
 * report was ever stored (*at untouched).
 */
int trpt_analysis_last_received(
    struct trpt_db *db, int *found, int64_t *at, struct trpt_err *err);

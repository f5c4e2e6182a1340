#pragma once
/*
 * Trends: successful and failed sessions per period (UTC day or ISO week)
 * and group (organisation, policy domain, MX host, sending IP, result type).
 *
 * Counting rules (also in "trends --help"):
 * - A report counts on the UTC day its date-range starts (reports.day),
 *   whatever its length: a multi-day range is not spread over its days.
 * - Double-count guard: within one report, a policy domain's sessions are
 *   counted once.  Microsoft lists the same sessions under a tlsa and an
 *   sts policy of one domain; when a report has several policies for one
 *   domain, the policies are added per policy type and the type with the
 *   most sessions is used (ties: no-policy-found, sts, tlsa in that order).
 * - Grouping by mx, ip or type splits the failed sessions by failure
 *   details; successful sessions (and failed ones without details) go to
 *   the group where those fields are empty.  Failure types may overlap
 *   (RFC 8460 §4.3), so these failed counts can exceed the totals.
 *
 * The counts come from rollup tables that the store keeps up to date with
 * every report it writes (schema/rollup.h): reading them writes nothing.
 */

#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "report/export.h"
#include "report/trend_write.h"
#include "schema/db.h"

enum trpt_trend_dim {
	TRPT_DIM_ORG,
	TRPT_DIM_DOMAIN,
	TRPT_DIM_MX,
	TRPT_DIM_IP,
	TRPT_DIM_TYPE,
	TRPT_DIM_COUNT_
};

enum trpt_trend_period { TRPT_PERIOD_DAY, TRPT_PERIOD_WEEK };

/* Days are days since 1970-01-01 (UTC seconds / 86400). */
#define TRPT_DAY_MIN INT64_C(-1000000000)
#define TRPT_DAY_MAX INT64_C(1000000000)

struct trpt_trend_query {
	enum trpt_trend_dim dims[TRPT_DIM_COUNT_]; /* in the order asked */
	int ndims;
	enum trpt_trend_period period;
	int64_t since_day;  /* first day, inclusive; TRPT_DAY_MIN: no limit */
	int64_t until_day;  /* last day, inclusive; TRPT_DAY_MAX: no limit */
	const char *domain; /* only this policy domain, or NULL */
	/* Refuse results larger than groups x periods cells (memory cap). */
	uint64_t max_cells;
};

#define TRPT_TREND_MAX_CELLS_DEFAULT (16u * 1024 * 1024)

/* Defaults: org,domain by day, no date or domain limit. */
void trpt_trend_query_init(struct trpt_trend_query *q);

/*
 * Parses DIMS, a comma list of org, domain, mx, ip, type (each at most
 * once), into q.  TRPT_EINVAL names the bad word.
 */
int trpt_trend_parse_dims(
    const char *s, struct trpt_trend_query *q, struct trpt_err *err);

/* "organization_name", "policy_domain", "mx_host", ... */
const char *trpt_trend_dim_column(enum trpt_trend_dim d);

struct trpt_trend_cell {
	int64_t successful;
	int64_t failed;
};

struct trpt_trend_group {
	char *key[TRPT_DIM_COUNT_];    /* per query dim, in query order */
	struct trpt_trend_cell *cells; /* nperiods */
	int64_t successful, failed;    /* over all periods */
};

struct trpt_trend_chunk;

struct trpt_trend {
	struct trpt_trend_query q; /* domain not kept */
	int64_t first_period;      /* day, or week number (Monday-based) */
	int64_t nperiods;
	struct trpt_trend_group *groups; /* sorted by key */
	size_t ngroups;
	struct trpt_trend_chunk *mem; /* the groups' cells and keys */
};

/*
 * Runs q.  An empty result is not an error.
 * Caller frees *out with trpt_trend_free.
 */
int trpt_trend_run(struct trpt_db *db, const struct trpt_trend_query *q,
    struct trpt_trend **out, struct trpt_err *err);
void trpt_trend_free(struct trpt_trend **tp);

/* Period index of a day, its first day, and its label (YYYY-MM-DD or
 * YYYY-Www, at least 11 bytes). */
int64_t trpt_trend_period_of(enum trpt_trend_period p, int64_t day);
int64_t trpt_trend_period_start(enum trpt_trend_period p, int64_t period);
void trpt_trend_period_label(
    enum trpt_trend_period p, int64_t period, char *buf, size_t len);

/* Parses "YYYY-Www" into the day of that ISO week's Monday. */
int trpt_trend_parse_week(const char *s, int64_t *monday, struct trpt_err *err);

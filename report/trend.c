#include "report/trend.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "common/calendar.h"
#include "common/datetime.h"
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

/* ---- refresh ---- */

enum {
	ST_UP_DAILY,
	ST_UP_ORG,
	ST_UP_DOMAIN,
	ST_UP_WEEK,
	ST_UP_DOMAIN_WEEK,
	ST_UP_FAIL,
	ST_UP_TESTING,
	ST_FAILS,
	ST_COUNT_
};

static const char *const refresh_sql[ST_COUNT_] = {
	"INSERT INTO rollup_daily (day, org, domain, successful, failed, "
	"reports) VALUES (?1, ?2, ?3, ?4, ?5, 1) ON CONFLICT DO UPDATE SET "
	"successful = successful + excluded.successful, failed = failed + "
	"excluded.failed, reports = reports + 1",
	"INSERT INTO rollup_org_day (org, day, successful, failed) VALUES "
	"(?2, ?1, ?4, ?5) ON CONFLICT DO UPDATE SET successful = successful + "
	"excluded.successful, failed = failed + excluded.failed",
	"INSERT INTO rollup_domain_day (domain, day, successful, failed) "
	"VALUES (?3, ?1, ?4, ?5) ON CONFLICT DO UPDATE SET successful = "
	"successful + excluded.successful, failed = failed + excluded.failed",
	"INSERT INTO rollup_weekly (domain, week, org, successful, failed) "
	"VALUES (?3, (?1 + 3) / 7, ?2, ?4, ?5) ON CONFLICT DO UPDATE SET "
	"successful = successful + excluded.successful, failed = failed + "
	"excluded.failed",
	"INSERT INTO rollup_domain_week (domain, week, successful, failed) "
	"VALUES (?3, (?1 + 3) / 7, ?4, ?5) ON CONFLICT DO UPDATE SET "
	"successful = successful + excluded.successful, failed = failed + "
	"excluded.failed",
	"INSERT INTO rollup_failures (day, org, domain, result_type, mx, ip, "
	"failed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO UPDATE SET "
	"failed = failed + excluded.failed",
	"INSERT INTO rollup_testing (day, org, domain, successful, failed) "
	"VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO UPDATE SET successful = "
	"successful + excluded.successful, failed = failed + excluded.failed",
	"SELECT f.result_type, coalesce(f.receiving_mx_hostname, ''), "
	"coalesce(f.sending_mta_ip, ''), f.failed_session_count FROM policies "
	"p JOIN failures f ON f.policy = p.id WHERE p.report = ?1 AND "
	"p.policy_domain = ?2 AND p.policy_type = ?3",
};

/* Above this many new reports, org and domain sums are rebuilt in bulk. */
#define TRPT_TREND_BULK_REPORTS 2000

/* One policy type's sums within one (report, domain). */
struct tgroup {
	char type[64];
	int64_t s, f, details;
	int testing;
};

struct refresh {
	sqlite3 *h;
	struct trpt_db *db;
	sqlite3_stmt *st[ST_COUNT_];
	int64_t report, day;
	char *org;
	const char *domain; /* borrowed from the report's policy rows */
	struct tgroup g[8];
	int ng;
	int bulk; /* org and domain sums are rebuilt from rollup_daily */
	int64_t min_day, max_day;
};

/* The one SQLite error mapping (extended codes such as
 * SQLITE_BUSY_SNAPSHOT are busy too: issue 9 item 14). */
static int
sql_fail(struct refresh *r, int src, const char *what, struct trpt_err *err)
{
	return trpt_db_error(r->db, src, what, err);
}

static int
step_done(
    struct refresh *r, sqlite3_stmt *st, const char *what, struct trpt_err *err)
{
	int src = sqlite3_step(st);

	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return sql_fail(r, src, what, err);
	return TRPT_OK;
}

static int
upsert(struct refresh *r, int which, int64_t s, int64_t f, struct trpt_err *err)
{
	sqlite3_stmt *st = r->st[which];

	sqlite3_bind_int64(st, 1, r->day);
	sqlite3_bind_text(st, 2, r->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->domain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, s);
	sqlite3_bind_int64(st, 5, f);
	return step_done(r, st, "updating rollups", err);
}

static int
upsert_fail(struct refresh *r, const char *type, const char *mx, const char *ip,
    int64_t f, struct trpt_err *err)
{
	sqlite3_stmt *st = r->st[ST_UP_FAIL];

	sqlite3_bind_int64(st, 1, r->day);
	sqlite3_bind_text(st, 2, r->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, mx, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, ip, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, f);
	return step_done(r, st, "updating failure rollups", err);
}

/* Applies the guard to the policy types of one (report, domain). */
static int
flush(struct refresh *r, struct trpt_err *err)
{
	struct tgroup *best = NULL;
	sqlite3_stmt *st;
	int i, src, rc = TRPT_OK;

	for (i = 0; i < r->ng; i++) {
		if (best == NULL || r->g[i].s + r->g[i].f > best->s + best->f)
			best = &r->g[i];
		if (r->g[i].testing && r->g[i].f > 0 &&
		    (rc = upsert(r, ST_UP_TESTING, r->g[i].s, r->g[i].f,
			 err)) != TRPT_OK)
			return rc;
	}
	if (best == NULL)
		return TRPT_OK;
	r->ng = 0;
	if (r->day < r->min_day)
		r->min_day = r->day;
	if (r->day > r->max_day)
		r->max_day = r->day;
	if ((rc = upsert(r, ST_UP_DAILY, best->s, best->f, err)) != TRPT_OK)
		return rc;
	if (!r->bulk &&
	    ((rc = upsert(r, ST_UP_ORG, best->s, best->f, err)) != TRPT_OK ||
		(rc = upsert(r, ST_UP_DOMAIN, best->s, best->f, err)) !=
		    TRPT_OK ||
		(rc = upsert(r, ST_UP_WEEK, best->s, best->f, err)) !=
		    TRPT_OK ||
		(rc = upsert(r, ST_UP_DOMAIN_WEEK, best->s, best->f, err)) !=
		    TRPT_OK))
		return rc;
	if (best->details > 0) {
		st = r->st[ST_FAILS];
		sqlite3_bind_int64(st, 1, r->report);
		sqlite3_bind_text(st, 2, r->domain, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, best->type, -1, SQLITE_STATIC);
		while ((src = sqlite3_step(st)) == SQLITE_ROW) {
			rc = upsert_fail(r,
			    (const char *)sqlite3_column_text(st, 0),
			    (const char *)sqlite3_column_text(st, 1),
			    (const char *)sqlite3_column_text(st, 2),
			    sqlite3_column_int64(st, 3), err);
			if (rc != TRPT_OK)
				break;
		}
		if (rc == TRPT_OK && src != SQLITE_DONE)
			rc = sql_fail(r, src, "reading failure details", err);
		sqlite3_reset(st);
		if (rc != TRPT_OK)
			return rc;
	}
	/* Failed sessions the details do not account for. */
	if (best->f > best->details)
		rc = upsert_fail(r, "", "", "", best->f - best->details, err);
	return rc;
}

static int
set_report(struct refresh *r, int64_t report, int64_t day, const char *org,
    struct trpt_err *err)
{
	char *o = strdup(org);

	if (o == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	free(r->org);
	r->org = o;
	r->report = report;
	r->day = day;
	r->ng = 0;
	return TRPT_OK;
}

/* One policy of the report being rolled up. */
struct prow {
	char *domain, *type;
	int64_t s, f, details;
	int testing;
};

struct prows {
	struct prow *v;
	size_t n, cap;
};

static void
prows_clear(struct prows *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->v[i].domain);
		free(p->v[i].type);
	}
	p->n = 0;
}

static int
cmp_prow(const void *a, const void *b)
{
	const struct prow *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);

	return c != 0 ? c : strcmp(x->type, y->type);
}

/*
 * Groups the report's policies by domain and type (in C: cheaper than
 * having SQLite sort every policy row of a bulk rebuild) and applies the
 * guard per domain.
 */
static int
flush_report(struct refresh *r, struct prows *p, struct trpt_err *err)
{
	struct tgroup *g;
	size_t i;
	int rc = TRPT_OK;

	if (p->n > 1)
		qsort(p->v, p->n, sizeof(*p->v), cmp_prow);
	for (i = 0; i < p->n; i++) {
		if (i == 0 || strcmp(p->v[i].domain, p->v[i - 1].domain) != 0) {
			if (i > 0 && (rc = flush(r, err)) != TRPT_OK)
				return rc;
			r->domain = p->v[i].domain;
			r->ng = 0;
		}
		if (strlen(p->v[i].type) >= sizeof(r->g[0].type))
			continue; /* not a real type; cannot be matched */
		if (r->ng > 0 &&
		    strcmp(r->g[r->ng - 1].type, p->v[i].type) == 0)
			g = &r->g[r->ng - 1];
		else if (r->ng < (int)(sizeof(r->g) / sizeof(r->g[0]))) {
			g = &r->g[r->ng++];
			memset(g, 0, sizeof(*g));
			snprintf(g->type, sizeof(g->type), "%s", p->v[i].type);
		} else
			continue; /* more than 8 policy types: ignore extras */
		g->s += p->v[i].s;
		g->f += p->v[i].f;
		g->details += p->v[i].details;
		g->testing |= p->v[i].testing;
	}
	if (p->n > 0)
		rc = flush(r, err);
	r->domain = NULL;
	return rc;
}

static const char groups_sql[] =
    "SELECT r.id, r.day, r.organization_name, p.policy_domain, "
    "p.policy_type, p.successful, p.failed, p.details_failed, "
    "p.policy_type = 'sts' AND p.sts_mode IS 'testing' "
    "FROM policies p JOIN reports r ON r.id = p.report WHERE p.report > ?1 "
    "AND p.report <= ?2 AND r.counted = 1 ORDER BY p.report";

static const char *const clear_sql =
    "DELETE FROM rollup_daily; DELETE FROM rollup_org_day; "
    "DELETE FROM rollup_domain_day; DELETE FROM rollup_failures; "
    "DELETE FROM rollup_weekly; DELETE FROM rollup_domain_week; "
    "DELETE FROM rollup_testing; UPDATE rollup_state SET last_report = 0, "
    "dirty = 0 WHERE id = 1;";

/*
 * After many new reports, the per-organisation and per-domain sums of the
 * days they touched are recomputed from rollup_daily in two statements:
 * much faster than one upsert per report into tables in another order.
 */
static int
rebuild_sums(struct refresh *r, struct trpt_err *err)
{
	static const char *const sql[] = {
		"DELETE FROM rollup_org_day WHERE day BETWEEN ?1 AND ?2",
		"DELETE FROM rollup_domain_day WHERE day BETWEEN ?1 AND ?2",
		"INSERT INTO rollup_org_day (org, day, successful, failed) "
		"SELECT org, day, sum(successful), sum(failed) FROM "
		"rollup_daily WHERE day BETWEEN ?1 AND ?2 GROUP BY org, day",
		"INSERT INTO rollup_domain_day (domain, day, successful, "
		"failed) SELECT domain, day, sum(successful), sum(failed) FROM "
		"rollup_daily WHERE day BETWEEN ?1 AND ?2 GROUP BY domain, day "
		"ORDER BY domain, day",
		/* Weeks: ?3 and ?4 are the first and last week touched. */
		"DELETE FROM rollup_weekly WHERE week BETWEEN ?3 AND ?4",
		"DELETE FROM rollup_domain_week WHERE week BETWEEN ?3 AND ?4",
		"INSERT INTO rollup_weekly (domain, week, org, successful, "
		"failed) SELECT domain, (day + 3) / 7, org, sum(successful), "
		"sum(failed) FROM rollup_daily WHERE day BETWEEN ?3 * 7 - 3 "
		"AND "
		"?4 * 7 + 3 GROUP BY domain, (day + 3) / 7, org",
		"INSERT INTO rollup_domain_week (domain, week, successful, "
		"failed) SELECT domain, week, sum(successful), sum(failed) "
		"FROM "
		"rollup_weekly WHERE week BETWEEN ?3 AND ?4 GROUP BY domain, "
		"week",
	};
	sqlite3_stmt *st = NULL;
	size_t i;
	int src, rc = TRPT_OK;

	if (r->min_day > r->max_day)
		return TRPT_OK;
	for (i = 0; rc == TRPT_OK && i < sizeof(sql) / sizeof(sql[0]); i++) {
		src = sqlite3_prepare_v2(r->h, sql[i], -1, &st, NULL);
		if (src != SQLITE_OK)
			return sql_fail(r, src, "preparing rollup sums", err);
		sqlite3_bind_int64(st, 1, r->min_day);
		sqlite3_bind_int64(st, 2, r->max_day);
		if (sqlite3_bind_parameter_count(st) >= 3) {
			sqlite3_bind_int64(st, 3,
			    trpt_trend_period_of(TRPT_PERIOD_WEEK, r->min_day));
			sqlite3_bind_int64(st, 4,
			    trpt_trend_period_of(TRPT_PERIOD_WEEK, r->max_day));
		}
		rc = step_done(r, st, "rebuilding rollup sums", err);
		sqlite3_finalize(st);
	}
	return rc;
}

static int
refresh_range(
    struct refresh *r, int64_t last, int64_t max, struct trpt_err *err)
{
	sqlite3_stmt *gs = NULL;
	struct prows p = { NULL, 0, 0 };
	struct prow *pr, *nv;
	const char *org, *domain, *type;
	int64_t id;
	size_t ncap;
	int i, src, rc = TRPT_OK;

	for (i = 0; i < ST_COUNT_; i++) {
		src = sqlite3_prepare_v2(
		    r->h, refresh_sql[i], -1, &r->st[i], NULL);
		if (src != SQLITE_OK)
			return sql_fail(r, src, "preparing rollup update", err);
	}
	src = sqlite3_prepare_v2(r->h, groups_sql, -1, &gs, NULL);
	if (src != SQLITE_OK)
		return sql_fail(r, src, "preparing rollup query", err);
	sqlite3_bind_int64(gs, 1, last);
	sqlite3_bind_int64(gs, 2, max);
	while ((src = sqlite3_step(gs)) == SQLITE_ROW) {
		id = sqlite3_column_int64(gs, 0);
		org = (const char *)sqlite3_column_text(gs, 2);
		domain = (const char *)sqlite3_column_text(gs, 3);
		type = (const char *)sqlite3_column_text(gs, 4);
		if (org == NULL || domain == NULL || type == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			break;
		}
		if (r->org == NULL || id != r->report) {
			if ((rc = flush_report(r, &p, err)) != TRPT_OK ||
			    (rc = set_report(r, id, sqlite3_column_int64(gs, 1),
				 org, err)) != TRPT_OK)
				break;
			prows_clear(&p);
		}
		if (p.n == p.cap) {
			ncap = p.cap == 0 ? 16 : p.cap * 2;
			if ((nv = realloc(p.v, ncap * sizeof(*nv))) == NULL) {
				rc = trpt_err_set(
				    err, TRPT_ENOMEM, "out of memory");
				break;
			}
			p.v = nv;
			p.cap = ncap;
		}
		pr = &p.v[p.n];
		pr->domain = strdup(domain);
		pr->type = strdup(type);
		if (pr->domain == NULL || pr->type == NULL) {
			free(pr->domain);
			free(pr->type);
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			break;
		}
		pr->s = sqlite3_column_int64(gs, 5);
		pr->f = sqlite3_column_int64(gs, 6);
		pr->details = sqlite3_column_int64(gs, 7);
		pr->testing = sqlite3_column_int(gs, 8);
		p.n++;
	}
	if (rc == TRPT_OK && src != SQLITE_DONE)
		rc = sql_fail(r, src, "reading reports for rollups", err);
	if (rc == TRPT_OK)
		rc = flush_report(r, &p, err);
	prows_clear(&p);
	free(p.v);
	sqlite3_finalize(gs);
	if (rc == TRPT_OK && r->bulk)
		rc = rebuild_sums(r, err);
	return rc;
}

/*
 * Sets the page cache size (PRAGMA cache_size) and returns the old one.
 * A pragma takes no bound parameter; the value is an integer of ours.
 */
static int64_t
set_cache(sqlite3 *h, int64_t size)
{
	sqlite3_stmt *st = NULL;
	int64_t old = -2000;
	char sql[64];

	if (sqlite3_prepare_v2(h, "PRAGMA cache_size", -1, &st, NULL) ==
		SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		old = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = %lld", (long long)size);
	sqlite3_exec(h, sql, NULL, NULL, NULL);
	return old;
}

int
trpt_trend_refresh(struct trpt_db *db, struct trpt_err *err)
{
	struct refresh r;
	sqlite3_stmt *st = NULL;
	int64_t last = 0, max = 0, cache = 0;
	int dirty = 0, big, src, rc, i;

	memset(&r, 0, sizeof(r));
	r.db = db;
	r.h = trpt_db_handle(db);
	r.min_day = TRPT_DAY_MAX;
	r.max_day = TRPT_DAY_MIN;
	/* On a read-only database the rollups are brought up to date in
	 * copies of this connection's own (temp), never written back. */
	if (trpt_db_read_only(db) &&
	    (rc = trpt_db_shadow_tables(db, "rollup_", err)) != TRPT_OK)
		return rc;
	src = sqlite3_exec(r.h,
	    trpt_db_read_only(db) ? "BEGIN" : "BEGIN IMMEDIATE", NULL, NULL,
	    NULL);
	if (src != SQLITE_OK)
		return sql_fail(&r, src, "starting the rollup update", err);
	src = sqlite3_prepare_v2(r.h,
	    "SELECT last_report, dirty, (SELECT coalesce(max(id), 0) FROM "
	    "reports) FROM rollup_state WHERE id = 1",
	    -1, &st, NULL);
	if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		dirty = sqlite3_column_int(st, 1);
		max = sqlite3_column_int64(st, 2);
		src = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (src != SQLITE_OK) {
		rc = sql_fail(&r, src, "reading the rollup state", err);
		goto out;
	}
	if (dirty || max < last) {
		src = sqlite3_exec(r.h, clear_sql, NULL, NULL, NULL);
		if (src != SQLITE_OK) {
			rc = sql_fail(&r, src, "clearing rollups", err);
			goto out;
		}
		last = 0;
	}
	if (max == last) {
		rc = TRPT_OK;
		goto out;
	}
	r.bulk = max - last > TRPT_TREND_BULK_REPORTS;
	big = max - last > TRPT_TREND_BULK_REPORTS / 2;
	if (big) /* up to 128 MB of page cache while building */
		cache = set_cache(r.h, -128 * 1024);
	rc = refresh_range(&r, last, max, err);
	if (big)
		set_cache(r.h, cache);
	if (rc != TRPT_OK)
		goto out;
	src = sqlite3_prepare_v2(r.h,
	    "UPDATE rollup_state SET last_report = ?1 WHERE id = 1", -1, &st,
	    NULL);
	if (src == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, max);
		src = sqlite3_step(st);
		src = src == SQLITE_DONE ? SQLITE_OK : src;
	}
	sqlite3_finalize(st);
	if (src != SQLITE_OK)
		rc = sql_fail(&r, src, "saving the rollup state", err);
out:
	for (i = 0; i < ST_COUNT_; i++)
		sqlite3_finalize(r.st[i]);
	free(r.org);
	if (rc == TRPT_OK) {
		src = sqlite3_exec(r.h, "COMMIT", NULL, NULL, NULL);
		if (src != SQLITE_OK)
			rc = sql_fail(&r, src, "committing rollups", err);
	}
	if (rc != TRPT_OK && !sqlite3_get_autocommit(r.h))
		sqlite3_exec(r.h, "ROLLBACK", NULL, NULL, NULL);
	return rc;
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

	for (i = 0; i < q->ndims; i++)
		keys[i] = r->col[dim_col[q->dims[i]]];
	if ((rc = find_group(a, keys, &g, a->err)) != TRPT_OK)
		return rc;
	idx = trpt_trend_period_of(q->period, r->day) - a->t->first_period;
	g->cells[idx].successful += r->successful;
	g->cells[idx].failed += r->failed;
	g->successful += r->successful;
	g->failed += r->failed;
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

#include "schema/view.h"

#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "schema/sql.h"

/* A result grows to this many cells at most, whatever the limit. */
#define MAX_CELLS (4u * 1024 * 1024)

struct bind {
	int kind; /* 0 end, 'i' integer, 's' text (NULL binds NULL) */
	int64_t i;
	const char *s;
};

const char *
trpt_view_text(const struct trpt_view_rows *r, size_t row, size_t col)
{
	const char *s = r->text[row * r->ncols + col];

	return s != NULL ? s : "";
}

int64_t
trpt_view_int(const struct trpt_view_rows *r, size_t row, size_t col)
{
	return r->num[row * r->ncols + col];
}

int
trpt_view_null(const struct trpt_view_rows *r, size_t row, size_t col)
{
	return r->text[row * r->ncols + col] == NULL;
}

void
trpt_view_free(struct trpt_view_rows **rp)
{
	struct trpt_view_rows *r = *rp;
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nrows * r->ncols; i++)
		free(r->text[i]);
	free(r->text);
	free(r->len);
	free(r->num);
	free(r);
	*rp = NULL;
}

static int
grow(struct trpt_view_rows *r, size_t *cap, struct trpt_err *err)
{
	size_t ncap = *cap < 16 ? 16 : *cap * 2, cells = ncap * r->ncols;
	char **t;
	size_t *l;
	int64_t *n;

	if (cells > MAX_CELLS)
		return trpt_err_set(err, TRPT_ELIMIT,
		    "query result exceeds %u cells", MAX_CELLS);
	if ((t = realloc(r->text, cells * sizeof(*t))) == NULL)
		goto nomem;
	r->text = t;
	if ((l = realloc(r->len, cells * sizeof(*l))) == NULL)
		goto nomem;
	r->len = l;
	if ((n = realloc(r->num, cells * sizeof(*n))) == NULL)
		goto nomem;
	r->num = n;
	*cap = ncap;
	return TRPT_OK;
nomem:
	return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
}

/*
 * The statements below number their parameters (?1, ?2, ...: one value
 * used in several places); the driver takes '?' in order.  So the text is
 * copied with each ?N as ? and the value of parameter N bound there.
 * Only placeholders change: no value ever goes into the text.  The copy
 * (*textp, the caller frees it) must outlive the statement, whose error
 * messages quote it.
 */
static int
prepare_numbered(struct trpt_db *db, const char *sql, const struct bind *b,
    struct trpt_stmt **out, char **textp, struct trpt_err *err)
{
	size_t len = strlen(sql), i, o = 0, nb = 0;
	int order[64], n = 0, k, rc;
	char *text;

	while (b != NULL && b[nb].kind != 0)
		nb++;
	if ((text = malloc(len + 1)) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	for (i = 0; i < len; i++) {
		text[o++] = sql[i];
		if (sql[i] != '?' || sql[i + 1] < '1' || sql[i + 1] > '9')
			continue;
		for (k = 0; sql[i + 1] >= '0' && sql[i + 1] <= '9'; i++)
			k = k * 10 + (sql[i + 1] - '0');
		if (n == (int)(sizeof(order) / sizeof(order[0])) ||
		    k > (int)nb) {
			free(text);
			return trpt_err_set(err, TRPT_EINVAL,
			    "database %s: parameter ?%d of a view has no "
			    "value",
			    trpt_db_path(db), k);
		}
		order[n++] = k - 1;
	}
	text[o] = '\0';
	if ((rc = trpt_sql_prepare(db, text, out, err)) != TRPT_OK) {
		free(text);
		return rc;
	}
	*textp = text;
	for (k = 0; k < n; k++) {
		if (b[order[k]].kind == 'i')
			trpt_sql_bind_int(*out, k + 1, b[order[k]].i);
		else
			trpt_sql_bind_text(*out, k + 1, b[order[k]].s);
	}
	return TRPT_OK;
}

/*
 * Runs sql with binds (numbered from 1) and copies up to limit rows.
 * Column blobcol (or none, -1) is bytes, the others text.
 */
static int
run_blob(struct trpt_db *db, const char *what, const char *sql,
    const struct bind *b, size_t limit, int blobcol,
    struct trpt_view_rows **out, struct trpt_err *err)
{
	struct trpt_stmt *st = NULL;
	struct trpt_view_rows *r;
	size_t cap = 0, c, cell, n;
	const void *p;
	char *text = NULL;
	int s = 0, rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	if ((rc = prepare_numbered(db, sql, b, &st, &text, err)) != TRPT_OK)
		goto out;
	while (r->nrows < limit && (s = trpt_sql_step(st, err)) > 0) {
		/* The columns are known once a row is there: PostgreSQL
		 * sends them with the result, not with the statement. */
		if (r->nrows == 0)
			r->ncols = (size_t)trpt_sql_columns(st);
		if (r->nrows == cap && (rc = grow(r, &cap, err)) != TRPT_OK)
			goto out;
		/* The row counts before it is filled, so that a failure
		 * half way frees what it holds. */
		for (c = 0; c < r->ncols; c++)
			r->text[r->nrows * r->ncols + c] = NULL;
		r->nrows++;
		for (c = 0; c < r->ncols; c++) {
			cell = (r->nrows - 1) * r->ncols + c;
			r->len[cell] = 0;
			r->num[cell] = trpt_sql_int(st, (int)c);
			if (trpt_sql_is_null(st, (int)c))
				continue;
			n = 0;
			if ((int)c == blobcol)
				p = trpt_sql_blob(st, (int)c, &n);
			else
				p = trpt_sql_textn(st, (int)c, &n);
			if ((r->text[cell] = malloc(n + 1)) == NULL) {
				rc = trpt_err_set(
				    err, TRPT_ENOMEM, "out of memory");
				goto out;
			}
			if (n > 0 && p != NULL)
				memcpy(r->text[cell], p, n);
			r->text[cell][n] = '\0';
			r->len[cell] = n;
		}
	}
	if (s < 0) {
		rc = s;
		trpt_err_prefix(err, "%s", what);
		goto out;
	}
	*out = r;
	r = NULL;
	rc = TRPT_OK;
out:
	trpt_sql_finalize(&st);
	free(text);
	trpt_view_free(&r);
	return rc;
}

static int
run(struct trpt_db *db, const char *what, const char *sql, const struct bind *b,
    size_t limit, struct trpt_view_rows **out, struct trpt_err *err)
{
	return run_blob(db, what, sql, b, limit, -1, out, err);
}

#define REPORT_COLS                                                            \
	"r.id, r.organization_name, r.report_id, r.begin_ts, r.end_ts, "       \
	"r.total_successful, r.total_failed, r.seen_count, r.received_at"

/*
 * The policies index is (day, policy_domain): a range of days with a
 * domain is a scan of every domain's rows in the range (3.7 million
 * entries for a year of 1,000 domains).  Seeking each day of the range
 * instead (a recursive CTE of days, joined on day = and domain =) reads
 * only the domain's rows: measured on bench_analysis's database, the
 * latest reports of a domain over a year went from 0.29 s of CPU to a
 * few milliseconds.
 */
#define DAYS_CTE                                                               \
	"WITH RECURSIVE days(d) AS (SELECT CAST(?1 AS BIGINT) UNION ALL "      \
	"SELECT d + 1 FROM "                                                   \
	"days WHERE d < ?2) "

#define BY_ORG(INDEXED)                                                        \
	"SELECT " REPORT_COLS " FROM reports r" INDEXED                        \
	" WHERE r.begin_ts BETWEEN ?1 * 86400 AND ?2 * 86400 + 86399"          \
	" AND r.organization_name = ?4"                                        \
	" ORDER BY r.begin_ts DESC, r.id DESC LIMIT ?5"

int
trpt_view_reports(struct trpt_db *db, const struct trpt_view_filter *f,
    struct trpt_view_rows **out, struct trpt_err *err)
{
	/* [domain][org]; ?1 ?2 days, ?3 domain, ?4 org, ?5 limit.  By
	 * organisation: reports_begin (begin_ts, organization_name,
	 * report_id, copy) read backwards from the range's end, the
	 * organisation filtered in the index (one sender in ten: ten entries
	 * read for each shown, no table row for the others), the reports of
	 * one begin time put in id order as they come. */
	static const char *const sql[2][2] = {
		{ "SELECT " REPORT_COLS " FROM reports r"
		  " WHERE r.begin_ts BETWEEN ?1 * 86400 AND ?2 * 86400 + 86399"
		  " ORDER BY r.begin_ts DESC, r.id DESC LIMIT ?5",
		    BY_ORG("") },
		{ DAYS_CTE "SELECT " REPORT_COLS " FROM reports r WHERE r.id IN"
			   " (SELECT p.report FROM days CROSS JOIN policies p"
			   " WHERE p.day = days.d AND p.policy_domain = ?3)"
			   " ORDER BY r.begin_ts DESC, r.id DESC LIMIT ?5",
		    DAYS_CTE "SELECT " REPORT_COLS
			     " FROM reports r WHERE r.id IN"
			     " (SELECT p.report FROM days CROSS JOIN policies p"
			     " WHERE p.day = days.d AND p.policy_domain = ?3)"
			     " AND r.organization_name = ?4"
			     " ORDER BY r.begin_ts DESC, r.id DESC LIMIT ?5" },
	};
	/* SQLite's planner takes this index by itself since migration 0028;
	 * the INDEXED BY keeps it if an operator runs ANALYZE (while the
	 * unique key began with the organisation, the planner took the
	 * organisation's rows from it and sorted them all). */
	static const char by_org_sqlite[] = BY_ORG(" INDEXED BY reports_begin");
	const char *q = sql[f->domain != NULL][f->org != NULL];
	const struct bind b[] = { { 'i', f->since_day, NULL },
		{ 'i', f->until_day, NULL }, { 's', 0, f->domain },
		{ 's', 0, f->org }, { 'i', (int64_t)f->limit, NULL },
		{ 0, 0, NULL } };

	if (f->domain == NULL && f->org != NULL &&
	    trpt_sql_dialect(db) == TRPT_SQL_SQLITE)
		q = by_org_sqlite;
	return run(db, "reports", q, b, f->limit, out, err);
}

int
trpt_view_report(struct trpt_db *db, int64_t id, struct trpt_view_rows **out,
    struct trpt_err *err)
{
	static const char sql[] =
	    "SELECT " REPORT_COLS ", r.contact_info, r.last_seen_at, r.part,"
	    " w.source_kind, w.source, w.message_id, w.report_domain,"
	    " w.report_submitter, w.received_at, w.sha256, w.size,"
	    " substr(w.bytes, 1, CAST(?2 AS INTEGER)), r.dkim, r.dkim_reason,"
	    " r.dkim_domain, r.dkim_selector, r.dkim_aligned, r.dkim_accepted,"
	    " w.client"
	    " FROM reports r JOIN raw_inputs w ON w.id = r.raw_id"
	    " WHERE r.id = ?1";
	const struct bind b[] = { { 'i', id, NULL },
		{ 'i', TRPT_VIEW_MAX_RAW, NULL }, { 0, 0, NULL } };
	struct trpt_view_rows *r = NULL;
	int rc;

	if ((rc = run_blob(db, "report", sql, b, 1, 20, &r, err)) != TRPT_OK)
		return rc;
	if (r->nrows == 0) {
		trpt_view_free(&r);
		return trpt_err_set(err, TRPT_ENOTFOUND,
		    "no report with id %lld", (long long)id);
	}
	*out = r;
	return TRPT_OK;
}

int
trpt_view_policies(struct trpt_db *db, int64_t report,
    struct trpt_view_rows **out, struct trpt_err *err)
{
	static const char sql[] =
	    "SELECT idx, policy_type, policy_domain, policy_strings, mx_hosts,"
	    " successful, failed, details_failed FROM policies"
	    " WHERE report = ?1 ORDER BY idx";
	const struct bind b[] = { { 'i', report, NULL }, { 0, 0, NULL } };

	return run(db, "policies", sql, b, SIZE_MAX, out, err);
}

int
trpt_view_failures(struct trpt_db *db, int64_t report, size_t limit,
    struct trpt_view_rows **out, struct trpt_err *err)
{
	static const char sql[] =
	    "SELECT p.idx, f.result_type, f.sending_mta_ip,"
	    " f.receiving_mx_hostname, f.receiving_mx_helo, f.receiving_ip,"
	    " f.failed_session_count, f.failure_reason_code,"
	    " f.additional_information"
	    " FROM policies p JOIN failures f ON f.policy = p.id"
	    " WHERE p.report = ?1 ORDER BY p.idx, f.id";
	const struct bind b[] = { { 'i', report, NULL }, { 0, 0, NULL } };

	return run(db, "failures", sql, b, limit, out, err);
}

int
trpt_view_warnings(struct trpt_db *db, int64_t report,
    struct trpt_view_rows **out, struct trpt_err *err)
{
	static const char sql[] =
	    "SELECT message FROM warnings WHERE report = ?1 ORDER BY id";
	const struct bind b[] = { { 'i', report, NULL }, { 0, 0, NULL } };

	return run(db, "warnings", sql, b, 10000, out, err);
}

/* A list of the distinct values of a column in byte order, ", " between
 * them (trpt_sorted_list: schema/sql_sqlite.c), the same on both. */
#define LIST_SQLITE(COL) "trpt_sorted_list(" COL ")"
#define LIST_PG(COL)     "string_agg(DISTINCT " COL ", ', ' ORDER BY " COL ")"
/* A detail's count as a rollup cell takes it (TRPT_MAX_ROLLUP_COUNT at
 * most), so that hostile counts do not overflow the sum. */
#define CAPPED(X)                                                              \
	"CASE WHEN " X " > " TRPT_MAX_ROLLUP_COUNT_SQL                         \
	" THEN " TRPT_MAX_ROLLUP_COUNT_SQL " ELSE " X " END"
#define REASONS_FAILED CAPPED("f.failed_session_count")
/*
 * Failure reasons, most failed sessions first, then by every grouped
 * column (no two rows tie), NULLs first as SQLite puts them (PostgreSQL
 * would put them last).  One query for a domain and one for a sender,
 * which differ in FD: the days (and domains) with failures, from the
 * failure rollup; LIST: the senders or domains of a row; DOMAIN: the
 * policy domain sought; AND: what else a row must meet.
 */
#define REASONS(FD, LIST, DOMAIN, AND)                                         \
	"WITH fd AS (" FD ")"                                                  \
	" SELECT f.result_type, f.receiving_mx_hostname,"                      \
	" f.failure_reason_code, f.additional_information,"                    \
	" sum(" REASONS_FAILED "), count(DISTINCT r.id), " LIST ", max(p.day)" \
	" FROM fd CROSS JOIN policies p CROSS JOIN failures f"                 \
	" JOIN reports r ON r.id = p.report"                                   \
	" WHERE p.day = fd.day AND p.policy_domain = " DOMAIN                  \
	" AND f.policy = p.id" AND                                             \
	" GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 1, 2 NULLS FIRST,"              \
	" 3 NULLS FIRST, 4 NULLS FIRST LIMIT ?5"
#define REASONS_DOMAIN(LIST)                                                   \
	REASONS("SELECT DISTINCT day FROM rollup_failures"                     \
		" WHERE domain = ?3 AND day BETWEEN ?1 AND ?2",                \
	    LIST, "?3", "")
#define REASONS_ORG(LIST)                                                      \
	REASONS("SELECT DISTINCT day, domain FROM rollup_failures"             \
		" WHERE org = ?4 AND day BETWEEN ?1 AND ?2"                    \
		" AND (CAST(?3 AS TEXT) IS NULL OR domain = ?3)",              \
	    LIST, "fd.domain", " AND r.organization_name = ?4")

int
trpt_view_reasons(struct trpt_db *db, const struct trpt_view_filter *f,
    struct trpt_view_rows **out, struct trpt_err *err)
{
	/*
	 * [org given]; ?1 ?2 days, ?3 domain, ?4 org, ?5 limit.  The days
	 * (and domains) with failures come from the failure rollup, through
	 * its (domain, ...) and (org, day) indexes; then the policies of
	 * those days are sought by (day, domain): only rows with failures
	 * are read.
	 */
	static const char *const sql[2][2] = {
		{ REASONS_DOMAIN(LIST_SQLITE("r.organization_name")),
		    REASONS_ORG(LIST_SQLITE("p.policy_domain")) },
		{ REASONS_DOMAIN(LIST_PG("r.organization_name")),
		    REASONS_ORG(LIST_PG("p.policy_domain")) },
	};
	const struct bind b[] = { { 'i', f->since_day, NULL },
		{ 'i', f->until_day, NULL }, { 's', 0, f->domain },
		{ 's', 0, f->org }, { 'i', (int64_t)f->limit, NULL },
		{ 0, 0, NULL } };

	if (f->org == NULL && f->domain == NULL)
		return trpt_err_set(err, TRPT_EINVAL,
		    "reasons: a domain or a sender is needed");
	return run(db, "failure reasons",
	    sql[trpt_sql_dialect(db) == TRPT_SQL_PG][f->org != NULL], b,
	    f->limit, out, err);
}

int
trpt_view_sender_domains(struct trpt_db *db, const struct trpt_view_filter *f,
    struct trpt_view_rows **out, struct trpt_err *err)
{
	/* The domains with failures from the failure rollup's (org, day)
	 * index; their sessions by (domain, day) from rollup_daily's key. */
	static const char sql[] =
	    "WITH fd AS (SELECT DISTINCT domain FROM rollup_failures"
	    " WHERE org = ?4 AND day BETWEEN ?1 AND ?2)"
	    " SELECT fd.domain, sum(d.successful), sum(d.failed)"
	    " FROM fd JOIN rollup_daily d ON d.domain = fd.domain"
	    " AND d.day BETWEEN ?1 AND ?2 AND d.org = ?4"
	    " GROUP BY fd.domain ORDER BY 3 DESC, 1 LIMIT ?5";
	const struct bind b[] = { { 'i', f->since_day, NULL },
		{ 'i', f->until_day, NULL }, { 's', 0, NULL },
		{ 's', 0, f->org }, { 'i', (int64_t)f->limit, NULL },
		{ 0, 0, NULL } };

	return run(db, "sender domains", sql, b, f->limit, out, err);
}

int
trpt_view_quarantine(struct trpt_db *db, size_t limit,
    struct trpt_view_rows **out, struct trpt_err *err)
{
	static const char sql[] =
	    "SELECT id, reason, source_kind, source, size, seen_count,"
	    " received_at, last_seen_at, filename, report_domain, part"
	    " FROM quarantine ORDER BY last_seen_at DESC, id DESC LIMIT ?1";
	const struct bind b[] = { { 'i', (int64_t)limit, NULL },
		{ 0, 0, NULL } };

	return run(db, "quarantine", sql, b, limit, out, err);
}

int
trpt_view_quarantine_count(
    struct trpt_db *db, int64_t *out, struct trpt_err *err)
{
	struct trpt_view_rows *r = NULL;
	int rc;

	rc = run(db, "quarantine", "SELECT count(*) FROM quarantine", NULL, 1,
	    &r, err);
	if (rc != TRPT_OK)
		return rc;
	*out = r->nrows > 0 ? trpt_view_int(r, 0, 0) : 0;
	trpt_view_free(&r);
	return TRPT_OK;
}

int
trpt_view_data_version(struct trpt_db *db, int64_t *out, struct trpt_err *err)
{
	struct trpt_view_rows *r = NULL;
	int rc;

	/* Changed by every transaction that changes the rollups, when it
	 * commits (migration 0019); the highest report id could stay the
	 * same on PostgreSQL when a transaction with lower ids committed
	 * after one with higher ones. */
	rc = run(db, "data version",
	    "SELECT coalesce(sum(n), 0) FROM data_version", NULL, 1, &r, err);
	if (rc != TRPT_OK)
		return rc;
	*out = r->nrows > 0 ? trpt_view_int(r, 0, 0) : 0;
	trpt_view_free(&r);
	return TRPT_OK;
}

int
trpt_view_metric_sessions(struct trpt_db *db, size_t limit,
    struct trpt_view_rows **out, struct trpt_err *err)
{
	static const char sql[] =
	    "SELECT domain, org, sum(trpt_weeks_sum(cells, -1, 0)),"
	    " sum(trpt_weeks_sum(cells, -1, 1)) FROM rollup_weeks"
	    " GROUP BY domain, org ORDER BY domain, org LIMIT ?1";
	const struct bind b[] = { { 'i', (int64_t)limit, NULL },
		{ 0, 0, NULL } };

	return run(db, "metrics", sql, b, limit, out, err);
}

int
trpt_view_metric_failures(struct trpt_db *db, size_t limit,
    struct trpt_view_rows **out, struct trpt_err *err)
{
	static const char sql[] =
	    "SELECT domain, result_type, mx, sum(failed) FROM rollup_failures"
	    " GROUP BY domain, result_type, mx ORDER BY domain, result_type, mx"
	    " LIMIT ?1";
	const struct bind b[] = { { 'i', (int64_t)limit, NULL },
		{ 0, 0, NULL } };

	return run(db, "metrics", sql, b, limit, out, err);
}

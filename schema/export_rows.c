#include "schema/export_rows.h"

#include "schema/db.h"
#include "schema/sql.h"

/*
 * ? and ? bound the report begin (inclusive); DOMAIN adds the policy
 * domain.  reports_begin, the reports' unique key (begin_ts,
 * organization_name, report_id, copy; migration 0028), and
 * policies_report (report, idx) give this order: the rows stream out as
 * they are read, with no sort (tests/unit/test_export.c).  The ORDER BY
 * alone sets the rows' order.  lower() on both sides: SQLite's NOCASE and
 * lower() fold ASCII alike, and PostgreSQL has no NOCASE.
 */
#define FILTER " WHERE r.begin_ts >= ? AND r.begin_ts <= ?"
#define DOMAIN " AND lower(p.policy_domain) = lower(?)"
#define ORDER                                                                  \
	" ORDER BY r.begin_ts, r.organization_name, r.report_id, r.copy, "     \
	"p.idx"

#define POLICIES(W)                                                            \
	"SELECT r.report_id, r.organization_name, r.contact_info, r.begin_ts," \
	" r.end_ts, p.policy_type, p.policy_domain, p.policy_strings,"         \
	" p.mx_hosts, p.successful, p.failed, r.copy, r.conflict"              \
	" FROM reports r JOIN policies p ON p.report = r.id" FILTER W ORDER

#define FAILURES(W)                                                            \
	"SELECT r.report_id, r.organization_name, r.begin_ts, r.end_ts,"       \
	" p.policy_type, p.policy_domain, p.mx_hosts, f.result_type,"          \
	" f.sending_mta_ip, f.receiving_mx_hostname, f.receiving_mx_helo,"     \
	" f.receiving_ip, f.failed_session_count, f.failure_reason_code,"      \
	" f.additional_information, r.copy, r.conflict"                        \
	" FROM reports r JOIN policies p ON p.report = r.id"                   \
	" JOIN failures f ON f.policy = p.id" FILTER W ORDER ", f.id"

#define REPORTS(W)                                                             \
	"SELECT r.id, r.organization_name, r.report_id, r.contact_info,"       \
	" r.begin_ts, r.end_ts, r.day, (SELECT count(*) FROM policies p"       \
	" WHERE p.report = r.id), r.total_successful, r.total_failed,"         \
	" r.received_at, r.seen_count, r.copy, r.conflict, r.dkim,"            \
	" r.dkim_domain, r.dkim_selector, r.dkim_aligned,"                     \
	" r.dkim_key_service, r.dkim_accepted, r.dkim_reason FROM reports "    \
	"r" FILTER W " ORDER BY r.begin_ts, r.organization_name, r.report_id," \
	" r.copy"
#define HAS_DOMAIN                                                             \
	" AND EXISTS (SELECT 1 FROM policies p WHERE p.report = r.id AND"      \
	" lower(p.policy_domain) = lower(?))"

struct export_kind {
	const char *sql[2]; /* without, with the domain */
	const char *cells;  /* 't' text, 'i' integer, per cell */
};

static const struct export_kind policies = {
	{ POLICIES(""), POLICIES(DOMAIN) },
	"tttiitttt"
	"iiii",
};

static const struct export_kind failures = {
	{ FAILURES(""), FAILURES(DOMAIN) },
	"ttiittttttttittii",
};

static const struct export_kind reports = {
	{ REPORTS(""), REPORTS(HAS_DOMAIN) },
	"itttiiiiiiiiiittttt"
	"it",
};

static int
run(struct trpt_db *db, const struct export_kind *k,
    const struct trpt_export_rows_filter *f,
    int (*fn)(void *arg, const struct trpt_export_cell *row), void *arg,
    struct trpt_err *err)
{
	struct trpt_export_cell row[TRPT_EXPORT_REPORT_CELLS];
	struct trpt_stmt *st = NULL;
	int i, src, rc = TRPT_OK;

	rc = trpt_sql_prepare(db, k->sql[f->domain != NULL], &st, err);
	if (rc != TRPT_OK)
		return rc;
	trpt_sql_bind_int(st, 1, f->since);
	trpt_sql_bind_int(st, 2, f->until);
	if (f->domain != NULL)
		trpt_sql_bind_text(st, 3, f->domain);
	while ((src = trpt_sql_step(st, err)) == 1) {
		for (i = 0; k->cells[i] != '\0'; i++) {
			row[i].text = NULL;
			row[i].len = 0;
			row[i].num = 0;
			if (k->cells[i] == 'i')
				row[i].num = trpt_sql_int(st, i);
			else
				row[i].text =
				    trpt_sql_textn(st, i, &row[i].len);
		}
		if ((rc = fn(arg, row)) != TRPT_OK)
			break;
	}
	if (src < 0)
		rc = src;
	trpt_sql_finalize(&st);
	return rc;
}

int
trpt_export_rows_policies(struct trpt_db *db,
    const struct trpt_export_rows_filter *f,
    int (*fn)(void *arg, const struct trpt_export_cell *row), void *arg,
    struct trpt_err *err)
{
	return run(db, &policies, f, fn, arg, err);
}

int
trpt_export_rows_failures(struct trpt_db *db,
    const struct trpt_export_rows_filter *f,
    int (*fn)(void *arg, const struct trpt_export_cell *row), void *arg,
    struct trpt_err *err)
{
	return run(db, &failures, f, fn, arg, err);
}

int
trpt_export_rows_reports(struct trpt_db *db,
    const struct trpt_export_rows_filter *f,
    int (*fn)(void *arg, const struct trpt_export_cell *row), void *arg,
    struct trpt_err *err)
{
	return run(db, &reports, f, fn, arg, err);
}

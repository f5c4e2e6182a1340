#include "report/export.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "common/err.h"
#include "report/csv.h"
#include "schema/db.h"

enum col_kind { COL_TEXT, COL_INT, COL_DATE, COL_LIST };

struct column {
	const char *name;
	enum col_kind kind;
};

struct export_kind {
	const char *what; /* for messages */
	const char *sql;  /* selects the columns in order */
	const struct column *cols;
	int ncols;
};

/*
 * Every copy of a report is exported; copy and conflict (the last two
 * columns) tell conflicting copies of one report apart
 * (schema/0005_report_copies.sql).
 * ?1 and ?2 bound the report begin (inclusive), ?3 is the policy domain or
 * NULL.  The unique indexes reports_begin and policies_report(report, idx)
 * give this order without a sort, so rows stream out as they are read.
 */
#define FILTER                                                                 \
	" WHERE r.begin_ts >= ?1 AND r.begin_ts <= ?2"                         \
	" AND (?3 IS NULL OR p.policy_domain = ?3 COLLATE NOCASE)"
#define ORDER                                                                  \
	" ORDER BY r.begin_ts, r.organization_name, r.report_id, r.copy, "     \
	"p.idx"

static const struct column policy_cols[] = {
	{ "report_id", COL_TEXT },
	{ "organization_name", COL_TEXT },
	{ "contact_info", COL_TEXT },
	{ "begin_date", COL_DATE },
	{ "end_date", COL_DATE },
	{ "policy_type", COL_TEXT },
	{ "policy_domain", COL_TEXT },
	{ "policy_strings", COL_LIST },
	{ "mx_host_patterns", COL_LIST },
	{ "successful_session_count", COL_INT },
	{ "failed_session_count", COL_INT },
	{ "copy", COL_INT },
	{ "conflict", COL_INT },
};

static const struct export_kind policies = {
	"exporting policies",
	"SELECT r.report_id, r.organization_name, r.contact_info, r.begin_ts,"
	" r.end_ts, p.policy_type, p.policy_domain, p.policy_strings,"
	" p.mx_hosts, p.successful, p.failed, r.copy, r.conflict"
	" FROM reports r JOIN policies p ON p.report = r.id" FILTER ORDER,
	policy_cols,
	(int)(sizeof(policy_cols) / sizeof(policy_cols[0])),
};

static const struct column failure_cols[] = {
	{ "report_id", COL_TEXT },
	{ "organization_name", COL_TEXT },
	{ "begin_date", COL_DATE },
	{ "end_date", COL_DATE },
	{ "policy_type", COL_TEXT },
	{ "policy_domain", COL_TEXT },
	{ "mx_host_patterns", COL_LIST },
	{ "result_type", COL_TEXT },
	{ "sending_mta_ip", COL_TEXT },
	{ "receiving_mx_hostname", COL_TEXT },
	{ "receiving_mx_helo", COL_TEXT },
	{ "receiving_ip", COL_TEXT },
	{ "failed_session_count", COL_INT },
	{ "failure_reason_code", COL_TEXT },
	{ "additional_information", COL_TEXT },
	{ "copy", COL_INT },
	{ "conflict", COL_INT },
};

static const struct export_kind failures = {
	"exporting failures",
	"SELECT r.report_id, r.organization_name, r.begin_ts, r.end_ts,"
	" p.policy_type, p.policy_domain, p.mx_hosts, f.result_type,"
	" f.sending_mta_ip, f.receiving_mx_hostname, f.receiving_mx_helo,"
	" f.receiving_ip, f.failed_session_count, f.failure_reason_code,"
	" f.additional_information, r.copy, r.conflict"
	" FROM reports r JOIN policies p ON p.report = r.id"
	" JOIN failures f ON f.policy = p.id" FILTER ORDER ", f.id",
	failure_cols,
	(int)(sizeof(failure_cols) / sizeof(failure_cols[0])),
};

void
trpt_export_filter_init(struct trpt_export_filter *f)
{
	memset(f, 0, sizeof(*f));
}

/* The filter as inclusive bounds on begin and a domain (or NULL). */
static void
bounds(const struct trpt_export_filter *f, int64_t *lo, int64_t *hi,
    const char **domain)
{
	*lo = INT64_MIN;
	*hi = INT64_MAX;
	*domain = NULL;
	if (f == NULL)
		return;
	if (f->since != 0)
		*lo = f->since;
	if (f->until == INT64_MIN) {
		*lo = INT64_MAX; /* nothing is before the first second */
		*hi = INT64_MIN;
	} else if (f->until != 0 && f->until != INT64_MAX)
		*hi = f->until - 1;
	if (f->domain != NULL && f->domain[0] != '\0')
		*domain = f->domain;
}

static void
cell(struct trpt_csv *csv, sqlite3_stmt *st, int i, enum col_kind kind)
{
	switch (kind) {
	case COL_TEXT:
		trpt_csv_field_n(csv, (const char *)sqlite3_column_text(st, i),
		    (size_t)sqlite3_column_bytes(st, i));
		break;
	case COL_INT:
		trpt_csv_int(csv, sqlite3_column_int64(st, i));
		break;
	case COL_DATE:
		trpt_csv_date(csv, sqlite3_column_int64(st, i));
		break;
	case COL_LIST:
		trpt_csv_list(csv, (const char *)sqlite3_column_text(st, i));
		break;
	}
}

static int export(struct trpt_db *db, const struct export_kind *k,
    const struct trpt_export_filter *f, FILE *out, uint64_t *rows,
    struct trpt_err *err)
{
	sqlite3_stmt *st = NULL;
	struct trpt_csv csv;
	const char *domain;
	int64_t lo, hi;
	uint64_t n = 0;
	int i, src, rc;

	trpt_csv_init(&csv, out);
	bounds(f, &lo, &hi, &domain);
	src = sqlite3_prepare_v2(trpt_db_handle(db), k->sql, -1, &st, NULL);
	if (src != SQLITE_OK) {
		rc = trpt_db_error(db, src, k->what, err);
		goto out;
	}
	if ((src = sqlite3_bind_int64(st, 1, lo)) != SQLITE_OK ||
	    (src = sqlite3_bind_int64(st, 2, hi)) != SQLITE_OK ||
	    (src = sqlite3_bind_text(st, 3, domain, -1, SQLITE_STATIC)) !=
		SQLITE_OK) {
		rc = trpt_db_error(db, src, k->what, err);
		goto out;
	}
	for (i = 0; i < k->ncols; i++)
		trpt_csv_field(&csv, k->cols[i].name);
	if ((rc = trpt_csv_end_row(&csv, err)) != TRPT_OK) {
		trpt_err_prefix(err, "%s", k->what);
		goto out;
	}
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		for (i = 0; i < k->ncols; i++)
			cell(&csv, st, i, k->cols[i].kind);
		if ((rc = trpt_csv_end_row(&csv, err)) != TRPT_OK) {
			trpt_err_prefix(err, "%s", k->what);
			goto out;
		}
		n++;
	}
	if (src != SQLITE_DONE) {
		rc = trpt_db_error(db, src, k->what, err);
		goto out;
	}
	if (fflush(out) != 0) {
		rc = trpt_err_set(err, TRPT_EIO, "%s: writing CSV: %s", k->what,
		    strerror(errno));
		goto out;
	}
	if (rows != NULL)
		*rows = n;
	rc = TRPT_OK;
out:
	sqlite3_finalize(st);
	trpt_csv_free(&csv);
	return rc;
}

int
trpt_export_policies_count(struct trpt_db *db,
    const struct trpt_export_filter *f, FILE *out, uint64_t *rows,
    struct trpt_err *err)
{
	return export(db, &policies, f, out, rows, err);
}

int
trpt_export_failures_count(struct trpt_db *db,
    const struct trpt_export_filter *f, FILE *out, uint64_t *rows,
    struct trpt_err *err)
{
	return export(db, &failures, f, out, rows, err);
}

int
trpt_export_policies(struct trpt_db *db, const struct trpt_export_filter *f,
    FILE *out, struct trpt_err *err)
{
	return export(db, &policies, f, out, NULL, err);
}

int
trpt_export_failures(struct trpt_db *db, const struct trpt_export_filter *f,
    FILE *out, struct trpt_err *err)
{
	return export(db, &failures, f, out, NULL, err);
}

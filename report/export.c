#include "report/export.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
	int (*rows)(struct trpt_db *db, const struct trpt_export_rows_filter *f,
	    int (*fn)(void *arg, const struct trpt_export_cell *row), void *arg,
	    struct trpt_err *err);
	const struct column *cols; /* the cells of rows, in order */
	int ncols;
};

/*
 * Every copy of a report is exported; copy and conflict (the last two
 * columns) tell conflicting copies of one report apart
 * (schema/migrations/sqlite/0005_report_copies.sql).  The columns are the cells
 * of schema/export_rows.h, in order.
 */
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
	trpt_export_rows_policies,
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
	trpt_export_rows_failures,
	failure_cols,
	(int)(sizeof(failure_cols) / sizeof(failure_cols[0])),
};

void
trpt_export_filter_init(struct trpt_export_filter *f)
{
	memset(f, 0, sizeof(*f));
}

void
trpt_export_filter_rows(
    const struct trpt_export_filter *f, struct trpt_export_rows_filter *b)
{
	b->since = INT64_MIN;
	b->until = INT64_MAX;
	b->domain = NULL;
	if (f == NULL)
		return;
	if (f->since != 0)
		b->since = f->since;
	if (f->until == INT64_MIN) {
		b->since = INT64_MAX; /* nothing is before the first second */
		b->until = INT64_MIN;
	} else if (f->until != 0 && f->until != INT64_MAX)
		b->until = f->until - 1;
	if (f->domain != NULL && f->domain[0] != '\0')
		b->domain = f->domain;
}

struct run {
	const struct export_kind *k;
	struct trpt_csv csv;
	uint64_t n;
	struct trpt_err *err;
};

static int
write_row(void *arg, const struct trpt_export_cell *row)
{
	struct run *x = arg;
	int i, rc;

	for (i = 0; i < x->k->ncols; i++) {
		switch (x->k->cols[i].kind) {
		case COL_TEXT:
			trpt_csv_field_n(&x->csv, row[i].text, row[i].len);
			break;
		case COL_INT:
			trpt_csv_int(&x->csv, row[i].num);
			break;
		case COL_DATE:
			trpt_csv_date(&x->csv, row[i].num);
			break;
		case COL_LIST:
			trpt_csv_list(&x->csv, row[i].text);
			break;
		}
	}
	if ((rc = trpt_csv_end_row(&x->csv, x->err)) != TRPT_OK) {
		trpt_err_prefix(x->err, "%s", x->k->what);
		return rc;
	}
	x->n++;
	return TRPT_OK;
}

static int export(struct trpt_db *db, const struct export_kind *k,
    const struct trpt_export_filter *f, FILE *out, uint64_t *rows,
    struct trpt_err *err)
{
	struct trpt_export_rows_filter b;
	struct run x;
	int i, rc;

	x.k = k;
	x.n = 0;
	x.err = err;
	trpt_csv_init(&x.csv, out);
	trpt_export_filter_rows(f, &b);
	for (i = 0; i < k->ncols; i++)
		trpt_csv_field(&x.csv, k->cols[i].name);
	if ((rc = trpt_csv_end_row(&x.csv, err)) != TRPT_OK) {
		trpt_err_prefix(err, "%s", k->what);
		goto out;
	}
	if ((rc = k->rows(db, &b, write_row, &x, err)) != TRPT_OK)
		goto out;
	if (fflush(out) != 0) {
		rc = trpt_err_set(err, TRPT_EIO, "%s: writing CSV: %s", k->what,
		    strerror(errno));
		goto out;
	}
	if (rows != NULL)
		*rows = x.n;
	rc = TRPT_OK;
out:
	trpt_csv_free(&x.csv);
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

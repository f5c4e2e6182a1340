#pragma once
/*
 * CSV exports of the stored reports, one row per policy or per failure
 * detail, with the columns of parsedmarc's SMTP TLS CSV output.  Rows are
 * streamed from the database in a fixed order (report begin,
 * organization-name, report-id, policy position, failure detail), so the
 * memory used does not grow with the table and two exports of the same
 * data are byte for byte the same.
 */

#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "schema/db.h"
#include "schema/export_rows.h"

/*
 * Which reports and policies to export.  A zeroed struct (or a NULL
 * filter) exports everything.
 */
struct trpt_export_filter {
	int64_t since; /* report begin >= since; 0 or INT64_MIN: no bound */
	int64_t until; /* report begin < until; 0 or INT64_MAX: no bound */
	const char *domain; /* policy-domain, ASCII case-insensitive exact
			       match; NULL or "": any (borrowed) */
};

/* Sets f to export everything. */
void trpt_export_filter_init(struct trpt_export_filter *f);

/*
 * f (may be NULL) as the schema's filter: inclusive bounds on the report
 * begin and the domain (NULL for any).  The domain is borrowed from f.
 */
void trpt_export_filter_rows(
    const struct trpt_export_filter *f, struct trpt_export_rows_filter *b);

/*
 * Writes a header row and one row per policy:
 * report_id, organization_name, contact_info, begin_date, end_date,
 * policy_type, policy_domain, policy_strings, mx_host_patterns,
 * successful_session_count, failed_session_count.
 * Lists are joined by '|', dates are YYYY-MM-DDTHH:MM:SSZ.  Returns
 * TRPT_EIO when out cannot be written (out is flushed, not closed),
 * TRPT_EDB, TRPT_ETEMP or TRPT_ENOMEM for the database, TRPT_EPARSE for
 * a stored list that is not a JSON array of strings.  A failed export may
 * have written some rows: write to a temporary file and rename it.  Text
 * cells get the formula guard of report/csv.h.
 */
int trpt_export_policies(struct trpt_db *db, const struct trpt_export_filter *f,
    FILE *out, struct trpt_err *err);

/*
 * Writes a header row and one row per failure detail:
 * report_id, organization_name, begin_date, end_date, policy_type,
 * policy_domain, mx_host_patterns, result_type, sending_mta_ip,
 * receiving_mx_hostname, receiving_mx_helo, receiving_ip,
 * failed_session_count, failure_reason_code, additional_information.
 */
int trpt_export_failures(struct trpt_db *db, const struct trpt_export_filter *f,
    FILE *out, struct trpt_err *err);

/*
 * The same, also counting the data rows written into *rows (for a
 * summary line such as "exported 12 rows"); *rows (may be NULL) is written
 * only on success.
 */
int trpt_export_policies_count(struct trpt_db *db,
    const struct trpt_export_filter *f, FILE *out, uint64_t *rows,
    struct trpt_err *err);
int trpt_export_failures_count(struct trpt_db *db,
    const struct trpt_export_filter *f, FILE *out, uint64_t *rows,
    struct trpt_err *err);

#pragma once
/*
 * The stored reports as rows for the CSV exports (report/export.h,
 * "export reports"): read in a fixed order (report begin,
 * organisation, report-id, copy, policy position, failure detail) and
 * streamed to a callback, so memory does not grow with the data and two
 * exports of the same data are the same.  They only read.
 *
 * Each row is an array of cells in the column order given with the
 * function.  A cell is borrowed, valid only during the call.  The
 * callback returns TRPT_OK to go on; anything else stops the read and is
 * returned as it is.  Errors: TRPT_ETEMP for a busy database,
 * TRPT_ENOMEM, TRPT_EDB.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct trpt_db;

/* Text columns: text (NULL for SQL NULL) and len; integers: num. */
struct trpt_export_cell {
	const char *text;
	size_t len;
	int64_t num;
};

/* Which reports: begin in [since, until] (inclusive), with a policy for
 * domain (ASCII case-insensitive; NULL: any). */
struct trpt_export_rows_filter {
	int64_t since, until;
	const char *domain;
};

/*
 * One row per policy, 13 cells: report_id, organization_name,
 * contact_info, begin (int), end (int), policy_type, policy_domain,
 * policy_strings (a JSON array), mx_hosts (a JSON array), successful
 * (int), failed (int), copy (int), conflict (int).  Every copy of a
 * report is there: copy and conflict tell conflicting copies apart.
 */
#define TRPT_EXPORT_POLICY_CELLS 13
int trpt_export_rows_policies(struct trpt_db *db,
    const struct trpt_export_rows_filter *f,
    int (*fn)(void *arg, const struct trpt_export_cell *row), void *arg,
    struct trpt_err *err);

/*
 * One row per failure detail, 17 cells: report_id, organization_name,
 * begin (int), end (int), policy_type, policy_domain, mx_hosts (a JSON
 * array), result_type, sending_mta_ip, receiving_mx_hostname,
 * receiving_mx_helo, receiving_ip, failed_session_count (int),
 * failure_reason_code, additional_information, copy (int), conflict
 * (int).
 */
#define TRPT_EXPORT_FAILURE_CELLS 17
int trpt_export_rows_failures(struct trpt_db *db,
    const struct trpt_export_rows_filter *f,
    int (*fn)(void *arg, const struct trpt_export_cell *row), void *arg,
    struct trpt_err *err);

/*
 * One row per stored report (every copy), 21 cells: id (int),
 * organization_name, report_id, contact_info, begin (int), end (int),
 * day (int), policies (int: how many), total_successful (int),
 * total_failed (int), received_at (int), seen_count (int), copy (int),
 * conflict (int), dkim, dkim_domain, dkim_selector, dkim_aligned,
 * dkim_key_service, dkim_accepted (int), dkim_reason.
 */
#define TRPT_EXPORT_REPORT_CELLS 21
int trpt_export_rows_reports(struct trpt_db *db,
    const struct trpt_export_rows_filter *f,
    int (*fn)(void *arg, const struct trpt_export_cell *row), void *arg,
    struct trpt_err *err);

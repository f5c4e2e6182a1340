#pragma once
/*
 * Read-only queries behind the dashboard pages and the static HTML report:
 * lists of reports, one report with its policies, failure details,
 * warnings and provenance, the senders' failure reason codes per domain,
 * and the quarantine.  They never write.
 *
 * Every query returns a table of rows whose columns are listed with the
 * function.  Cells are copied: they stay valid until trpt_view_free.
 * Row counts are capped by the caller's limit, and blob columns by
 * TRPT_VIEW_MAX_RAW.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "schema/db.h"

/* Bytes of a raw input shown on a report page. */
#define TRPT_VIEW_MAX_RAW (1024u * 1024)

struct trpt_view_rows {
	size_t nrows, ncols;
	char **text;  /* nrows * ncols; NULL for SQL NULL */
	size_t *len;  /* byte length of each cell (blobs may hold NUL) */
	int64_t *num; /* each cell as an integer (0 when not one) */
};

/* Cell (row, col): the text ("" for NULL), or the integer. */
const char *trpt_view_text(
    const struct trpt_view_rows *r, size_t row, size_t col);
int64_t trpt_view_int(const struct trpt_view_rows *r, size_t row, size_t col);
/* 1 when the cell is SQL NULL. */
int trpt_view_null(const struct trpt_view_rows *r, size_t row, size_t col);

void trpt_view_free(struct trpt_view_rows **rp);

/* What to select; days are days since the epoch, inclusive. */
struct trpt_view_filter {
	int64_t since_day, until_day;
	const char *domain; /* a policy domain as stored, or NULL */
	const char *org;    /* an organisation, or NULL */
	size_t limit;       /* rows at most */
};

/*
 * Reports whose day is in range (and with a policy for domain, and from
 * org), the latest first.  Columns: 0 id, 1 organization_name,
 * 2 report_id, 3 begin_ts, 4 end_ts, 5 total_successful, 6 total_failed,
 * 7 seen_count, 8 received_at.
 */
enum {
	TRPT_VR_ID,
	TRPT_VR_ORG,
	TRPT_VR_REPORT_ID,
	TRPT_VR_BEGIN,
	TRPT_VR_END,
	TRPT_VR_SUCCESSFUL,
	TRPT_VR_FAILED,
	TRPT_VR_SEEN,
	TRPT_VR_RECEIVED
};
int trpt_view_reports(struct trpt_db *db, const struct trpt_view_filter *f,
    struct trpt_view_rows **out, struct trpt_err *err);

/*
 * One report and where it came from; TRPT_ENOTFOUND for no such id.
 * Columns: the 9 of trpt_view_reports, then 9 contact_info,
 * 10 last_seen_at, 11 part, 12 source_kind, 13 source, 14 message_id,
 * 15 report_domain (TLS-Report-Domain), 16 report_submitter,
 * 17 raw received_at, 18 sha256, 19 size, 20 the first TRPT_VIEW_MAX_RAW
 * bytes of the input, 21 dkim (pass, fail, none, temperror; NULL: not
 * verified), 22 dkim_reason, 23 dkim_domain, 24 dkim_selector,
 * 25 dkim_aligned (same, parent, child, no), 26 dkim_accepted (1: released
 * by an operator), 27 client (an HTTPS POST's).
 */
enum {
	TRPT_VR_CONTACT = 9,
	TRPT_VR_LAST_SEEN,
	TRPT_VR_PART,
	TRPT_VR_SOURCE_KIND,
	TRPT_VR_SOURCE,
	TRPT_VR_MESSAGE_ID,
	TRPT_VR_REPORT_DOMAIN,
	TRPT_VR_SUBMITTER,
	TRPT_VR_RAW_RECEIVED,
	TRPT_VR_SHA256,
	TRPT_VR_SIZE,
	TRPT_VR_BYTES,
	TRPT_VR_DKIM,
	TRPT_VR_DKIM_REASON,
	TRPT_VR_DKIM_DOMAIN,
	TRPT_VR_DKIM_SELECTOR,
	TRPT_VR_DKIM_ALIGNED,
	TRPT_VR_DKIM_ACCEPTED,
	TRPT_VR_CLIENT
};
int trpt_view_report(struct trpt_db *db, int64_t id,
    struct trpt_view_rows **out, struct trpt_err *err);

/* The report's policies in order.  Columns: 0 idx, 1 policy_type,
 * 2 policy_domain, 3 policy_strings (JSON array), 4 mx_hosts (JSON array),
 * 5 successful, 6 failed, 7 details_failed. */
int trpt_view_policies(struct trpt_db *db, int64_t report,
    struct trpt_view_rows **out, struct trpt_err *err);

/* The report's failure details (at most limit).  Columns: 0 policy idx,
 * 1 result_type, 2 sending_mta_ip, 3 receiving_mx_hostname,
 * 4 receiving_mx_helo, 5 receiving_ip, 6 failed_session_count,
 * 7 failure_reason_code, 8 additional_information. */
int trpt_view_failures(struct trpt_db *db, int64_t report, size_t limit,
    struct trpt_view_rows **out, struct trpt_err *err);

/* The report's warnings.  Column 0 message. */
int trpt_view_warnings(struct trpt_db *db, int64_t report,
    struct trpt_view_rows **out, struct trpt_err *err);

/*
 * What the senders said about their failures to f's domain (or org), in
 * range: one row per result type, MX host, reason code and additional
 * information, the most failed sessions first.  Columns: 0 result_type,
 * 1 receiving_mx_hostname, 2 failure_reason_code,
 * 3 additional_information, 4 failed sessions, 5 reports, 6 the senders
 * (organisations; with f->org, the policy domains) in byte order, ", "
 * between them, the same on both databases, 7 last day seen.
 */
int trpt_view_reasons(struct trpt_db *db, const struct trpt_view_filter *f,
    struct trpt_view_rows **out, struct trpt_err *err);

/*
 * The domains where f->org's sessions failed in range (from the
 * rollups), the most failed first.  Columns: 0 domain, 1 successful,
 * 2 failed.
 */
int trpt_view_sender_domains(struct trpt_db *db,
    const struct trpt_view_filter *f, struct trpt_view_rows **out,
    struct trpt_err *err);

/*
 * The quarantine, the latest first (at most limit).  Columns: 0 id,
 * 1 reason, 2 source_kind, 3 source, 4 size, 5 seen_count, 6 received_at,
 * 7 last_seen_at, 8 filename, 9 report_domain, 10 part.
 */
int trpt_view_quarantine(struct trpt_db *db, size_t limit,
    struct trpt_view_rows **out, struct trpt_err *err);

/* Inputs in quarantine. */
int trpt_view_quarantine_count(
    struct trpt_db *db, int64_t *out, struct trpt_err *err);

/*
 * A number that changes whenever a transaction that changed the rollups
 * commits (and only grows): what a cache of results read from them keys
 * on.
 */
int trpt_view_data_version(
    struct trpt_db *db, int64_t *out, struct trpt_err *err);

/*
 * For the Prometheus series: sessions per policy domain and reporting
 * organisation over all time (from the weekly rollup), and failed
 * sessions per policy domain, result type and MX host (from the failure
 * rollup), sorted by their labels so that a cap keeps the same series
 * from one scrape to the next.  Columns: 0 domain, 1 org, 2 successful,
 * 3 failed; and 0 domain, 1 result_type, 2 mx, 3 failed.
 */
int trpt_view_metric_sessions(struct trpt_db *db, size_t limit,
    struct trpt_view_rows **out, struct trpt_err *err);
int trpt_view_metric_failures(struct trpt_db *db, size_t limit,
    struct trpt_view_rows **out, struct trpt_err *err);

#pragma once
/*
 * The writers of trends (report/trend.h runs the query): a table for a
 * terminal, CSV and JSON, the "export daily" and "export reports" CSV
 * files, and the helpers the other views share (sparklines, a JSON
 * string).  Values that came from reports are escaped on the way out:
 * for the terminal (common/text.h), in CSV (the formula guard of
 * report/csv.h) and in JSON.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"

struct trpt_db;
struct trpt_export_filter;
struct trpt_trend;

/* TABLE_COLOR: the table with ANSI colours, for a terminal (the caller
 * decides: isatty, NO_COLOR, TERM=dumb). */
enum trpt_trend_format {
	TRPT_FORMAT_TABLE,
	TRPT_FORMAT_CSV,
	TRPT_FORMAT_JSON,
	TRPT_FORMAT_TABLE_COLOR
};

/*
 * Writes t as a table (a sparkline of the success rate per group, on
 * the group's own scale; groups by MX host, IP or result type the most
 * failed first), CSV
 * (RFC 4180, header row) or JSON (an array of objects: period, the dims'
 * columns, successful, failed, success_rate).  Rows are sorted by group,
 * then period; periods without sessions are left out.
 */
int trpt_trend_write(const struct trpt_trend *t, enum trpt_trend_format fmt,
    FILE *out, struct trpt_err *err);
/* The same, counting the data rows written (CSV, JSON) into *rows. */
int trpt_trend_write_count(const struct trpt_trend *t,
    enum trpt_trend_format fmt, FILE *out, uint64_t *rows,
    struct trpt_err *err);

/*
 * "export daily": writes the trends rows by
 * day, grouped by org,domain, as CSV (header row: period,
 * organization_name, policy_domain, successful, failed, success_rate).
 * f (may be NULL) selects the days whose reports begin in [since, until)
 * and the policy domain (exact match on the stored name).
 * *rows (may be NULL) gets the number of data rows written.
 */
int trpt_trend_export_daily(struct trpt_db *db,
    const struct trpt_export_filter *f, FILE *out, uint64_t *rows,
    struct trpt_err *err);

/*
 * "export reports": a header row and one CSV row per stored report that
 * f selects (as for export policies: begin in [since, until), a policy
 * for domain, case-insensitive): id, organization_name, report_id,
 * contact_info, begin_date, end_date, day, policies,
 * successful_session_count, failed_session_count (the report's totals,
 * before the guard), received_at, seen_count, copy, conflict (every
 * copy of a report with conflicting contents is a row, flagged; trends
 * count only the first).  Same CSV rules as report/csv.h.  *rows (may be NULL)
 * gets the number of data rows.
 */
int trpt_trend_export_reports(struct trpt_db *db,
    const struct trpt_export_filter *f, FILE *out, uint64_t *rows,
    struct trpt_err *err);

/* A success-rate sparkline character (UTF-8) for rate in [0,1], or
 * a middle dot for no data (rate < 0). */
const char *trpt_trend_spark(double rate);

/*
 * The same on the scale of the series, lo..hi (its lowest and highest
 * rate): a dip from 99.9% to 93% goes from the top to the bottom.  The
 * full block stays for 100%; a series flatter than one point is drawn on
 * the absolute scale (trpt_trend_spark).
 */
const char *trpt_trend_spark_scaled(double rate, double lo, double hi);

/*
 * v with decimals (0-4) digits after the point into buf (size bytes), the
 * same text and return value as snprintf(buf, size, "%.*f", decimals, v),
 * faster for the values of rates (0 to 100).
 */
size_t trpt_trend_format_fixed(double v, int decimals, char *buf, size_t size);

/* Writes s as a JSON string (quoted, escaped). */
void trpt_trend_json_string(FILE *out, const char *s);

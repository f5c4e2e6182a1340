#pragma once
/*
 * The dashboard's pages and the static HTML report: pure functions that
 * read the database (never write) and write escaped HTML with inline SVG
 * charts into a struct trpt_html.  Every string that came from a report or
 * an input is escaped (report/html.h); no page refers to anything outside
 * its own origin, and none needs JavaScript.
 *
 * Counts follow the trends rules (report/trend.h) and read the rollups
 * (kept by the store: nothing here writes).  Alerts are detected by the caller
 * once (trpt_alert_detect) and passed in, so that one computation serves the
 * overview and every domain of a static report.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "report/alert.h"
#include "report/html.h"
#include "schema/db.h"

struct trpt_dash {
	struct trpt_db *db;
	int64_t since_day, until_day; /* inclusive */
	const char *domain;           /* overview: only this domain (or NULL) */
	const struct trpt_alerts *alerts; /* may be NULL: none shown */
	/* 1: one self-contained file, links are #fragments, the style
	 * sheet is inline, no form, no CSV or raw links. */
	int static_file;
	size_t max_rows; /* rows per table (0: 2000) */
};

/* The document's head and navigation (title untrusted), and its end. */
void trpt_dash_begin(
    struct trpt_html *h, const struct trpt_dash *d, const char *title);
void trpt_dash_end(struct trpt_html *h);

/*
 * The range form and links for the page at path ("/", "/domain", ...),
 * keeping the hidden parameter name=value (may be NULL).
 */
void trpt_dash_range_form(struct trpt_html *h, const struct trpt_dash *d,
    const char *path, const char *name, const char *value);

/* All domains (or d->domain): totals, charts, one row per domain sorted
 * by what needs action. */
int trpt_dash_overview(
    const struct trpt_dash *d, struct trpt_html *h, struct trpt_err *err);

/* One policy domain. */
int trpt_dash_domain(const struct trpt_dash *d, const char *domain,
    struct trpt_html *h, struct trpt_err *err);

/* One reporting organisation. */
int trpt_dash_sender(const struct trpt_dash *d, const char *org,
    struct trpt_html *h, struct trpt_err *err);

/*
 * One report: its policies, failure details, warnings, provenance and the
 * input's bytes; decoded (may be NULL) is the JSON the caller inflated
 * from a gzip input.  TRPT_ENOTFOUND for no such report.
 */
int trpt_dash_report(const struct trpt_dash *d, int64_t id, const char *decoded,
    struct trpt_html *h, struct trpt_err *err);

/* The quarantine: reason, source and size of each rejected input. */
int trpt_dash_quarantine(
    const struct trpt_dash *d, struct trpt_html *h, struct trpt_err *err);

/*
 * The policy domains with sessions in d's range (d->domain only, when
 * set), the ones needing action first.  Caller frees each and the array
 * (trpt_dash_names_free).
 */
int trpt_dash_domains(
    const struct trpt_dash *d, char ***out, size_t *n, struct trpt_err *err);
int trpt_dash_senders(
    const struct trpt_dash *d, char ***out, size_t *n, struct trpt_err *err);
void trpt_dash_names_free(char **v, size_t n);

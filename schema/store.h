#pragma once
/*
 * Writing reports and quarantined inputs, and reading the quarantine back
 * for reprocessing.  Each report is one BEGIN IMMEDIATE ... COMMIT.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "schema/db.h"
#include "schema/report.h"

/* The bytes an input arrived as, and where from. */
struct trpt_raw {
	const void *bytes;
	size_t len;
	const struct trpt_origin *origin;
	int part; /* 0: the input itself; N: MIME part N of a message */
	const struct trpt_auth *auth; /* DKIM verdict, or NULL: unverified */
};

/*
 * Stores r with its raw input.  A report already stored under the same
 * (organization-name, report-id) is a duplicate: *duplicate is set to 1,
 * its seen_count is raised and nothing else is written; that is not an
 * error.  On success *report_rowid (may be NULL) is the reports.id.
 * Returns TRPT_ETEMP when the database stayed busy.
 */
int trpt_store_report(struct trpt_db *db, const struct trpt_report *r,
    const struct trpt_raw *raw, int *duplicate, int64_t *report_rowid,
    struct trpt_err *err);

/*
 * Keeps a rejected input with the reason.  The same bytes and part
 * quarantined again only raise seen_count and update the reason.
 */
int trpt_store_quarantine(struct trpt_db *db, const struct trpt_raw *raw,
    const char *reason, struct trpt_err *err);

/* One quarantined input as read back for reprocessing. Borrowed strings. */
struct trpt_quarantined {
	int64_t id;
	int part;
	const void *bytes;
	size_t len;
	const char *reason;
	struct trpt_origin origin; /* kind, source, headers, filename */
};

/*
 * Calls fn for each quarantined input in id order.  fn returns TRPT_OK to go
 * on, or an error code to stop (which is then returned).  The strings in q
 * are valid only during the call.
 */
int trpt_store_quarantine_each(struct trpt_db *db,
    int (*fn)(void *arg, const struct trpt_quarantined *q), void *arg,
    struct trpt_err *err);

/*
 * Calls fn for the quarantined input id only; TRPT_ENOTFOUND when there
 * is none.
 */
int trpt_store_quarantine_get(struct trpt_db *db, int64_t id,
    int (*fn)(void *arg, const struct trpt_quarantined *q), void *arg,
    struct trpt_err *err);

int trpt_store_quarantine_delete(
    struct trpt_db *db, int64_t id, struct trpt_err *err);

/* Sets the reason of a quarantined input (after a failed reprocess). */
int trpt_store_quarantine_update(
    struct trpt_db *db, int64_t id, const char *reason, struct trpt_err *err);

/*
 * Explicit transactions, for batching several inputs where wanted (a bulk
 * import runs several times faster in batches of a few hundred).  Inside
 * one, each trpt_store_report is still all or nothing (a savepoint).  When
 * SQLite itself has rolled the whole transaction back (disk full, I/O
 * error), trpt_store_commit fails.
 */
int trpt_store_begin(struct trpt_db *db, struct trpt_err *err);
int trpt_store_commit(struct trpt_db *db, struct trpt_err *err);
void trpt_store_rollback(struct trpt_db *db);

#pragma once
/*
 * Keeping the database small and safe: an online backup, pruning old raw
 * bytes and old reports (the daily rollups stay), and reading the
 * warnings stored beside reports.
 */

#include <stdint.h>

#include "common/err.h"
#include "schema/db.h"

/*
 * Copies the whole database to a new file at path with SQLite's VACUUM
 * INTO (readers and writers may go on meanwhile).  Refuses a path that
 * exists, and a PostgreSQL database (pg_dump is the tool).  The copy is written
 * beside path and renamed into place, so path is either absent or complete.
 */
int trpt_maintain_backup(
    struct trpt_db *db, const char *path, struct trpt_err *err);

struct trpt_prune_counts {
	int64_t raw_emptied;     /* raw inputs whose bytes were dropped */
	int64_t reports_deleted; /* reports (with policies, failures) */
	int64_t raw_deleted;     /* raw inputs no report refers to any more */
};

/*
 * Drops what is older than before (UTC seconds): with reports = 0 the
 * bytes of raw inputs received before it (their hash, size and provenance
 * stay); with reports = 1 also the reports whose day is before it, and
 * the raw inputs left without a report.  The rollups are kept as they
 * are: they go on counting the pruned reports (trends and alerts keep
 * their history).  One transaction, then VACUUM to give the space back.
 */
int trpt_maintain_prune(struct trpt_db *db, int64_t before, int reports,
    struct trpt_prune_counts *out, struct trpt_err *err);

/* One stored warning, with its report.  Borrowed strings. */
struct trpt_warning_row {
	int64_t report_rowid;
	const char *org;
	const char *report_id;
	int64_t begin;
	const char *message;
};

/*
 * Calls fn for each warning of the reports whose range begins at or after
 * since (UTC seconds), by report begin then id.
 */
int trpt_maintain_warnings_each(struct trpt_db *db, int64_t since,
    int (*fn)(void *arg, const struct trpt_warning_row *w), void *arg,
    struct trpt_err *err);

#pragma once
/*
 * Rollups kept at write time (schema/migrations/sqlite/0003_rollup.sql,
 * 0012_rollup_at_write.sql): the sums per day, week, reporting
 * organisation and policy domain, the failed sessions per failure detail
 * and the sessions under MTA-STS testing that trends, alerts, summaries,
 * the dashboard and exports read.  Nothing else writes them, and readers
 * only read: a read-only database file or a replica is enough for them.
 *
 * They count the copy of each report that analysis counts
 * (reports.counted), with the double-count guard: within one report a
 * policy domain's sessions are counted once, under the policy type with
 * the most sessions (ties: the first type in byte order), because
 * Microsoft lists the same sessions under a tlsa and an sts policy of one
 * domain.  Failure details count under that type only, failed sessions
 * the details do not account for under result type '' (no details), and
 * details with no failed session not at all.
 *
 * The store queues each report it counts (trpt__rollup_add); the queue
 * belongs to the connection and its transaction, so that no order of
 * report ids is assumed and several writers can share one PostgreSQL.
 * trpt_db_commit adds the queued reports to the rollups in a few
 * set-based statements (trpt__rollup_flush), in the same transaction as
 * the reports; trpt_db_begin and trpt_db_rollback drop the queue.
 */

#include <stdint.h>

#include "common/err.h"

struct trpt_db;
struct trpt_report;

/*
 * Queues report (a reports.id) to be added to the rollups (sign 1) or
 * taken out of them (sign -1, when another copy becomes the one counted).
 * The report's rows must be in the database when the queue is flushed.
 */
int trpt__rollup_add(
    struct trpt_db *db, int64_t report, int sign, struct trpt_err *err);

/*
 * Adds report (a reports.id just stored, counted) to the rollups from its
 * content r, summed in memory until the commit, which writes each key of
 * each rollup once: day is its reports.day, details_failed[i] and
 * sts_mode[i] (may be NULL) policy i's columns of those names.  The same
 * sums as trpt__rollup_add(db, report, 1, err), without reading the
 * report's rows back.
 */
int trpt__rollup_add_report(struct trpt_db *db, int64_t report,
    const struct trpt_report *r, int64_t day, const int64_t *details_failed,
    const char *const *sts_mode, struct trpt_err *err);

/* Applies the queue in the current transaction, and empties it. */
int trpt__rollup_flush(struct trpt_db *db, struct trpt_err *err);

/* Empties the queue (the transaction it belonged to is gone). */
void trpt__rollup_discard(struct trpt_db *db);

/* Frees the connection's queue (trpt_db_close). */
void trpt__rollup_free(struct trpt_db *db);

/*
 * Builds every rollup again from the counted reports, in the caller's
 * transaction.  The rollups of reports deleted by `prune` are lost: the
 * tests compare what the store kept up to date with this.
 */
int trpt_rollup_rebuild(struct trpt_db *db, struct trpt_err *err);

/*
 * Computes rollup_failures_week and rollup_type_first again from
 * rollup_failures, in the caller's transaction (part of a rebuild; for
 * tests and tools that write rollup_failures themselves: the store keeps
 * them as it writes rollup_failures, and nothing else does).
 */
int trpt_rollup_derive(struct trpt_db *db, struct trpt_err *err);

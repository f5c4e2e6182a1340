#pragma once
/*
 * Writing reports and quarantined inputs, and reading the quarantine back
 * for reprocessing.  Each report is one transaction, or part of the
 * caller's (trpt_store_begin).
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/hash.h"
#include "schema/db.h"
#include "schema/report.h"

/*
 * The digests trpt_store_report needs, worked out before it is called
 * (trpt_store_digests), so that a thread that parses can compute them
 * while another stores.
 */
struct trpt_store_digests {
	char sha256[TRPT_SHA256_HEX_LEN];         /* of raw->bytes */
	char content_sha256[TRPT_SHA256_HEX_LEN]; /* of the report */
};

/* The bytes an input arrived as, and where from. */
struct trpt_raw {
	const void *bytes;
	size_t len;
	const struct trpt_origin *origin;
	int part;       /* 0: the input itself; N: MIME part N of a message */
	unsigned flags; /* TRPT_RAW_* */
	const struct trpt_auth *auth; /* DKIM verdict, or NULL: unverified */
	/* trpt_store_digests of these bytes and the report stored with
	 * them, or NULL: computed by trpt_store_report. */
	const struct trpt_store_digests *digests;
};

/* Run again from the quarantine: a duplicate is not counted as seen. */
#define TRPT_RAW_REPROCESS 0x1
/*
 * The bytes are this one report and nothing else (an input that is a
 * report, an e-mail with one part taken for a report), so the same bytes
 * always bring this report again: the store finds them through the
 * report's stored copies instead of an index on their digest (migration
 * 0023).  Leave it unset when unsure: the input is then looked up by its
 * digest, as every input was before.
 */
#define TRPT_RAW_ONE_REPORT 0x2

/* What trpt_store_report did (its *outcome). */
enum trpt_store_outcome {
	TRPT_STORE_NEW = 0,       /* the first copy of this report */
	TRPT_STORE_DUPLICATE = 1, /* the same content as a stored copy */
	TRPT_STORE_CONFLICT = 2   /* another content: a conflicting copy */
};

/* Distinct copies kept per (organization-name, report-id). */
#define TRPT_STORE_MAX_COPIES 16

/*
 * Stores r with its raw input.  Every distinct content received for an
 * (organization-name, report-id) is kept
 * (schema/migrations/sqlite/0005_report_copies.sql):
 *   - none stored yet: stored, *outcome TRPT_STORE_NEW;
 *   - a stored copy has the same content: a duplicate, only that copy's
 *     seen_count (unless raw->flags has TRPT_RAW_REPROCESS) and
 *     last_seen_at move, *outcome TRPT_STORE_DUPLICATE;
 *   - otherwise stored as one more copy, and every copy flagged as a
 *     conflict, *outcome TRPT_STORE_CONFLICT.  The first copy stays the
 *     one that analysis counts.
 * None of these is an error.  More than TRPT_STORE_MAX_COPIES distinct
 * copies is TRPT_ELIMIT (the input is refused).  On success *report_rowid
 * (may be NULL) is the reports.id of the new or matching copy.
 * Returns TRPT_ETEMP when the database stayed busy.
 */
int trpt_store_report(struct trpt_db *db, const struct trpt_report *r,
    const struct trpt_raw *raw, int *outcome, int64_t *report_rowid,
    struct trpt_err *err);

/*
 * The SHA-256 of r's content (reports.content_sha256: the same content
 * always gives the same digest).  TRPT_ELIMIT when its canonical form
 * would pass 10^9 bytes.
 */
int trpt_store_content_digest(const struct trpt_report *r,
    char sha[TRPT_SHA256_HEX_LEN], struct trpt_err *err);

/* *out: the digests trpt_store_report works out for r and raw's bytes
 * (raw->digests is not read); fails as trpt_store_content_digest. */
int trpt_store_digests(const struct trpt_report *r, const struct trpt_raw *raw,
    struct trpt_store_digests *out, struct trpt_err *err);

/*
 * Keeps a rejected input or part of it with the reason.  The input's bytes
 * are stored once however many of its parts are rejected
 * (schema/migrations/sqlite/0006_quarantine_inputs.sql); the same bytes and
 * part quarantined again only raise seen_count and update the reason.
 */
int trpt_store_quarantine(struct trpt_db *db, const struct trpt_raw *raw,
    const char *reason, struct trpt_err *err);

/* One rejected part of a quarantined input. */
struct trpt_quarantined_part {
	int64_t id; /* for trpt_store_quarantine_delete/_update */
	int part;   /* 0: the input; N: MIME part N */
	const char *reason;
};

/* One quarantined input as read back for reprocessing. Borrowed. */
struct trpt_quarantined {
	int64_t id; /* of the input */
	const void *bytes;
	size_t len;
	struct trpt_origin origin; /* of its first rejected part */
	size_t nparts;             /* at least 1 */
	const struct trpt_quarantined_part *parts; /* in id order */
};

/*
 * Calls fn for each quarantined input in id order, once per input with all
 * its rejected parts.  fn returns TRPT_OK to go on, or an error code to stop
 * (which is then returned).  What q points to is valid only during the
 * call; fn may write to the database.
 */
int trpt_store_quarantine_each(struct trpt_db *db,
    int (*fn)(void *arg, const struct trpt_quarantined *q), void *arg,
    struct trpt_err *err);

/*
 * Calls fn for the quarantined input that holds the rejected part id (the
 * id of the quarantine view), with all its rejected parts;
 * TRPT_ENOTFOUND when there is none.
 */
int trpt_store_quarantine_get(struct trpt_db *db, int64_t id,
    int (*fn)(void *arg, const struct trpt_quarantined *q), void *arg,
    struct trpt_err *err);

/* Removes one rejected part (its id); the bytes go with the last part. */
int trpt_store_quarantine_delete(
    struct trpt_db *db, int64_t id, struct trpt_err *err);

/* Sets the reason of a rejected part (after a failed reprocess). */
int trpt_store_quarantine_update(
    struct trpt_db *db, int64_t id, const char *reason, struct trpt_err *err);

/*
 * Explicit transactions, for batching several inputs where wanted (a bulk
 * import runs several times faster in batches of a few hundred).  Inside
 * one, trpt_store_report and trpt_store_quarantine refuse an input for
 * what it is (TRPT_ELIMIT, TRPT_EINVAL) without touching the transaction;
 * any other failure rolls the whole transaction back, and then
 * trpt_store_commit fails (so does it when SQLite itself has rolled back
 * after a disk-full or I/O error).  The commit also brings the rollups up
 * to date with the reports of the transaction (schema/rollup.h).
 */
int trpt_store_begin(struct trpt_db *db, struct trpt_err *err);
int trpt_store_commit(struct trpt_db *db, struct trpt_err *err);
void trpt_store_rollback(struct trpt_db *db);
/*
 * After a failed store or commit: whether the transaction failed for a
 * conflict with another writer's transaction (PostgreSQL: a deadlock,
 * 40P01, or a serialization failure, 40001), which running the whole
 * transaction again may not meet.  0 on SQLite (one writer at a time).
 */
int trpt_store_retryable(struct trpt_db *db);

/*
 * For schema/db.c.  SQLite: the policies and failure details of the
 * reports stored in a transaction are inserted as multi-row statements
 * when it commits (trpt__store_flush, before the rollups), or earlier when
 * the store reads them back or many are pending, instead of a statement
 * each; begin and rollback discard them, close frees them.
 */
struct trpt__store_pending;
int trpt__store_flush(struct trpt_db *db, struct trpt_err *err);
void trpt__store_discard(struct trpt_db *db);
void trpt__store_free(struct trpt_db *db);

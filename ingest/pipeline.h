#pragma once
/*
 * The one pipeline every source feeds: recognise the input by its bytes
 * (gzip, JSON, an RFC 5322 message, an mbox), extract the report parts,
 * inflate, validate and store; quarantine whatever is rejected.
 *
 * Sources (files, IMAP, HTTPS) hand it raw bytes and their provenance.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/limits.h"
#include "ingest/dkim.h"
#include "schema/db.h"
#include "schema/report.h"

enum trpt_event_kind {
	TRPT_EV_STORED,    /* a new report was committed */
	TRPT_EV_DUPLICATE, /* a report already stored was seen again */
	TRPT_EV_REJECTED,  /* an input or part was refused and quarantined */
	TRPT_EV_SKIPPED,   /* a message that is not a TLS report */
	TRPT_EV_WARNING    /* a stored report needed leniency */
};

struct trpt_event {
	enum trpt_event_kind kind;
	const char *source;    /* origin->source (e.g. a path) */
	int message;           /* 1-based message number in an mbox, or 0 */
	int part;              /* MIME part number, or 0 for the input */
	const char *org;       /* organization-name, when known */
	const char *report_id; /* report-id, when known */
	const char *reason;    /* why rejected or skipped, or the warning */
	const struct trpt_report *report; /* STORED/DUPLICATE, else NULL */
	int conflict; /* STORED: a copy whose content differs from a stored
			 copy of the same report (both are kept, flagged) */
};

struct trpt_pipeline_stats {
	uint64_t stored; /* including conflicting copies */
	uint64_t conflicts;
	uint64_t duplicates;
	uint64_t rejected;
	uint64_t skipped;
	uint64_t inputs;
};

#define TRPT_PIPE_SKIP_NON_REPORTS                                             \
	0x1                         /* mail that does not claim to be a        \
				       TLS report is skipped, not rejected     \
				       (mailboxes hold other mail too) */
#define TRPT_PIPE_NO_QUARANTINE 0x2 /* reprocess: do not quarantine again */
#define TRPT_PIPE_ACCEPT_UNSIGNED                                              \
	0x4 /* store reports DKIM would refuse or keep waiting (an             \
	       operator's reprocess --accept-unsigned) */

struct trpt_pipeline_async;

struct trpt_pipeline {
	struct trpt_db *db;
	struct trpt_limits limits;
	unsigned flags;
	void (*on_event)(void *arg, const struct trpt_event *ev); /* or NULL */
	void *arg;
	struct trpt_pipeline_stats stats;
	/*
	 * DKIM verifier for report e-mails (borrowed), or NULL: mail is not
	 * verified.  Its [dkim] require decides what a failure does.
	 */
	struct trpt_dkim *dkim;
	/*
	 * Batching, for bulk imports (0: every report is its own
	 * transaction).  With batch_max > 0, inputs are stored in one
	 * transaction until batch_max inputs or batch_ms milliseconds have
	 * gone by; each report stays all or nothing (a savepoint).  A kill
	 * loses only the uncommitted batch, which a run again redoes.  Call
	 * trpt_pipeline_flush at the end.
	 */
	unsigned batch_max;
	unsigned batch_ms;
	/*
	 * A source's progress, committed with the inputs it covers (IMAP's
	 * saved UID).  With batching, on_commit (may be NULL) is called in
	 * each batch's transaction right before its commit, with the largest
	 * input_tag of the batch's inputs that were handled without error (0
	 * when none was), so that what it writes is committed together with
	 * exactly those inputs, or not at all.  When it fails it must have
	 * written nothing: the batch is committed all the same and its error
	 * returned.  With parse ahead it runs on the store thread.  The
	 * caller sets input_tag before each input it gives.
	 */
	int (*on_commit)(void *arg, uint64_t tag, struct trpt_err *err);
	void *commit_arg;
	uint64_t input_tag;
	/* Private batch state. */
	unsigned batch_n;
	int64_t batch_start_ms;
	struct trpt_pipeline_stats batch_stats; /* stats when it began */
	uint64_t batch_tag;                     /* for on_commit */
	struct trpt_pipeline_async *async_;     /* parse ahead, or NULL */
};

/* What happened to one part (or the input itself, part 0). */
struct trpt_part_outcome {
	int message;                   /* mbox message number, or 0 */
	int part;                      /* MIME part number, or 0 */
	enum trpt_event_kind kind;     /* never TRPT_EV_WARNING */
	int conflict;                  /* STORED as a conflicting copy */
	char reason[TRPT_ERR_MSG_LEN]; /* REJECTED or SKIPPED: why */
};

/* Outcomes kept per input; an mbox with more messages keeps the first. */
#define TRPT_PIPELINE_MAX_OUTCOMES 4096

/*
 * What one input came to, for the source that handed it over (an HTTP
 * answer, an IMAP flag, a reprocess verdict), instead of reaching into
 * p->stats or on_event.  Free with trpt_pipeline_result_free.
 */
struct trpt_pipeline_result {
	/* The worst outcome: REJECTED > STORED > DUPLICATE > SKIPPED
	 * (SKIPPED when nothing happened). */
	enum trpt_event_kind worst;
	char first_reason[TRPT_ERR_MSG_LEN]; /* first rejection, or "" */
	uint64_t stored;                     /* including conflicting copies */
	uint64_t conflicts;
	uint64_t duplicates;
	uint64_t rejected;
	uint64_t skipped;
	size_t nparts;  /* outcomes in parts[] */
	size_t dropped; /* outcomes past TRPT_PIPELINE_MAX_OUTCOMES */
	struct trpt_part_outcome *parts;
	size_t cap_;
};

void trpt_pipeline_result_free(struct trpt_pipeline_result *res);

void trpt_pipeline_init(
    struct trpt_pipeline *p, struct trpt_db *db, const struct trpt_limits *lim);

/*
 * Runs one input through the pipeline.  Rejections are not errors: they are
 * quarantined, counted in p->stats and reported through on_event, and the
 * call returns TRPT_OK.  An error return (TRPT_EDB, TRPT_ETEMP, TRPT_ENOMEM)
 * means the input could not be processed at all and the caller should stop
 * or retry; nothing of it was half written.
 *
 * *outcome (may be NULL) tells the caller what happened to the input as a
 * whole: the worst event kind it produced (REJECTED > STORED > DUPLICATE >
 * SKIPPED), so that an IMAP or HTTP source can act on it.
 */
int trpt_pipeline_input(struct trpt_pipeline *p, const void *bytes, size_t len,
    const struct trpt_origin *origin, enum trpt_event_kind *outcome,
    struct trpt_err *err);

/*
 * The same, filling *res (may be NULL; initialise it to zeros once, and
 * free it with trpt_pipeline_result_free: each call resets it) with the
 * outcome of the input and of each of its parts.  On an error return *res
 * holds what happened before the error.
 */
int trpt_pipeline_run(struct trpt_pipeline *p, const void *bytes, size_t len,
    const struct trpt_origin *origin, struct trpt_pipeline_result *res,
    struct trpt_err *err);

/*
 * One message of an mbox read piece by piece (an mbox file larger than
 * max_message: ingest/files.c): chunk is the message as stored, from its
 * "From " line, n its 1-based number in the file.  With toobig, chunk is
 * the first bytes of a message larger than max_message, which is rejected
 * with them kept in quarantine.  Each message is an input of its own (and
 * has its own inflate budget); the file counts once in p->stats.inputs.
 */
int trpt_pipeline_mbox_message(struct trpt_pipeline *p, const void *chunk,
    size_t len, int n, int toobig, const struct trpt_origin *origin,
    struct trpt_pipeline_result *res, struct trpt_err *err);

/*
 * The two halves of trpt_pipeline_run, for a caller with several threads
 * (serve): trpt_pipeline_prepare reads, recognises, inflates and validates
 * an input (a copy of it is kept) without touching the database or
 * p->stats, so that several threads may prepare at once;
 * trpt_pipeline_store_prepared then stores (or quarantines) it, filling
 * *res (may be NULL) as trpt_pipeline_run does, and frees *pp; calls to
 * it are serialised by the caller as any other pipeline call.  An error
 * of prepare (out of memory) stores nothing.
 */
struct trpt_pipeline_prepared;
struct trpt_inflater; /* ingest/inflate.h */

int trpt_pipeline_prepare(struct trpt_pipeline *p, const void *bytes,
    size_t len, const struct trpt_origin *origin,
    struct trpt_pipeline_prepared **out, struct trpt_err *err);
/*
 * trpt_pipeline_prepare without the copy: the prepared input takes
 * bytes_take (malloc'd; NULL for len 0), which is freed whatever the
 * outcome.  z (may be NULL) is the calling thread's gzip decoder, kept
 * from one input to the next (trpt_inflater_gzip_reuse): used by one
 * thread at a time.
 */
int trpt_pipeline_prepare_take(struct trpt_pipeline *p, struct trpt_inflater *z,
    char *bytes_take, size_t len, const struct trpt_origin *origin,
    struct trpt_pipeline_prepared **out, struct trpt_err *err);
int trpt_pipeline_store_prepared(struct trpt_pipeline *p,
    struct trpt_pipeline_prepared **pp, struct trpt_pipeline_result *res,
    struct trpt_err *err);
/*
 * trpt_pipeline_store_prepared without freeing the prepared input, which
 * the caller may store again (serve runs a group's transaction again
 * after a deadlock: trpt_store_retryable) and frees with
 * trpt_pipeline_prepared_free.  Each call counts into p->stats.
 */
int trpt_pipeline_store_prepared_keep(struct trpt_pipeline *p,
    struct trpt_pipeline_prepared *prep, struct trpt_pipeline_result *res,
    struct trpt_err *err);
void trpt_pipeline_prepared_free(struct trpt_pipeline_prepared **pp);
/* A total order of prepared inputs by their bytes (length, then content):
 * two processes holding the same inputs order them alike.  <0, 0, >0. */
int trpt_pipeline_prepared_cmp(const struct trpt_pipeline_prepared *a,
    const struct trpt_pipeline_prepared *b);

/*
 * Parse ahead, for bulk imports (ingest): from now on the inputs given
 * without asking for their outcome (trpt_pipeline_input with outcome NULL,
 * trpt_pipeline_run and trpt_pipeline_mbox_message with res NULL,
 * trpt_pipeline_reject) are read, recognised, inflated, validated and
 * DKIM-checked on the caller's thread, and stored (or quarantined) by a
 * second thread, in the order given and in the same batches, while the
 * caller reads the next ones.  The queue between them is bounded (64
 * inputs, 32 MiB of input and inflated JSON).  on_event is called from the
 * store thread, in input order.  A storage error is returned by the next
 * call (or by trpt_pipeline_flush), once; nothing is stored after it.
 * A call that asks for the outcome waits for the queue to empty and runs
 * on the caller's thread.  trpt_pipeline_flush waits for the queue first.
 */
int trpt_pipeline_async_start(struct trpt_pipeline *p, struct trpt_err *err);

/*
 * The same with options.  TRPT_ASYNC_PARSE: the caller's thread only
 * hands each input over (a copy of it) and a third thread reads,
 * recognises, inflates, validates and DKIM-checks it, so that a source
 * that reads a socket (IMAP) keeps reading while both other stages work.
 * The inputs waiting for that thread are bounded as well (1,024 inputs,
 * 16 MiB).  An error while reading an input (out of memory, DKIM) is then
 * returned by a later call, as a storage error is, after what came before
 * it and what of that input was read are stored.
 *
 * With either, a batch left open while the queue is empty is committed
 * batch_ms after it began (it does not wait for the next input): a
 * source that stalls does not hold the database's write lock.
 */
#define TRPT_ASYNC_PARSE 0x1

/*
 * TRPT_ASYNC_CHECKPOINT: the log of a SQLite file is copied into the
 * database by a thread and connection of their own, one pass after each
 * commit, rather than by the writer inside the commit that crosses
 * wal_autocheckpoint: the store thread no longer waits for a checkpoint's
 * writes and fsyncs (issue 15: on a large database these are random
 * pages).  Started at the first commit that is not trpt_pipeline_flush's;
 * trpt_pipeline_async_stop ends it and gives the writer its own
 * checkpoints back (wal_autocheckpoint 4000).  For a writer that nothing
 * else checkpoints: not beside serve's checkpointer (schema/checkpoint.h)
 * on the same connection.
 */
#define TRPT_ASYNC_CHECKPOINT 0x2

int trpt_pipeline_async_start_with(
    struct trpt_pipeline *p, unsigned options, struct trpt_err *err);

/* Waits for the queue to empty and ends the store thread (does not
 * commit: call trpt_pipeline_flush first).  Safe when not started. */
void trpt_pipeline_async_stop(struct trpt_pipeline *p);

/*
 * Commits the open batch, if any.  When that fails, nothing of the batch
 * was stored: p->stats go back to what they were before it, and the error
 * says how many inputs were lost (a run again stores them).
 */
int trpt_pipeline_flush(struct trpt_pipeline *p, struct trpt_err *err);

/*
 * Rejects an input without running it: one too large to read whole, or
 * unreadable.  The given bytes (a prefix, say; NULL when there are none)
 * are quarantined with the reason, and the rejection counted and reported.
 */
int trpt_pipeline_reject(struct trpt_pipeline *p, const void *bytes, size_t len,
    const struct trpt_origin *origin, const char *reason, struct trpt_err *err);

/*
 * Skips an input without running it (a message too large to fetch that
 * does not claim to be a report): counted and reported as skipped, with
 * the reason; nothing is stored.
 */
int trpt_pipeline_skip(struct trpt_pipeline *p,
    const struct trpt_origin *origin, const char *reason, struct trpt_err *err);

/*
 * Runs the quarantine again, each input once, and judges each of its
 * rejected parts by that part's own outcome: a part that now passes is
 * stored and leaves the quarantine; the others keep their row with their
 * new reason.  Reports of the input stored before are not counted as seen
 * again.  *passed and *failed (may be NULL) count the parts.
 */
int trpt_pipeline_reprocess(struct trpt_pipeline *p, uint64_t *passed,
    uint64_t *failed, struct trpt_err *err);

/*
 * The same for the quarantined input id only (with p->flags, e.g.
 * TRPT_PIPE_ACCEPT_UNSIGNED to release a report DKIM refused).
 * TRPT_ENOTFOUND when id is not in quarantine.
 */
int trpt_pipeline_reprocess_id(struct trpt_pipeline *p, int64_t id,
    uint64_t *passed, uint64_t *failed, struct trpt_err *err);

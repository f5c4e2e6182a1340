#pragma once
/*
 * The IMAP sync loop: the new messages of each mailbox of a source, fed
 * to the ingest pipeline, incrementally; and watching a mailbox with IMAP
 * IDLE (or polling) for the daemon.
 *
 * One fetcher per source.  Several fetchers may share one database (`run`
 * and `fetch` processes, on one host or several): a pass over a source's
 * mailboxes first takes the source's lease (schema/imap_state.h), renews
 * it as batches are committed and gives it up at the end.  While another
 * fetcher holds it, the pass does nothing and says so (stats->busy).  A
 * lease whose holder died ends by itself after TRPT_IMAP_LEASE_TTL
 * seconds, or at once when the holder was a process of this host that no
 * longer runs.  A holder that finds its lease taken over (it went
 * unrenewed past its end) stops.
 *
 * State.  Per source and mailbox, schema's imap_state keeps the
 * UIDVALIDITY and the highest UID whose messages are committed.  A run
 * takes only UIDs above it, in windows of UIDs and batches of bodies, so
 * memory is bounded by the batch, not by the mailbox.  Each message is
 * committed by the pipeline first, then the after-action (if any) is done
 * on the server, then last_uid is recorded: a run cut at any point loses
 * nothing and, thanks to (organization-name, report-id) deduplication,
 * stores nothing twice.  A changed UIDVALIDITY rescans the mailbox.
 *
 * The saved UID never passes mail that was not read: the range is taken
 * from the UIDs the server lists (UIDNEXT is not trusted), and a message
 * listed but left out of the answer to its body FETCH stops the mailbox
 * before it (the next run asks again).  A message larger than max_message
 * is recorded once (its header quarantined when it claims to be a TLS
 * report) and passed.
 *
 * Provenance.  Each message is an input of kind "imap" whose source is
 * "SOURCE/MAILBOX/UID", e.g. "reports/INBOX/42".
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "ingest/imap.h"
#include "ingest/pipeline.h"

/* Seconds a lease lasts unless renewed, and how often it is renewed. */
#define TRPT_IMAP_LEASE_TTL   300
#define TRPT_IMAP_LEASE_RENEW 30

/* Counts for one run of a source (all its mailboxes). */
struct trpt_imap_stats {
	uint64_t messages;  /* messages handed to the pipeline */
	uint64_t too_old;   /* before since, not fetched */
	uint64_t oversized; /* over max_message: headers quarantined */
	uint64_t acted;     /* after-actions done on the server */
	uint64_t rescans;   /* mailboxes rescanned for a new UIDVALIDITY */
	/* The source was skipped: another fetcher holds its lease (see
	 * schema/imap_state.h), busy_holder ("HOST:PID") until
	 * busy_until (UTC seconds). */
	int busy;
	char busy_holder[300];
	int64_t busy_until;
};

/* Progress of one mailbox, for a terminal progress line. */
struct trpt_imap_progress {
	const char *source;
	const char *mailbox;
	uint64_t done;  /* messages handled so far in this mailbox */
	uint64_t total; /* messages to handle in this mailbox (estimate) */
	const struct trpt_pipeline_stats *pipeline;
};

typedef void trpt_imap_progress_fn(
    void *arg, const struct trpt_imap_progress *pr);

/*
 * How the loop shares the pipeline's database with other threads (the
 * daemon's one writer connection): lock before and unlock after every use
 * of p and its database, never across network I/O.  progress (may be
 * NULL) is called after each message (parsing ahead: after each commit,
 * from the pipeline's store thread), and synced (may be NULL) after each
 * pass over the mailboxes while watching, with that pass's counts.
 *
 * Without lock hooks and with after = keep, a run parses ahead (fetch):
 * the thread that reads the server's answer hands the messages to the
 * pipeline's parse and store threads (trpt_pipeline_async_start_with),
 * and the saved UID is written in the transaction of the messages it
 * covers (the pipeline's on_commit); when p already parses ahead, the
 * run stores on its own thread as under run.
 */
struct trpt_imap_sync_hooks {
	void (*lock)(void *arg);
	void (*unlock)(void *arg);
	trpt_imap_progress_fn *progress;
	void (*synced)(void *arg, const struct trpt_imap_stats *st);
	void *arg;
};

/*
 * Runs one source once: connects, logs in, and for each mailbox feeds the
 * new messages to p (which must have been set up with
 * TRPT_PIPE_SKIP_NON_REPORTS by the caller) and records the state in
 * p->db.  hooks may be NULL.
 *
 * Returns TRPT_OK, or an error whose message names the source and the
 * cause (connection refused, timeout, deadline, certificate, login,
 * mailbox, an answer over its cap): TRPT_ETEMP for network failures,
 * timeouts and misbehaving servers, TRPT_EINVAL for refused credentials
 * or certificates, TRPT_ENOTFOUND for a missing mailbox, TRPT_EDB or
 * TRPT_ENOMEM from the pipeline.  What was committed before the failure
 * stays committed and recorded; *stats counts it either way.
 */
int trpt_imap_sync_run(const struct trpt_imap_conf *conf,
    struct trpt_pipeline *p, const struct trpt_imap_sync_hooks *hooks,
    struct trpt_imap_stats *stats, struct trpt_err *err);

/*
 * Watches a source until wake_fd becomes readable: one run as above, then
 * IMAP IDLE on the first mailbox when the server offers it and use_idle
 * is set (a run again as soon as the server reports a change, and every
 * interval seconds for the other mailboxes), else a run every interval
 * seconds.  Returns TRPT_OK when woken by wake_fd, or the error that
 * ended the connection (the caller retries later).
 */
int trpt_imap_sync_watch(const struct trpt_imap_conf *conf,
    struct trpt_pipeline *p, const struct trpt_imap_sync_hooks *hooks,
    int use_idle, unsigned interval, int wake_fd, struct trpt_err *err);

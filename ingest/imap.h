#pragma once
/*
 * The IMAP source: fetch new messages from a mailbox with libetpan and
 * feed each to the ingest pipeline, incrementally.
 *
 * Transport.  The TCP connection and TLS are our own (GnuTLS, with the
 * certificate chain and the host name always verified); libetpan only
 * speaks IMAP over them through a mailstream driver.  libetpan's own TLS
 * does not verify certificates.  Every network operation has a timeout.
 *
 * State.  Per source and mailbox, the table imap_state keeps the
 * UIDVALIDITY and the highest UID whose reports are committed.  A run
 * takes only UIDs above it, in windows of UIDs and batches of bodies, so
 * memory is bounded by the batch, not by the mailbox.  Each message is
 * committed by the pipeline first, then the after-action (if any) is done
 * on the server, then last_uid is recorded: a run cut at any point loses
 * nothing and, thanks to (organization-name, report-id) deduplication,
 * stores nothing twice.  A changed UIDVALIDITY rescans the mailbox.
 *
 * Provenance.  Each message is an input of kind "imap" whose source is
 * "SOURCE/MAILBOX/UID", e.g. "reports/INBOX/42".
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "ingest/pipeline.h"

enum trpt_imap_security {
	TRPT_IMAP_TLS = 0,  /* implicit TLS (port 993) */
	TRPT_IMAP_STARTTLS, /* plain connection upgraded (port 143) */
	TRPT_IMAP_NONE      /* clear text: loopback hosts only */
};

enum trpt_imap_after {
	TRPT_IMAP_KEEP = 0, /* leave the message as it is */
	TRPT_IMAP_SEEN,     /* set \Seen */
	TRPT_IMAP_MOVE,     /* move to after_folder */
	TRPT_IMAP_DELETE    /* set \Deleted and expunge that UID */
};

/* One configured source.  Every pointer is borrowed from the caller. */
struct trpt_imap_conf {
	const char *name; /* source name: messages, state, provenance */
	const char *host;
	uint16_t port;
	enum trpt_imap_security security;
	const char *ca_file; /* PEM trust anchors; NULL: the system's */
	const char *username;
	const char *password;         /* the caller wipes it after use */
	const char *const *mailboxes; /* INBOX when nmailboxes is 0 */
	size_t nmailboxes;
	int read_only;              /* EXAMINE: nothing on the server changes */
	enum trpt_imap_after after; /* only with read_only = 0 */
	const char *after_folder;   /* for TRPT_IMAP_MOVE */
	int64_t since;              /* first backfill: skip older mail; 0 */
	unsigned connect_timeout;   /* seconds; 0 means 30 */
	unsigned timeout;           /* seconds per read or write; 0 means 60 */
	unsigned batch;             /* messages per body FETCH; 0 means 100 */
	size_t batch_bytes;         /* bytes per body FETCH; 0 means 32 MiB */
};

/* Counts for one run of a source (all its mailboxes). */
struct trpt_imap_stats {
	uint64_t messages;  /* messages handed to the pipeline */
	uint64_t too_old;   /* before since, not fetched */
	uint64_t oversized; /* over max_message: headers quarantined */
	uint64_t acted;     /* after-actions done on the server */
	uint64_t rescans;   /* mailboxes rescanned for a new UIDVALIDITY */
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
 * Checks conf for contradictions (after-action with read_only, security
 * none with a non-loopback host, a missing folder for move, ...).
 * Returns TRPT_EINVAL with a message naming the source.
 */
int trpt_imap_conf_check(
    const struct trpt_imap_conf *conf, struct trpt_err *err);

/*
 * Runs one source once: connects, logs in, and for each mailbox feeds the
 * new messages to p (which must have been set up with
 * TRPT_PIPE_SKIP_NON_REPORTS by the caller) and records the state in
 * p->db.  progress (may be NULL) is called after each message.
 *
 * Returns TRPT_OK, or an error whose message names the source and the
 * cause (connection refused, timeout, certificate, login, mailbox):
 * TRPT_ETEMP for network failures and timeouts, TRPT_EINVAL for refused
 * credentials, certificates or a missing mailbox, TRPT_EDB/TRPT_ENOMEM
 * from the pipeline.  What was committed before the failure stays
 * committed and recorded; *stats counts it either way.
 */
int trpt_imap_run(const struct trpt_imap_conf *conf, struct trpt_pipeline *p,
    trpt_imap_progress_fn *progress, void *progress_arg,
    struct trpt_imap_stats *stats, struct trpt_err *err);

/*
 * The connection alone, for tools and tests that need to talk to a
 * server (APPEND, CREATE, flags) with the same verified transport.
 */
struct trpt_imap;

/* Connects, secures and logs in as conf says.  Caller frees. */
int trpt_imap_connect(const struct trpt_imap_conf *conf, struct trpt_imap **out,
    struct trpt_err *err);
/* Logs out (best effort) and closes; accepts NULL, sets *cp to NULL. */
void trpt_imap_free(struct trpt_imap **cp);

/*
 * The libetpan session (a mailimap *), owned by c, for commands this
 * module does not wrap.  Declared void * so that this header does not
 * pull in libetpan.
 */
void *trpt_imap_session(struct trpt_imap *c);

/* A short description of a libetpan error code. */
const char *trpt_imap_strerror(int code);

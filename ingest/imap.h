#pragma once
/*
 * The IMAP session: the configuration of a source, connecting, STARTTLS
 * and LOGIN, and the few commands the sync loop needs, each with a cap on
 * the bytes of its answer, with libetpan over our own transport
 * (imap_io.h: verified TLS, timeouts, the run's deadline, literal caps).
 * The sync loop (imap_sync.h) feeds new messages to the pipeline.
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
	/* Seconds one run (or one wake-up from IDLE) may take in all, however
	 * the server paces its bytes; 0 means TRPT_IMAP_DEADLINE. */
	unsigned deadline;
	/* Bytes of one message (max_message of [limits]); larger ones are
	 * not fetched, no literal from the server may be larger.  0 means
	 * TRPT_MAX_MESSAGE_DEFAULT; trpt_imap_sync_run takes the
	 * pipeline's. */
	size_t max_message;
};

#define TRPT_IMAP_DEADLINE 3600

/*
 * Checks conf for contradictions (after-action with read_only, security
 * none with a non-loopback host, a missing folder for move, ...).
 * Returns TRPT_EINVAL with a message naming the source.
 */
int trpt_imap_conf_check(
    const struct trpt_imap_conf *conf, struct trpt_err *err);

/*
 * The connection: the sync loop's, and for tools and tests that need to
 * talk to a server (APPEND, CREATE, flags) with the same verified
 * transport.
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

/* ---- for imap_sync.c only ------------------------------------------- */

/* One message as a size FETCH lists it. */
struct trpt__imap_entry {
	uint32_t uid;
	uint32_t size; /* RFC822.SIZE as the server says */
	int64_t date;  /* INTERNALDATE, or 0 */
};

/* What SELECT or EXAMINE said. */
struct trpt__imap_mbox {
	uint32_t uidvalidity;
	uint32_t uidnext; /* 0 when not sent; never trusted for the range */
	uint32_t exists;
};

/* Bodies of a FETCH, aligned with the entries asked for; body[i] is NULL
 * when the server did not send message i.  Borrowed from res. */
struct trpt__imap_bodies {
	void *res;
	size_t n;
	const char **body;
	size_t *len;
};

/* err from a libetpan code: "SOURCE: WHAT: server text or cause". */
int trpt__imap_fail(
    struct trpt_imap *c, int code, struct trpt_err *err, const char *what);
/* Starts the run's deadline again (after an IDLE wake-up). */
void trpt__imap_restart_deadline(struct trpt_imap *c);
int trpt__imap_has(struct trpt_imap *c, const char *capability);
/* SELECT (EXAMINE with read_only); TRPT_ENOTFOUND for a refused mailbox. */
int trpt__imap_select(struct trpt_imap *c, const char *mailbox, int read_only,
    struct trpt__imap_mbox *out, struct trpt_err *err);
/* UID FETCH lo:hi (UID RFC822.SIZE INTERNALDATE), sorted by UID, one per
 * UID.  lo = hi = 0 asks for "*", the highest UID.  Caller frees *out. */
int trpt__imap_sizes(struct trpt_imap *c, const char *mailbox, uint32_t lo,
    uint32_t hi, struct trpt__imap_entry **out, size_t *n,
    struct trpt_err *err);
/* UID SEARCH UID lo:hi: the UIDs of the window, sorted, one each, sizes
 * and dates 0 (they come with the bodies: trpt__imap_stream_bodies with
 * sizes).  Much cheaper for the server than trpt__imap_sizes.  Caller
 * frees *out. */
int trpt__imap_list(struct trpt_imap *c, const char *mailbox, uint32_t lo,
    uint32_t hi, struct trpt__imap_entry **out, size_t *n,
    struct trpt_err *err);
/* The highest UID in the selected mailbox (0 if empty). */
int trpt__imap_max_uid(struct trpt_imap *c, const char *mailbox, uint32_t *out,
    struct trpt_err *err);
/* Messages after last_uid (an estimate for progress). */
uint64_t trpt__imap_count_after(
    struct trpt_imap *c, uint32_t last_uid, uint32_t exists);
/* The header of one message, at most max_message bytes. */
int trpt__imap_header(struct trpt_imap *c, const char *mailbox,
    const struct trpt__imap_entry *en, struct trpt__imap_bodies *out,
    struct trpt_err *err);
void trpt__imap_bodies_free(struct trpt__imap_bodies *b);

/*
 * Called for each FETCH response of trpt__imap_stream_bodies, in the
 * order the server sends them: got holds the UID (0 if none), and with
 * sizes the RFC822.SIZE and INTERNALDATE the server sent (0 if none); the
 * body (NULL if none; at most max_message + 1 bytes), valid during the
 * call only.
 */
typedef void trpt__imap_each_fn(void *arg, const struct trpt__imap_entry *got,
    const char *body, size_t len);

/*
 * UID FETCH of the bodies of v[0..n-1] (sorted by UID), at most
 * max_message + 1 bytes each (a length of max_message + 1 means the
 * message is larger), each handed to fn while libetpan parses the answer,
 * so that the collector stores messages while the server is still sending
 * the next ones, and only one message is held at a time.  With sizes,
 * each message's RFC822.SIZE and INTERNALDATE come in the same answer
 * (v listed by trpt__imap_list, sizes 0).  fn must not send commands.
 */
int trpt__imap_stream_bodies(struct trpt_imap *c, const char *mailbox,
    const struct trpt__imap_entry *v, size_t n, int sizes,
    trpt__imap_each_fn *fn, void *arg, struct trpt_err *err);

/* +FLAGS.SILENT (\Seen), or (\Deleted) with deleted, of uids[0..n-1]. */
int trpt__imap_flag(struct trpt_imap *c, const uint32_t *uids, size_t n,
    int deleted, struct trpt_err *err);
/* UID EXPUNGE of uids[0..n-1] when the server has UIDPLUS, else
 * nothing. */
int trpt__imap_expunge(
    struct trpt_imap *c, const uint32_t *uids, size_t n, struct trpt_err *err);
/* UID MOVE, or COPY + \Deleted + UID EXPUNGE without MOVE. */
int trpt__imap_move(struct trpt_imap *c, const char *mailbox,
    const uint32_t *uids, size_t n, const char *folder, struct trpt_err *err);
/*
 * IDLE on the selected mailbox until the server says something, wake_fd
 * becomes readable or seconds pass; then DONE.  *woke is 1 (the server),
 * 2 (wake_fd) or 0 (time).
 */
int trpt__imap_idle(struct trpt_imap *c, const char *mailbox, int wake_fd,
    unsigned seconds, int *woke, struct trpt_err *err);

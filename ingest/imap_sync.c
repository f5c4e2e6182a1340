#include "ingest/imap_sync.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "schema/imap_state.h"

#define DEFAULT_BATCH       100
#define DEFAULT_BATCH_BYTES (32u * 1024 * 1024)
#define MAX_WINDOW          65536u /* UIDs asked for in one size FETCH */
#define WINDOW_BATCHES      16     /* batches of bodies per window */
/* Parse ahead: messages per transaction, and how long a batch waits for
 * its next message before it is committed (a stalled server does not
 * hold the database's write lock), as `ingest`. */
#define ASYNC_BATCH_MAX 1000
#define ASYNC_BATCH_MS  200
/* RFC 2177: re-issue IDLE at least every 29 minutes. */
#define IDLE_MAX 1500u

struct run {
	struct trpt_imap *c;
	const struct trpt_imap_conf *conf;
	struct trpt_pipeline *p;
	const struct trpt_imap_sync_hooks *hooks;
	const char *mailbox;
	uint32_t uidvalidity;
	uint32_t saved; /* last_uid as saved for this mailbox */
	int backfill;
	/* The window is listed by UID SEARCH and each message's size and
	 * date come with its body (see run_mailbox). */
	int fold;
	/* Parse ahead (see stream_run): messages are handed to the pipeline's
	 * parse and store threads, and the saved UID is written by the store
	 * thread in the transaction of the messages it covers. */
	int async;
	struct trpt_imap_stats *stats;
	uint64_t done, total;
	char holder[TRPT_IMAP_HOLDER_LEN]; /* this process: "HOST:PID" */
	int64_t renewed;                   /* when the lease was last renewed */
};

static void
db_lock(struct run *r)
{
	if (r->hooks != NULL && r->hooks->lock != NULL)
		r->hooks->lock(r->hooks->arg);
}

static void
db_unlock(struct run *r)
{
	if (r->hooks != NULL && r->hooks->unlock != NULL)
		r->hooks->unlock(r->hooks->arg);
}

/* ---- the source's lease ---------------------------------------------- */

/* "HOST:PID" of this process. */
static void
make_holder(char *buf, size_t len)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, len, "%s:%ld", host, (long)getpid());
}

/* 1 when holder is a process of this host that no longer runs. */
static int
holder_dead(const char *self, const char *holder)
{
	const char *colon = strrchr(holder, ':'), *mine = strrchr(self, ':');
	char *end;
	long pid;

	if (colon == NULL || mine == NULL || colon - holder != mine - self ||
	    strncmp(holder, self, (size_t)(colon - holder)) != 0)
		return 0;
	pid = strtol(colon + 1, &end, 10);
	if (*end != '\0' || pid <= 0 || pid > INT_MAX)
		return 0;
	return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/*
 * Takes the lease of the source: *taken 0 (and r->stats->busy set) when
 * another fetcher holds it.  Called with the database locked.
 */
static int
lease_take(struct run *r, int *taken, struct trpt_err *err)
{
	struct trpt_imap_lease_owner owner;
	int64_t now = (int64_t)time(NULL);
	int rc;

	rc = trpt_imap_lease_take(r->p->db, r->conf->name, r->holder, now,
	    now + TRPT_IMAP_LEASE_TTL, NULL, taken, &owner, err);
	/* A fetcher of this host that died holding it: no need to wait for
	 * the lease to end (its holder is compared too, so of two fetchers
	 * doing this at once one takes it). */
	if (rc == TRPT_OK && !*taken && holder_dead(r->holder, owner.holder))
		rc = trpt_imap_lease_take(r->p->db, r->conf->name, r->holder,
		    now, now + TRPT_IMAP_LEASE_TTL, owner.holder, taken, &owner,
		    err);
	if (rc != TRPT_OK) {
		trpt_err_prefix(err, "%s: lease", r->conf->name);
		return rc;
	}
	if (*taken)
		r->renewed = now;
	else {
		r->stats->busy = 1;
		snprintf(r->stats->busy_holder, sizeof(r->stats->busy_holder),
		    "%s", owner.holder[0] != '\0' ? owner.holder : "unknown");
		r->stats->busy_until = owner.expires_at;
	}
	return TRPT_OK;
}

/*
 * Renews the lease when TRPT_IMAP_LEASE_RENEW seconds have gone by since
 * the last time; fails when another fetcher took it over meanwhile.
 * Called with the database locked.
 */
static int
lease_keep(struct run *r, struct trpt_err *err)
{
	int64_t now = (int64_t)time(NULL);
	int held = 1, rc;

	if (now - r->renewed < TRPT_IMAP_LEASE_RENEW)
		return TRPT_OK;
	if ((rc = trpt_imap_lease_renew(r->p->db, r->conf->name, r->holder,
		 now + TRPT_IMAP_LEASE_TTL, &held, err)) != TRPT_OK) {
		trpt_err_prefix(err, "%s: lease", r->conf->name);
		return rc;
	}
	if (!held)
		return trpt_err_set(err, TRPT_ETEMP,
		    "%s: lease: another fetcher took the source over (this "
		    "run went %d s without renewing it); stopped",
		    r->conf->name, TRPT_IMAP_LEASE_TTL);
	r->renewed = now;
	return TRPT_OK;
}

/* Gives the lease up (best effort: unrenewed, it ends by itself). */
static void
lease_release(struct run *r)
{
	db_lock(r);
	(void)trpt_imap_lease_release(r->p->db, r->conf->name, r->holder, NULL);
	db_unlock(r);
}

/* Records uid as the last one handled in the current mailbox. */
static int
record(struct run *r, uint32_t uid, struct trpt_err *err)
{
	int rc;

	db_lock(r);
	if ((rc = lease_keep(r, err)) == TRPT_OK)
		rc = trpt_imap_state_put(r->p->db, r->conf->name, r->mailbox,
		    r->uidvalidity, uid, err);
	db_unlock(r);
	if (rc == TRPT_OK)
		r->saved = uid;
	return rc;
}

/* The after-action for messages whose reports are committed. */
static int
act(struct run *r, const uint32_t *uids, size_t n, struct trpt_err *err)
{
	int rc = TRPT_OK;

	if (n == 0)
		return TRPT_OK;
	switch (r->conf->after) {
	case TRPT_IMAP_KEEP:
		return TRPT_OK;
	case TRPT_IMAP_SEEN:
		rc = trpt__imap_flag(r->c, uids, n, 0, err);
		break;
	case TRPT_IMAP_DELETE:
		if ((rc = trpt__imap_flag(r->c, uids, n, 1, err)) == TRPT_OK)
			rc = trpt__imap_expunge(r->c, uids, n, err);
		break;
	case TRPT_IMAP_MOVE:
		rc = trpt__imap_move(
		    r->c, r->mailbox, uids, n, r->conf->after_folder, err);
		break;
	}
	if (rc == TRPT_OK)
		r->stats->acted += n;
	return rc;
}

/* Progress: done messages of the mailbox handled (in parse-ahead mode,
 * committed: called from the store thread). */
static void
progress_at(struct run *r, uint64_t done)
{
	struct trpt_imap_progress pr;

	if (r->hooks == NULL || r->hooks->progress == NULL)
		return;
	pr.source = r->conf->name;
	pr.mailbox = r->mailbox;
	pr.done = done;
	pr.total = r->total > done ? r->total : done;
	pr.pipeline = &r->p->stats;
	r->hooks->progress(r->hooks->arg, &pr);
}

static void
report_progress(struct run *r)
{
	progress_at(r, r->done);
}

static void
make_source(const struct run *r, uint32_t uid, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s/%u", r->conf->name, r->mailbox, uid);
}

/* Case-insensitive search in a buffer that may hold NUL bytes. */
static int
contains_ci(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= len; i++)
		if (strncasecmp(hay + i, needle, n) == 0)
			return 1;
	return 0;
}

/*
 * Whether a message header announces a TLS report: a TLS-Report-Domain
 * field, report-type=tlsrpt or an application/tlsrpt media type.  A mere
 * "tlsrpt@" in To: does not count (mailboxes are often named so).
 */
static int
header_claims_tlsrpt(const char *h, size_t len)
{
	size_t i;

	if (contains_ci(h, len, "report-type=tlsrpt") ||
	    contains_ci(h, len, "report-type=\"tlsrpt\"") ||
	    contains_ci(h, len, "application/tlsrpt"))
		return 1;
	for (i = 0; i + 18 <= len; i++)
		if ((i == 0 || h[i - 1] == '\n') &&
		    strncasecmp(h + i, "tls-report-domain:", 18) == 0)
			return 1;
	return 0;
}

/*
 * The header of a message whose first bytes are body[0..len-1]: up to and
 * including the blank line that ends it, or max bytes.
 */
static size_t
header_len(const char *body, size_t len, size_t max)
{
	size_t i;

	if (len > max)
		len = max;
	for (i = 0; i + 1 < len; i++) {
		if (body[i] != '\n')
			continue;
		if (body[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && body[i + 1] == '\r' && body[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/*
 * A message larger than max_message is not fetched whole.  If its header
 * (hdr, hlen; NULL when the server sent none) claims a TLS report, the
 * header is quarantined with the reason so the loss is visible;
 * otherwise it is skipped like any other non-report.  The caller then
 * records its UID with the others, so it is counted and kept once, not
 * on every run.  Called with the database locked (or handed to the
 * pipeline's threads, parsing ahead).
 */
static int
oversized(struct run *r, const struct trpt__imap_entry *en, size_t seen,
    const char *hdr, size_t hlen, struct trpt_err *err)
{
	struct trpt_origin origin;
	char source[512], reason[200];

	make_source(r, en->uid, source, sizeof(source));
	if (seen > en->size)
		snprintf(reason, sizeof(reason),
		    "message exceeds max_message (%zu bytes; the server said "
		    "%u); not fetched",
		    r->p->limits.max_message, en->size);
	else
		snprintf(reason, sizeof(reason),
		    "message of %u bytes exceeds max_message (%zu bytes); not "
		    "fetched",
		    en->size, r->p->limits.max_message);
	r->stats->oversized++;
	memset(&origin, 0, sizeof(origin));
	origin.kind = "imap";
	origin.source = source;
	origin.received = en->date != 0 ? en->date : (int64_t)time(NULL);
	if (hdr == NULL || !header_claims_tlsrpt(hdr, hlen))
		return trpt_pipeline_skip(r->p, &origin, reason, err);
	return trpt_pipeline_reject(r->p, hdr, hlen, &origin, reason, err);
}

/* One message through the pipeline; *act tells whether the after-action
 * applies to it.  Called with the database locked. */
static int
handle_message(struct run *r, const struct trpt__imap_entry *en,
    const char *body, size_t len, int *act_on, struct trpt_err *err)
{
	struct trpt_origin origin;
	enum trpt_event_kind outcome = TRPT_EV_SKIPPED;
	char source[512];
	int rc;

	make_source(r, en->uid, source, sizeof(source));
	memset(&origin, 0, sizeof(origin));
	origin.kind = "imap";
	origin.source = source;
	origin.received = en->date != 0 ? en->date : (int64_t)time(NULL);
	rc = trpt_pipeline_input(r->p, body, len, &origin, &outcome, err);
	if (rc != TRPT_OK) {
		trpt_err_prefix(err, "%s", source);
		return rc;
	}
	r->stats->messages++;
	/* Committed (or quarantined whole) messages may go from the server
	 * once their batch is committed.  Mail that is not a report is
	 * never touched. */
	*act_on = outcome == TRPT_EV_STORED || outcome == TRPT_EV_DUPLICATE ||
		  outcome == TRPT_EV_REJECTED || outcome == TRPT_EV_WARNING;
	return TRPT_OK;
}

static int
too_old(const struct run *r, const struct trpt__imap_entry *en)
{
	return r->backfill && r->conf->since != 0 && en->date != 0 &&
	       en->date < r->conf->since;
}

/*
 * The bodies of a run of messages come in one UID FETCH whose answer
 * libetpan hands over message by message as it parses it
 * (trpt__imap_stream_bodies), and they are stored in batches while the
 * server sends the next ones: the collector and the server no longer take
 * turns (one FETCH of 100 bodies, then storing them, then the next
 * FETCH), which held the fetch from Dovecot on loopback to 0.49 of
 * `ingest` of the same mails (bench/bench_imap.c, 2026-11-30).
 *
 * Several UID FETCH commands sent before reading their answers were tried
 * first (test_imap, batch = 4, against Dovecot): a message came outside
 * the answer to the command that asked for it.  RFC 3501 (5.5) lets a
 * server run such commands at once and interleave their untagged
 * answers, so answers cannot be matched to commands by their order; one
 * command per run, streamed, needs no matching.
 *
 * Each batch is one transaction, not two per message (the report, then
 * the state): that cost the fetch half of its CPU time against `ingest`.
 * With after = keep the saved UID goes in the same transaction, so
 * reports and state are committed together.  With an after-action, a
 * run is one batch: it is committed first, then the action is done on the
 * server for the whole batch in one command, then the UID is saved: a run
 * cut anywhere loses nothing, and what is stored again is found a
 * duplicate.
 *
 * The saved UID never passes a message not yet handled: it is the last of
 * the leading messages of the run that all came.  A message the server
 * listed but left out of its answer stops the mailbox right before it.
 * (One that was expunged meanwhile is not listed on the next run, which
 * then passes it.)
 */
struct stream {
	struct run *r;
	struct trpt__imap_entry *v; /* folded: sizes and dates as they come */
	size_t n;
	unsigned char *got; /* got[i]: v[i] came */
	size_t prefix;      /* v[0..prefix-1] all came and are stored */
	/* The batch being gathered: copies of the bodies, back to back. */
	char *buf;
	size_t buflen, bufcap;
	size_t *idx, *off, *len; /* per message of the batch */
	size_t bn, batch, maxbytes;
	uint32_t *acts; /* UIDs for the after-action */
	size_t nact;
	int rc; /* the first error; then the rest of the answer is ignored */
	struct trpt_err err;
};

/* Stores the gathered batch in one transaction. */
static int
store_batch(struct stream *s)
{
	struct run *r = s->r;
	size_t i, k, before = s->prefix;
	int rc = TRPT_OK, act_on, keep = r->conf->after == TRPT_IMAP_KEEP;

	if (s->bn == 0)
		return TRPT_OK;
	db_lock(r);
	for (i = 0; i < s->bn; i++) {
		const struct trpt__imap_entry *en = &s->v[s->idx[i]];
		const char *body = s->buf + s->off[i];

		if (s->len[i] > r->p->limits.max_message ||
		    en->size > r->p->limits.max_message)
			/* The size said less than the server sent, or (folded)
			 * more than max_message: the header is in the bytes
			 * read (at most max_message + 1). */
			rc = oversized(r, en,
			    s->len[i] > en->size ? s->len[i] : en->size, body,
			    header_len(
				body, s->len[i], r->p->limits.max_message),
			    &s->err);
		else {
			act_on = 0;
			rc = handle_message(
			    r, en, body, s->len[i], &act_on, &s->err);
			if (rc == TRPT_OK && act_on && !keep)
				s->acts[s->nact++] = en->uid;
		}
		if (rc != TRPT_OK) {
			/* The pipeline committed what came before; no UID
			 * is saved: the next run finds those duplicates. */
			db_unlock(r);
			return rc;
		}
		r->done++;
		report_progress(r);
	}
	s->bn = 0;
	s->buflen = 0;
	for (k = s->prefix; k < s->n && s->got[k]; k++)
		;
	s->prefix = k;
	/* Only the lease's holder saves state; the reports are committed
	 * either way (another fetcher storing them finds duplicates). */
	rc = lease_keep(r, &s->err);
	if (rc == TRPT_OK && keep && s->prefix > before)
		rc = trpt_imap_state_put(r->p->db, r->conf->name, r->mailbox,
		    r->uidvalidity, s->v[s->prefix - 1].uid, &s->err);
	if (rc == TRPT_OK)
		rc = trpt_pipeline_flush(r->p, &s->err);
	else
		(void)trpt_pipeline_flush(r->p, NULL);
	db_unlock(r);
	if (rc == TRPT_OK && keep && s->prefix > before)
		r->saved = s->v[s->prefix - 1].uid;
	return rc;
}

static int
cmp_uid(const void *a, const void *b)
{
	const struct trpt__imap_entry *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* One message of the answer (trpt__imap_each_fn). */
static void
stream_one(
    void *arg, const struct trpt__imap_entry *got, const char *body, size_t len)
{
	struct stream *s = arg;
	struct trpt__imap_entry key, *hit;
	uint32_t uid = got->uid;
	size_t k;

	/* Unsolicited FETCH (flags), other UIDs, repeats: not ours. */
	if (s->rc != TRPT_OK || body == NULL || uid == 0)
		return;
	key.uid = uid;
	hit = bsearch(&key, s->v, s->n, sizeof(*s->v), cmp_uid);
	if (hit == NULL || s->got[hit - s->v])
		return;
	k = (size_t)(hit - s->v);
	if (s->r->fold) {
		hit->size = got->size;
		hit->date = got->date;
	}
	if (s->buflen + len > s->bufcap) {
		size_t cap = (s->buflen + len) * 2;
		char *nb = realloc(s->buf, cap);

		if (nb == NULL) {
			s->rc =
			    trpt_err_set(&s->err, TRPT_ENOMEM, "out of memory");
			return;
		}
		s->buf = nb;
		s->bufcap = cap;
	}
	memcpy(s->buf + s->buflen, body, len);
	s->idx[s->bn] = k;
	s->off[s->bn] = s->buflen;
	s->len[s->bn] = len;
	s->buflen += len;
	s->bn++;
	s->got[k] = 1;
	if (s->bn >= s->batch || s->buflen >= s->maxbytes)
		s->rc = store_batch(s);
}

/*
 * Parse ahead (issue 15; fetch, not run: with after = keep and no lock
 * to share the database with).  The thread that reads the FETCH answer
 * only hands each message over to the pipeline (a copy), whose parse
 * thread reads, inflates and validates it while its store thread stores
 * the ones before it, in batches of `batch` (or what came within
 * ASYNC_BATCH_MS): reading the socket, parsing and storing overlap as in
 * `ingest`, where storing on the reading thread held the fetch of 10,000
 * mails from Dovecot to 0.56 of `ingest` of them (bench/bench_imap.c).
 *
 * Each message goes with a tag (make_tag): the messages of the mailbox
 * handed over so far, for progress, and the highest UID up to which every
 * message the run listed has been handed over (0 if none).  Right before
 * each batch's commit the store thread saves the largest UID of the tags
 * of the messages it stored (commit_uid), in that transaction: the saved
 * UID never passes a message that is not committed, and a run cut at any
 * point refetches only uncommitted messages (a batch committed without its
 * UID, after an error, is found a duplicate).
 */
static uint64_t
make_tag(uint64_t done, uint32_t uid)
{
	return done << 32 | uid;
}

/* trpt_pipeline on_commit: in the batch's transaction (the store
 * thread's, or this thread's after a drain). */
static int
commit_uid(void *arg, uint64_t tag, struct trpt_err *err)
{
	struct run *r = arg;
	uint32_t uid = (uint32_t)(tag & 0xffffffffu);
	int rc;

	/* Only the lease's holder saves state; the reports are committed
	 * either way (another fetcher storing them finds duplicates). */
	if ((rc = lease_keep(r, err)) != TRPT_OK)
		return rc;
	if (uid > r->saved) {
		if ((rc = trpt_imap_state_put(r->p->db, r->conf->name,
			 r->mailbox, r->uidvalidity, uid, err)) != TRPT_OK)
			return rc;
		r->saved = uid;
	}
	if (tag >> 32 != 0)
		progress_at(r, tag >> 32);
	return TRPT_OK;
}

/*
 * Waits for the pipeline's threads and commits what they stored (with
 * its UID), so that this thread may use the database: before anything
 * but messages is saved, and before the next mailbox.
 */
static int
settle(struct run *r, struct trpt_err *err)
{
	int rc;

	if (!r->async)
		return TRPT_OK;
	if ((rc = trpt_pipeline_flush(r->p, err)) != TRPT_OK)
		trpt_err_prefix(err, "%s: %s", r->conf->name,
		    r->mailbox != NULL ? r->mailbox : "");
	return rc;
}

/* One message of the answer, handed over (trpt__imap_each_fn). */
static void
stream_hand(
    void *arg, const struct trpt__imap_entry *got, const char *body, size_t len)
{
	struct stream *s = arg;
	struct run *r = s->r;
	struct trpt__imap_entry key, *en;
	uint32_t uid = got->uid;
	struct trpt_origin origin;
	char source[512];
	int rc;

	/* Unsolicited FETCH (flags), other UIDs, repeats: not ours. */
	if (s->rc != TRPT_OK || body == NULL || uid == 0)
		return;
	key.uid = uid;
	en = bsearch(&key, s->v, s->n, sizeof(*s->v), cmp_uid);
	if (en == NULL || s->got[en - s->v])
		return;
	s->got[en - s->v] = 1;
	if (r->fold) {
		en->size = got->size;
		en->date = got->date;
	}
	while (s->prefix < s->n && s->got[s->prefix])
		s->prefix++;
	r->done++;
	r->p->input_tag =
	    make_tag(r->done, s->prefix > 0 ? s->v[s->prefix - 1].uid : 0);
	if (len > r->p->limits.max_message ||
	    en->size > r->p->limits.max_message)
		/* The size said less than the server sent, or (folded) more
		 * than max_message: the header is in the bytes read (at most
		 * max_message + 1). */
		rc = oversized(r, en, len > en->size ? len : en->size, body,
		    header_len(body, len, r->p->limits.max_message), &s->err);
	else {
		make_source(r, uid, source, sizeof(source));
		memset(&origin, 0, sizeof(origin));
		origin.kind = "imap";
		origin.source = source;
		origin.received =
		    en->date != 0 ? en->date : (int64_t)time(NULL);
		rc = trpt_pipeline_input(
		    r->p, body, len, &origin, NULL, &s->err);
		if (rc == TRPT_OK)
			r->stats->messages++;
	}
	if (rc != TRPT_OK) {
		/* An error of an earlier message (stored on another thread):
		 * the rest of the answer is ignored. */
		trpt_err_prefix(&s->err, "%s: %s", r->conf->name, r->mailbox);
		s->rc = rc;
	}
}

/* stream_run, parsing ahead: nothing is waited for here. */
static int
stream_hand_run(
    struct run *r, struct trpt__imap_entry *v, size_t n, struct trpt_err *err)
{
	struct stream s;
	int rc;

	memset(&s, 0, sizeof(s));
	s.r = r;
	s.v = v;
	s.n = n;
	s.rc = TRPT_OK;
	if ((s.got = calloc(n, 1)) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	rc = trpt__imap_stream_bodies(
	    r->c, r->mailbox, v, n, r->fold, stream_hand, &s, err);
	free(s.got);
	/* What came before a broken connection is stored all the same (the
	 * next flush commits it, with its UID). */
	if (s.rc != TRPT_OK) {
		*err = s.err;
		return s.rc;
	}
	if (rc != TRPT_OK)
		return rc;
	if (s.prefix < n)
		return trpt_err_set(err, TRPT_ETEMP,
		    "%s: %s: the server listed UID %u but did not send it; "
		    "stopped before it (the next run asks again)",
		    r->conf->name, r->mailbox, v[s.prefix].uid);
	return TRPT_OK;
}

/* The bodies of v[0..n-1], none too old or known to be oversized
 * (folded: not known yet). */
static int
stream_run(
    struct run *r, struct trpt__imap_entry *v, size_t n, struct trpt_err *err)
{
	struct stream s;
	int rc, keep = r->conf->after == TRPT_IMAP_KEEP;

	if (r->async)
		return stream_hand_run(r, v, n, err);
	memset(&s, 0, sizeof(s));
	s.r = r;
	s.v = v;
	s.n = n;
	s.rc = TRPT_OK;
	s.batch = r->conf->batch ? r->conf->batch : DEFAULT_BATCH;
	s.maxbytes =
	    r->conf->batch_bytes ? r->conf->batch_bytes : DEFAULT_BATCH_BYTES;
	s.got = calloc(n, 1);
	s.idx = calloc(s.batch, sizeof(*s.idx));
	s.off = calloc(s.batch, sizeof(*s.off));
	s.len = calloc(s.batch, sizeof(*s.len));
	s.acts = keep ? NULL : calloc(n, sizeof(*s.acts));
	if (s.got == NULL || s.idx == NULL || s.off == NULL || s.len == NULL ||
	    (!keep && s.acts == NULL)) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	rc = trpt__imap_stream_bodies(
	    r->c, r->mailbox, v, n, r->fold, stream_one, &s, err);
	/* What came before a broken connection is stored all the same. */
	if (s.rc == TRPT_OK)
		s.rc = store_batch(&s);
	if (s.rc != TRPT_OK) {
		*err = s.err;
		rc = s.rc;
		goto out;
	}
	if (rc != TRPT_OK)
		goto out;
	if (!keep && s.prefix > 0) {
		/* Committed: only now may the server copies go. */
		if ((rc = act(r, s.acts, s.nact, err)) != TRPT_OK ||
		    (rc = record(r, v[s.prefix - 1].uid, err)) != TRPT_OK)
			goto out;
	}
	if (s.prefix < n)
		rc = trpt_err_set(err, TRPT_ETEMP,
		    "%s: %s: the server listed UID %u but did not send it; "
		    "stopped before it (the next run asks again)",
		    r->conf->name, r->mailbox, v[s.prefix].uid);
out:
	if (s.bn > 0)
		(void)trpt_pipeline_flush(r->p, NULL);
	free(s.got);
	free(s.idx);
	free(s.off);
	free(s.len);
	free(s.acts);
	free(s.buf);
	return rc;
}

/* A message larger than max_message by its listed size: its header. */
static int
header_only(
    struct run *r, const struct trpt__imap_entry *en, struct trpt_err *err)
{
	struct trpt__imap_bodies hb;
	int rc;

	memset(&hb, 0, sizeof(hb));
	if ((rc = trpt__imap_header(r->c, r->mailbox, en, &hb, err)) != TRPT_OK)
		return rc;
	if (r->async) {
		/* Its UID is saved with it, as any message's. */
		r->done++;
		r->p->input_tag = make_tag(r->done, en->uid);
		rc = oversized(r, en, en->size, hb.body[0],
		    hb.body[0] != NULL ? hb.len[0] : 0, err);
		trpt__imap_bodies_free(&hb);
		return rc;
	}
	db_lock(r);
	rc = oversized(r, en, en->size, hb.body[0],
	    hb.body[0] != NULL ? hb.len[0] : 0, err);
	if (rc == TRPT_OK)
		rc = lease_keep(r, err);
	if (rc == TRPT_OK)
		rc = trpt_imap_state_put(r->p->db, r->conf->name, r->mailbox,
		    r->uidvalidity, en->uid, err);
	if (rc == TRPT_OK)
		rc = trpt_pipeline_flush(r->p, err);
	db_unlock(r);
	if (rc == TRPT_OK)
		r->saved = en->uid;
	trpt__imap_bodies_free(&hb);
	r->done++;
	report_progress(r);
	return rc;
}

/*
 * Handles the entries of one window in UID order: old ones recorded,
 * oversized ones by their header, each run of the others streamed.
 */
static int
process_window(
    struct run *r, struct trpt__imap_entry *v, size_t n, struct trpt_err *err)
{
	size_t batch = r->conf->batch ? r->conf->batch : DEFAULT_BATCH, i = 0,
	       j;
	size_t maxbytes =
	    r->conf->batch_bytes ? r->conf->batch_bytes : DEFAULT_BATCH_BYTES;
	uint64_t bytes;
	int rc, keep = r->conf->after == TRPT_IMAP_KEEP;

	while (i < n) {
		if (too_old(r, &v[i])) {
			for (j = i + 1; j < n && too_old(r, &v[j]); j++)
				;
			r->stats->too_old += j - i;
			r->done += j - i;
			if ((rc = settle(r, err)) != TRPT_OK ||
			    (rc = record(r, v[j - 1].uid, err)) != TRPT_OK)
				return rc;
		} else if (v[i].size > r->p->limits.max_message) {
			if ((rc = header_only(r, &v[i], err)) != TRPT_OK)
				return rc;
			j = i + 1;
		} else {
			/* A run asks for at most maxbytes by the listed
			 * sizes, so its answer's cap (and what libetpan
			 * keeps of its lines) stays that of a batch.  With
			 * an after-action, a run is one batch: the action
			 * follows each batch's commit, so a run cut short
			 * leaves at most a batch committed but not yet
			 * acted on (the next run finds duplicates and acts
			 * on them). */
			bytes = v[i].size;
			for (j = i + 1; j < n && !too_old(r, &v[j]) &&
					v[j].size <= r->p->limits.max_message &&
					bytes + v[j].size <= maxbytes &&
					(keep || j - i < batch);
			     j++)
				bytes += v[j].size;
			if ((rc = stream_run(r, v + i, j - i, err)) != TRPT_OK)
				return rc;
		}
		i = j;
	}
	return TRPT_OK;
}

static int
run_mailbox(struct run *r, const char *mailbox, struct trpt_err *err)
{
	struct trpt__imap_mbox mb;
	struct trpt__imap_entry *v = NULL;
	uint32_t uv = 0, last = 0, lo, hi, whi;
	/* A window spans several batches, so that the FETCHes of bodies
	 * stay in flight across them; the pipeline drains only at the end
	 * of each window. */
	uint64_t target =
	    (uint64_t)(r->conf->batch ? r->conf->batch : DEFAULT_BATCH) *
	    WINDOW_BATCHES;
	uint64_t window = target < MAX_WINDOW ? target : MAX_WINDOW;
	size_t n;
	int found = 0, rc;

	/* The previous mailbox's messages are committed, with their UID,
	 * before this thread reads and writes state. */
	if ((rc = settle(r, err)) != TRPT_OK)
		return rc;
	r->mailbox = mailbox;
	r->done = 0;
	if ((rc = trpt__imap_select(
		 r->c, mailbox, r->conf->read_only, &mb, err)) != TRPT_OK)
		return rc;
	r->uidvalidity = mb.uidvalidity;
	db_lock(r);
	rc = trpt_imap_state_get(
	    r->p->db, r->conf->name, mailbox, &found, &uv, &last, err);
	db_unlock(r);
	if (rc != TRPT_OK)
		return rc;
	if (found && uv != r->uidvalidity) {
		r->stats->rescans++;
		last = 0;
	}
	if ((!found || uv != r->uidvalidity) &&
	    (rc = record(r, last, err)) != TRPT_OK)
		return rc;
	r->saved = last;
	r->backfill = last == 0;
	/*
	 * One FETCH per window, (UID RFC822.SIZE INTERNALDATE
	 * BODY.PEEK[]<0.max_message+1>), after a UID SEARCH listing it,
	 * instead of a FETCH of sizes and dates and then one of bodies:
	 * Dovecot's CPU for 10,000 messages fell 5-7 % (0.05-0.07 s, on the
	 * collector's two cores) and fetch's median wall time 8-10 %
	 * (bench/bench_imap.c, alternating, docs/PERFORMANCE.md).  The
	 * cap holds: no body is read beyond max_message + 1 bytes, and one
	 * larger, by its size or by what came, is recorded as before (its
	 * header from the bytes read).  The cost: up to max_message + 1
	 * bytes of such a message cross the network, not only its header.
	 * A first run with `since` still lists sizes and dates first, so
	 * that old messages are skipped without their bodies.
	 */
	r->fold = !(r->backfill && r->conf->since != 0);
	if (mb.exists == 0)
		return TRPT_OK;
	/* The range ends at the highest UID the server lists, not at
	 * UIDNEXT - 1: a bogus UIDNEXT must neither skip mail nor send the
	 * loop through billions of empty UIDs. */
	if ((rc = trpt__imap_max_uid(r->c, mailbox, &hi, err)) != TRPT_OK)
		return rc;
	if (last >= hi)
		return TRPT_OK;
	r->total = r->hooks != NULL && r->hooks->progress != NULL
		       ? trpt__imap_count_after(r->c, last, mb.exists)
		       : 0;
	report_progress(r);
	lo = last + 1;
	for (;;) {
		whi = (uint64_t)lo + window - 1 > hi
			  ? hi
			  : (uint32_t)(lo + window - 1);
		rc =
		    r->fold
			? trpt__imap_list(r->c, mailbox, lo, whi, &v, &n, err)
			: trpt__imap_sizes(r->c, mailbox, lo, whi, &v, &n, err);
		if (rc != TRPT_OK)
			return rc;
		rc = process_window(r, v, n, err);
		free(v);
		v = NULL;
		if (rc != TRPT_OK)
			return rc;
		/* Sparse UIDs (after expunges): widen the window. */
		if (n < window / 4 && window < MAX_WINDOW)
			window *= 4;
		else if (n > target * 4 && window > 1)
			window /= 2;
		if (window > MAX_WINDOW)
			window = MAX_WINDOW;
		if (whi >= hi)
			break;
		lo = whi + 1;
	}
	/* Only UIDs handled are recorded, never hi itself: a "*" answer
	 * naming a UID that no window lists (bogus, or expunged meanwhile)
	 * must not pass mail that arrives below it. */
	return TRPT_OK;
}

/* The mailboxes of conf, INBOX when none is given. */
static const char *const *
mailboxes(const struct trpt_imap_conf *conf, size_t *n)
{
	static const char *const inbox[] = { "INBOX" };

	*n = conf->nmailboxes ? conf->nmailboxes : 1;
	return conf->nmailboxes ? conf->mailboxes : inbox;
}

/*
 * Parse ahead (see make_tag) when nothing else shares the database (no
 * lock hooks: fetch, not run) and no after-action must follow each
 * commit on the server, and the caller has not started it itself.
 */
static int
async_begin(struct run *r, struct trpt_err *err)
{
	struct trpt_pipeline *p = r->p;
	int rc;

	r->async = 0;
	if ((r->hooks != NULL && r->hooks->lock != NULL) ||
	    r->conf->after != TRPT_IMAP_KEEP || p->async_ != NULL)
		return TRPT_OK;
	p->batch_max = ASYNC_BATCH_MAX;
	p->batch_ms = ASYNC_BATCH_MS;
	p->on_commit = commit_uid;
	p->commit_arg = r;
	p->input_tag = 0;
	if ((rc = trpt_pipeline_async_start_with(p, TRPT_ASYNC_PARSE, err)) !=
	    TRPT_OK) {
		p->on_commit = NULL;
		p->commit_arg = NULL;
		return rc;
	}
	r->async = 1;
	return TRPT_OK;
}

/* Commits what the pipeline's threads stored, ends them; rc is the run's
 * status so far (its error is kept in err). */
static int
async_end(struct run *r, int rc, struct trpt_err *err)
{
	struct trpt_pipeline *p = r->p;
	int frc;

	if (!r->async)
		return rc;
	frc = settle(r, rc == TRPT_OK ? err : NULL);
	trpt_pipeline_async_stop(p);
	p->on_commit = NULL;
	p->commit_arg = NULL;
	p->input_tag = 0;
	r->async = 0;
	return rc != TRPT_OK ? rc : frc;
}

static int
run_all(struct run *r, struct trpt_err *err)
{
	const char *const *boxes;
	size_t nboxes, i;
	unsigned batch_max = r->p->batch_max, batch_ms = r->p->batch_ms;
	int taken = 0, rc;

	db_lock(r);
	rc = lease_take(r, &taken, err);
	db_unlock(r);
	if (rc != TRPT_OK || !taken)
		return rc;
	/* Without parse ahead, the pipeline's batch is opened by the first
	 * message of an answer and committed by store_batch after the last:
	 * never by the pipeline itself, whatever its own batching. */
	r->p->batch_max = UINT_MAX;
	r->p->batch_ms = UINT_MAX;
	r->mailbox = NULL;
	if ((rc = async_begin(r, err)) == TRPT_OK) {
		boxes = mailboxes(r->conf, &nboxes);
		for (i = 0; i < nboxes && rc == TRPT_OK; i++)
			rc = run_mailbox(r, boxes[i], err);
		rc = async_end(r, rc, err);
	}
	r->p->batch_max = batch_max;
	r->p->batch_ms = batch_ms;
	lease_release(r);
	return rc;
}

/* conf with max_message taken from the pipeline when it has none. */
static void
local_conf(const struct trpt_imap_conf *conf, const struct trpt_pipeline *p,
    struct trpt_imap_conf *out)
{
	*out = *conf;
	if (out->max_message == 0)
		out->max_message = p->limits.max_message;
}

int
trpt_imap_sync_run(const struct trpt_imap_conf *conf, struct trpt_pipeline *p,
    const struct trpt_imap_sync_hooks *hooks, struct trpt_imap_stats *stats,
    struct trpt_err *err)
{
	struct trpt_imap_conf lc;
	struct run r;
	int rc;

	if ((rc = trpt_imap_conf_check(conf, err)) != TRPT_OK)
		return rc;
	local_conf(conf, p, &lc);
	memset(&r, 0, sizeof(r));
	r.conf = &lc;
	r.p = p;
	r.stats = stats;
	r.hooks = hooks;
	make_holder(r.holder, sizeof(r.holder));
	if ((rc = trpt_imap_connect(&lc, &r.c, err)) == TRPT_OK)
		rc = run_all(&r, err);
	trpt_imap_free(&r.c);
	return rc;
}

/* 1 when wake_fd is readable within ms (-1: forever), else 0. */
static int
woken(int wake_fd, int ms)
{
	struct pollfd pfd;
	int r;

	if (wake_fd < 0)
		return 0;
	pfd.fd = wake_fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	do
		r = poll(&pfd, 1, ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

int
trpt_imap_sync_watch(const struct trpt_imap_conf *conf, struct trpt_pipeline *p,
    const struct trpt_imap_sync_hooks *hooks, int use_idle, unsigned interval,
    int wake_fd, struct trpt_err *err)
{
	struct trpt_imap_conf lc;
	struct trpt_imap_stats stats;
	struct trpt__imap_mbox mb;
	const char *const *boxes;
	struct run r;
	size_t nboxes;
	unsigned wait;
	int rc, idle, woke;

	if ((rc = trpt_imap_conf_check(conf, err)) != TRPT_OK)
		return rc;
	local_conf(conf, p, &lc);
	boxes = mailboxes(&lc, &nboxes);
	if (interval == 0)
		interval = 300;
	memset(&r, 0, sizeof(r));
	r.conf = &lc;
	r.p = p;
	r.hooks = hooks;
	r.stats = &stats;
	make_holder(r.holder, sizeof(r.holder));
	for (;;) {
		if ((rc = trpt_imap_connect(&lc, &r.c, err)) != TRPT_OK)
			return rc;
		idle = use_idle && trpt__imap_has(r.c, "IDLE");
		for (;;) {
			memset(&stats, 0, sizeof(stats));
			trpt__imap_restart_deadline(r.c);
			if ((rc = run_all(&r, err)) != TRPT_OK)
				goto fail;
			if (hooks != NULL && hooks->synced != NULL)
				hooks->synced(hooks->arg, &stats);
			if (!idle)
				break;
			/* IDLE watches the selected mailbox: the first. */
			if (nboxes > 1 &&
			    (rc = trpt__imap_select(r.c, boxes[0], lc.read_only,
				 &mb, err)) != TRPT_OK)
				goto fail;
			wait = interval < IDLE_MAX ? interval : IDLE_MAX;
			if ((rc = trpt__imap_idle(r.c, boxes[0], wake_fd, wait,
				 &woke, err)) != TRPT_OK)
				goto fail;
			if (woke == 2) {
				trpt_imap_free(&r.c);
				return TRPT_OK;
			}
		}
		/* Polling: no connection is held between runs. */
		trpt_imap_free(&r.c);
		if (woken(wake_fd, (int)(interval * 1000u)))
			return TRPT_OK;
	}
fail:
	trpt_imap_free(&r.c);
	return rc;
}

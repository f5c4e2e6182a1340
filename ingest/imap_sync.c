#include "ingest/imap_sync.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "schema/imap_state.h"

#define DEFAULT_BATCH       100
#define DEFAULT_BATCH_BYTES (32u * 1024 * 1024)
#define MAX_WINDOW          65536u /* UIDs asked for in one size FETCH */
/* RFC 2177: re-issue IDLE at least every 29 minutes. */
#define IDLE_MAX 1500u

struct run {
	struct trpt_imap *c;
	const struct trpt_imap_conf *conf;
	struct trpt_pipeline *p;
	const struct trpt_imap_sync_hooks *hooks;
	const char *mailbox;
	uint32_t uidvalidity;
	uint32_t recorded; /* last_uid as recorded for this mailbox */
	int backfill;
	struct trpt_imap_stats *stats;
	uint64_t done, total;
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

/* Records uid as the last one handled in the current mailbox. */
static int
record(struct run *r, uint32_t uid, struct trpt_err *err)
{
	int rc;

	db_lock(r);
	rc = trpt_imap_state_put(
	    r->p->db, r->conf->name, r->mailbox, r->uidvalidity, uid, err);
	db_unlock(r);
	if (rc == TRPT_OK)
		r->recorded = uid;
	return rc;
}

/* The after-action for one message whose reports are committed. */
static int
act(struct run *r, uint32_t uid, struct trpt_err *err)
{
	int rc = TRPT_OK;

	switch (r->conf->after) {
	case TRPT_IMAP_KEEP:
		return TRPT_OK;
	case TRPT_IMAP_SEEN:
		rc = trpt__imap_flag(r->c, uid, 0, err);
		break;
	case TRPT_IMAP_DELETE:
		if ((rc = trpt__imap_flag(r->c, uid, 1, err)) == TRPT_OK)
			rc = trpt__imap_expunge(r->c, uid, err);
		break;
	case TRPT_IMAP_MOVE:
		rc = trpt__imap_move(
		    r->c, r->mailbox, uid, r->conf->after_folder, err);
		break;
	}
	if (rc == TRPT_OK)
		r->stats->acted++;
	return rc;
}

static void
report_progress(struct run *r)
{
	struct trpt_imap_progress pr;

	if (r->hooks == NULL || r->hooks->progress == NULL)
		return;
	pr.source = r->conf->name;
	pr.mailbox = r->mailbox;
	pr.done = r->done;
	pr.total = r->total > r->done ? r->total : r->done;
	pr.pipeline = &r->p->stats;
	r->hooks->progress(r->hooks->arg, &pr);
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
 * A message larger than max_message is not fetched.  If its header claims
 * a TLS report, the header is quarantined with the reason so the loss is
 * visible; otherwise it is skipped like any other non-report.  Then its
 * UID is recorded, so it is counted and kept once, not on every run.
 */
static int
oversized(struct run *r, const struct trpt__imap_entry *en, size_t seen,
    struct trpt_err *err)
{
	struct trpt__imap_bodies hb;
	struct trpt_origin origin;
	struct trpt_event ev;
	char source[512], reason[200];
	int rc;

	memset(&hb, 0, sizeof(hb));
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
	if ((rc = trpt__imap_header(r->c, r->mailbox, en, &hb, err)) != TRPT_OK)
		goto out;
	db_lock(r);
	r->stats->oversized++;
	if (hb.body[0] == NULL ||
	    !header_claims_tlsrpt(hb.body[0], hb.len[0])) {
		r->p->stats.skipped++;
		memset(&ev, 0, sizeof(ev));
		ev.kind = TRPT_EV_SKIPPED;
		ev.source = source;
		ev.reason = reason;
		if (r->p->on_event != NULL)
			r->p->on_event(r->p->arg, &ev);
		rc = TRPT_OK;
	} else {
		memset(&origin, 0, sizeof(origin));
		origin.kind = "imap";
		origin.source = source;
		origin.received =
		    en->date != 0 ? en->date : (int64_t)time(NULL);
		rc = trpt_pipeline_reject(
		    r->p, hb.body[0], hb.len[0], &origin, reason, err);
	}
	if (rc == TRPT_OK)
		rc = trpt_imap_state_put(r->p->db, r->conf->name, r->mailbox,
		    r->uidvalidity, en->uid, err);
	db_unlock(r);
	if (rc == TRPT_OK)
		r->recorded = en->uid;
out:
	trpt__imap_bodies_free(&hb);
	return rc;
}

static int
handle_message(struct run *r, const struct trpt__imap_entry *en,
    const char *body, size_t len, struct trpt_err *err)
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
	db_lock(r);
	rc = trpt_pipeline_input(r->p, body, len, &origin, &outcome, err);
	db_unlock(r);
	if (rc != TRPT_OK) {
		trpt_err_prefix(err, "%s", source);
		return rc;
	}
	r->stats->messages++;
	/* Committed (or quarantined whole): only now may the server
	 * copy go.  Mail that is not a report is never touched. */
	if (outcome == TRPT_EV_STORED || outcome == TRPT_EV_DUPLICATE ||
	    outcome == TRPT_EV_REJECTED || outcome == TRPT_EV_WARNING)
		if ((rc = act(r, en->uid, err)) != TRPT_OK)
			return rc;
	return record(r, en->uid, err);
}

/*
 * The bodies of v[0..n-1], each through the pipeline in UID order.  A
 * message the server listed but left out of its answer stops the mailbox
 * right before it: recording a later UID would pass it unread.  (One that
 * was expunged meanwhile is not listed on the next run, which then
 * passes it.)
 */
static int
fetch_bodies(struct run *r, const struct trpt__imap_entry *v, size_t n,
    struct trpt_err *err)
{
	struct trpt__imap_bodies b;
	size_t i;
	int rc;

	if ((rc = trpt__imap_bodies(r->c, r->mailbox, v, n, &b, err)) !=
	    TRPT_OK)
		return rc;
	for (i = 0; i < n; i++) {
		if (b.body[i] == NULL)
			rc = trpt_err_set(err, TRPT_ETEMP,
			    "%s: %s: the server listed UID %u but did not "
			    "send it; stopped before it (the next run asks "
			    "again)",
			    r->conf->name, r->mailbox, v[i].uid);
		else if (b.len[i] > r->p->limits.max_message)
			rc = oversized(r, &v[i], b.len[i], err);
		else
			rc = handle_message(r, &v[i], b.body[i], b.len[i], err);
		if (rc != TRPT_OK)
			break;
		r->done++;
		report_progress(r);
	}
	trpt__imap_bodies_free(&b);
	return rc;
}

static int
too_old(const struct run *r, const struct trpt__imap_entry *en)
{
	return r->backfill && r->conf->since != 0 && en->date != 0 &&
	       en->date < r->conf->since;
}

/* Handles the entries of one window: old and oversized ones alone, the
 * others in body batches bounded by count and bytes. */
static int
process_window(struct run *r, const struct trpt__imap_entry *v, size_t n,
    struct trpt_err *err)
{
	size_t batch = r->conf->batch ? r->conf->batch : DEFAULT_BATCH;
	size_t maxbytes =
	    r->conf->batch_bytes ? r->conf->batch_bytes : DEFAULT_BATCH_BYTES;
	size_t i = 0, j, bytes;
	int rc;

	while (i < n) {
		if (too_old(r, &v[i])) {
			r->stats->too_old++;
			r->done++;
			if ((rc = record(r, v[i].uid, err)) != TRPT_OK)
				return rc;
			i++;
			continue;
		}
		if (v[i].size > r->p->limits.max_message) {
			if ((rc = oversized(r, &v[i], v[i].size, err)) !=
			    TRPT_OK)
				return rc;
			r->done++;
			report_progress(r);
			i++;
			continue;
		}
		bytes = 0;
		for (j = i; j < n && j - i < batch; j++) {
			if (v[j].size > r->p->limits.max_message ||
			    too_old(r, &v[j]))
				break;
			if (j > i && bytes + v[j].size > maxbytes)
				break;
			bytes += v[j].size;
		}
		if ((rc = fetch_bodies(r, v + i, j - i, err)) != TRPT_OK)
			return rc;
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
	uint64_t window = r->conf->batch ? r->conf->batch : DEFAULT_BATCH;
	size_t n;
	int found = 0, rc;

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
	r->recorded = last;
	r->backfill = last == 0;
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
		if ((rc = trpt__imap_sizes(
			 r->c, mailbox, lo, whi, &v, &n, err)) != TRPT_OK)
			return rc;
		rc = process_window(r, v, n, err);
		free(v);
		v = NULL;
		if (rc != TRPT_OK)
			return rc;
		/* Sparse UIDs (after expunges): widen the window. */
		if (n < window / 4 && window < MAX_WINDOW)
			window *= 4;
		else if (n > (r->conf->batch ? r->conf->batch : DEFAULT_BATCH) *
				 4 &&
			 window > 1)
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

static int
run_all(struct run *r, struct trpt_err *err)
{
	const char *const *boxes;
	size_t nboxes, i;
	int rc;

	boxes = mailboxes(r->conf, &nboxes);
	for (i = 0; i < nboxes; i++)
		if ((rc = run_mailbox(r, boxes[i], err)) != TRPT_OK)
			return rc;
	return TRPT_OK;
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

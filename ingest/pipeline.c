#include "ingest/pipeline.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/inflate.h"
#include "ingest/mbox.h"
#include "ingest/mime.h"
#include "ingest/validate.h"
#include "schema/store.h"

/* What one input (or one message of an mbox) is being processed as. */
struct job {
	struct trpt_pipeline *p;
	const char *bytes; /* the input as received: stored or quarantined */
	size_t len;
	struct trpt_origin origin;
	int message;                /* mbox message number, or 0 */
	enum trpt_event_kind worst; /* outcome so far */
	int any;                    /* an event happened */
	char first_reject[TRPT_ERR_MSG_LEN];
	const char *mail; /* the e-mail the reports come from, or NULL */
	size_t mail_len;
	struct trpt_dkim_verdict dkim; /* of mail, once verified */
};

static int
rank(enum trpt_event_kind k)
{
	switch (k) {
	case TRPT_EV_REJECTED:
		return 4;
	case TRPT_EV_STORED:
		return 3;
	case TRPT_EV_DUPLICATE:
		return 2;
	case TRPT_EV_SKIPPED:
		return 1;
	case TRPT_EV_WARNING:
		break;
	}
	return 0;
}

static void
emit(struct job *j, enum trpt_event_kind kind, int part,
    const struct trpt_report *r, const char *reason)
{
	struct trpt_event ev;

	if (kind != TRPT_EV_WARNING &&
	    (!j->any || rank(kind) > rank(j->worst))) {
		j->worst = kind;
		j->any = 1;
	}
	if (j->p->on_event == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.source = j->origin.source;
	ev.message = j->message;
	ev.part = part;
	ev.report = r;
	ev.org = r != NULL ? r->organization_name : NULL;
	ev.report_id = r != NULL ? r->report_id : NULL;
	ev.reason = reason;
	j->p->on_event(j->p->arg, &ev);
}

/* Refuses an input or part: counted, reported and kept in quarantine. */
static int
reject(struct job *j, int part, const char *reason, struct trpt_err *err)
{
	struct trpt_raw raw;
	int rc;

	j->p->stats.rejected++;
	if (j->first_reject[0] == '\0')
		strncpy(j->first_reject, reason, sizeof(j->first_reject) - 1);
	if (!(j->p->flags & TRPT_PIPE_NO_QUARANTINE) && j->bytes != NULL) {
		raw.bytes = j->bytes;
		raw.len = j->len;
		raw.origin = &j->origin;
		raw.part = part;
		raw.auth = NULL;
		if ((rc = trpt_store_quarantine(j->p->db, &raw, reason, err)) !=
		    TRPT_OK)
			return rc;
	}
	emit(j, TRPT_EV_REJECTED, part, NULL, reason);
	return TRPT_OK;
}

static void
skip(struct job *j, const char *reason)
{
	j->p->stats.skipped++;
	emit(j, TRPT_EV_SKIPPED, 0, NULL, reason);
}

static const char *
skip_space(const char *s, size_t len, size_t *off)
{
	size_t i = 0;

	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	*off = i;
	return s + i;
}

static int
looks_like_json(const char *s, size_t len)
{
	size_t off;
	const char *p = skip_space(s, len, &off);

	return off < len && (*p == '{' || *p == '[');
}

/*
 * One report's bytes (gzip or JSON): inflate, validate, store.  A failure of
 * the data is a rejection of `part`; only storage errors are returned.
 * With `trial` (a part of a message that never said it holds a TLS report)
 * a failure only sets *failed: such a part is someone else's data.
 */
static int
report_bytes(struct job *j, int part, const char *data, size_t len,
    const char *filename, int trial, int *failed, struct trpt_err *err)
{
	const char *report_domain = j->origin.report_domain;
	struct trpt_pipeline *p = j->p;
	struct trpt_validate_ctx vctx;
	struct trpt_report *r = NULL;
	struct trpt_err verr;
	struct trpt_raw raw;
	struct trpt_dkim_outcome dk;
	struct trpt_auth auth;
	char *inflated = NULL;
	size_t inflated_len, i;
	int rc, dup = 0;

	if (trpt_inflate_is_gzip(data, len)) {
		rc = trpt_inflate_gzip(data, len, p->limits.max_inflated,
		    &inflated, &inflated_len, &verr);
		if (rc == TRPT_ENOMEM)
			return trpt_err_set(err, rc, "%s", verr.msg);
		if (rc != TRPT_OK)
			goto refuse;
		data = inflated;
		len = inflated_len;
	}
	vctx.report_domain = report_domain;
	vctx.filename = filename;
	rc = trpt_validate_json(data, len, &p->limits, &vctx, &r, &verr);
	free(inflated);
	if (rc == TRPT_ENOMEM)
		return trpt_err_set(err, rc, "%s", verr.msg);
	if (rc != TRPT_OK)
		goto refuse;

	raw.bytes = j->bytes;
	raw.len = j->len;
	raw.origin = &j->origin;
	raw.part = part;
	raw.auth = NULL;
	if (j->mail != NULL && p->dkim != NULL &&
	    trpt_dkim_required(p->dkim) != TRPT_DKIM_REQUIRE_NO) {
		/* RFC 8460 §3: a report e-mail must be signed by the
		 * reporting domain. */
		rc = trpt_dkim_check(p->dkim, j->mail, j->mail_len,
		    j->origin.received, j->origin.report_submitter,
		    r->contact_info,
		    (p->flags & TRPT_PIPE_ACCEPT_UNSIGNED) != 0, &j->dkim, &dk,
		    &verr);
		if (rc != TRPT_OK) {
			trpt_report_free(&r);
			return trpt_err_set(err, rc, "%s", verr.msg);
		}
		if (dk.action != TRPT_DKIM_ACCEPT) {
			trpt_report_free(&r);
			return reject(j, part, dk.reason, err);
		}
		trpt_dkim_auth(&dk, &auth);
		raw.auth = &auth;
	}
	rc = trpt_store_report(p->db, r, &raw, &dup, NULL, &verr);
	if (rc == TRPT_ELIMIT) {
		/* The report's own numbers (counts that add up past 2^63),
		 * not the database: a rejection like any other.  Found by
		 * fuzzing (tests/fixtures/fuzz/pipeline/). */
		trpt_report_free(&r);
		goto refuse;
	}
	if (rc != TRPT_OK)
		trpt_err_set(err, rc, "%s", verr.msg);
	if (rc == TRPT_OK) {
		if (dup) {
			p->stats.duplicates++;
			emit(j, TRPT_EV_DUPLICATE, part, r, NULL);
		} else {
			p->stats.stored++;
			emit(j, TRPT_EV_STORED, part, r, NULL);
			for (i = 0; i < r->warnings.n; i++)
				emit(j, TRPT_EV_WARNING, part, r,
				    r->warnings.v[i]);
			if (raw.auth != NULL && raw.auth->dkim_reason != NULL)
				emit(j, TRPT_EV_WARNING, part, r,
				    raw.auth->dkim_reason);
		}
	}
	trpt_report_free(&r);
	return rc;
refuse:
	if (trial) {
		*failed = 1;
		return TRPT_OK;
	}
	return reject(j, part, verr.msg, err);
}

/* An RFC 5322 message: pick the report parts and run each. */
static int
message(struct job *j, const char *data, size_t len, struct trpt_err *err)
{
	struct trpt_mime_msg *msg = NULL;
	struct trpt_err merr;
	size_t i, reports = 0;
	char reason[TRPT_ERR_MSG_LEN + 16];
	int rc, failed;

	rc = trpt_mime_parse(data, len, &j->p->limits, &msg, &merr);
	if (rc == TRPT_ENOMEM)
		return trpt_err_set(err, rc, "%s", merr.msg);
	if (rc != TRPT_OK) {
		snprintf(reason, sizeof(reason), "e-mail: %s", merr.msg);
		return reject(j, 0, reason, err);
	}
	/* Headers give provenance and the fallback policy domain; the JSON
	 * stays the authority (RFC 8460 §5.6). */
	if (msg->message_id != NULL)
		j->origin.message_id = msg->message_id;
	if (msg->report_domain != NULL)
		j->origin.report_domain = msg->report_domain;
	if (msg->report_submitter != NULL)
		j->origin.report_submitter = msg->report_submitter;
	/* Reports from a mail are DKIM-checked; an HTTPS POST records its
	 * client instead. */
	if (strcmp(j->origin.kind, "https-post") != 0) {
		j->mail = data;
		j->mail_len = len;
		j->dkim.done = 0;
	}

	rc = TRPT_OK;
	for (i = 0; i < msg->nparts && rc == TRPT_OK; i++) {
		const struct trpt_mime_part *mp = &msg->parts[i];

		if (trpt_inflate_is_gzip(mp->data, mp->len) ||
		    looks_like_json(mp->data, mp->len)) {
			/* Unless the message announced a TLS report, a part
			 * that is not one (a DMARC report, say) is skipped. */
			failed = 0;
			rc = report_bytes(j, mp->index, mp->data, mp->len,
			    mp->filename, !msg->claims_tlsrpt, &failed, err);
			if (!failed)
				reports++;
		} else if (msg->claims_tlsrpt) {
			snprintf(reason, sizeof(reason),
			    "%s part holds neither gzip nor JSON",
			    mp->content_type);
			reports++;
			rc = reject(j, mp->index, reason, err);
		}
	}
	if (rc == TRPT_OK && reports == 0) {
		if (msg->claims_tlsrpt)
			rc = reject(j, 0,
			    "a TLS report e-mail without an "
			    "application/tlsrpt+gzip or +json part",
			    err);
		else
			skip(j, "not a TLS report");
	}
	trpt_mime_free(&msg);
	return rc;
}

static int
dispatch(struct job *j, const char *data, size_t len, struct trpt_err *err)
{
	char reason[TRPT_ERR_MSG_LEN + 16];

	if (len == 0)
		return reject(j, 0, "empty input", err);
	if (len > j->p->limits.max_message) {
		snprintf(reason, sizeof(reason),
		    "%zu bytes, larger than the limit of %zu bytes", len,
		    j->p->limits.max_message);
		return reject(j, 0, reason, err);
	}
	if (trpt_inflate_is_gzip(data, len) || looks_like_json(data, len))
		return report_bytes(
		    j, 0, data, len, j->origin.filename, 0, NULL, err);
	if (trpt_mime_looks_like_message(data, len))
		return message(j, data, len, err);
	if (j->p->flags & TRPT_PIPE_SKIP_NON_REPORTS) {
		skip(j, "not a TLS report");
		return TRPT_OK;
	}
	return reject(j, 0,
	    "not a TLS report: neither gzip, JSON nor an e-mail message", err);
}

struct mbox_ctx {
	struct job *parent;
	struct trpt_err *err;
};

static int
mbox_message(void *arg, int n, const char *msg, size_t len, int toobig)
{
	struct mbox_ctx *mc = arg;
	struct job j = *mc->parent;
	char reason[TRPT_ERR_MSG_LEN];
	int rc;

	j.bytes = msg;
	j.len = len;
	j.message = n;
	j.any = 0;
	j.first_reject[0] = '\0';
	if (toobig) {
		snprintf(reason, sizeof(reason),
		    "message larger than the limit of %zu bytes",
		    mc->parent->p->limits.max_message);
		rc = reject(&j, 0, reason, mc->err);
	} else
		rc = dispatch(&j, msg, len, mc->err);
	if (j.any &&
	    (!mc->parent->any || rank(j.worst) > rank(mc->parent->worst))) {
		mc->parent->worst = j.worst;
		mc->parent->any = 1;
	}
	if (mc->parent->first_reject[0] == '\0')
		memcpy(mc->parent->first_reject, j.first_reject,
		    sizeof(j.first_reject));
	return rc;
}

static int
run(struct trpt_pipeline *p, const void *bytes, size_t len,
    const struct trpt_origin *origin, struct job *j, struct trpt_err *err)
{
	struct mbox_ctx mc;

	memset(j, 0, sizeof(*j));
	j->p = p;
	j->bytes = bytes;
	j->len = len;
	j->origin = *origin;
	p->stats.inputs++;
	if (len <= p->limits.max_message && trpt_mbox_looks_like(bytes, len)) {
		mc.parent = j;
		mc.err = err;
		return trpt_mbox_each(
		    bytes, len, p->limits.max_message, mbox_message, &mc, err);
	}
	return dispatch(j, bytes, len, err);
}

#define BATCH_PAUSE_NS 2000000 /* 2 ms between batches */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
trpt_pipeline_flush(struct trpt_pipeline *p, struct trpt_err *err)
{
	unsigned n = p->batch_n;
	int rc;

	if (n == 0)
		return TRPT_OK;
	p->batch_n = 0;
	/* SQLite rolls a transaction back by itself after a disk-full or
	 * I/O error: then the batch is gone already. */
	if (!trpt_db_in_transaction(p->db))
		rc = trpt_err_set(err, TRPT_EDB,
		    "database %s: the transaction was rolled back",
		    trpt_db_path(p->db));
	else
		rc = trpt_store_commit(p->db, err);
	if (rc != TRPT_OK) {
		p->stats = p->batch_stats;
		trpt_err_prefix(err,
		    "the last %u input%s were not stored (run again)", n,
		    n == 1 ? "" : "s");
	}
	return rc;
}

/* Opens a batch transaction before an input, when batching. */
static int
batch_open(struct trpt_pipeline *p, struct trpt_err *err)
{
	int rc;

	if (p->batch_max == 0 || p->batch_n > 0)
		return TRPT_OK;
	if ((rc = trpt_store_begin(p->db, err)) != TRPT_OK)
		return rc;
	p->batch_start_ms = now_ms();
	p->batch_stats = p->stats;
	return TRPT_OK;
}

/* Counts an input into the batch, and commits it when it is full. */
static int
batch_close(struct trpt_pipeline *p, int rc, struct trpt_err *err)
{
	struct trpt_err ferr;
	int frc;

	if (p->batch_max == 0)
		return rc;
	p->batch_n++;
	if (rc != TRPT_OK) {
		/* Keep what the batch stored before the failure; the error
		 * that stops the run is the first one. */
		if ((frc = trpt_pipeline_flush(p, &ferr)) != TRPT_OK &&
		    err != NULL)
			trpt_err_prefix(err, "%s; before that", ferr.msg);
		return rc;
	}
	if (p->batch_n >= p->batch_max ||
	    now_ms() - p->batch_start_ms >= (int64_t)p->batch_ms) {
		if ((rc = trpt_pipeline_flush(p, err)) != TRPT_OK)
			return rc;
		/* A pause before the next batch takes the write lock again,
		 * so that another writer waiting for it (its busy handler
		 * tries every millisecond) gets its turn. */
		nanosleep(&(struct timespec){ 0, BATCH_PAUSE_NS }, NULL);
	}
	return TRPT_OK;
}

void
trpt_pipeline_init(
    struct trpt_pipeline *p, struct trpt_db *db, const struct trpt_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->db = db;
	p->limits = *lim;
}

int
trpt_pipeline_input(struct trpt_pipeline *p, const void *bytes, size_t len,
    const struct trpt_origin *origin, enum trpt_event_kind *outcome,
    struct trpt_err *err)
{
	struct job j;
	int rc;

	if ((rc = batch_open(p, err)) != TRPT_OK)
		return rc;
	rc = batch_close(p, run(p, bytes, len, origin, &j, err), err);
	if (rc == TRPT_OK && outcome != NULL)
		*outcome = j.any ? j.worst : TRPT_EV_SKIPPED;
	return rc;
}

int
trpt_pipeline_reject(struct trpt_pipeline *p, const void *bytes, size_t len,
    const struct trpt_origin *origin, const char *reason, struct trpt_err *err)
{
	struct job j;
	int rc;

	if ((rc = batch_open(p, err)) != TRPT_OK)
		return rc;
	memset(&j, 0, sizeof(j));
	j.p = p;
	j.bytes = bytes;
	j.len = len;
	j.origin = *origin;
	p->stats.inputs++;
	return batch_close(p, reject(&j, 0, reason, err), err);
}

struct reprocess_ctx {
	struct trpt_pipeline *p;
	uint64_t passed;
	uint64_t failed;
	struct trpt_err *err;
};

static int
reprocess_one(void *arg, const struct trpt_quarantined *q)
{
	struct reprocess_ctx *rc = arg;
	struct trpt_origin origin = q->origin;
	struct job j;
	int r;

	r = run(rc->p, q->bytes, q->len, &origin, &j, rc->err);
	if (r != TRPT_OK)
		return r;
	if (j.first_reject[0] != '\0') {
		rc->failed++;
		return trpt_store_quarantine_update(
		    rc->p->db, q->id, j.first_reject, rc->err);
	}
	rc->passed++;
	return trpt_store_quarantine_delete(rc->p->db, q->id, rc->err);
}

int
trpt_pipeline_reprocess(struct trpt_pipeline *p, uint64_t *passed,
    uint64_t *failed, struct trpt_err *err)
{
	struct reprocess_ctx rc;
	unsigned flags = p->flags;
	int r;

	rc.p = p;
	rc.passed = rc.failed = 0;
	rc.err = err;
	p->flags |= TRPT_PIPE_NO_QUARANTINE;
	r = trpt_store_quarantine_each(p->db, reprocess_one, &rc, err);
	p->flags = flags;
	if (passed != NULL)
		*passed = rc.passed;
	if (failed != NULL)
		*failed = rc.failed;
	return r;
}

int
trpt_pipeline_reprocess_id(struct trpt_pipeline *p, int64_t id,
    uint64_t *passed, uint64_t *failed, struct trpt_err *err)
{
	struct reprocess_ctx rc;
	unsigned flags = p->flags;
	int r;

	rc.p = p;
	rc.passed = rc.failed = 0;
	rc.err = err;
	p->flags |= TRPT_PIPE_NO_QUARANTINE;
	r = trpt_store_quarantine_get(p->db, id, reprocess_one, &rc, err);
	p->flags = flags;
	if (passed != NULL)
		*passed = rc.passed;
	if (failed != NULL)
		*failed = rc.failed;
	return r;
}

#include "ingest/pipeline.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hash.h"
#include "ingest/inflate.h"
#include "ingest/mbox.h"
#include "ingest/mime.h"
#include "ingest/validate.h"
#include "schema/checkpoint.h"
#include "schema/store.h"

/* What one input (or one message of an mbox) is being processed as. */
struct job {
	struct trpt_pipeline *p;
	const char *bytes; /* the input as received: stored or quarantined */
	size_t len;
	struct trpt_origin origin;
	int message;                      /* mbox message number, or 0 */
	struct trpt_pipeline_result *res; /* of the whole input */
	size_t *inflate_left; /* what gunzip may still produce for it */
	int any;              /* an event happened (res) */
	const char *mail;     /* the e-mail the reports come from, or NULL */
	size_t mail_len;
	struct trpt_dkim_verdict dkim; /* of mail, once verified */
	struct bundle *defer;    /* parse ahead: queue what to store here */
	struct trpt_inflater *z; /* the reading thread's, or NULL */
	/* The bytes are one report and nothing else: an input that is a
	 * report, or an e-mail with one part taken for a report
	 * (TRPT_RAW_ONE_REPORT). */
	int one_report;
};

/*
 * Parse ahead (issue 15): the caller's thread reads, recognises, inflates,
 * validates (and DKIM-checks) each input into a bundle of actions, and a
 * store thread carries them out in order (store, quarantine, skip: the
 * writes and the events), in the same batches as without it.
 */
enum act_kind { ACT_STORE, ACT_REJECT, ACT_SKIP };

struct act {
	enum act_kind kind;
	int message;
	int part;
	char *reason;              /* REJECT, SKIP */
	struct trpt_report *r;     /* STORE */
	struct trpt_origin origin; /* owned copies of the strings */
	size_t off, len;           /* the input (or mbox message) bytes */
	char *own;                 /* or a copy of them (an mbox message that
				      trpt_mbox_each handed over in a buffer of its own) */
	int has_bytes;
	int has_auth;
	struct trpt_auth auth; /* owned copies of the strings */
	int has_digests;       /* STORE: worked out by the reading side */
	struct trpt_store_digests digests;
	int one_report; /* STORE: the job's */
};

enum entry { ENTRY_INPUT, ENTRY_MBOX, ENTRY_REJECT, ENTRY_SKIP };

struct bundle {
	struct bundle *next;
	char *data; /* a copy of the input */
	size_t len;
	struct act *acts;
	size_t nacts, cap;
	uint64_t inputs; /* added to stats.inputs when stored */
	size_t cost;     /* bytes held, for the queue's bound */
	uint64_t tag;    /* p->input_tag when it was given */
	int digests;     /* its reports' digests worked out as it is read
			    (act_digests), not by the store */
	/* An error of reading it (parse thread): raised by the store thread
	 * after its actions, as the caller's thread would have returned it. */
	int rc;
	struct trpt_err err;
	/* Parse thread: what to read (owned copies). */
	enum entry kind;
	struct trpt_origin origin;
	int n, toobig, has_data;
	char *reason;
};

/*
 * A bounded queue of bundles between two threads (under the async's
 * mutex): n and bytes count what was pushed and not yet released, which
 * for the store thread includes the bundle it is storing.
 */
struct queue {
	pthread_cond_t work;  /* a bundle was pushed, or stop */
	pthread_cond_t space; /* room was released */
	struct bundle *head, *tail;
	size_t n, bytes;
	size_t max_bytes;
};

struct trpt_pipeline_async {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t idle; /* the queues are empty and nothing is stored */
	struct queue q;      /* read bundles, for the store thread */
	/* Bundles the store thread is done with, freed by the thread that
	 * fills q (done_naps: the store thread's idle looks since one was
	 * put here; after two it frees them itself).  Their bytes count
	 * with the queue's: past half of its bound the filling thread is
	 * woken to free them. */
	struct bundle *done;
	size_t done_bytes;
	struct trpt_inflater *z; /* of the thread that reads (read_entry) */
	unsigned done_naps;
	int busy;   /* the store thread is working on a bundle */
	int stop;   /* set by trpt_pipeline_async_stop */
	int failed; /* a storage error stopped the store thread */
	int rc;     /* that error, until returned once */
	struct trpt_err err;
	int held; /* the caller's thread holds p (since a drain) */
	/* The parse thread (TRPT_ASYNC_PARSE): inputs as given, not read. */
	int parse;
	pthread_t parser;
	struct queue rq;  /* inputs not read yet, for the parse thread */
	int parsing;      /* the parse thread is reading an input */
	int parse_failed; /* it stopped at an error: the rest is dropped */
	int rstop;        /* set by trpt_pipeline_async_stop */
	/* The log's checkpoints (SQLite file): ckpt_main, started at the
	 * first commit that is not the last (ckpt_kick).  Used by the thread
	 * that holds p. */
	struct ckpt *ck;
	int ck_tried; /* started, or could not be (or not asked for) */
	int flushing; /* trpt_pipeline_flush: the last commit */
};

/*
 * The checkpoint thread: copies the WAL into the database beside the
 * store thread, one pass after each commit, on a connection of its own
 * (schema/checkpoint.h), so that the thread that stores never waits for
 * a checkpoint's writes and fsyncs.  Under mu: asked and passed count the
 * commits asked for and the last one a finished pass began after.
 */
struct ckpt {
	struct trpt_checkpoint *c;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work; /* a commit to copy, or stop */
	pthread_cond_t done; /* a pass ended */
	uint64_t asked, passed;
	int frames; /* the log's length in pages after the last pass */
	int stop;
};

/* The queue's bound: bundles, and bytes of input and inflated JSON (one
 * larger bundle is always let in when the queue is empty).  With a parse
 * thread, the inputs waiting for it are bounded too: as many, and half
 * the bytes (they are not inflated yet).  The bytes are what bound the
 * memory; the count is high enough to hold a whole batch of small
 * reports: with 64, the reading thread filled the queue within the first
 * milliseconds of each batch's commit (tens of ms: the rollups) and then
 * waited, so the two threads took turns more than they overlapped
 * (10,000 small .json.gz: 1.25 s wall for 1.45 s CPU; with 1,024: 0.95 s,
 * peak RSS 37 -> 41 MB). */
#define ASYNC_MAX_BUNDLES   1024
#define ASYNC_MAX_BYTES     (32u * 1024 * 1024)
#define ASYNC_MAX_RAW_BYTES (16u * 1024 * 1024)

/*
 * Waking a thread for every input cost a context switch each way per
 * input: fetching 10,000 mails made 9,900 voluntary switches and doubled
 * the system time (0.26 -> 0.50 s).  So a waiting consumer is woken when
 * ASYNC_WAKE inputs are queued (or by a drain), and otherwise looks for
 * itself every ASYNC_POLL_MS; a producer waiting for room is woken once
 * the queue is half empty.
 */
#define ASYNC_WAKE    16
#define ASYNC_POLL_MS 5

static void
free_str(const char *s)
{
	free((char *)(uintptr_t)s);
}

/* A copy of s (NULL stays NULL); sets *oom when out of memory. */
static const char *
dup_str(const char *s, int *oom)
{
	char *c;

	if (s == NULL)
		return NULL;
	if ((c = strdup(s)) == NULL)
		*oom = 1;
	return c;
}

/* *dst: copies of the strings of src; sets *oom when out of memory. */
static void
origin_dup(struct trpt_origin *dst, const struct trpt_origin *src, int *oom)
{
	dst->kind = dup_str(src->kind, oom);
	dst->source = dup_str(src->source, oom);
	dst->message_id = dup_str(src->message_id, oom);
	dst->report_domain = dup_str(src->report_domain, oom);
	dst->report_submitter = dup_str(src->report_submitter, oom);
	dst->filename = dup_str(src->filename, oom);
	dst->client = dup_str(src->client, oom);
	dst->received = src->received;
}

static void
origin_clear(struct trpt_origin *o)
{
	free_str(o->kind);
	free_str(o->source);
	free_str(o->message_id);
	free_str(o->report_domain);
	free_str(o->report_submitter);
	free_str(o->filename);
	free_str(o->client);
}

static void
act_clear(struct act *a)
{
	free(a->reason);
	free(a->own);
	trpt_report_free(&a->r);
	origin_clear(&a->origin);
	free_str(a->auth.dkim);
	free_str(a->auth.dkim_reason);
	free_str(a->auth.dkim_domain);
	free_str(a->auth.dkim_selector);
	free_str(a->auth.dkim_key_service);
	free_str(a->auth.dkim_aligned);
}

static void
bundle_free(struct bundle *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nacts; i++)
		act_clear(&b->acts[i]);
	free(b->acts);
	free(b->data);
	origin_clear(&b->origin);
	free(b->reason);
	free(b);
}

/* Frees a list of bundles (linked by next). */
static void
bundles_free(struct bundle *b)
{
	struct bundle *next;

	for (; b != NULL; b = next) {
		next = b->next;
		bundle_free(b);
	}
}

/* A bundle holding the input data_take (malloc'd, len may be 0; freed
 * when no bundle can be made). */
static struct bundle *
bundle_take(char *data_take, size_t len)
{
	struct bundle *b = calloc(1, sizeof(*b));

	if (b == NULL ||
	    (data_take == NULL && (data_take = malloc(1)) == NULL)) {
		free(b);
		free(data_take);
		return NULL;
	}
	b->data = data_take;
	b->len = len;
	b->cost = len;
	return b;
}

/* A bundle holding a copy of the input (len may be 0). */
static struct bundle *
bundle_new(const void *bytes, size_t len)
{
	char *data = malloc(len > 0 ? len : 1);

	if (data == NULL)
		return NULL;
	if (len > 0)
		memcpy(data, bytes, len);
	return bundle_take(data, len);
}

/*
 * The digests of a report to store (its content, its input's bytes),
 * worked out as it is read when its bundle says so (b->digests): for
 * serve, whose connection threads prepare what its one committer stores
 * (trpt_pipeline_prepare).  Parse ahead leaves them to the store, which
 * works them out from the report and the bytes (trpt_store_report): the
 * reading thread is now the slower of the two there (`ingest` of 3,000
 * report e-mails, task-clock, medians of 12 alternating runs, issue 15:
 * 459 ms for the caller's thread, which also starts and closes, against
 * 318 ms for the store thread; with the digests moved, 431 and 339 ms).
 * The input's digest is the previous action's when both are parts of the
 * same bytes (a mail with several reports).  A report whose digest fails
 * goes without: the store works it out again and refuses it with the
 * same error.
 */
static void
act_digests(struct bundle *b, struct act *a, const struct job *j)
{
	const struct act *prev = b->nacts > 1 ? &b->acts[b->nacts - 2] : NULL;
	struct trpt_err derr;

	if (trpt_store_content_digest(a->r, a->digests.content_sha256, &derr) !=
	    TRPT_OK)
		return;
	if (prev != NULL && prev->has_digests && prev->has_bytes &&
	    a->has_bytes && prev->own == NULL && a->own == NULL &&
	    prev->off == a->off && prev->len == a->len)
		memcpy(a->digests.sha256, prev->digests.sha256,
		    sizeof(a->digests.sha256));
	else
		trpt_hash_sha256_hex(j->bytes != NULL ? j->bytes : "",
		    j->bytes != NULL ? j->len : 0, a->digests.sha256);
	a->has_digests = 1;
}

/*
 * Queues an action of job j on its bundle: r (STORE) is taken, the other
 * pointers are copied.  TRPT_ENOMEM when out of memory (r is freed).
 */
static int
defer(struct job *j, enum act_kind kind, int part, const char *reason,
    struct trpt_report **r, const struct trpt_auth *auth, struct trpt_err *err)
{
	struct bundle *b = j->defer;
	struct act *a;
	size_t ncap;
	int oom = 0;

	if (b->nacts == b->cap) {
		ncap = b->cap == 0 ? 2 : b->cap * 2;
		a = realloc(b->acts, ncap * sizeof(*a));
		if (a == NULL) {
			if (r != NULL)
				trpt_report_free(r);
			return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		}
		b->acts = a;
		b->cap = ncap;
	}
	a = &b->acts[b->nacts++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->message = j->message;
	a->part = part;
	a->one_report = j->one_report;
	if (reason != NULL && (a->reason = strdup(reason)) == NULL)
		oom = 1;
	if (r != NULL) {
		a->r = *r;
		*r = NULL;
	}
	if (j->bytes != NULL) {
		a->has_bytes = 1;
		a->len = j->len;
		if ((uintptr_t)j->bytes >= (uintptr_t)b->data &&
		    (uintptr_t)j->bytes + j->len <= (uintptr_t)b->data + b->len)
			a->off = (size_t)(j->bytes - b->data);
		else if ((a->own = malloc(j->len > 0 ? j->len : 1)) == NULL)
			oom = 1;
		else {
			memcpy(a->own, j->bytes, j->len);
			b->cost += j->len;
		}
	}
	origin_dup(&a->origin, &j->origin, &oom);
	if (auth != NULL) {
		a->has_auth = 1;
		a->auth.dkim = dup_str(auth->dkim, &oom);
		a->auth.dkim_reason = dup_str(auth->dkim_reason, &oom);
		a->auth.dkim_domain = dup_str(auth->dkim_domain, &oom);
		a->auth.dkim_selector = dup_str(auth->dkim_selector, &oom);
		a->auth.dkim_key_service =
		    dup_str(auth->dkim_key_service, &oom);
		a->auth.dkim_aligned = dup_str(auth->dkim_aligned, &oom);
		a->auth.accepted = auth->accepted;
	}
	if (oom)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	if (a->r != NULL && b->digests)
		act_digests(b, a, j);
	return TRPT_OK;
}

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

void
trpt_pipeline_result_free(struct trpt_pipeline_result *res)
{
	if (res == NULL)
		return;
	free(res->parts);
	memset(res, 0, sizeof(*res));
}

static void
result_reset(struct trpt_pipeline_result *res)
{
	struct trpt_part_outcome *parts = res->parts;
	size_t cap = res->cap_;

	memset(res, 0, sizeof(*res));
	res->worst = TRPT_EV_SKIPPED;
	res->parts = parts;
	res->cap_ = cap;
}

/*
 * Records one part's outcome.  Out of memory only loses the per-part
 * record (counted in dropped), never the input's totals.
 */
static void
record(struct job *j, enum trpt_event_kind kind, int part, int conflict,
    const char *reason)
{
	struct trpt_pipeline_result *res = j->res;
	struct trpt_part_outcome *o;
	size_t ncap;

	if (!j->any || rank(kind) > rank(res->worst))
		res->worst = kind;
	j->any = 1;
	switch (kind) {
	case TRPT_EV_STORED:
		res->stored++;
		res->conflicts += conflict != 0;
		break;
	case TRPT_EV_DUPLICATE:
		res->duplicates++;
		break;
	case TRPT_EV_REJECTED:
		res->rejected++;
		if (res->first_reason[0] == '\0')
			snprintf(res->first_reason, sizeof(res->first_reason),
			    "%s", reason != NULL ? reason : "rejected");
		break;
	case TRPT_EV_SKIPPED:
		res->skipped++;
		break;
	case TRPT_EV_WARNING:
		return;
	}
	if (res->nparts == res->cap_) {
		ncap = res->cap_ == 0 ? 8 : res->cap_ * 2;
		if (ncap > TRPT_PIPELINE_MAX_OUTCOMES)
			ncap = TRPT_PIPELINE_MAX_OUTCOMES;
		o = ncap > res->cap_ ? realloc(res->parts, ncap * sizeof(*o))
				     : NULL;
		if (o == NULL) {
			res->dropped++;
			return;
		}
		res->parts = o;
		res->cap_ = ncap;
	}
	o = &res->parts[res->nparts++];
	memset(o, 0, sizeof(*o));
	o->message = j->message;
	o->part = part;
	o->kind = kind;
	o->conflict = conflict;
	if (reason != NULL)
		snprintf(o->reason, sizeof(o->reason), "%s", reason);
}

static void
emit(struct job *j, enum trpt_event_kind kind, int part,
    const struct trpt_report *r, int conflict, const char *reason)
{
	struct trpt_event ev;

	record(j, kind, part, conflict, reason);
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
	ev.conflict = conflict;
	j->p->on_event(j->p->arg, &ev);
}

/* Refuses an input or part: counted, reported and kept in quarantine. */
static int
reject(struct job *j, int part, const char *reason, struct trpt_err *err)
{
	struct trpt_raw raw;
	int rc;

	if (j->defer != NULL)
		return defer(j, ACT_REJECT, part, reason, NULL, NULL, err);
	j->p->stats.rejected++;
	if (!(j->p->flags & TRPT_PIPE_NO_QUARANTINE) && j->bytes != NULL) {
		memset(&raw, 0, sizeof(raw));
		raw.bytes = j->bytes;
		raw.len = j->len;
		raw.origin = &j->origin;
		raw.part = part;
		if ((rc = trpt_store_quarantine(j->p->db, &raw, reason, err)) !=
		    TRPT_OK)
			return rc;
	}
	emit(j, TRPT_EV_REJECTED, part, NULL, 0, reason);
	return TRPT_OK;
}

static int
skip(struct job *j, const char *reason, struct trpt_err *err)
{
	if (j->defer != NULL)
		return defer(j, ACT_SKIP, 0, reason, NULL, NULL, err);
	j->p->stats.skipped++;
	emit(j, TRPT_EV_SKIPPED, 0, NULL, 0, reason);
	return TRPT_OK;
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
 * Stores a validated report r of job j as part `part`, with its DKIM
 * outcome (or NULL) and digests (or NULL), and reports what happened.
 * r stays the caller's to free (parse ahead: by the thread that made it).  A
 * report the store refuses for its own numbers is a rejection; only storage
 * errors are returned.
 */
static int
store_parsed(struct job *j, int part, const struct trpt_report *r,
    const struct trpt_auth *auth, const struct trpt_store_digests *digests,
    struct trpt_err *err)
{
	struct trpt_pipeline *p = j->p;
	struct trpt_raw raw;
	struct trpt_err verr;
	size_t i;
	int rc, outcome = TRPT_STORE_NEW;

	memset(&raw, 0, sizeof(raw));
	raw.bytes = j->bytes;
	raw.len = j->len;
	raw.origin = &j->origin;
	raw.part = part;
	raw.auth = auth;
	raw.digests = digests;
	if (p->flags & TRPT_PIPE_NO_QUARANTINE)
		raw.flags |= TRPT_RAW_REPROCESS;
	if (j->one_report)
		raw.flags |= TRPT_RAW_ONE_REPORT;
	rc = trpt_store_report(p->db, r, &raw, &outcome, NULL, &verr);
	if (rc == TRPT_ELIMIT) {
		/* The report's own numbers (counts that add up past 2^63,
		 * found by fuzzing: tests/fixtures/fuzz/pipeline/) or too
		 * many different copies of it, not the database: a
		 * rejection like any other. */
		return reject(j, part, verr.msg, err);
	}
	if (rc != TRPT_OK)
		trpt_err_set(err, rc, "%s", verr.msg);
	if (rc == TRPT_OK) {
		if (outcome == TRPT_STORE_DUPLICATE) {
			p->stats.duplicates++;
			emit(j, TRPT_EV_DUPLICATE, part, r, 0, NULL);
		} else {
			p->stats.stored++;
			if (outcome == TRPT_STORE_CONFLICT)
				p->stats.conflicts++;
			emit(j, TRPT_EV_STORED, part, r,
			    outcome == TRPT_STORE_CONFLICT,
			    outcome == TRPT_STORE_CONFLICT
				? "another copy of this report with different "
				  "content is stored: both kept, flagged as a "
				  "conflict"
				: NULL);
			for (i = 0; i < r->warnings.n; i++)
				emit(j, TRPT_EV_WARNING, part, r, 0,
				    r->warnings.v[i]);
			if (auth != NULL && auth->dkim_reason != NULL)
				emit(j, TRPT_EV_WARNING, part, r, 0,
				    auth->dkim_reason);
		}
	}
	return rc;
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
	struct trpt_dkim_outcome dk;
	struct trpt_auth auth;
	const struct trpt_auth *auth_p;
	char *inflated = NULL;
	size_t inflated_len;
	int rc, owned = 0;

	if (trpt_inflate_is_gzip(data, len)) {
		/* Two caps: max_inflated per stream, and what is left of the
		 * input's budget (max_inflated_input), charged with what each
		 * attempt inflated, failed or not. */
		size_t cap = p->limits.max_inflated, left = *j->inflate_left;
		size_t work = 0;

		if (left == 0) {
			trpt_err_set(&verr, TRPT_ELIMIT,
			    "gzip: not inflated: the input's inflate budget of "
			    "%zu bytes (max_inflated_input) is used up",
			    p->limits.max_inflated_input);
			goto refuse;
		}
		if (left < cap)
			cap = left;
		rc = trpt_inflater_gzip_reuse(j->z, data, len, cap, &inflated,
		    &inflated_len, &owned, &work, &verr);
		*j->inflate_left = work < left ? left - work : 0;
		if (rc == TRPT_ELIMIT && cap < p->limits.max_inflated)
			trpt_err_set(&verr, TRPT_ELIMIT,
			    "gzip: inflated size exceeds the %zu bytes left of "
			    "the input's inflate budget of %zu bytes "
			    "(max_inflated_input)",
			    cap, p->limits.max_inflated_input);
		if (rc == TRPT_ENOMEM)
			return trpt_err_set(err, rc, "%s", verr.msg);
		if (rc != TRPT_OK)
			goto refuse;
		data = inflated;
		len = inflated_len;
		if (j->defer != NULL)
			j->defer->cost += inflated_len;
	}
	vctx.report_domain = report_domain;
	vctx.filename = filename;
	/* A large inflated text goes as soon as it is parsed (peak memory
	 * of a large report: issue 15); a small one is the inflater's. */
	if (inflated != NULL && owned)
		rc = trpt_validate_json_take(
		    inflated, len, &p->limits, &vctx, &r, &verr);
	else
		rc =
		    trpt_validate_json(data, len, &p->limits, &vctx, &r, &verr);
	if (rc == TRPT_ENOMEM)
		return trpt_err_set(err, rc, "%s", verr.msg);
	if (rc != TRPT_OK)
		goto refuse;

	auth_p = NULL;
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
		auth_p = &auth;
	}
	if (j->defer != NULL)
		return defer(j, ACT_STORE, part, NULL, &r, auth_p, err);
	rc = store_parsed(j, part, r, auth_p, NULL, err);
	trpt_report_free(&r);
	return rc;
refuse:
	if (trial) {
		*failed = 1;
		return TRPT_OK;
	}
	return reject(j, part, verr.msg, err);
}

/* A part message() runs as a report: gzip or JSON by its bytes. */
static int
report_part(const struct trpt_mime_part *mp)
{
	return trpt_inflate_is_gzip(mp->data, mp->len) ||
	       looks_like_json(mp->data, mp->len);
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

	/* The parts the loop below takes for reports (stored or refused):
	 * when there is one, these bytes are that one report (the store
	 * finds them again through it: TRPT_RAW_ONE_REPORT). */
	for (i = 0; i < msg->nparts; i++)
		if (msg->claims_tlsrpt || report_part(&msg->parts[i]))
			reports++;
	j->one_report = reports == 1;
	reports = 0;
	rc = TRPT_OK;
	for (i = 0; i < msg->nparts && rc == TRPT_OK; i++) {
		const struct trpt_mime_part *mp = &msg->parts[i];

		if (report_part(mp)) {
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
			rc = skip(j, "not a TLS report", err);
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
	if (trpt_inflate_is_gzip(data, len) || looks_like_json(data, len)) {
		j->one_report = 1;
		return report_bytes(
		    j, 0, data, len, j->origin.filename, 0, NULL, err);
	}
	if (trpt_mime_looks_like_message(data, len))
		return message(j, data, len, err);
	if (j->p->flags & TRPT_PIPE_SKIP_NON_REPORTS)
		return skip(j, "not a TLS report", err);
	return reject(j, 0,
	    "not a TLS report: neither gzip, JSON nor an e-mail message", err);
}

struct mbox_ctx {
	struct job *parent;
	struct trpt_err *err;
	int offset; /* added to message numbers (a streamed mbox) */
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
	j.message = n + mc->offset;
	if (toobig) {
		snprintf(reason, sizeof(reason),
		    "message larger than the limit of %zu bytes",
		    mc->parent->p->limits.max_message);
		rc = reject(&j, 0, reason, mc->err);
	} else
		rc = dispatch(&j, msg, len, mc->err);
	mc->parent->any |= j.any;
	return rc;
}

static int
run(struct trpt_pipeline *p, const void *bytes, size_t len,
    const struct trpt_origin *origin, struct job *j,
    struct trpt_pipeline_result *res, size_t *inflate_left, struct bundle *b,
    struct trpt_inflater *z, struct trpt_err *err)
{
	struct mbox_ctx mc;

	memset(j, 0, sizeof(*j));
	j->z = z;
	result_reset(res);
	j->res = res;
	j->inflate_left = inflate_left;
	*inflate_left = p->limits.max_inflated_input;
	j->p = p;
	j->bytes = bytes;
	j->len = len;
	j->origin = *origin;
	j->defer = b;
	if (b != NULL)
		b->inputs++;
	else
		p->stats.inputs++;
	if (len <= p->limits.max_message && trpt_mbox_looks_like(bytes, len)) {
		mc.parent = j;
		mc.err = err;
		mc.offset = 0;
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

static void ckpt_start(struct trpt_pipeline *p, struct trpt_pipeline_async *a);

/*
 * Asks the checkpoint thread for a pass over what was just committed;
 * starts it at the first commit that is not trpt_pipeline_flush's (an
 * input or two stored and closed need no second connection and thread).
 */
static void
ckpt_kick(struct trpt_pipeline *p)
{
	struct trpt_pipeline_async *a = p->async_;
	struct ckpt *k;

	if (a == NULL)
		return;
	if (!a->ck_tried && !a->flushing) {
		a->ck_tried = 1;
		ckpt_start(p, a);
	}
	if ((k = a->ck) == NULL)
		return;
	pthread_mutex_lock(&k->mu);
	k->asked++;
	pthread_cond_signal(&k->work);
	pthread_mutex_unlock(&k->mu);
}

/*
 * SQLite starts the log over (writes it from its first page again) only
 * when a transaction begins with every page of it copied.  The passes run
 * while the next batch is stored, so a pass always lags a commit: once a
 * pass found the log past CKPT_RESTART_FRAMES pages (64 MiB), the next
 * batch waits for the pass over the last commit before it begins.  Below
 * that the log just grows (a transaction's reads search only the pages
 * not yet copied); it can pass the bound by the two batches committed
 * before the pass that finds it there: 87 MB seen for 13,000 inputs into
 * the million-row database, against 24 MB with the writer's own
 * checkpoints (every 4,000 pages).
 */
#define CKPT_RESTART_FRAMES 16384

static void
ckpt_wait(struct trpt_pipeline *p)
{
	struct ckpt *k = p->async_ != NULL ? p->async_->ck : NULL;

	if (k == NULL)
		return;
	pthread_mutex_lock(&k->mu);
	if (k->frames >= CKPT_RESTART_FRAMES)
		while (k->passed < k->asked && !k->stop)
			pthread_cond_wait(&k->done, &k->mu);
	pthread_mutex_unlock(&k->mu);
}

static void *
ckpt_main(void *arg)
{
	struct ckpt *k = arg;
	uint64_t asked;
	int frames;

	pthread_mutex_lock(&k->mu);
	for (;;) {
		while (k->passed == k->asked && !k->stop)
			pthread_cond_wait(&k->work, &k->mu);
		if (k->passed == k->asked)
			break;
		asked = k->asked;
		pthread_mutex_unlock(&k->mu);
		/* A failed pass (a reader holding the log, a full disk) copies
		 * nothing: the next commit asks again, and the writer's close
		 * copies what is left, as it would without this thread. */
		if (trpt_checkpoint_passive(k->c, &frames, NULL) != TRPT_OK)
			frames = 0;
		pthread_mutex_lock(&k->mu);
		k->passed = asked;
		k->frames = frames;
		pthread_cond_broadcast(&k->done);
	}
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

/* Starts the checkpoint thread for p's database when it is a SQLite
 * file; without one (PostgreSQL, memory, or it could not start) the
 * writer checkpoints inside its commits as before. */
static void
ckpt_start(struct trpt_pipeline *p, struct trpt_pipeline_async *a)
{
	struct ckpt *k;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return;
	if (trpt_checkpoint_new(p->db, &k->c, NULL) != TRPT_OK ||
	    k->c == NULL) {
		free(k);
		return;
	}
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->work, NULL);
	pthread_cond_init(&k->done, NULL);
	if (pthread_create(&k->thread, NULL, ckpt_main, k) != 0) {
		pthread_cond_destroy(&k->work);
		pthread_cond_destroy(&k->done);
		pthread_mutex_destroy(&k->mu);
		trpt_checkpoint_free(&k->c);
		free(k);
		return;
	}
	a->ck = k;
}

/* Ends the checkpoint thread after its last pass, and gives the writer
 * its checkpoints back (its close copies what is left). */
static void
ckpt_stop(struct trpt_pipeline_async *a)
{
	struct ckpt *k = a->ck;

	if (k == NULL)
		return;
	pthread_mutex_lock(&k->mu);
	k->stop = 1;
	pthread_cond_signal(&k->work);
	pthread_mutex_unlock(&k->mu);
	pthread_join(k->thread, NULL);
	pthread_cond_destroy(&k->work);
	pthread_cond_destroy(&k->done);
	pthread_mutex_destroy(&k->mu);
	trpt_checkpoint_free(&k->c);
	free(k);
	a->ck = NULL;
}

/*
 * Commits the open batch, if any (see trpt_pipeline_flush), with what
 * on_commit writes for it.
 */
static int
batch_flush(struct trpt_pipeline *p, struct trpt_err *err)
{
	char cause[TRPT_ERR_MSG_LEN];
	unsigned n = p->batch_n;
	uint64_t tag = p->batch_tag;
	struct trpt_err herr;
	int rc, hrc = TRPT_OK;

	if (n == 0)
		return TRPT_OK;
	p->batch_n = 0;
	p->batch_tag = 0;
	/* SQLite rolls a transaction back by itself after a disk-full or
	 * I/O error: then the batch is gone already. */
	if (!trpt_db_in_transaction(p->db))
		rc = trpt_err_set(err, TRPT_EDB,
		    "database %s: the transaction was rolled back",
		    trpt_db_path(p->db));
	else {
		if (p->on_commit != NULL)
			hrc = p->on_commit(p->commit_arg, tag, &herr);
		rc = trpt_store_commit(p->db, err);
		if (rc == TRPT_OK)
			ckpt_kick(p);
	}
	if (rc != TRPT_OK) {
		p->stats = p->batch_stats;
		trpt_err_prefix(err,
		    "the last %u input%s were not stored (run again)", n,
		    n == 1 ? "" : "s");
		/* The first cause first. */
		if (hrc != TRPT_OK && err != NULL) {
			memcpy(cause, err->msg, sizeof(cause));
			trpt_err_set(err, hrc, "%s; then: %s", herr.msg, cause);
		}
	} else if (hrc != TRPT_OK)
		rc = trpt_err_set(err, hrc, "%s", herr.msg);
	return rc;
}

/* Opens a batch transaction before an input, when batching. */
static int
batch_open(struct trpt_pipeline *p, struct trpt_err *err)
{
	int rc;

	if (p->batch_max == 0 || p->batch_n > 0)
		return TRPT_OK;
	ckpt_wait(p);
	if ((rc = trpt_store_begin(p->db, err)) != TRPT_OK)
		return rc;
	p->batch_start_ms = now_ms();
	p->batch_stats = p->stats;
	return TRPT_OK;
}

/* Counts an input (given with tag) into the batch, and commits it when it
 * is full. */
static int
batch_close(struct trpt_pipeline *p, int rc, uint64_t tag, struct trpt_err *err)
{
	char cause[TRPT_ERR_MSG_LEN];
	struct trpt_err ferr;
	int frc;

	if (p->batch_max == 0)
		return rc;
	p->batch_n++;
	if (rc == TRPT_OK && tag > p->batch_tag)
		p->batch_tag = tag;
	if (rc != TRPT_OK) {
		/* Keep what the batch stored before the failure; the error
		 * that stops the run is the first one, and its cause comes
		 * first in the message (a long database name, such as a
		 * PostgreSQL URI, must not push it out of the message). */
		if ((frc = batch_flush(p, &ferr)) != TRPT_OK && err != NULL) {
			memcpy(cause, err->msg, sizeof(cause));
			trpt_err_set(err, rc, "%s; then: %s", cause, ferr.msg);
		}
		return rc;
	}
	if (p->batch_n >= p->batch_max ||
	    now_ms() - p->batch_start_ms >= (int64_t)p->batch_ms) {
		if ((rc = batch_flush(p, err)) != TRPT_OK)
			return rc;
		/* A pause before the next batch takes the write lock again,
		 * so that another writer waiting for it (its busy handler
		 * tries every millisecond) gets its turn. */
		nanosleep(&(struct timespec){ 0, BATCH_PAUSE_NS }, NULL);
	}
	return TRPT_OK;
}

/*
 * The store thread's part of one input: its actions, in order, as one
 * input of the batch.
 */
static int
exec_bundle(struct trpt_pipeline *p, struct bundle *b,
    struct trpt_pipeline_result *res, struct trpt_err *err)
{
	struct job j;
	struct act *a;
	size_t i;
	int rc;

	if ((rc = batch_open(p, err)) != TRPT_OK)
		return rc;
	result_reset(res);
	p->stats.inputs += b->inputs;
	for (i = 0; i < b->nacts && rc == TRPT_OK; i++) {
		a = &b->acts[i];
		memset(&j, 0, sizeof(j));
		j.p = p;
		j.res = res;
		j.origin = a->origin;
		j.message = a->message;
		j.one_report = a->one_report;
		if (a->has_bytes) {
			j.bytes = a->own != NULL ? a->own : b->data + a->off;
			j.len = a->len;
		}
		switch (a->kind) {
		case ACT_STORE:
			rc = store_parsed(&j, a->part, a->r,
			    a->has_auth ? &a->auth : NULL,
			    a->has_digests ? &a->digests : NULL, err);
			break;
		case ACT_REJECT:
			rc = reject(&j, a->part, a->reason, err);
			break;
		case ACT_SKIP:
			rc = skip(&j, a->reason, err);
			break;
		}
	}
	return batch_close(p, rc, b->tag, err);
}

/* Waits on c until signalled or the monotonic time ms. */
static void
nap(pthread_cond_t *c, pthread_mutex_t *mu, int64_t ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	pthread_cond_timedwait(c, mu, &ts);
}

/* Whether q has room for b (one bundle, however large, when empty). */
static int
queue_has_room(const struct queue *q, const struct bundle *b)
{
	return q->n == 0 ||
	       (q->n < ASYNC_MAX_BUNDLES && q->bytes <= q->max_bytes &&
		   b->cost <= q->max_bytes - q->bytes);
}

/* Appends b to q (which has room); wakes the consumer every ASYNC_WAKE
 * bundles.  The caller's thread gives p up to the threads (held). */
static void
queue_push(struct trpt_pipeline_async *a, struct queue *q, struct bundle *b)
{
	b->next = NULL;
	if (q->tail != NULL)
		q->tail->next = b;
	else
		q->head = b;
	q->tail = b;
	q->n++;
	q->bytes += b->cost;
	a->held = 0;
	if (q->n >= ASYNC_WAKE)
		pthread_cond_signal(&q->work);
}

/* Takes the first bundle off q (not empty); its room is given back by
 * queue_release. */
static struct bundle *
queue_pop(struct queue *q)
{
	struct bundle *b = q->head;

	q->head = b->next;
	if (q->head == NULL)
		q->tail = NULL;
	return b;
}

/* Gives back the room of a bundle taken off q (of cost bytes); wakes a
 * producer waiting for room once q is half empty. */
static void
queue_release(struct queue *q, size_t cost)
{
	q->n--;
	q->bytes -= cost;
	if (q->n == 0 ||
	    (q->n <= ASYNC_MAX_BUNDLES / 2 && q->bytes <= q->max_bytes / 2))
		pthread_cond_signal(&q->space);
}

/*
 * Whether nothing is queued and no thread is at work: what async_drain
 * waits for.  The threads wake it (idle) only then: woken after every
 * bundle, a caller draining a long queue made two context switches a
 * bundle with the store thread (issue 15: 3,000 e-mails, ~1,000 of the
 * run's ~2,000 switches).  Called with a->mu held.
 */
static int
async_idle(const struct trpt_pipeline_async *a)
{
	return a->rq.head == NULL && !a->parsing && a->q.head == NULL &&
	       !a->busy;
}

/*
 * With the queue empty: waits for work, or until the open batch is due
 * (batch_ms after it began).  1 when it is due, so that a source that
 * stalls does not keep the batch's transaction (and the database's write
 * lock) open while it waits for the next input.  Called with a->mu held.
 */
static int
store_wait(struct trpt_pipeline *p, struct trpt_pipeline_async *a)
{
	int64_t now = now_ms(), due = INT64_MAX;

	/* While the caller's thread holds p (after a drain) the batch is
	 * its own. */
	if (!a->failed && !a->held && p->batch_n > 0 &&
	    p->batch_ms < (unsigned)INT_MAX) {
		due = p->batch_start_ms + (int64_t)p->batch_ms;
		if (now >= due)
			return 1;
	}
	nap(&a->q.work, &a->mu,
	    due < now + ASYNC_POLL_MS ? due : now + ASYNC_POLL_MS);
	return 0;
}

static void *
store_main(void *arg)
{
	struct trpt_pipeline *p = arg;
	struct trpt_pipeline_async *a = p->async_;
	struct trpt_pipeline_result res;
	struct trpt_err e;
	struct bundle *b;
	size_t cost;
	int rc, failed;

	trpt_db_thread_arena();
	/* One result for every bundle (its outcomes are not asked for):
	 * exec_bundle resets it and keeps its array. */
	memset(&res, 0, sizeof(res));
	pthread_mutex_lock(&a->mu);
	for (;;) {
		if (a->q.head == NULL && !a->stop) {
			if (a->done != NULL && ++a->done_naps > 2) {
				/* Nobody came to free them: free them here
				 * rather than hold them while the source is
				 * idle. */
				b = a->done;
				a->done = NULL;
				a->done_bytes = 0;
				pthread_mutex_unlock(&a->mu);
				bundles_free(b);
				pthread_mutex_lock(&a->mu);
				continue;
			}
			if (!store_wait(p, a))
				continue;
			/* The batch is due and nothing came: commit it. */
			a->busy = 1;
			pthread_mutex_unlock(&a->mu);
			rc = batch_flush(p, &e);
			pthread_mutex_lock(&a->mu);
			a->busy = 0;
			if (rc != TRPT_OK) {
				a->failed = 1;
				a->rc = rc;
				a->err = e;
			}
			if (async_idle(a))
				pthread_cond_broadcast(&a->idle);
			continue;
		}
		if (a->q.head == NULL)
			break;
		b = queue_pop(&a->q);
		a->busy = 1;
		failed = a->failed;
		pthread_mutex_unlock(&a->mu);
		/* After a storage error nothing more is stored: the run
		 * stops, and a run again stores what was queued. */
		rc = failed ? TRPT_OK : exec_bundle(p, b, &res, &e);
		/* An error of reading it (parse thread) stops storing, after
		 * its actions, as it stops the caller's thread without one. */
		if (rc == TRPT_OK && !failed && b->rc != TRPT_OK) {
			rc = b->rc;
			e = b->err;
		}
		cost = b->cost;
		pthread_mutex_lock(&a->mu);
		if (rc != TRPT_OK) {
			a->failed = 1;
			a->rc = rc;
			a->err = e;
		}
		/* Freed by the thread that made it: a free of memory from
		 * another thread's malloc arena takes that arena's lock while
		 * the other thread allocates in it (about 60,000 futex calls
		 * for 10,000 inputs, issue 15). */
		b->next = a->done;
		a->done = b;
		a->done_bytes += cost;
		a->done_naps = 0;
		queue_release(&a->q, cost);
		if (a->done_bytes > a->q.max_bytes / 2)
			pthread_cond_signal(&a->q.space);
		a->busy = 0;
		if (async_idle(a))
			pthread_cond_broadcast(&a->idle);
	}
	pthread_mutex_unlock(&a->mu);
	trpt_pipeline_result_free(&res);
	return NULL;
}

/*
 * Waits until every input given is read and stored (nothing queued, no
 * thread at work), and hands p and its database to the caller's thread
 * until it gives the next input.
 */
static void
async_drain(struct trpt_pipeline_async *a)
{
	struct bundle *done;

	pthread_mutex_lock(&a->mu);
	/* Not to wait for their next look (ASYNC_POLL_MS). */
	pthread_cond_signal(&a->rq.work);
	pthread_cond_signal(&a->q.work);
	while (!async_idle(a))
		pthread_cond_wait(&a->idle, &a->mu);
	a->held = 1;
	done = a->done;
	a->done = NULL;
	a->done_bytes = 0;
	pthread_mutex_unlock(&a->mu);
	bundles_free(done);
}

/*
 * The store thread's error, returned once; after it, with `refuse`, an
 * error for every new input (nothing more is stored).
 */
static int
async_error(struct trpt_pipeline_async *a, int refuse, struct trpt_err *err)
{
	int rc = TRPT_OK;

	pthread_mutex_lock(&a->mu);
	if (a->rc != TRPT_OK) {
		rc = trpt_err_set(err, a->rc, "%s", a->err.msg);
		a->rc = TRPT_OK;
	} else if (a->failed && refuse)
		rc = trpt_err_set(err, TRPT_EDB,
		    "not stored: storing stopped at an earlier error");
	pthread_mutex_unlock(&a->mu);
	return rc;
}

/* Hands a bundle to the store thread, once the queue has room; frees
 * the bundles it is done with meanwhile. */
static void
async_queue(struct trpt_pipeline_async *a, struct bundle *b)
{
	struct bundle *done;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		if ((done = a->done) != NULL) {
			a->done = NULL;
			a->done_bytes = 0;
			pthread_mutex_unlock(&a->mu);
			bundles_free(done);
			pthread_mutex_lock(&a->mu);
			continue;
		}
		if (queue_has_room(&a->q, b))
			break;
		pthread_cond_wait(&a->q.space, &a->mu);
	}
	queue_push(a, &a->q, b);
	pthread_mutex_unlock(&a->mu);
}

/* Hands an input, not yet read, to the parse thread, once its queue has
 * room. */
static void
raw_queue(struct trpt_pipeline_async *a, struct bundle *b)
{
	pthread_mutex_lock(&a->mu);
	while (!queue_has_room(&a->rq, b))
		pthread_cond_wait(&a->rq.space, &a->mu);
	queue_push(a, &a->rq, b);
	pthread_mutex_unlock(&a->mu);
}

/*
 * Reads one entry (a whole input, one message of a streamed mbox, a
 * rejection or a skip), whose bytes b holds (has_data: the caller gave
 * some), into the actions of b.
 */
static int
read_entry(struct trpt_pipeline *p, struct bundle *b, enum entry kind,
    int has_data, const struct trpt_origin *origin, int n, int toobig,
    const char *reason, struct trpt_err *err)
{
	struct trpt_pipeline_result res;
	struct mbox_ctx mc;
	struct job j;
	size_t left = p->limits.max_inflated_input;
	int rc;

	memset(&res, 0, sizeof(res));
	result_reset(&res);
	if (kind == ENTRY_INPUT)
		rc = run(p, b->data, b->len, origin, &j, &res, &left, b,
		    p->async_->z, err);
	else {
		memset(&j, 0, sizeof(j));
		j.res = &res;
		j.inflate_left = &left;
		j.p = p;
		j.bytes = has_data ? b->data : NULL;
		j.len = b->len;
		j.origin = *origin;
		j.defer = b;
		j.z = p->async_->z;
		if (kind != ENTRY_MBOX || n <= 1)
			b->inputs++;
		mc.parent = &j;
		mc.err = err;
		mc.offset = n - 1;
		if (kind == ENTRY_REJECT)
			rc = reject(&j, 0, reason, err);
		else if (kind == ENTRY_SKIP)
			rc = skip(&j, reason, err);
		else if (toobig)
			rc = mbox_message(&mc, 1, b->data, b->len, 1);
		else
			rc = trpt_mbox_each(b->data, b->len,
			    p->limits.max_message, mbox_message, &mc, err);
	}
	trpt_pipeline_result_free(&res);
	return rc;
}

/*
 * The parse thread: reads each input handed over into its bundle and
 * queues that for the store thread, in order.  After an error of reading
 * (raised by the store thread in turn) the rest is dropped.
 */
static void *
parse_main(void *arg)
{
	struct trpt_pipeline *p = arg;
	struct trpt_pipeline_async *a = p->async_;
	struct bundle *b;
	int rc, failed;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (a->rq.head == NULL && !a->rstop)
			nap(&a->rq.work, &a->mu, now_ms() + ASYNC_POLL_MS);
		if (a->rq.head == NULL)
			break;
		b = queue_pop(&a->rq);
		queue_release(&a->rq, b->cost);
		a->parsing = 1;
		failed = a->parse_failed;
		pthread_mutex_unlock(&a->mu);
		rc = TRPT_OK;
		if (failed)
			bundle_free(b);
		else {
			rc = read_entry(p, b, b->kind, b->has_data, &b->origin,
			    b->n, b->toobig, b->reason, &b->err);
			b->rc = rc;
			async_queue(a, b);
		}
		pthread_mutex_lock(&a->mu);
		a->parsing = 0;
		if (rc != TRPT_OK)
			a->parse_failed = 1;
		if (async_idle(a))
			pthread_cond_broadcast(&a->idle);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/*
 * Parse ahead: reads one entry into a bundle on this thread (or hands it
 * to the parse thread) and queues it.  An error while reading it (out of
 * memory, DKIM) comes back after what came before, and what of this input
 * was read, is stored, as without.
 */
static int
async_entry(struct trpt_pipeline *p, enum entry kind, const void *bytes,
    size_t len, const struct trpt_origin *origin, int n, int toobig,
    const char *reason, struct trpt_err *err)
{
	struct trpt_pipeline_async *a = p->async_;
	struct bundle *b;
	int rc, oom = 0;

	if ((rc = async_error(a, 1, err)) != TRPT_OK)
		return rc;
	if ((b = bundle_new(bytes, bytes != NULL ? len : 0)) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	b->tag = p->input_tag;
	b->has_data = bytes != NULL;
	if (a->parse) {
		b->kind = kind;
		origin_dup(&b->origin, origin, &oom);
		b->n = n;
		b->toobig = toobig;
		if (reason != NULL && (b->reason = strdup(reason)) == NULL)
			oom = 1;
		if (oom) {
			bundle_free(b);
			return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		}
		raw_queue(a, b);
		return TRPT_OK;
	}
	rc =
	    read_entry(p, b, kind, b->has_data, origin, n, toobig, reason, err);
	async_queue(a, b);
	if (rc != TRPT_OK)
		async_drain(a);
	return rc;
}

/* Before the caller's thread uses the database itself: idle threads, and
 * their error if they had one. */
static int
async_sync(struct trpt_pipeline *p, struct trpt_err *err)
{
	if (p->async_ == NULL)
		return TRPT_OK;
	async_drain(p->async_);
	return async_error(p->async_, 1, err);
}

struct trpt_pipeline_prepared {
	struct bundle *b;
};

int
trpt_pipeline_prepare(struct trpt_pipeline *p, const void *bytes, size_t len,
    const struct trpt_origin *origin, struct trpt_pipeline_prepared **out,
    struct trpt_err *err)
{
	char *copy = malloc(len > 0 ? len : 1);

	if (copy == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	if (len > 0)
		memcpy(copy, bytes, len);
	return trpt_pipeline_prepare_take(p, NULL, copy, len, origin, out, err);
}

int
trpt_pipeline_prepare_take(struct trpt_pipeline *p, struct trpt_inflater *z,
    char *bytes_take, size_t len, const struct trpt_origin *origin,
    struct trpt_pipeline_prepared **out, struct trpt_err *err)
{
	struct trpt_pipeline_prepared *pp;
	struct trpt_pipeline_result res;
	struct job j;
	size_t left;
	int rc;

	if ((pp = calloc(1, sizeof(*pp))) == NULL ||
	    (pp->b = bundle_take(bytes_take, len)) == NULL) {
		if (pp == NULL)
			free(bytes_take);
		free(pp);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	pp->b->digests = 1;
	memset(&res, 0, sizeof(res));
	rc = run(p, pp->b->data, len, origin, &j, &res, &left, pp->b, z, err);
	trpt_pipeline_result_free(&res);
	if (rc != TRPT_OK) {
		trpt_pipeline_prepared_free(&pp);
		return rc;
	}
	*out = pp;
	return TRPT_OK;
}

int
trpt_pipeline_store_prepared_keep(struct trpt_pipeline *p,
    struct trpt_pipeline_prepared *prep, struct trpt_pipeline_result *res,
    struct trpt_err *err)
{
	struct trpt_pipeline_result own;
	int rc;

	memset(&own, 0, sizeof(own));
	if (res == NULL)
		res = &own;
	rc = exec_bundle(p, prep->b, res, err);
	trpt_pipeline_result_free(&own);
	return rc;
}

int
trpt_pipeline_store_prepared(struct trpt_pipeline *p,
    struct trpt_pipeline_prepared **pp, struct trpt_pipeline_result *res,
    struct trpt_err *err)
{
	int rc = trpt_pipeline_store_prepared_keep(p, *pp, res, err);

	trpt_pipeline_prepared_free(pp);
	return rc;
}

void
trpt_pipeline_prepared_free(struct trpt_pipeline_prepared **pp)
{
	if (pp == NULL || *pp == NULL)
		return;
	bundle_free((*pp)->b);
	free(*pp);
	*pp = NULL;
}

int
trpt_pipeline_prepared_cmp(const struct trpt_pipeline_prepared *a,
    const struct trpt_pipeline_prepared *b)
{
	const struct bundle *x = a != NULL ? a->b : NULL;
	const struct bundle *y = b != NULL ? b->b : NULL;
	size_t lx = x != NULL && x->data != NULL ? x->len : 0;
	size_t ly = y != NULL && y->data != NULL ? y->len : 0;

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return lx == 0 ? 0 : memcmp(x->data, y->data, lx);
}

static void
async_free(struct trpt_pipeline_async *a)
{
	ckpt_stop(a);
	bundles_free(a->done);
	trpt_inflater_free(&a->z);
	pthread_cond_destroy(&a->q.work);
	pthread_cond_destroy(&a->q.space);
	pthread_cond_destroy(&a->idle);
	pthread_cond_destroy(&a->rq.work);
	pthread_cond_destroy(&a->rq.space);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* Ends the store thread (and the parse thread first) once they have
 * carried out what was queued. */
static void
async_join(struct trpt_pipeline_async *a, int parser, int store)
{
	if (parser) {
		pthread_mutex_lock(&a->mu);
		a->rstop = 1;
		pthread_cond_signal(&a->rq.work);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->parser, NULL);
	}
	if (store) {
		pthread_mutex_lock(&a->mu);
		a->stop = 1;
		pthread_cond_signal(&a->q.work);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
	}
}

int
trpt_pipeline_async_start_with(
    struct trpt_pipeline *p, unsigned options, struct trpt_err *err)
{
	struct trpt_pipeline_async *a;
	pthread_condattr_t ca;
	int prc;

	if (p->async_ != NULL)
		return TRPT_OK;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	if (trpt_inflater_new(&a->z, err) != TRPT_OK) {
		free(a);
		return TRPT_ENOMEM;
	}
	pthread_mutex_init(&a->mu, NULL);
	/* The consumers' timed waits (nap) are on CLOCK_MONOTONIC, as
	 * now_ms. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->q.work, &ca);
	pthread_cond_init(&a->rq.work, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&a->q.space, NULL);
	pthread_cond_init(&a->idle, NULL);
	pthread_cond_init(&a->rq.space, NULL);
	a->q.max_bytes = ASYNC_MAX_BYTES;
	a->rq.max_bytes = ASYNC_MAX_RAW_BYTES;
	a->parse = (options & TRPT_ASYNC_PARSE) != 0;
	a->ck_tried = (options & TRPT_ASYNC_CHECKPOINT) == 0;
	a->held = 1;
	p->async_ = a;
	if ((prc = pthread_create(&a->thread, NULL, store_main, p)) != 0) {
		p->async_ = NULL;
		async_free(a);
		return trpt_err_set(err, TRPT_ENOMEM,
		    "cannot start the store thread: %s", strerror(prc));
	}
	if (a->parse &&
	    (prc = pthread_create(&a->parser, NULL, parse_main, p)) != 0) {
		async_join(a, 0, 1);
		p->async_ = NULL;
		async_free(a);
		return trpt_err_set(err, TRPT_ENOMEM,
		    "cannot start the parse thread: %s", strerror(prc));
	}
	return TRPT_OK;
}

int
trpt_pipeline_async_start(struct trpt_pipeline *p, struct trpt_err *err)
{
	return trpt_pipeline_async_start_with(p, 0, err);
}

void
trpt_pipeline_async_stop(struct trpt_pipeline *p)
{
	struct trpt_pipeline_async *a = p->async_;

	if (a == NULL)
		return;
	async_join(a, a->parse, 1);
	async_free(a);
	p->async_ = NULL;
}

int
trpt_pipeline_flush(struct trpt_pipeline *p, struct trpt_err *err)
{
	int rc = TRPT_OK, frc;

	if (p->async_ != NULL) {
		async_drain(p->async_);
		rc = async_error(p->async_, 0, err);
		p->async_->flushing = 1;
	}
	frc = rc == TRPT_OK ? batch_flush(p, err) : batch_flush(p, NULL);
	if (p->async_ != NULL)
		p->async_->flushing = 0;
	return rc != TRPT_OK ? rc : frc;
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
trpt_pipeline_run(struct trpt_pipeline *p, const void *bytes, size_t len,
    const struct trpt_origin *origin, struct trpt_pipeline_result *res,
    struct trpt_err *err)
{
	struct trpt_pipeline_result own;
	struct job j;
	size_t left;
	int rc;

	if (p->async_ != NULL && res == NULL)
		return async_entry(
		    p, ENTRY_INPUT, bytes, len, origin, 0, 0, NULL, err);
	if ((rc = async_sync(p, err)) != TRPT_OK)
		return rc;
	memset(&own, 0, sizeof(own));
	if (res == NULL)
		res = &own;
	if ((rc = batch_open(p, err)) != TRPT_OK)
		return rc;
	rc = batch_close(p,
	    run(p, bytes, len, origin, &j, res, &left, NULL, NULL, err),
	    p->input_tag, err);
	trpt_pipeline_result_free(&own);
	return rc;
}

int
trpt_pipeline_mbox_message(struct trpt_pipeline *p, const void *chunk,
    size_t len, int n, int toobig, const struct trpt_origin *origin,
    struct trpt_pipeline_result *res, struct trpt_err *err)
{
	struct trpt_pipeline_result own;
	struct mbox_ctx mc;
	struct job j;
	size_t left = p->limits.max_inflated_input;
	int rc;

	if (p->async_ != NULL && res == NULL)
		return async_entry(
		    p, ENTRY_MBOX, chunk, len, origin, n, toobig, NULL, err);
	if ((rc = async_sync(p, err)) != TRPT_OK)
		return rc;
	memset(&own, 0, sizeof(own));
	if (res == NULL)
		res = &own;
	if ((rc = batch_open(p, err)) != TRPT_OK)
		return rc;
	memset(&j, 0, sizeof(j));
	result_reset(res);
	j.res = res;
	j.inflate_left = &left;
	j.p = p;
	j.bytes = chunk;
	j.len = len;
	j.origin = *origin;
	if (n <= 1)
		p->stats.inputs++;
	mc.parent = &j;
	mc.err = err;
	mc.offset = n - 1;
	if (toobig)
		rc = mbox_message(&mc, 1, chunk, len, 1);
	else
		rc = trpt_mbox_each(
		    chunk, len, p->limits.max_message, mbox_message, &mc, err);
	rc = batch_close(p, rc, p->input_tag, err);
	trpt_pipeline_result_free(&own);
	return rc;
}

int
trpt_pipeline_input(struct trpt_pipeline *p, const void *bytes, size_t len,
    const struct trpt_origin *origin, enum trpt_event_kind *outcome,
    struct trpt_err *err)
{
	struct trpt_pipeline_result res;
	int rc;

	if (p->async_ != NULL && outcome == NULL)
		return trpt_pipeline_run(p, bytes, len, origin, NULL, err);
	memset(&res, 0, sizeof(res));
	rc = trpt_pipeline_run(p, bytes, len, origin, &res, err);
	if (rc == TRPT_OK && outcome != NULL)
		*outcome = res.worst;
	trpt_pipeline_result_free(&res);
	return rc;
}

int
trpt_pipeline_reject(struct trpt_pipeline *p, const void *bytes, size_t len,
    const struct trpt_origin *origin, const char *reason, struct trpt_err *err)
{
	struct trpt_pipeline_result res;
	struct job j;
	int rc;

	if (p->async_ != NULL)
		return async_entry(
		    p, ENTRY_REJECT, bytes, len, origin, 0, 0, reason, err);
	if ((rc = batch_open(p, err)) != TRPT_OK)
		return rc;
	memset(&j, 0, sizeof(j));
	memset(&res, 0, sizeof(res));
	result_reset(&res);
	j.res = &res;
	j.p = p;
	j.bytes = bytes;
	j.len = len;
	j.origin = *origin;
	p->stats.inputs++;
	rc = batch_close(p, reject(&j, 0, reason, err), p->input_tag, err);
	trpt_pipeline_result_free(&res);
	return rc;
}

int
trpt_pipeline_skip(struct trpt_pipeline *p, const struct trpt_origin *origin,
    const char *reason, struct trpt_err *err)
{
	struct trpt_pipeline_result res;
	struct job j;
	int rc;

	if (p->async_ != NULL)
		return async_entry(
		    p, ENTRY_SKIP, NULL, 0, origin, 0, 0, reason, err);
	if ((rc = batch_open(p, err)) != TRPT_OK)
		return rc;
	memset(&j, 0, sizeof(j));
	memset(&res, 0, sizeof(res));
	result_reset(&res);
	j.res = &res;
	j.p = p;
	j.origin = *origin;
	p->stats.inputs++;
	rc = batch_close(p, skip(&j, reason, err), p->input_tag, err);
	trpt_pipeline_result_free(&res);
	return rc;
}

struct reprocess_ctx {
	struct trpt_pipeline *p;
	struct trpt_pipeline_result res;
	uint64_t passed;
	uint64_t failed;
	struct trpt_err *err;
};

/* The first rejection of `part` in res (of any mbox message), or NULL. */
static const struct trpt_part_outcome *
rejection_of(const struct trpt_pipeline_result *res, int part)
{
	size_t i;

	for (i = 0; i < res->nparts; i++)
		if (res->parts[i].part == part &&
		    res->parts[i].kind == TRPT_EV_REJECTED)
			return &res->parts[i];
	return NULL;
}

static int
was_quarantined(const struct trpt_quarantined *q, int part)
{
	size_t i;

	for (i = 0; i < q->nparts; i++)
		if (q->parts[i].part == part)
			return 1;
	return 0;
}

/*
 * One quarantined input, run once (nothing quarantined or counted as seen
 * meanwhile); then each of its rejected parts is judged by its own
 * outcome, and a part rejected now that was not before joins them.
 */
static int
reprocess_one(void *arg, const struct trpt_quarantined *q)
{
	struct reprocess_ctx *rc = arg;
	const struct trpt_part_outcome *o;
	struct trpt_origin origin = q->origin;
	struct trpt_raw raw;
	size_t i;
	int r;

	r = trpt_pipeline_run(
	    rc->p, q->bytes, q->len, &origin, &rc->res, rc->err);
	if (r != TRPT_OK)
		return r;
	for (i = 0; i < q->nparts; i++) {
		o = rejection_of(&rc->res, q->parts[i].part);
		if (o != NULL) {
			rc->failed++;
			r = trpt_store_quarantine_update(
			    rc->p->db, q->parts[i].id, o->reason, rc->err);
		} else {
			rc->passed++;
			r = trpt_store_quarantine_delete(
			    rc->p->db, q->parts[i].id, rc->err);
		}
		if (r != TRPT_OK)
			return r;
	}
	for (i = 0; i < rc->res.nparts; i++) {
		o = &rc->res.parts[i];
		if (o->kind != TRPT_EV_REJECTED ||
		    was_quarantined(q, o->part) ||
		    rejection_of(&rc->res, o->part) != o)
			continue;
		rc->failed++;
		memset(&raw, 0, sizeof(raw));
		raw.bytes = q->bytes;
		raw.len = q->len;
		raw.origin = &q->origin;
		raw.part = o->part;
		if ((r = trpt_store_quarantine(
			 rc->p->db, &raw, o->reason, rc->err)) != TRPT_OK)
			return r;
	}
	return TRPT_OK;
}

int
trpt_pipeline_reprocess(struct trpt_pipeline *p, uint64_t *passed,
    uint64_t *failed, struct trpt_err *err)
{
	struct reprocess_ctx rc;
	unsigned flags = p->flags;
	int r;

	memset(&rc, 0, sizeof(rc));
	rc.p = p;
	rc.err = err;
	p->flags |= TRPT_PIPE_NO_QUARANTINE;
	r = trpt_store_quarantine_each(p->db, reprocess_one, &rc, err);
	p->flags = flags;
	trpt_pipeline_result_free(&rc.res);
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

	memset(&rc, 0, sizeof(rc));
	rc.p = p;
	rc.err = err;
	p->flags |= TRPT_PIPE_NO_QUARANTINE;
	r = trpt_store_quarantine_get(p->db, id, reprocess_one, &rc, err);
	p->flags = flags;
	trpt_pipeline_result_free(&rc.res);
	if (passed != NULL)
		*passed = rc.passed;
	if (failed != NULL)
		*failed = rc.failed;
	return r;
}

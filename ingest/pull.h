#pragma once
/*
 * Pulling reports over HTTPS (libcurl): a configured URL serves either one
 * report (JSON or gzip) or an index of reports, a JSON array of URLs or
 * one URL per line, whose entries are then fetched in turn (relative
 * entries are resolved against the index URL).
 *
 * Every fetch is conditional: the ETag and Last-Modified of each URL are
 * kept in table http_state, so an unchanged resource costs one 304.  They
 * are saved only once what the resource held has been committed (for an
 * index: once every entry has been), so a failed run is simply done again.
 * Network errors, 429 and 5xx answers are retried with exponential
 * backoff; bodies are capped; only https is spoken and certificates are
 * always verified (against ca_file when given).
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "ingest/pipeline.h"
#include "schema/report.h"

struct trpt_pull_source {
	const char *name; /* the configuration section's name */
	const char *url;  /* https:// only */
	/* Sent as "Authorization: Bearer" to the URL's own scheme, host and
	 * port only (never to index entries elsewhere). Borrowed; may be
	 * NULL. */
	const char *bearer_token;
	const char *ca_file;      /* PEM bundle, or NULL for the system's */
	unsigned connect_timeout; /* seconds */
	unsigned timeout;         /* seconds for one whole transfer */
	unsigned retries;         /* further attempts after a failed one */
	unsigned retry_delay_ms;  /* first backoff, doubled each time */
	size_t max_body;          /* bytes of one resource */
	size_t max_entries;       /* URLs in one index */
};

/* Defaults: 10 s to connect, 60 s a transfer, 3 retries from 1 s. */
void trpt_pull_source_default(
    struct trpt_pull_source *src, const struct trpt_limits *lim);

enum trpt_pull_result {
	TRPT_PULL_FETCHED,      /* a report body was run through the pipeline */
	TRPT_PULL_NOT_MODIFIED, /* 304: nothing to do */
	TRPT_PULL_INDEX,        /* an index; its entries follow */
	TRPT_PULL_FAILED        /* gave up on this URL (reason says why) */
};

struct trpt_pull_event {
	const char *source; /* trpt_pull_source.name */
	const char *url;
	enum trpt_pull_result result;
	long status;        /* last HTTP status, 0 if none */
	size_t entries;     /* TRPT_PULL_INDEX: number of entries */
	const char *reason; /* TRPT_PULL_FAILED */
};

struct trpt_pull_stats {
	uint64_t fetched;
	uint64_t not_modified;
	uint64_t indexes;
	uint64_t failed;
};

/*
 * Fetches src and feeds what it finds to p (whose database also holds the
 * http_state rows).  on_fetch (may be NULL) hears about each URL.  A URL
 * that fails (404, a network error after the retries, a body over the
 * cap) does not stop the others: the run goes on and then returns that
 * first failure's code and message (TRPT_EIO, TRPT_ETEMP, TRPT_ELIMIT,
 * TRPT_ENOTFOUND).  A pipeline error (TRPT_EDB, TRPT_ETEMP, TRPT_ENOMEM)
 * stops the run at once.  stats (may be NULL) is added to.
 */
int trpt_pull_run(const struct trpt_pull_source *src, struct trpt_pipeline *p,
    void (*on_fetch)(void *arg, const struct trpt_pull_event *ev), void *arg,
    struct trpt_pull_stats *stats, struct trpt_err *err);

/*
 * Tells whether body is an index: on TRPT_OK *out holds its entries
 * (verbatim, unresolved); TRPT_ENOTFOUND means it is not an index (a
 * report, or anything else, for the pipeline to judge); TRPT_EPARSE an
 * index that is malformed; TRPT_ELIMIT one with more than max entries.
 */
int trpt_pull_parse_index(const char *body, size_t len, size_t max,
    struct trpt_strlist *out, struct trpt_err *err);

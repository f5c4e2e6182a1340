#pragma once
/*
 * What an HTTPS pull source last got from each URL (table http_state,
 * migrations/sqlite/0002_sources.sql): the conditional-request validators, so
 * that an unchanged resource costs one 304, and the last status.
 */

#include <stdint.h>

#include "common/err.h"

struct trpt_db;

/* The validators kept for a URL; each NULL when none.  Owned. */
struct trpt_pull_state {
	char *etag;
	char *last_modified;
};

/*
 * Reads the validators of (source, url) into *out (both NULL when nothing
 * is kept).  A busy database gives TRPT_ETEMP.  Free with
 * trpt_pull_state_clear.
 */
int trpt_pull_state_get(struct trpt_db *db, const char *source, const char *url,
    struct trpt_pull_state *out, struct trpt_err *err);

/* Frees the strings of st and sets them to NULL. */
void trpt_pull_state_clear(struct trpt_pull_state *st);

/*
 * Records the outcome of a fetch of (source, url): the HTTP status and
 * the time.  The validators etag and last_modified (each may be NULL)
 * replace the kept ones only when save_validators is set (the body was
 * committed); otherwise the old ones stay.
 */
int trpt_pull_state_put(struct trpt_db *db, const char *source, const char *url,
    long status, int save_validators, const char *etag,
    const char *last_modified, struct trpt_err *err);

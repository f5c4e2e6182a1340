#pragma once
/*
 * Live-check findings stored as evidence (table live_checks): what the
 * check of an MX host found, and when.  The findings come from check/ as
 * plain values; alerts read the latest per MX host back.
 */

#include <stdint.h>

#include "common/err.h"
#include "schema/db.h"

/* One stored finding; the strings are borrowed (see each function). */
struct trpt_livecheck_row {
	const char *domain;
	const char *mx;          /* "" for the domain as a whole */
	int64_t checked_at;      /* seconds since the epoch */
	const char *result_type; /* RFC 8460 type, "ok" or "problem" */
	const char *detail;
};

/* Stores one finding.  TRPT_ETEMP when the database stayed busy. */
int trpt_livecheck_add(struct trpt_db *db, const struct trpt_livecheck_row *r,
    struct trpt_err *err);

/*
 * Calls fn, in (mx, row) order, for the findings of the latest check of
 * each MX host of domain made at or after since, at most max rows.  The
 * strings in the row are valid only during the call; fn returns TRPT_OK
 * to go on.
 */
int trpt_livecheck_latest(struct trpt_db *db, const char *domain, int64_t since,
    int max, int (*fn)(void *arg, const struct trpt_livecheck_row *r),
    void *arg, struct trpt_err *err);

#pragma once
/*
 * What the database holds, for `stats`: per organisation and policy
 * domain the reports and sessions (a domain counted once per report, by
 * its largest policy: Microsoft lists the same sessions under sts and
 * tlsa), the totals, and the DKIM verdicts.  Only reads.
 */

#include <stdint.h>

#include "common/err.h"

struct trpt_db;

struct trpt_stats_domain {
	const char *org;    /* borrowed, valid during the call */
	const char *domain; /* "" when unknown */
	int64_t reports;
	int64_t successful, failed;
	int64_t first_day, last_day;
};

/*
 * Calls fn for each (organisation, policy domain) of the counted reports,
 * in that order.  fn returns TRPT_OK to go on; anything else stops and is
 * returned.
 */
int trpt_stats_domains(struct trpt_db *db,
    int (*fn)(void *arg, const struct trpt_stats_domain *d), void *arg,
    struct trpt_err *err);

struct trpt_stats_totals {
	int64_t reports;      /* counted reports */
	int64_t quarantined;  /* inputs in quarantine */
	int64_t duplicates;   /* copies received again */
	int64_t conflicts;    /* counted reports with conflicting copies */
	int64_t extra_copies; /* conflicting copies not counted */
};

int trpt_stats_totals(
    struct trpt_db *db, struct trpt_stats_totals *out, struct trpt_err *err);

/* DKIM (RFC 8460 §3) of the stored reports and of the quarantine. */
struct trpt_stats_dkim {
	int64_t pass_aligned, pass_unaligned, fail, none, temperror;
	int64_t unverified;  /* not e-mail, or [dkim] require = no */
	int64_t released;    /* by an operator (reprocess --accept-unsigned) */
	int64_t quarantined; /* inputs refused for DKIM */
	int64_t waiting;     /* of those, waiting for a key (temporary) */
};

int trpt_stats_dkim(
    struct trpt_db *db, struct trpt_stats_dkim *out, struct trpt_err *err);

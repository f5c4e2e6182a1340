#pragma once
/*
 * The live check of what an alert names, stored as its evidence: used by
 * `alerts --recheck` and by `run` when an alert opens.
 */

#include <stdint.h>

#include "check/check.h"
#include "common/err.h"
#include "report/alert.h"
#include "schema/db.h"

/*
 * Held around the database writes only, never around the network (run
 * has one writer connection shared by threads); NULL: no lock.
 */
struct trpt_recheck_lock {
	void (*lock)(void *arg);
	void (*unlock)(void *arg);
	void *arg;
};

/*
 * Checks the domain of al (for a sender's alert, each of its domains) with
 * the settings cc, and stores each MX host's findings through
 * schema/livecheck.h: every published MX host (the hosts that failed in
 * the reports among them; a reported host the domain no longer publishes
 * gets a finding of its own, and is not contacted).  Kinds without MX
 * hosts to test (silent, recovery) are skipped.  *checked (may be NULL)
 * is the number of domains checked.  A domain whose check could not run
 * (DNS did not answer) fails with TRPT_ETEMP after the others were done.
 */
int trpt_recheck_alert(struct trpt_db *db, const struct trpt_recheck_lock *lk,
    const struct trpt_check_config *cc, const struct trpt_alert *al,
    size_t *checked, struct trpt_err *err);

/* Checks one domain and stores its findings, as above. */
int trpt_recheck_domain(struct trpt_db *db, const struct trpt_recheck_lock *lk,
    const struct trpt_check_config *cc, const char *domain,
    const struct trpt_alert_items *reported_mx, struct trpt_err *err);

/* Stores the findings of r (one transaction), as above. */
int trpt_recheck_store(struct trpt_db *db, const struct trpt_check_result *r,
    const struct trpt_alert_items *reported_mx, struct trpt_err *err);

#pragma once
/*
 * Alerts over the rollups (read only):
 *  - drop: a sender's or a domain's daily success rate fell at least
 *    drop_threshold below its own trailing baseline (the baseline_days
 *    before, drop days excluded), on a day with at least min_sessions;
 *    consecutive drop days are one alert, open until it recovers;
 *  - recovery: the first day after a drop whose rate is back within half
 *    the threshold of the baseline;
 *  - new-type: a failure result type a domain never had before, with at
 *    least min_history_days of data before it;
 *  - silent: a sender with at least silence_min_reports report days has
 *    not reported for longer than its own rhythm allows: more than
 *    max(silence_min_days, 2 x its median gap + 1, its 90th-percentile
 *    gap + 2) days (senders such as Microsoft report only on days they
 *    sent mail);
 *  - testing: an MTA-STS policy in testing mode with failed sessions
 *    (fix them before switching to enforce);
 *  - collection: no report at all was received for more than
 *    collection_days days (a broken mailbox, source or DNS record).
 * A drop whose subject stops sending data for recent_days is closed as
 * stale ("no longer reported") rather than left open for ever.
 * Each alert carries its evidence (rates, sessions, days, and the result
 * types, MX hosts, sending IPs and senders or domains with the most
 * failed sessions).
 */

#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "report/trend.h"
#include "schema/db.h"

struct trpt_alert_config {
	double drop_threshold;    /* fraction, default 0.05 (5 points) */
	int64_t min_sessions;     /* per judged day, default 50 */
	int64_t baseline_days;    /* default 14 */
	int64_t min_history_days; /* before a type counts as new, default 7 */
	int64_t recent_days;      /* new-type/testing open while seen in these
				     last days, default 7 */
	int64_t silence_min_days; /* default 3 */
	int64_t silence_min_reports; /* default 5 */
	/* collection: no report at all received for more than this many
	 * days (the mailbox or the DNS record is broken); 0 (the default
	 * here): not checked. */
	int64_t collection_days;
};

void trpt_alert_config_init(struct trpt_alert_config *c);

enum trpt_alert_kind {
	TRPT_ALERT_DROP,
	TRPT_ALERT_RECOVERY,
	TRPT_ALERT_NEW_TYPE,
	TRPT_ALERT_SILENT,
	TRPT_ALERT_TESTING,
	TRPT_ALERT_COLLECTION
};

/* "drop", "recovery", "new-type", "silent", "testing", "collection" */
const char *trpt_alert_kind_name(enum trpt_alert_kind k);

struct trpt_alert_item {
	char *name; /* "" for none (e.g. failures without details) */
	int64_t failed;
};

struct trpt_alert_items {
	struct trpt_alert_item *v;
	size_t n;
};

#define TRPT_ALERT_TOP 5 /* items kept per evidence list */

struct trpt_alert {
	enum trpt_alert_kind kind;
	int open;
	/* Closed because its data stopped: a drop whose subject sent no
	 * data for recent_days ("no longer reported"), not a recovery. */
	int stale;
	int sender;    /* 1: subject is an organisation, 0: a domain;
			  collection: 0 with subject "" (every report) */
	char *subject; /* organisation or policy domain */
	char *type;    /* new-type: the result type; else NULL */
	int64_t first_day, last_day;
	double rate_before, rate_after; /* -1 when not applicable */
	int64_t sessions_before, sessions_after, failed_after;
	int64_t gap_days, limit_days; /* silent: median gap, the limit;
					 collection: days without a report,
					 the limit */
	struct trpt_alert_items types, mx, ips;
	struct trpt_alert_items others; /* domains of a sender, senders of
					   a domain */
	/* Live-check evidence (schema/livecheck.h): the latest finding per
	 * MX host of its domain(s) checked since the alert's first day, as
	 * "MX: TYPE: detail, live check at TIME"; live_ok when every one
	 * of them passed (the alert still closes only on reports). */
	char **live;
	size_t nlive;
	int live_ok;
};

struct trpt_alerts {
	struct trpt_alert *v;
	size_t n, cap;
	int64_t today;
};

/*
 * Detects alerts as of day today (days since the epoch; normally the
 * current UTC day) and keeps those whose last day is >= since_day, or
 * that are open.  Sorted by kind, subject and first day.
 * Caller frees *out.
 */
int trpt_alert_detect(struct trpt_db *db, const struct trpt_alert_config *c,
    int64_t since_day, int64_t today, struct trpt_alerts **out,
    struct trpt_err *err);
void trpt_alert_free(struct trpt_alerts **ap);

size_t trpt_alert_open_count(const struct trpt_alerts *a);

/*
 * Writes one alert (TABLE: human-readable block with the probable causes
 * and fixes per result type; JSON: one object) or all (JSON: an array).
 */
void trpt_alert_write_one(
    const struct trpt_alert *al, enum trpt_trend_format fmt, FILE *out);
int trpt_alert_write(const struct trpt_alerts *a, enum trpt_trend_format fmt,
    FILE *out, struct trpt_err *err);

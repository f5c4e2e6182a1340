#pragma once
/*
 * The weekly summary e-mail: an RFC 5322 message, MIME
 * multipart/alternative with a text/plain and a self-contained text/html
 * part (inline styles only: no external images, fonts or scripts), both
 * UTF-8 in base64.
 *
 * Subject (RFC 2047 when not ASCII): the domains needing action first,
 * the share of sessions encrypted successfully that week and its change
 * against the week before, and the number of alerts.
 *
 * Built around action: first one overview row per domain (share, change,
 * failures, open alerts), the ones needing action first; then details
 * only for domains with failures or alerts (a bar per day, the senders
 * and MX hosts with the most failures, each failure type with its MX
 * hosts and what the senders said, the failure-reason-codes, and that
 * domain's alerts); then the senders' alerts that name a listed domain;
 * then each failure type's probable cause and fix, once.  Details stop
 * at a size cap with a note naming the domains left out.  The HTML part
 * uses tables and inline styles only (no SVG, no image), as mail
 * clients render it.  Counts follow the trends rules (report/trend.h),
 * from the rollups.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "report/alert.h"
#include "schema/db.h"

struct trpt_summary_opts {
	int64_t monday;     /* first day of the ISO week (days since epoch) */
	const char *domain; /* only this domain; NULL: every domain with
			       sessions that week */
	const char *from;   /* From address (addr-spec) */
	const char *const *to; /* To addresses */
	size_t nto;
	int64_t date;                           /* Date header, UTC seconds */
	const struct trpt_alert_config *alerts; /* NULL: defaults */
	size_t max_domains; /* domains shown in full (0: 100); the others
			       are listed with their figures only */
	size_t max_text;    /* the text part stops giving details past this
			       many bytes (0: 64 kB), with a note */
};

/*
 * Builds the message into *out (CRLF line ends, NUL-terminated, *len
 * bytes).  A week without sessions still gives a message that says so.
 * TRPT_EINVAL for an address with CR, LF or no '@'.  Caller frees *out.
 */
int trpt_summary_build(struct trpt_db *db, const struct trpt_summary_opts *o,
    char **out, size_t *len, struct trpt_err *err);

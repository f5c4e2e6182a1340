#pragma once
/*
 * Alert delivery: incidents made from the detected alerts, and their
 * messages, sent by mail (SMTP, report/mail_send.h) and to webhooks
 * (a JSON POST with libcurl: a generic body, Slack's or Teams' format).
 *
 * An incident is what one notification is about.  The domain view and
 * the sender-wide view of one drop (the sender's drop lists the domain
 * among its failing domains, and their days overlap) are one incident
 * named after the domain, naming both.  Its key is stable while it
 * lasts: kind, scope, subject, type and first day, e.g.
 * "drop/domain/example.org//2026-11-02".  Recoveries are not incidents:
 * they close the drop.
 *
 * What was sent is recorded by the caller (schema/notify_state.h).
 */

#include <stddef.h>

#include "common/err.h"
#include "report/alert.h"
#include "report/mail_send.h"

#define TRPT_INCIDENT_KEY   300
#define TRPT_INCIDENT_VIEWS 8

struct trpt_incident {
	char key[TRPT_INCIDENT_KEY];
	int open;
	const struct trpt_alert *alert; /* the main view, borrowed */
	/* Other views of the same incident (sender-wide drops), borrowed. */
	const struct trpt_alert *views[TRPT_INCIDENT_VIEWS];
	size_t nviews;
};

/*
 * The incidents of a (borrowed: a must outlive *out).  Caller frees *out
 * with free().
 */
int trpt_notify_incidents(const struct trpt_alerts *a,
    struct trpt_incident **out, size_t *n, struct trpt_err *err);

/*
 * The message of an incident: *summary is one line (without a prefix),
 * *text the body: the summary, then each view with its evidence and the
 * probable causes and fixes.  event is "open" or "close".  Caller frees
 * both.
 */
int trpt_notify_render(const struct trpt_incident *inc, const char *event,
    char **summary, char **text, struct trpt_err *err);

/*
 * The close of an incident that is no longer detected at all (a silent
 * sender reporting again, reports arriving again): the summary of its
 * open message, and why.  Caller frees both.
 */
int trpt_notify_render_gone(const char *open_summary, char **summary,
    char **text, struct trpt_err *err);

enum trpt_webhook_format {
	TRPT_WEBHOOK_GENERIC = 0, /* {"event", "incident", "summary", "text",
				     "alerts": [the alerts' JSON]} */
	TRPT_WEBHOOK_SLACK,       /* {"text": ...} (incoming webhooks) */
	TRPT_WEBHOOK_TEAMS        /* an Office 365 connector MessageCard */
};

/* "generic", "slack", "teams" to the enum; TRPT_EINVAL otherwise. */
int trpt_notify_webhook_format(
    const char *name, enum trpt_webhook_format *out, struct trpt_err *err);

/*
 * The JSON body of a webhook (built with jansson).  inc may be NULL (an
 * incident no longer detected): then the alerts array is empty.  Caller
 * frees *json.
 */
int trpt_notify_webhook_body(enum trpt_webhook_format fmt, const char *event,
    const char *key, const char *summary, const char *text,
    const struct trpt_incident *inc, char **json, struct trpt_err *err);

struct trpt_webhook {
	const char *url;     /* https:// (http:// only to loopback) */
	const char *ca_file; /* NULL: the system's CAs */
	long timeout;        /* seconds; 0: 30 */
};

/*
 * POSTs json (application/json).  A 2xx answer is success; anything else
 * (and any network failure) is TRPT_ETEMP with the status or curl's
 * message, the URL shown without credentials.
 */
int trpt_notify_webhook_post(
    const struct trpt_webhook *w, const char *json, struct trpt_err *err);

/*
 * Sends a plain-text mail (UTF-8) with this subject and body to m's
 * recipients.
 */
int trpt_notify_mail(const struct trpt_mail *m, const char *subject,
    const char *text, struct trpt_err *err);

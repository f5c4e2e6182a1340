#pragma once
/*
 * What was notified: per incident, event ("open", "close", "sent") and
 * channel, whether it went out (table notifications,
 * 0010_notifications.sql).  Recorded right after a channel accepted a
 * message, so a restart sends nothing twice (a crash between the two
 * sends that one message again: at least once, never lost).
 */

#include "common/err.h"
#include "schema/db.h"

/* *sent is 1 when (incident, event, channel) is recorded, else 0. */
int trpt_notify_state_sent(struct trpt_db *db, const char *incident,
    const char *event, const char *channel, int *sent, struct trpt_err *err);

/* Records (incident, event, channel) with a one-line summary; recording
 * it again changes nothing. */
int trpt_notify_state_record(struct trpt_db *db, const char *incident,
    const char *event, const char *channel, const char *summary,
    struct trpt_err *err);

/*
 * Calls fn for each incident of channel whose "open" was sent and whose
 * "close" was not, with the summary of the open message.  fn returns
 * TRPT_OK to go on.
 */
int trpt_notify_state_unclosed(struct trpt_db *db, const char *channel,
    int (*fn)(void *arg, const char *incident, const char *summary), void *arg,
    struct trpt_err *err);

#pragma once
/*
 * The scheduler of the run command: alert evaluation after new data (and
 * every [notify] interval), alert delivery, and the weekly summary at
 * [summary] send_at.  A thread of its own, which takes the daemon's
 * database lock only around database work, never around a send.
 *
 * Channels: the journal (always: one line when an alert opens or
 * closes), "mail" to [notify] mail_to through the relay of [summary], and
 * "webhook:NAME" for each [webhook "NAME"].  Each incident is sent once
 * per channel when it opens and once when it closes, recorded in the
 * database (schema/notify_state.h) right after the channel accepted it,
 * so a restart sends nothing twice; a failed send is retried a minute
 * later.
 */

#include "collector/cli.h"
#include "schema/db.h"

struct trpt_run_notify;

struct trpt_run_notify_lock {
	void (*lock)(void *arg);
	void (*unlock)(void *arg);
	void *arg;
};

/*
 * Checks [notify], [webhook "NAME"], [alerts] and [summary] send_at
 * without starting anything.  Prints one line; returns an enum trpt_exit.
 */
int trpt_run_notify_check(struct trpt_cli *cli);

/*
 * Starts the scheduler over db (borrowed, as are cli and lk, until
 * trpt_run_notify_free).  It evaluates at once.  Returns an enum
 * trpt_exit (printing one line on failure).
 */
int trpt_run_notify_new(struct trpt_cli *cli, struct trpt_db *db,
    const struct trpt_run_notify_lock *lk, struct trpt_run_notify **out);

/* New data was stored: evaluate soon.  Safe from any thread. */
void trpt_run_notify_poke(struct trpt_run_notify *n);

/* Stops the thread (a send in progress finishes) and frees; NULL ok. */
void trpt_run_notify_free(struct trpt_run_notify **np);

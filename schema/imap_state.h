#pragma once
/*
 * Where each IMAP mailbox was left: per (source, mailbox), the UIDVALIDITY
 * and the highest UID whose messages are committed (table imap_state,
 * 0002_sources.sql).
 *
 * And who is fetching a source now: a lease row per source (table
 * imap_lease, 0011_imap_lease.sql), so that several fetchers (`run` or
 * `fetch` processes, on one host or several) against one database never
 * work on the same mailboxes at once.  A holder is "HOST:PID"; a lease
 * ends at expires_at (UTC seconds) unless renewed, so a fetcher that died
 * holding it blocks the source only until then.  Times come from the
 * fetchers' clocks, which must agree (NTP) to within a small part of the
 * lease's length.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "schema/db.h"

/*
 * Reads the state of (source, mailbox): *found is 0 when none is kept
 * (then *uidvalidity and *last_uid are untouched).  A busy database gives
 * TRPT_ETEMP.
 */
int trpt_imap_state_get(struct trpt_db *db, const char *source,
    const char *mailbox, int *found, uint32_t *uidvalidity, uint32_t *last_uid,
    struct trpt_err *err);

/* Records the state of (source, mailbox), replacing what was kept. */
int trpt_imap_state_put(struct trpt_db *db, const char *source,
    const char *mailbox, uint32_t uidvalidity, uint32_t last_uid,
    struct trpt_err *err);

#define TRPT_IMAP_HOLDER_LEN 300

/* Who holds a lease, when it is not the caller. */
struct trpt_imap_lease_owner {
	char holder[TRPT_IMAP_HOLDER_LEN]; /* "HOST:PID" */
	int64_t expires_at;                /* UTC seconds */
};

/*
 * Takes the lease of source for holder until expires_at, in one statement
 * (two fetchers asking at the same moment cannot both get it): when no
 * one holds it, when it expired (expires_at <= now), when holder has it
 * already (then it is renewed), or when it is held by stale (a holder the
 * caller knows to be dead: a process of this host that no longer runs;
 * NULL for none).  *taken is 1 then; else 0, and *owner (may be NULL)
 * says who holds it (holder "" if the lease went meanwhile).
 */
int trpt_imap_lease_take(struct trpt_db *db, const char *source,
    const char *holder, int64_t now, int64_t expires_at, const char *stale,
    int *taken, struct trpt_imap_lease_owner *owner, struct trpt_err *err);

/*
 * Moves the end of holder's lease of source to expires_at.  *held is 0
 * when holder no longer has it (it expired and another fetcher took it).
 */
int trpt_imap_lease_renew(struct trpt_db *db, const char *source,
    const char *holder, int64_t expires_at, int *held, struct trpt_err *err);

/* Gives up holder's lease of source (nothing if holder does not have it). */
int trpt_imap_lease_release(struct trpt_db *db, const char *source,
    const char *holder, struct trpt_err *err);

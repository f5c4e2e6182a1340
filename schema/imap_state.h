#pragma once
/*
 * Where each IMAP mailbox was left: per (source, mailbox), the UIDVALIDITY
 * and the highest UID whose messages are committed (table imap_state,
 * 0002_sources.sql).
 */

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

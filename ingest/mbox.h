#pragma once
/* mbox files (mboxo / mboxrd): one message after each "From " line. */

#include <stddef.h>

#include "common/err.h"

/* True when data starts with an mbox "From " separator line. */
int trpt_mbox_looks_like(const char *data, size_t len);

/*
 * Calls fn for each message in the mbox, with its bytes (the "From " line
 * removed, ">From " unquoted) and its 1-based number.  fn returns TRPT_OK
 * to go on or an error to stop, which is returned.  Memory use is bounded
 * by the largest message (max bytes; larger ones are passed with
 * TRPT_ELIMIT in toobig so the caller can reject them).
 *
 * A message is the lines after its "From " line up to the next line that
 * starts with "From " (mboxo and mboxrd), less the blank line an mbox puts
 * after each message.  One '>' is removed from lines matching ^>+From .
 * msg points into data or into a copy, is valid during the call only and
 * is not NUL-terminated.  When toobig is TRPT_ELIMIT, msg is the first max
 * bytes of the message as stored (not unquoted).  Empty data has no
 * messages; other data that does not start with "From " fails with
 * TRPT_EPARSE.  When fn stops the walk, err is left as fn left it.
 */
int trpt_mbox_each(const char *data, size_t len, size_t max,
    int (*fn)(void *arg, int n, const char *msg, size_t msglen, int toobig),
    void *arg, struct trpt_err *err);

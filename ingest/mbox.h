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
 */
int trpt_mbox_each(const char *data, size_t len, size_t max,
    int (*fn)(void *arg, int n, const char *msg, size_t msglen, int toobig),
    void *arg, struct trpt_err *err);

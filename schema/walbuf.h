#pragma once
/*
 * A SQLite VFS over the default one that gathers the writes to a WAL file
 * and hands them to the file system as one write at each commit.
 *
 * SQLite writes every page of a commit to the log as two writes (the
 * frame's 24-byte header, then the page): about 12 write system calls for
 * each report serve stores, a quarter of its CPU and half of its one
 * committing thread (docs/PERFORMANCE.md, serve).  Here the writes that
 * follow one another are kept in a buffer (capped) and written at once
 * when the commit frame is complete, inside that frame's own write, so
 * that a failure (a full disk, an I/O error) fails the commit as before
 * and a commit is in the file before SQLite publishes it to readers and
 * returns: the same crash safety as without.  Any other use of the log
 * (read, sync, truncate, size, close, a write elsewhere) writes the buffer
 * out first.  Other files pass straight through.
 */

#include "common/err.h"

/* The name to give sqlite3_open_v2 (registered by trpt_walbuf_register). */
#define TRPT_WALBUF_VFS "trpt-walbuf"

/*
 * Registers the VFS once per process (thread-safe; later calls only
 * return the first outcome).  TRPT_EDB when SQLite has no default VFS or
 * refuses it.
 */
int trpt_walbuf_register(struct trpt_err *err);

/* Writes the log buffers have made to the underlying files, and the
 * writes they were given (for tests and benchmarks). */
struct trpt_walbuf_stats {
	unsigned long long writes_in;  /* xWrite calls on log files */
	unsigned long long writes_out; /* writes passed down */
};

void trpt_walbuf_stats(struct trpt_walbuf_stats *out);

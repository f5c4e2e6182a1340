#pragma once
/*
 * An output file named on the command line (-o FILE), written whole:
 *
 * - "-" is standard output;
 * - a path that names a regular file, or nothing yet, is written to a new
 *   file made with mkstemp (O_CREAT|O_EXCL: a symlink planted anywhere is
 *   never followed) in the same directory, and renamed over the path by
 *   trpt_outfile_commit: a reader never sees half a file, and a failed
 *   run leaves the old file as it was;
 * - anything else (a FIFO, a terminal, /dev/stdout, a device) is opened
 *   and written straight, never replaced by a regular file.
 *
 * The new file takes the mode of the file it replaces, else 0666 less the
 * umask, as a file made with fopen would.
 */

#include <stdio.h>

#include "common/err.h"

struct trpt_outfile {
	FILE *f;    /* write here */
	char *path; /* as given */
	char *tmp;  /* the temporary file, or NULL when written straight */
	int is_stdout;
};

/* Opens path (see above).  On failure nothing is left behind. */
int trpt_outfile_open(
    const char *path, struct trpt_outfile *o, struct trpt_err *err);

/*
 * Flushes and closes o; a temporary file is synced and renamed over the
 * path.  On failure the temporary file is removed.  Either way o is done.
 */
int trpt_outfile_commit(struct trpt_outfile *o, struct trpt_err *err);

/* Closes o without replacing anything (after an error).  Accepts a closed
 * or never opened o (all zero). */
void trpt_outfile_abort(struct trpt_outfile *o);

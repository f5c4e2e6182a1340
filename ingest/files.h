#pragma once
/*
 * Files, directories (recursively, Maildir cur/ and new/ included) and
 * standard input as sources for the pipeline.
 */

#include "common/err.h"
#include "ingest/pipeline.h"

/*
 * Feeds path to the pipeline: "-" is standard input, a directory is walked
 * (sorted, hidden entries and Maildir tmp/ skipped), a file is read whole
 * (up to the message cap; a larger one is rejected and its first
 * max_message bytes are quarantined, the file itself being left in place),
 * except an mbox larger than the cap, which is read message by message,
 * each message within the cap.  I/O
 * errors on one file are reported as rejections of that file; only database
 * errors stop the run.
 */
int trpt_files_ingest(
    struct trpt_pipeline *p, const char *path, struct trpt_err *err);

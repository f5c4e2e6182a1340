#pragma once
/*
 * A deterministic corpus of TLS reports for benchmarks and the crash-safety
 * and concurrency tests: realistic shapes (small daily reports with 1-3
 * policies and 0-5 failure details; large reports of several MB with
 * thousands of failure details), Google-, Microsoft- and UUID-style
 * report-ids, written as RFC 8460 .json.gz files or as report e-mails.
 *
 * The same seed and index give the same bytes on every machine; report n
 * has a (organization-name, report-id) no other index has.  Indexes
 * k*1000000 .. k*1000000+999999 cover 90 days, each block of a million
 * the 90 days after the previous block.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

enum corpus_shape {
	CORPUS_SMALL, /* a daily report: 1-3 policies, 0-5 failure details */
	CORPUS_LARGE  /* about `large_bytes` of JSON, thousands of details */
};

/* What a generated report holds, for checking what was stored. */
struct corpus_counts {
	uint64_t reports;
	uint64_t policies;
	uint64_t failures;
	uint64_t json_bytes; /* uncompressed */
	uint64_t file_bytes; /* as written (.json.gz or .eml) */
};

/*
 * The JSON of report n (appended to out).  large_bytes is the target size
 * of a CORPUS_LARGE report.  counts (may be NULL) is added to.
 */
int corpus_report_json(uint64_t seed, uint64_t n, enum corpus_shape shape,
    size_t large_bytes, struct trpt_buf *out, struct corpus_counts *counts,
    struct trpt_err *err);

/* The RFC 8460 file name of report n (no directory), e.g.
 * "google.com!d17.example!1795132800!1795219199!001.json.gz". */
void corpus_file_name(uint64_t seed, uint64_t n, char *name, size_t size);

/* gzip (RFC 1952) of len bytes, appended to out. */
int corpus_gzip(
    const void *data, size_t len, struct trpt_buf *out, struct trpt_err *err);

/* A multipart/report e-mail carrying gz as an application/tlsrpt+gzip
 * part (base64), appended to out. */
int corpus_email(uint64_t seed, uint64_t n, const char *filename,
    const void *gz, size_t gzlen, struct trpt_buf *out, struct trpt_err *err);

/*
 * Writes reports first .. first+count-1 into dir (which must exist), as
 * .json.gz files, or as .eml files when email is set.  counts is added to.
 */
int corpus_write_dir(const char *dir, uint64_t seed, uint64_t first,
    uint64_t count, enum corpus_shape shape, size_t large_bytes, int email,
    struct corpus_counts *counts, struct trpt_err *err);

/*
 * Writes count inputs that must be rejected (bad-N.json, bad-N.json.gz:
 * broken JSON, missing fields, negative counts, corrupt gzip), each with
 * distinct bytes, into dir.
 */
int corpus_write_bad(
    const char *dir, uint64_t seed, uint64_t count, struct trpt_err *err);

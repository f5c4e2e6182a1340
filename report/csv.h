#pragma once
/*
 * CSV output as RFC 4180 describes it: fields separated by commas, rows
 * ended by CRLF, and a field in double quotes (with quotes doubled) when it
 * holds a comma, a quote, CR or LF.  Text is written as is (UTF-8).
 *
 * Report data comes from anyone who can send mail, so a text cell that a
 * spreadsheet would run as a formula (it starts with '=', '+', '-', '@',
 * TAB or CR) is prefixed with a single quote (OWASP "CSV injection").
 *
 * Errors are sticky, like a stdio stream's: the field functions never fail
 * on their own, and trpt_csv_end_row reports the first failure of the row
 * or of an earlier one.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/err.h"

struct trpt_csv {
	FILE *out;               /* borrowed */
	size_t nfields;          /* fields written in the current row */
	struct trpt_err err;     /* the first failure; err.code 0 if none */
	struct trpt_buf scratch; /* for decoding list cells */
};

/* Starts writing to out, which stays the caller's. */
void trpt_csv_init(struct trpt_csv *c, FILE *out);
/* Releases what c holds (not out). */
void trpt_csv_free(struct trpt_csv *c);

/* A text cell, guarded and quoted as needed; NULL is an empty cell. */
void trpt_csv_field(struct trpt_csv *c, const char *s);
/* The same for len bytes at s. */
void trpt_csv_field_n(struct trpt_csv *c, const char *s, size_t len);
/* An integer cell (never guarded: "-1" is a number here). */
void trpt_csv_int(struct trpt_csv *c, int64_t v);
/* A time as "YYYY-MM-DDTHH:MM:SSZ"; outside the years 0000 to 9999, the
 * number of seconds. */
void trpt_csv_date(struct trpt_csv *c, int64_t t);
/*
 * A JSON array of strings (as stored for policy-strings and mx-host) as one
 * cell of the values joined by '|'.  NULL or "[]" is an empty cell.
 * Anything but an array of strings fails the row with TRPT_EPARSE.
 */
void trpt_csv_list(struct trpt_csv *c, const char *json);

/*
 * Ends the row with CRLF.  Returns TRPT_OK, or the first failure so far:
 * TRPT_EIO for a write error, TRPT_EPARSE for a bad list cell,
 * TRPT_ENOMEM.
 */
int trpt_csv_end_row(struct trpt_csv *c, struct trpt_err *err);

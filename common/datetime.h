#pragma once
/*
 * Date and time parsing for report data and command-line arguments.
 * All times are int64_t seconds since 1970-01-01T00:00:00Z.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Set in *flags by trpt_datetime_parse for lenient forms it accepted. */
#define TRPT_DT_NO_OFFSET 0x1 /* no Z or +hh:mm: taken as UTC */
#define TRPT_DT_FRACTION  0x2 /* fractional seconds were dropped */
#define TRPT_DT_OFFSET    0x4 /* a non-zero offset was normalised */
#define TRPT_DT_DATE_ONLY 0x8 /* a date without a time: midnight UTC */

/*
 * The window a report's date-range must lie in: not before 2016-01-01
 * (the first TLSRPT drafts are of 2016, and RFC 8460's own example report,
 * which senders under test still send, is dated 2016-04-01; the RFC is of
 * 2018), not more than TRPT_DATE_AHEAD seconds past the
 * time it is read (clocks differ a little, never by years).  Dates outside
 * it are refused, and never widen the default range of trends or exports.
 */
#define TRPT_DATE_EARLIEST INT64_C(1451606400) /* 2016-01-01T00:00:00Z */
#define TRPT_DATE_AHEAD    INT64_C(259200)     /* 3 days */

/*
 * Parses an RFC 3339 date-time, leniently: the offset may be missing (UTC),
 * 'T' may be a space or lower case, fractional seconds are allowed, and a
 * leap second 60 is read as 59.  flags (may be NULL) reports what was
 * lenient.  Fails with TRPT_EPARSE on anything else.
 */
int trpt_datetime_parse(
    const char *s, int64_t *out, unsigned *flags, struct trpt_err *err);

/*
 * Parses a date given by a user: "YYYY-MM-DD" (midnight UTC), a full
 * date-time as above, or "now" / "-Nd" for N days before now.
 */
int trpt_datetime_parse_user(
    const char *s, int64_t now, int64_t *out, struct trpt_err *err);

/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). */
void trpt_datetime_format(int64_t t, char *buf, size_t len);

/* Formats t as "YYYY-MM-DD". */
void trpt_datetime_format_day(int64_t t, char *buf, size_t len);

/* Days since the epoch for a civil date, and the reverse (Hinnant). */
int64_t trpt_datetime_days_from_civil(int64_t y, unsigned m, unsigned d);
void trpt_datetime_civil_from_days(
    int64_t z, int64_t *y, unsigned *m, unsigned *d);

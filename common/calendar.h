#pragma once
/*
 * The calendar of the collector: UTC days and Monday-based weeks, one
 * helper each (trends, alerts, the summary, the dashboard, the rollups
 * and the command line all count on them).
 *
 * A day is a number of days since 1970-01-01 (UTC seconds / 86400,
 * rounded down, also before 1970).  A week is a number of Monday-based
 * weeks: week 0 runs from Monday 1969-12-29 (1970-01-01 was a Thursday),
 * so the week of day d is floor((d + 3) / 7) and its Monday is
 * week * 7 - 3.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* The day time t (UTC seconds) falls on: floor(t / 86400). */
int64_t trpt_calendar_day(int64_t t);

/* The first day that starts at or after t: ceil(t / 86400). */
int64_t trpt_calendar_day_ceil(int64_t t);

/* The week of a day, and the Monday (first day) of a week. */
int64_t trpt_calendar_week(int64_t day);
int64_t trpt_calendar_week_monday(int64_t week);

/* The ISO 8601 year and week number (1..53) of a day. */
void trpt_calendar_iso_week(int64_t day, int64_t *year, unsigned *week);

/* "YYYY-MM-DD" of a day (buf of at least 11 bytes). */
void trpt_calendar_day_label(int64_t day, char *buf, size_t len);

/* "YYYY-Www", the ISO week of a week (buf of at least 11 bytes). */
void trpt_calendar_week_label(int64_t week, char *buf, size_t len);

/*
 * Parses "YYYY-Www" (ISO year and week; 'w' may be lower case) into the
 * day of that week's Monday.  TRPT_EINVAL for anything else, or a week 53
 * that the year does not have.
 */
int trpt_calendar_parse_week(
    const char *s, int64_t *monday, struct trpt_err *err);

#include "common/calendar.h"

#include <stdio.h>

#include "common/datetime.h"

int64_t
trpt_calendar_day(int64_t t)
{
	return t >= 0 ? t / 86400 : -((-(t + 1)) / 86400) - 1;
}

int64_t
trpt_calendar_day_ceil(int64_t t)
{
	return t >= 0 ? (t + 86399) / 86400 : -(-t / 86400);
}

int64_t
trpt_calendar_week(int64_t day)
{
	/* 1970-01-01 was a Thursday: day + 3 counts from a Monday. */
	return day + 3 >= 0 ? (day + 3) / 7 : -((-(day + 3) + 6) / 7);
}

int64_t
trpt_calendar_week_monday(int64_t week)
{
	return week * 7 - 3;
}

void
trpt_calendar_iso_week(int64_t day, int64_t *year, unsigned *week)
{
	int64_t thursday, y, jan1;
	unsigned m, d;

	/* The ISO year is the year of the week's Thursday. */
	thursday = trpt_calendar_week_monday(trpt_calendar_week(day)) + 3;
	trpt_datetime_civil_from_days(thursday, &y, &m, &d);
	jan1 = trpt_datetime_days_from_civil(y, 1, 1);
	*year = y;
	*week = (unsigned)((thursday - jan1) / 7 + 1);
}

void
trpt_calendar_day_label(int64_t day, char *buf, size_t len)
{
	int64_t y;
	unsigned m, d;

	trpt_datetime_civil_from_days(day, &y, &m, &d);
	snprintf(buf, len, "%04lld-%02u-%02u", (long long)y, m, d);
}

void
trpt_calendar_week_label(int64_t week, char *buf, size_t len)
{
	int64_t y;
	unsigned w;

	trpt_calendar_iso_week(trpt_calendar_week_monday(week), &y, &w);
	snprintf(buf, len, "%04lld-W%02u", (long long)y, w);
}

int
trpt_calendar_parse_week(const char *s, int64_t *monday, struct trpt_err *err)
{
	int64_t y = 0, day, yy;
	unsigned w, ww;
	int i;

	for (i = 0; i < 4; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		y = y * 10 + (s[i] - '0');
	}
	if (s[4] != '-' || (s[5] != 'W' && s[5] != 'w') || s[6] < '0' ||
	    s[6] > '9' || s[7] < '0' || s[7] > '9' || s[8] != '\0')
		goto bad;
	w = (unsigned)((s[6] - '0') * 10 + (s[7] - '0'));
	if (w < 1 || w > 53)
		goto bad;
	/* Week 1 holds January 4th. */
	day = trpt_calendar_week_monday(
		  trpt_calendar_week(trpt_datetime_days_from_civil(y, 1, 4))) +
	      (int64_t)(w - 1) * 7;
	trpt_calendar_iso_week(day, &yy, &ww);
	if (yy != y || ww != w)
		goto bad;
	*monday = day;
	return TRPT_OK;
bad:
	return trpt_err_set(err, TRPT_EINVAL,
	    "bad week \"%s\": expected YYYY-Www, e.g. 2026-W05", s);
}

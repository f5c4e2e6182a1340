#include "common/datetime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/calendar.h"

/* Howard Hinnant's algorithms: exact for the proleptic Gregorian calendar,
 * without timegm() and its dependence on the process time zone. */
int64_t
trpt_datetime_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void
trpt_datetime_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int
digits(const char **pp, int n, int *out)
{
	const char *p = *pp;
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*pp = p + n;
	*out = v;
	return 0;
}

static int
days_in_month(int y, int m)
{
	static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

int
trpt_datetime_parse(
    const char *s, int64_t *out, unsigned *flags, struct trpt_err *err)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 0;
	unsigned fl = 0;
	int64_t t;

	while (*p == ' ')
		p++;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
	    *p++ != '-' || digits(&p, 2, &d))
		goto bad;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		goto bad;
	if (*p == '\0' || (*p == ' ' && p[1] == '\0')) {
		fl |= TRPT_DT_DATE_ONLY | TRPT_DT_NO_OFFSET;
		goto done;
	}
	if (*p != 'T' && *p != 't' && *p != ' ')
		goto bad;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
		goto bad;
	if (*p == ':') {
		p++;
		if (digits(&p, 2, &sec))
			goto bad;
	}
	if (h > 23 || mi > 59 || sec > 60)
		goto bad;
	if (sec == 60)
		sec = 59; /* a leap second stays in its minute */
	if (*p == '.' || *p == ',') {
		p++;
		if (!isdigit((unsigned char)*p))
			goto bad;
		while (isdigit((unsigned char)*p))
			p++;
		fl |= TRPT_DT_FRACTION;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (digits(&p, 2, &oh))
			goto bad;
		if (*p == ':')
			p++;
		if (digits(&p, 2, &om) || oh > 23 || om > 59)
			goto bad;
		if (oh != 0 || om != 0)
			fl |= TRPT_DT_OFFSET;
	} else
		fl |= TRPT_DT_NO_OFFSET;
	while (*p == ' ')
		p++;
	if (*p != '\0')
		goto bad;
done:
	t = trpt_datetime_days_from_civil(y, (unsigned)mo, (unsigned)d) *
		86400 +
	    h * 3600 + mi * 60 + sec;
	t -= sign * (oh * 3600 + om * 60);
	*out = t;
	if (flags != NULL)
		*flags = fl;
	return TRPT_OK;
bad:
	return trpt_err_set(
	    err, TRPT_EPARSE, "not an RFC 3339 date-time: \"%.40s\"", s);
}

int
trpt_datetime_parse_user(
    const char *s, int64_t now, int64_t *out, struct trpt_err *err)
{
	long long n;
	char *end;

	if (strcmp(s, "now") == 0) {
		*out = now;
		return TRPT_OK;
	}
	if (s[0] == '-' && isdigit((unsigned char)s[1])) {
		n = strtoll(s + 1, &end, 10);
		if ((*end == 'd' && end[1] == '\0') && n < 100000) {
			*out = now - n * 86400;
			return TRPT_OK;
		}
		return trpt_err_set(err, TRPT_EINVAL,
		    "bad date \"%s\": expected YYYY-MM-DD, a date-time or -Nd",
		    s);
	}
	if (trpt_datetime_parse(s, out, NULL, NULL) != TRPT_OK)
		return trpt_err_set(err, TRPT_EINVAL,
		    "bad date \"%s\": expected YYYY-MM-DD, a date-time or -Nd",
		    s);
	return TRPT_OK;
}

void
trpt_datetime_format(int64_t t, char *buf, size_t len)
{
	int64_t days = trpt_calendar_day(t), y;
	int64_t rem = t - days * 86400;
	unsigned m, d;

	trpt_datetime_civil_from_days(days, &y, &m, &d);
	snprintf(buf, len, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m,
	    d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
}

void
trpt_datetime_format_day(int64_t t, char *buf, size_t len)
{
	trpt_calendar_day_label(trpt_calendar_day(t), buf, len);
}

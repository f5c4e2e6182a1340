/* common/calendar: days, Monday-based weeks and ISO weeks. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/calendar.h"
#include "common/datetime.h"
#include "common/err.h"

static void
test_calendar_day_floor_ceil(void **state)
{
	static const struct {
		int64_t t, floor, ceil;
	} cases[] = {
		{ 0, 0, 0 }, { 1, 0, 1 }, { 86399, 0, 1 }, { 86400, 1, 1 },
		{ 86401, 1, 2 }, { -1, -1, 0 }, { -86399, -1, 0 },
		{ -86400, -1, -1 }, { -86401, -2, -1 },
		{ INT64_C(1778544000), 20585, 20585 }, /* 2026-05-12 */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(trpt_calendar_day(cases[i].t), cases[i].floor);
		assert_int_equal(
		    trpt_calendar_day_ceil(cases[i].t), cases[i].ceil);
	}
}

static void
test_calendar_weeks(void **state)
{
	int64_t d;

	(void)state;
	/* 1970-01-01 was a Thursday: week 0 starts Monday 1969-12-29. */
	assert_int_equal(trpt_calendar_week(0), 0);
	assert_int_equal(trpt_calendar_week(-3), 0);
	assert_int_equal(trpt_calendar_week(-4), -1);
	assert_int_equal(trpt_calendar_week(3), 0);
	assert_int_equal(trpt_calendar_week(4), 1);
	assert_int_equal(trpt_calendar_week_monday(0), -3);
	for (d = -800; d < 800; d++) {
		int64_t m = trpt_calendar_week_monday(trpt_calendar_week(d));

		assert_true(m <= d && d < m + 7);
		/* A Monday: 3 days before a Thursday like day 0. */
		assert_int_equal(((m + 3) % 7 + 7) % 7, 0);
	}
}

/* Every day from 1900 to 2100 against the C library's %G-W%V. */
static void
test_calendar_iso_week_libc(void **state)
{
	int64_t d, y, from = trpt_datetime_days_from_civil(1900, 1, 1),
		      to = trpt_datetime_days_from_civil(2100, 12, 31);
	unsigned w;
	char ours[16], libc[16], label[16];
	struct tm tm;
	time_t t;

	(void)state;
	for (d = from; d <= to; d++) {
		t = (time_t)(d * 86400);
		assert_non_null(gmtime_r(&t, &tm));
		strftime(libc, sizeof(libc), "%G-W%V", &tm);
		trpt_calendar_iso_week(d, &y, &w);
		snprintf(ours, sizeof(ours), "%04lld-W%02u", (long long)y, w);
		assert_string_equal(ours, libc);
		trpt_calendar_week_label(
		    trpt_calendar_week(d), label, sizeof(label));
		assert_string_equal(label, libc);
		strftime(libc, sizeof(libc), "%Y-%m-%d", &tm);
		trpt_calendar_day_label(d, label, sizeof(label));
		assert_string_equal(label, libc);
	}
}

static void
test_calendar_parse_week(void **state)
{
	static const struct {
		const char *s;
		int rc;
		int64_t y;
		unsigned m, d;
	} cases[] = {
		{ "2026-W01", TRPT_OK, 2025, 12, 29 },
		{ "2026-w05", TRPT_OK, 2026, 1, 26 },
		{ "2020-W53", TRPT_OK, 2020, 12, 28 },
		{ "2025-W01", TRPT_OK, 2024, 12, 30 },
		{ "2021-W53", TRPT_EINVAL, 0, 0, 0 },
		{ "2026-W00", TRPT_EINVAL, 0, 0, 0 },
		{ "2026-W54", TRPT_EINVAL, 0, 0, 0 },
		{ "2026-W1", TRPT_EINVAL, 0, 0, 0 },
		{ "2026-05", TRPT_EINVAL, 0, 0, 0 },
		{ "2026-W011", TRPT_EINVAL, 0, 0, 0 },
		{ "", TRPT_EINVAL, 0, 0, 0 },
	};
	struct trpt_err err;
	int64_t monday;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		monday = -1;
		assert_int_equal(
		    trpt_calendar_parse_week(cases[i].s, &monday, &err),
		    cases[i].rc);
		if (cases[i].rc == TRPT_OK)
			assert_int_equal(
			    monday, trpt_datetime_days_from_civil(
					cases[i].y, cases[i].m, cases[i].d));
		else {
			assert_int_equal(monday, -1); /* untouched */
			assert_non_null(strstr(err.msg, "expected YYYY-Www"));
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_calendar_day_floor_ceil),
		cmocka_unit_test(test_calendar_weeks),
		cmocka_unit_test(test_calendar_iso_week_libc),
		cmocka_unit_test(test_calendar_parse_week),
	};
	return cmocka_run_group_tests_name("calendar", tests, NULL, NULL);
}

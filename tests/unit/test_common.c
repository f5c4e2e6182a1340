#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/datetime.h"

static void
test_common_placeholder(void **state)
{
	(void)state;
	assert_int_equal(trpt_datetime_days_from_civil(1970, 1, 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_common_placeholder),
	};
	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}

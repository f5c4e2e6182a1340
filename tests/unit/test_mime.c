#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ingest/mime.h"

static void
test_mime_stub(void **state)
{
	(void)state;
	assert_false(trpt_mime_looks_like_message("", 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mime_stub),
	};
	return cmocka_run_group_tests_name("mime", tests, NULL, NULL);
}

/* common/: errors, capped buffers, dates. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/datetime.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/text.h"
#include "tests/helpers/testutil.h"

static void
test_common_err(void **state)
{
	struct trpt_err err;
	char big[600];

	(void)state;
	assert_int_equal(
	    trpt_err_set(&err, TRPT_EPARSE, "bad %s", "thing"), TRPT_EPARSE);
	assert_string_equal(err.msg, "bad thing");
	trpt_err_prefix(&err, "part %d", 2);
	assert_string_equal(err.msg, "part 2: bad thing");
	assert_int_equal(err.code, TRPT_EPARSE);
	assert_int_equal(trpt_err_set(NULL, TRPT_EDB, "x"), TRPT_EDB);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	trpt_err_set(&err, TRPT_EINVAL, "%s", big);
	assert_int_equal(strlen(err.msg), TRPT_ERR_MSG_LEN - 1);
	trpt_err_prefix(&err, "%s", big);
	assert_int_equal(strlen(err.msg), TRPT_ERR_MSG_LEN - 1);
	assert_string_equal(trpt_err_name(TRPT_ELIMIT), "limit exceeded");
}

static void
test_common_buf_cap(void **state)
{
	struct trpt_buf b;
	struct trpt_err err;
	char *s;
	size_t len;

	(void)state;
	trpt_buf_init(&b, 10);
	assert_int_equal(trpt_buf_append(&b, "hello", 5, &err), TRPT_OK);
	assert_int_equal(trpt_buf_appendf(&b, &err, "%d", 12345), TRPT_OK);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "hello12345");
	assert_int_equal(trpt_buf_append(&b, "!", 1, &err), TRPT_ELIMIT);
	assert_int_equal(b.len, 10); /* unchanged */
	assert_true(b.cap <= 10);
	s = trpt_buf_steal(&b, &len);
	assert_int_equal(len, 10);
	assert_null(b.data);
	free(s);
	trpt_buf_free(&b);
}

static void
test_common_read_file_cap(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512], *data = NULL;
	struct trpt_err err;
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/f", dir);
	trpt_test_write(path, "0123456789", 10);
	assert_int_equal(
	    trpt_buf_read_file(path, 10, &data, &len, &err), TRPT_OK);
	assert_int_equal(len, 10);
	free(data);
	data = NULL;
	assert_int_equal(
	    trpt_buf_read_file(path, 9, &data, &len, &err), TRPT_ELIMIT);
	assert_non_null(strstr(err.msg, "larger than the limit of 9 bytes"));
	assert_null(data);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(
	    trpt_buf_read_file(path, 9, &data, &len, &err), TRPT_EIO);
	assert_non_null(strstr(err.msg, "No such file"));
	trpt_test_rmrf(dir);
	free(dir);
}

/* One buffer reads file after file: each replaces the last, the
 * allocation stays, the cap holds and a failure leaves it empty. */
static void
test_common_load_file_reuse(void **state)
{
	char *dir = trpt_test_tmpdir(), path[512], big[300];
	struct trpt_buf b;
	struct trpt_err err;
	char *first;

	(void)state;
	memset(big, 'b', sizeof(big));
	trpt_buf_init(&b, sizeof(big));
	snprintf(path, sizeof(path), "%s/big", dir);
	trpt_test_write(path, big, sizeof(big));
	assert_int_equal(trpt_buf_load_file(&b, path, &err), TRPT_OK);
	assert_int_equal(b.len, sizeof(big));
	assert_memory_equal(b.data, big, sizeof(big));
	first = b.data;
	snprintf(path, sizeof(path), "%s/small", dir);
	trpt_test_write(path, "0123456789", 10);
	assert_int_equal(trpt_buf_load_file(&b, path, &err), TRPT_OK);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789"); /* NUL-terminated */
	assert_ptr_equal(b.data, first);           /* not allocated again */
	snprintf(path, sizeof(path), "%s/empty", dir);
	trpt_test_write(path, "", 0);
	assert_int_equal(trpt_buf_load_file(&b, path, &err), TRPT_OK);
	assert_int_equal(b.len, 0);
	b.max = 9;
	snprintf(path, sizeof(path), "%s/small", dir);
	assert_int_equal(trpt_buf_load_file(&b, path, &err), TRPT_ELIMIT);
	assert_non_null(strstr(err.msg, "larger than the limit of 9 bytes"));
	assert_int_equal(b.len, 0);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(trpt_buf_load_file(&b, path, &err), TRPT_EIO);
	assert_non_null(strstr(err.msg, "No such file"));
	assert_int_equal(b.len, 0);
	trpt_buf_free(&b);
	trpt_test_rmrf(dir);
	free(dir);
}

/* Fed piece by piece, the digest is the one of the whole. */
static void
test_common_sha256_pieces(void **state)
{
	struct trpt_hash_sha256 h;
	char whole[TRPT_SHA256_HEX_LEN], pieces[TRPT_SHA256_HEX_LEN];
	char text[200];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(text); i++)
		text[i] = (char)('a' + i % 26);
	trpt_hash_sha256_hex(text, sizeof(text), whole);
	trpt_hash_sha256_init(&h);
	for (i = 0; i < sizeof(text); i += 7)
		trpt_hash_sha256_update(
		    &h, text + i, sizeof(text) - i < 7 ? sizeof(text) - i : 7);
	trpt_hash_sha256_final_hex(&h, pieces);
	assert_string_equal(whole, pieces);
}

struct dt_case {
	const char *s;
	int ok;
	int64_t t;
	unsigned flags;
};

static void
test_common_datetime(void **state)
{
	static const struct dt_case cases[] = {
		{ "2016-04-01T00:00:00Z", 1, 1459468800, 0 },
		{ "2016-04-01T23:59:59Z", 1, 1459555199, 0 },
		{ "2023-01-10T00:00:00", 1, 1673308800, TRPT_DT_NO_OFFSET },
		{ "2023-01-10 00:00:00Z", 1, 1673308800, 0 },
		{ "2023-01-10t00:00:00z", 1, 1673308800, 0 },
		{ "2023-01-10T02:00:00+02:00", 1, 1673308800, TRPT_DT_OFFSET },
		{ "2023-01-09T19:00:00-0500", 1, 1673308800, TRPT_DT_OFFSET },
		{ "2023-01-10T00:00:00.123456Z", 1, 1673308800,
		    TRPT_DT_FRACTION },
		{ "2023-01-10T00:00:00+00:00", 1, 1673308800, 0 },
		{ "2016-12-31T23:59:60Z", 1, 1483228799, 0 },
		{ "2024-02-29T00:00:00Z", 1, 1709164800, 0 },
		{ "2023-01-10", 1, 1673308800,
		    TRPT_DT_DATE_ONLY | TRPT_DT_NO_OFFSET },
		{ "1969-12-31T23:59:59Z", 1, -1, 0 },
		{ "2023-02-29T00:00:00Z", 0, 0, 0 },
		{ "2023-13-01T00:00:00Z", 0, 0, 0 },
		{ "2023-01-10T24:00:00Z", 0, 0, 0 },
		{ "2023-01-10T00:00:00Zjunk", 0, 0, 0 },
		{ "2023-01-10T00:00:00+25:00", 0, 0, 0 },
		{ "2023-1-10T00:00:00Z", 0, 0, 0 },
		{ "", 0, 0, 0 },
		{ "yesterday", 0, 0, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = 0;
		unsigned fl = 0;
		int rc = trpt_datetime_parse(cases[i].s, &t, &fl, NULL);

		if ((rc == TRPT_OK) != cases[i].ok)
			fail_msg("\"%s\": rc %d", cases[i].s, rc);
		if (cases[i].ok && (t != cases[i].t || fl != cases[i].flags))
			fail_msg("\"%s\": got %lld flags %u, want %lld %u",
			    cases[i].s, (long long)t, fl, (long long)cases[i].t,
			    cases[i].flags);
	}
}

static void
test_common_datetime_format(void **state)
{
	char buf[32];
	int64_t t, now = 1700000000;
	struct trpt_err err;

	(void)state;
	trpt_datetime_format(1459555199, buf, sizeof(buf));
	assert_string_equal(buf, "2016-04-01T23:59:59Z");
	trpt_datetime_format(-1, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31T23:59:59Z");
	trpt_datetime_format_day(1459555199, buf, sizeof(buf));
	assert_string_equal(buf, "2016-04-01");
	assert_int_equal(
	    trpt_datetime_parse_user("2016-04-01", now, &t, &err), TRPT_OK);
	assert_int_equal(t, 1459468800);
	assert_int_equal(
	    trpt_datetime_parse_user("-7d", now, &t, &err), TRPT_OK);
	assert_int_equal(t, now - 7 * 86400);
	assert_int_equal(
	    trpt_datetime_parse_user("soon", now, &t, &err), TRPT_EINVAL);
	assert_non_null(strstr(err.msg, "bad date \"soon\""));
}

static void
test_common_sha256(void **state)
{
	char hex[TRPT_SHA256_HEX_LEN];

	(void)state;
	trpt_hash_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a3"
				 "96177a9cb410ff61f20015ad");
}

/* Control characters never reach a terminal or start a log line. */
static void
test_common_text_escape(void **state)
{
	char out[64];

	(void)state;
	assert_string_equal(
	    trpt_text_escape("a\nb\r\tc", out, sizeof(out)), "a\\nb\\r\\tc");
	assert_string_equal(
	    trpt_text_escape("\033[31mred\007", out, sizeof(out)),
	    "\\x1b[31mred\\x07");
	assert_string_equal(
	    trpt_text_escape("x\x7f", out, sizeof(out)), "x\\x7f");
	/* C1 controls (CSI as U+009B), invalid UTF-8, and text kept. */
	assert_string_equal(trpt_text_escape("\xc2\x9b"
					     "2J",
				out, sizeof(out)),
	    "\\u009b2J");
	assert_string_equal(trpt_text_escape("\x9b\xff\xc3", out, sizeof(out)),
	    "\\x9b\\xff\\xc3");
	assert_string_equal(
	    trpt_text_escape("Mail.ru \xc3\xa9\xe2\x82\xac", out, sizeof(out)),
	    "Mail.ru \xc3\xa9\xe2\x82\xac");
	assert_string_equal(trpt_text_escape("\xed\xa0\x80", out, sizeof(out)),
	    "\\xed\\xa0\\x80"); /* a surrogate */
	assert_string_equal(
	    trpt_text_escape_n("a\0b", 3, out, sizeof(out)), "a\\x00b");
	/* Truncation stops before an escape, never inside one. */
	assert_string_equal(trpt_text_escape("abc\n", out, 5), "abc");
	assert_string_equal(trpt_text_escape(NULL, out, sizeof(out)), "");
	assert_true(trpt_text_is_clean("example.com \xc3\xa9"));
	assert_false(trpt_text_is_clean("a\nb"));
	assert_false(trpt_text_is_clean("\xc2\x85"));
}

/* Credentials in URLs are hidden in every message. */
static void
test_common_text_redact_url(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "smtp://user:s3cret@mail.example:587",
		    "smtp://user:***@mail.example:587" },
		{ "https://tok3n@x.example/a", "https://***@x.example/a" },
		{ "https://u:p@ss@x.example/", "https://u:***@x.example/" },
		{ "https://x.example/i?id=1&access_token=abc&sig=zz#f",
		    "https://x.example/i?id=1&access_token=***&sig=***#f" },
		{ "https://x.example/a@b", "https://x.example/a@b" },
		{ "https://x.example/\nforged", "https://x.example/\\nforged" },
		{ "smtp://mail.example", "smtp://mail.example" },
	};
	char out[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(
		    trpt_text_redact_url(cases[i].in, out, sizeof(out)),
		    cases[i].out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_common_err),
		cmocka_unit_test(test_common_buf_cap),
		cmocka_unit_test(test_common_read_file_cap),
		cmocka_unit_test(test_common_load_file_reuse),
		cmocka_unit_test(test_common_sha256_pieces),
		cmocka_unit_test(test_common_datetime),
		cmocka_unit_test(test_common_datetime_format),
		cmocka_unit_test(test_common_sha256),
		cmocka_unit_test(test_common_text_escape),
		cmocka_unit_test(test_common_text_redact_url),
	};
	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}

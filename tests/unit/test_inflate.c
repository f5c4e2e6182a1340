/* gzip decoding: round trips, multi-member streams, caps and bombs. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "ingest/inflate.h"
#include "tests/helpers/testutil.h"

static void
test_inflate_roundtrip(void **state)
{
	static const char text[] = "{\"organization-name\":\"x\"}";
	size_t gzlen, outlen;
	char *gz = trpt_test_gzip(text, strlen(text), &gzlen), *out = NULL;
	struct trpt_err err;

	(void)state;
	assert_true(trpt_inflate_is_gzip(gz, gzlen));
	assert_false(trpt_inflate_is_gzip(text, strlen(text)));
	assert_int_equal(
	    trpt_inflate_gzip(gz, gzlen, 1000, &out, &outlen, &err), TRPT_OK);
	assert_int_equal(outlen, strlen(text));
	assert_memory_equal(out, text, outlen);
	assert_int_equal(out[outlen], '\0');
	free(out);

	/* An exact fit is fine; one byte less is over the cap. */
	out = NULL;
	assert_int_equal(
	    trpt_inflate_gzip(gz, gzlen, strlen(text), &out, &outlen, &err),
	    TRPT_OK);
	free(out);
	out = NULL;
	assert_int_equal(
	    trpt_inflate_gzip(gz, gzlen, strlen(text) - 1, &out, &outlen, &err),
	    TRPT_ELIMIT);
	assert_null(out);
	free(gz);
}

static void
test_inflate_multi_member(void **state)
{
	size_t l1, l2, outlen;
	char *a = trpt_test_gzip("hello, ", 7, &l1);
	char *b = trpt_test_gzip("world", 5, &l2);
	char *both = malloc(l1 + l2 + 4), *out = NULL;
	struct trpt_err err;

	(void)state;
	memcpy(both, a, l1);
	memcpy(both + l1, b, l2);
	assert_int_equal(
	    trpt_inflate_gzip(both, l1 + l2, 100, &out, &outlen, &err),
	    TRPT_OK);
	assert_string_equal(out, "hello, world");
	free(out);
	out = NULL;
	/* Zero padding after the last member is tolerated... */
	memset(both + l1 + l2, 0, 4);
	assert_int_equal(
	    trpt_inflate_gzip(both, l1 + l2 + 4, 100, &out, &outlen, &err),
	    TRPT_OK);
	free(out);
	out = NULL;
	/* ...other trailing bytes are not. */
	memcpy(both + l1 + l2, "junk", 4);
	assert_int_equal(
	    trpt_inflate_gzip(both, l1 + l2 + 4, 100, &out, &outlen, &err),
	    TRPT_EPARSE);
	assert_non_null(strstr(err.msg, "garbage after the stream"));
	free(a);
	free(b);
	free(both);
}

static void
test_inflate_corrupt(void **state)
{
	static const char text[] = "some text that compresses somewhat text "
				   "text text text";
	size_t gzlen, outlen;
	char *gz = trpt_test_gzip(text, strlen(text), &gzlen), *out = NULL;
	struct trpt_err err;

	(void)state;
	/* truncated */
	assert_int_equal(
	    trpt_inflate_gzip(gz, gzlen - 6, 1000, &out, &outlen, &err),
	    TRPT_EPARSE);
	assert_non_null(strstr(err.msg, "gzip"));
	/* header only */
	assert_int_equal(
	    trpt_inflate_gzip(gz, 10, 1000, &out, &outlen, &err), TRPT_EPARSE);
	/* bad CRC */
	gz[gzlen - 8] ^= 0x55;
	assert_int_equal(
	    trpt_inflate_gzip(gz, gzlen, 1000, &out, &outlen, &err),
	    TRPT_EPARSE);
	/* not gzip */
	assert_int_equal(
	    trpt_inflate_gzip("{}", 2, 1000, &out, &outlen, &err), TRPT_EPARSE);
	assert_null(out);
	free(gz);
}

/*
 * A gzip bomb: 256 MiB of zeros compresses to about 250 kB.  Inflating it with
 * a 1 MiB cap must stop at the cap; under ASan an over-allocation would
 * show, and the test's own memory stays small.
 */
static void
test_inflate_bomb(void **state)
{
	const size_t chunk = 1 << 20, total = (size_t)1 << 28;
	unsigned char *zeros = calloc(1, chunk), *gz;
	size_t cap = 2 << 20, outlen, done;
	char *out = NULL;
	struct trpt_err err;
	z_stream zs;

	(void)state;
	gz = malloc(cap);
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(
	    deflateInit2(&zs, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_out = gz;
	zs.avail_out = (uInt)cap;
	for (done = 0; done < total; done += chunk) {
		zs.next_in = zeros;
		zs.avail_in = (uInt)chunk;
		assert_int_equal(
		    deflate(&zs, done + chunk < total ? Z_NO_FLUSH : Z_FINISH),
		    done + chunk < total ? Z_OK : Z_STREAM_END);
	}
	assert_true(zs.total_out < cap);
	assert_int_equal(
	    trpt_inflate_gzip(gz, zs.total_out, 1 << 20, &out, &outlen, &err),
	    TRPT_ELIMIT);
	assert_non_null(strstr(err.msg, "exceeds the limit of 1048576"));
	assert_null(out);
	deflateEnd(&zs);
	free(gz);
	free(zeros);
}

/*
 * One inflater for stream after stream (as the pipeline's reading thread
 * uses it): each result is the stream's own, after a broken stream too,
 * and a trailer that lies about the size changes nothing but the first
 * allocation.
 */
static void
test_inflate_reused(void **state)
{
	static const char text[] = "{\"organization-name\":\"reused\"}";
	struct trpt_inflater *z = NULL;
	size_t gzlen, outlen, work, i;
	char *gz = trpt_test_gzip(text, strlen(text), &gzlen), *out = NULL;
	char big[5000];
	char *gzb;
	size_t gzblen;
	struct trpt_err err;

	(void)state;
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 7);
	gzb = trpt_test_gzip(big, sizeof(big), &gzblen);
	assert_int_equal(trpt_inflater_new(&z, &err), TRPT_OK);
	for (i = 0; i < 3; i++) {
		assert_int_equal(trpt_inflater_gzip(z, gz, gzlen, 1000, &out,
				     &outlen, &work, &err),
		    TRPT_OK);
		assert_int_equal(outlen, strlen(text));
		assert_memory_equal(out, text, outlen);
		free(out);
		out = NULL;
		/* Truncated: refused, and the next stream is fine. */
		assert_int_equal(trpt_inflater_gzip(z, gz, gzlen - 6, 1000,
				     &out, &outlen, &work, &err),
		    TRPT_EPARSE);
		assert_null(out);
		assert_int_equal(trpt_inflater_gzip(z, gzb, gzblen, 10000, &out,
				     &outlen, &work, &err),
		    TRPT_OK);
		assert_int_equal(outlen, sizeof(big));
		assert_memory_equal(out, big, outlen);
		free(out);
		out = NULL;
		/* Over the cap as before. */
		assert_int_equal(trpt_inflater_gzip(z, gzb, gzblen, 4999, &out,
				     &outlen, &work, &err),
		    TRPT_ELIMIT);
		assert_null(out);
	}
	/* The trailer's size (ISIZE) says 10 bytes, or 4 GiB - 1: the output
	 * is the same (the CRC covers only the data, so a lying ISIZE is
	 * zlib's "incorrect length check"). */
	gzb[gzblen - 4] = 10;
	gzb[gzblen - 3] = gzb[gzblen - 2] = gzb[gzblen - 1] = 0;
	assert_int_equal(trpt_inflater_gzip(
			     z, gzb, gzblen, 10000, &out, &outlen, &work, &err),
	    TRPT_EPARSE);
	assert_non_null(strstr(err.msg, "incorrect length check"));
	assert_int_equal(work, sizeof(big));
	memset(gzb + gzblen - 4, 0xff, 4);
	assert_int_equal(trpt_inflater_gzip(
			     z, gzb, gzblen, 10000, &out, &outlen, &work, &err),
	    TRPT_EPARSE);
	assert_int_equal(work, sizeof(big));
	trpt_inflater_free(&z);
	assert_null(z);
	trpt_inflater_free(&z);
	free(gz);
	free(gzb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inflate_roundtrip),
		cmocka_unit_test(test_inflate_multi_member),
		cmocka_unit_test(test_inflate_corrupt),
		cmocka_unit_test(test_inflate_bomb),
		cmocka_unit_test(test_inflate_reused),
	};
	return cmocka_run_group_tests_name("inflate", tests, NULL, NULL);
}

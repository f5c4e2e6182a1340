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

/*
 * The kept output buffer (trpt_inflater_gzip_reuse): a small output is
 * lent from the same buffer stream after stream, a large one (past 64
 * KiB) is handed over, and every outcome, message and inflated count is
 * the one-shot decoder's, after failures and large outputs too.
 */
static void
test_inflate_reuse_lends(void **state)
{
	static const char text[] = "{\"organization-name\":\"lent\"}";
	const size_t blen = 200000;
	struct {
		const char *data;
		size_t len, max;
	} c[8];
	struct trpt_inflater *z = NULL;
	struct trpt_err e1, e2;
	size_t gzlen, gzblen, l1, l2, w1, w2, i, round;
	char *gz = trpt_test_gzip(text, strlen(text), &gzlen);
	char *big = malloc(blen), *gzb, *o1, *o2, *lent = NULL;
	int rc1, rc2, owned;

	(void)state;
	for (i = 0; i < blen; i++)
		big[i] = (char)('a' + (i * 7 + i / 13) % 26);
	gzb = trpt_test_gzip(big, blen, &gzblen);
	c[0].data = gz, c[0].len = gzlen, c[0].max = 1000;
	c[1].data = gz, c[1].len = gzlen - 6, c[1].max = 1000; /* truncated */
	c[2].data = gz, c[2].len = gzlen, c[2].max = 10;       /* over cap */
	c[3].data = gzb, c[3].len = gzblen, c[3].max = blen;   /* handed */
	c[4].data = gz, c[4].len = gzlen, c[4].max = strlen(text); /* exact */
	c[5].data = gzb, c[5].len = gzblen, c[5].max = blen - 1;
	c[6].data = gzb, c[6].len = gzblen, c[6].max = 50000; /* kept room */
	c[7].data = "{}", c[7].len = 2, c[7].max = 1000;      /* not gzip */
	assert_int_equal(trpt_inflater_new(&z, &e1), TRPT_OK);
	for (round = 0; round < 2; round++)
		for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
			o1 = o2 = NULL;
			l1 = l2 = w1 = w2 = 0;
			owned = -1;
			rc1 = trpt_inflate_gzip_work(
			    c[i].data, c[i].len, c[i].max, &o1, &l1, &w1, &e1);
			rc2 = trpt_inflater_gzip_reuse(z, c[i].data, c[i].len,
			    c[i].max, &o2, &l2, &owned, &w2, &e2);
			assert_int_equal(rc1, rc2);
			assert_int_equal(w1, w2);
			if (rc1 != TRPT_OK) {
				assert_string_equal(e1.msg, e2.msg);
				assert_null(o2);
				continue;
			}
			assert_int_equal(l1, l2);
			assert_memory_equal(o1, o2, l1 + 1);
			assert_int_equal(owned, l1 > 64 * 1024);
			if (owned)
				free(o2);
			free(o1);
		}
	/* Small outputs one after another: the same buffer, lent. */
	assert_int_equal(trpt_inflater_gzip_reuse(
			     z, gz, gzlen, 1000, &lent, &l2, &owned, &w2, &e2),
	    TRPT_OK);
	assert_int_equal(owned, 0);
	assert_int_equal(trpt_inflater_gzip_reuse(
			     z, gz, gzlen, 1000, &o2, &l2, &owned, &w2, &e2),
	    TRPT_OK);
	assert_int_equal(owned, 0);
	assert_ptr_equal(o2, lent);
	assert_string_equal(o2, text);
	/* Without an inflater every output is the caller's. */
	assert_int_equal(trpt_inflater_gzip_reuse(
			     NULL, gz, gzlen, 1000, &o2, &l2, &owned, &w2, &e2),
	    TRPT_OK);
	assert_int_equal(owned, 1);
	free(o2);
	trpt_inflater_free(&z);
	free(gz);
	free(gzb);
	free(big);
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
		cmocka_unit_test(test_inflate_reuse_lends),
	};
	return cmocka_run_group_tests_name("inflate", tests, NULL, NULL);
}

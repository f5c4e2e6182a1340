/*
 * Writes a deterministic corpus of TLS reports into a directory.
 *
 *	gen_corpus [--seed S] [--first N] [--small N] [--eml N] [--large N]
 *	    [--large-bytes B] [--bad N] DIR
 *
 * Reports are numbered from --first: the small .json.gz files come first,
 * then the e-mails, then the large .json.gz files, so every report in DIR
 * is distinct.  --bad adds inputs that must be rejected.  Prints what it
 * wrote as "key value" lines (reports, policies, failures, bad,
 * json_bytes, file_bytes), which the tests compare with the database.
 */

#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/corpus.h"

static int
number(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "first", required_argument, NULL, 'f' },
		{ "small", required_argument, NULL, 'n' },
		{ "eml", required_argument, NULL, 'e' },
		{ "large", required_argument, NULL, 'l' },
		{ "large-bytes", required_argument, NULL, 'B' },
		{ "bad", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct corpus_counts cnt;
	struct trpt_err err;
	uint64_t seed = 1, first = 0, small = 0, eml = 0, large = 0, bad = 0;
	uint64_t lbytes = 5000000, *dst;
	const char *dir;
	int c, rc = TRPT_OK;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			dst = &seed;
			break;
		case 'f':
			dst = &first;
			break;
		case 'n':
			dst = &small;
			break;
		case 'e':
			dst = &eml;
			break;
		case 'l':
			dst = &large;
			break;
		case 'B':
			dst = &lbytes;
			break;
		case 'b':
			dst = &bad;
			break;
		case 'h':
			printf("usage: gen_corpus [--seed S] [--first N] "
			       "[--small N] [--eml N] [--large N] "
			       "[--large-bytes B] [--bad N] DIR\n");
			return 0;
		default:
			return 2;
		}
		if (number(optarg, dst) != 0) {
			fprintf(stderr, "gen_corpus: bad number %s\n", optarg);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "gen_corpus: one directory expected\n");
		return 2;
	}
	dir = argv[optind];
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "gen_corpus: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	memset(&cnt, 0, sizeof(cnt));
	rc = corpus_write_dir(
	    dir, seed, first, small, CORPUS_SMALL, 0, 0, &cnt, &err);
	if (rc == TRPT_OK)
		rc = corpus_write_dir(dir, seed, first + small, eml,
		    CORPUS_SMALL, 0, 1, &cnt, &err);
	if (rc == TRPT_OK)
		rc = corpus_write_dir(dir, seed, first + small + eml, large,
		    CORPUS_LARGE, (size_t)lbytes, 0, &cnt, &err);
	if (rc == TRPT_OK)
		rc = corpus_write_bad(dir, seed, bad, &err);
	if (rc != TRPT_OK) {
		fprintf(stderr, "gen_corpus: %s\n", err.msg);
		return 1;
	}
	printf("reports %" PRIu64 "\npolicies %" PRIu64 "\nfailures %" PRIu64
	       "\nbad %" PRIu64 "\njson_bytes %" PRIu64 "\nfile_bytes %" PRIu64
	       "\n",
	    cnt.reports, cnt.policies, cnt.failures, bad, cnt.json_bytes,
	    cnt.file_bytes);
	return 0;
}

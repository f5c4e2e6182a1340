/*
 * Runs a fuzz target over files, outside libFuzzer: each argument is a file
 * or a directory of files (not recursive).  The normal and sanitizer builds
 * run it as a test over the seeds and the regression inputs (crashes found
 * by fuzzing, kept under tests/fixtures/fuzz/TARGET/).  Fails when a path
 * cannot be read or nothing was run.
 */

#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "fuzz/fuzz.h"

static int
one(const char *path, unsigned *n)
{
	struct trpt_err err;
	char *data = NULL;
	size_t len = 0;

	if (trpt_buf_read_file(path, 64u * 1024 * 1024, &data, &len, &err) !=
	    TRPT_OK) {
		fprintf(stderr, "replay: %s\n", err.msg);
		return 1;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	free(data);
	(*n)++;
	return 0;
}

int
main(int argc, char **argv)
{
	struct dirent **names;
	struct stat st;
	char sub[4400];
	unsigned n = 0;
	int i, k, m, bad = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: cannot stat\n", argv[i]);
			bad = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= one(argv[i], &n);
			continue;
		}
		m = scandir(argv[i], &names, NULL, alphasort);
		if (m < 0) {
			fprintf(stderr, "replay: %s: cannot read\n", argv[i]);
			bad = 1;
			continue;
		}
		for (k = 0; k < m; k++) {
			snprintf(sub, sizeof(sub), "%s/%s", argv[i],
			    names[k]->d_name);
			if (names[k]->d_name[0] != '.' && stat(sub, &st) == 0 &&
			    S_ISREG(st.st_mode))
				bad |= one(sub, &n);
			free(names[k]);
		}
		free(names);
	}
	printf("1..1\n%s 1 - replayed %u inputs\n",
	    bad || n == 0 ? "not ok" : "ok", n);
	return bad || n == 0;
}

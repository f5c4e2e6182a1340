#include "tests/helpers/testutil.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

static char pathbuf[4096];

const char *
trpt_test_fixture(const char *rel)
{
	const char *dir = getenv("TRPT_FIXTURES");

	if (dir == NULL)
		dir = "tests/fixtures";
	snprintf(pathbuf, sizeof(pathbuf), "%s/%s", dir, rel);
	return pathbuf;
}

const char *
trpt_test_corpus(const char *rel)
{
	static int warned;
	const char *dir = getenv("TRPT_CORPUS");
	struct stat st;

	if (dir == NULL)
		dir = "../shared/corpus";
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		if (!warned)
			fprintf(stderr,
			    "# corpus not found at %s: corpus tests cannot "
			    "run (set TRPT_CORPUS)\n",
			    dir);
		warned = 1;
		return NULL;
	}
	snprintf(pathbuf, sizeof(pathbuf), "%s/%s", dir, rel);
	return pathbuf;
}

char *
trpt_test_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long n;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)n + 1);
	assert_non_null(data);
	if (n > 0 && fread(data, 1, (size_t)n, f) != (size_t)n)
		fail_msg("cannot read %s", path);
	data[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return data;
}

void
trpt_test_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		fail_msg("cannot create %s", path);
	if (len > 0 && fwrite(data, 1, len, f) != len)
		fail_msg("cannot write %s", path);
	fclose(f);
}

char *
trpt_test_tmpdir(void)
{
	char tmpl[] = "/tmp/trpt-test-XXXXXX";
	char *d = mkdtemp(tmpl);

	if (d == NULL)
		fail_msg("mkdtemp failed");
	return strdup(d);
}

void
trpt_test_rmrf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char sub[4096];

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		d = opendir(path);
		if (d != NULL) {
			while ((e = readdir(d)) != NULL) {
				if (strcmp(e->d_name, ".") == 0 ||
				    strcmp(e->d_name, "..") == 0)
					continue;
				snprintf(
				    sub, sizeof(sub), "%s/%s", path, e->d_name);
				trpt_test_rmrf(sub);
			}
			closedir(d);
		}
		rmdir(path);
	} else
		unlink(path);
}

char *
trpt_test_gzip(const void *data, size_t len, size_t *outlen)
{
	z_stream zs;
	size_t cap = len + len / 10 + 1024;
	char *out = malloc(cap);

	assert_non_null(out);
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(
	    deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
	    Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*outlen = zs.total_out;
	deflateEnd(&zs);
	return out;
}

int
trpt_test_sh(const char *cmd, char **out, char **err)
{
	char *dir = trpt_test_tmpdir(), line[16384], po[600], pe[600];
	int st;

	snprintf(po, sizeof(po), "%s/out", dir);
	snprintf(pe, sizeof(pe), "%s/err", dir);
	snprintf(
	    line, sizeof(line), "( %s ) >'%s' 2>'%s' </dev/null", cmd, po, pe);
	st = system(line);
	if (out != NULL)
		*out = trpt_test_slurp(po, NULL);
	if (err != NULL)
		*err = trpt_test_slurp(pe, NULL);
	trpt_test_rmrf(dir);
	free(dir);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

const char *
trpt_test_binary(void)
{
	const char *b = getenv("TRPT_BINARY");

	if (b == NULL)
		fail_msg("TRPT_BINARY is not set (run through meson test)");
	return b;
}

/*
 * Fuzz target: the configuration file (libinih) and its typed getters.
 * The input is written to a private memfd and loaded through its path, as
 * trpt_config_load reads files.
 */

#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "collector/config.h"
#include "common/limits.h"
#include "fuzz/fuzz.h"

static void
exercise(const struct trpt_config *cfg)
{
	static const char *const known[] = { "max_message", "max_inflated",
		"busy_timeout", "listen", NULL };
	const struct trpt_config_section *sec;
	struct trpt_limits lim;
	struct trpt_err err;
	uint64_t u;
	size_t i, k, sz;
	int b;

	trpt_limits_default(&lim);
	(void)trpt_config_limits(cfg, &lim, &err);
	for (i = 0; i < trpt_config_count(cfg); i++) {
		sec = trpt_config_at(cfg, i);
		(void)trpt_config_find(cfg, sec->type, sec->name);
		(void)trpt_config_check_keys(cfg, sec, known, &err);
		for (k = 0; k < sec->nkeys; k++) {
			(void)trpt_config_get(sec, sec->keys[k], 1);
			(void)trpt_config_get_bool(
			    cfg, sec, sec->keys[k], &b, &err);
			(void)trpt_config_get_size(
			    cfg, sec, sec->keys[k], &sz, &err);
			(void)trpt_config_get_uint(
			    cfg, sec, sec->keys[k], 65535, &u, &err);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trpt_config *cfg = NULL;
	struct trpt_err err;
	char path[64];
	int fd;

	fd = memfd_create("fuzz-config", MFD_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0600) != 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (trpt_config_load(path, &cfg, &err) == TRPT_OK) {
		exercise(cfg);
		trpt_config_free(&cfg);
	}
	close(fd);
	return 0;
}

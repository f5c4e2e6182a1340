/*
 * Fuzz target: the configuration file (libinih) and its tables.
 * The input is written to a private memfd and loaded through its path, as
 * trpt_config_load reads files.
 */

#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/config.h"
#include "common/limits.h"
#include "fuzz/fuzz.h"

/* What loading approved, every section's reader takes. */
static void
exercise(const struct trpt_config *cfg)
{
	union {
		struct trpt_limits l;
		struct trpt_conf_serve s;
		struct trpt_alert_config a;
		struct trpt_conf_summary m;
		struct trpt_conf_imap i;
		struct trpt_conf_https h;
		struct trpt_conf_check c;
		struct trpt_conf_dkim k;
		struct trpt_conf_dashboard d;
	} u;
	static const struct {
		const char *type;
		size_t size;
	} types[] = {
		{ "limits", sizeof(u.l) },
		{ "serve", sizeof(u.s) },
		{ "alerts", sizeof(u.a) },
		{ "summary", sizeof(u.m) },
		{ "imap", sizeof(u.i) },
		{ "https", sizeof(u.h) },
		{ "check", sizeof(u.c) },
		{ "dkim", sizeof(u.k) },
		{ "dashboard", sizeof(u.d) },
	};
	const struct trpt_config_section *sec;
	struct trpt_err err;
	size_t i, t, k;

	for (i = 0; i < trpt_config_count(cfg); i++) {
		sec = trpt_config_at(cfg, i);
		(void)trpt_config_find(cfg, sec->type, sec->name);
		for (k = 0; k < sec->nkeys; k++)
			(void)trpt_config_get(sec, sec->keys[k], 1);
		for (t = 0; t < sizeof(types) / sizeof(types[0]); t++)
			if (strcmp(sec->type, types[t].type) == 0 &&
			    trpt_config_read(cfg, sec, types[t].type, &u,
				types[t].size, &err) != TRPT_OK)
				abort();
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

#pragma once
/*
 * The INI configuration file (libinih).  Sections are "[type]" or
 * "[type \"name\"]", e.g. [limits], [imap "reports"], [https "hosted"],
 * [serve], [summary].  Keys may repeat (mailbox = A, mailbox = B).
 *
 * Each command reads the sections it understands; the file itself only
 * records what was written, with line numbers for error messages.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/limits.h"

struct trpt_config;

struct trpt_config_section {
	char *type; /* "imap" */
	char *name; /* "reports", or "" for [limits] */
	int line;
	size_t nkeys;
	char **keys;
	char **values;
	int *lines;
};

/*
 * Where the configuration is looked for when --config is not given:
 * SYSCONFDIR/tlsrpt-collector/tlsrpt-collector.conf, set by meson.build.
 */
#ifndef TRPT_CONFIG_DEFAULT
#error "TRPT_CONFIG_DEFAULT comes from meson.build (sysconfdir)"
#endif

/*
 * Loads path.  A file readable by group or others is refused (it may hold
 * secrets), as is a syntax error (with its line).  Caller frees.
 */
int trpt_config_load(
    const char *path, struct trpt_config **out, struct trpt_err *err);
/* An empty configuration (no file). */
int trpt_config_empty(struct trpt_config **out, struct trpt_err *err);
void trpt_config_free(struct trpt_config **cfgp);

const char *trpt_config_path(const struct trpt_config *cfg);
size_t trpt_config_count(const struct trpt_config *cfg);
const struct trpt_config_section *trpt_config_at(
    const struct trpt_config *cfg, size_t i);
/* The first section of that type and name (name "" for unnamed), or NULL. */
const struct trpt_config_section *trpt_config_find(
    const struct trpt_config *cfg, const char *type, const char *name);

/* The nth value (0-based) of key in sec, or NULL. sec may be NULL. */
const char *trpt_config_get(
    const struct trpt_config_section *sec, const char *key, size_t nth);

/*
 * Typed getters: *out keeps its value (the default) when the key is absent.
 * A bad value fails with TRPT_EINVAL naming the file, line and key.
 */
int trpt_config_get_bool(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, const char *key, int *out,
    struct trpt_err *err);
/* Sizes accept a k, M or G suffix (powers of 1024). */
int trpt_config_get_size(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, const char *key, size_t *out,
    struct trpt_err *err);
int trpt_config_get_uint(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, const char *key, uint64_t max,
    uint64_t *out, struct trpt_err *err);

/*
 * Refuses keys in sec that are not in the NULL-terminated list known, so a
 * typo is an error rather than a silently ignored setting.
 */
int trpt_config_check_keys(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, const char *const *known,
    struct trpt_err *err);

/* db = PATH, given before any section, or NULL. */
const char *trpt_config_db(const struct trpt_config *cfg);

/* Applies [limits] to lim (which holds the defaults). */
int trpt_config_limits(const struct trpt_config *cfg, struct trpt_limits *lim,
    struct trpt_err *err);

/*
 * Reads a secret from a file (first line, no newline), refusing a file
 * readable by group or others.  Caller wipes and frees *out.
 */
int trpt_config_read_secret_file(
    const char *path, char **out, struct trpt_err *err);

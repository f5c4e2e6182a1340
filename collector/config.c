#include "collector/config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "common/buf.h"

struct trpt_config {
	char *path;
	FILE *f;
	int line; /* Debian's inih has no line numbers: the reader counts */
	struct trpt_config_section *secs;
	size_t nsecs;
	int oom;
	char bad[160]; /* first bad section header, if any */
};

static int
split_section(const char *s, char **type, char **name)
{
	const char *sp, *q1, *q2;

	sp = strchr(s, ' ');
	if (sp == NULL) {
		*type = strdup(s);
		*name = strdup("");
	} else {
		q1 = sp + 1;
		while (*q1 == ' ')
			q1++;
		if (*q1 != '"')
			return -1;
		q2 = strchr(q1 + 1, '"');
		if (q2 == NULL || q2[1] != '\0' || q2 == q1 + 1)
			return -1;
		*type = strndup(s, (size_t)(sp - s));
		*name = strndup(q1 + 1, (size_t)(q2 - q1 - 1));
	}
	return 0;
}

static struct trpt_config_section *
section_for(struct trpt_config *cfg, const char *section, int line)
{
	struct trpt_config_section *s, *ns;
	char *type = NULL, *name = NULL;

	if (split_section(section, &type, &name) != 0) {
		if (cfg->bad[0] == '\0')
			snprintf(cfg->bad, sizeof(cfg->bad),
			    "line %d: bad section [%.100s]: expected [type] "
			    "or [type \"name\"]",
			    line, section);
		return NULL;
	}
	if (type == NULL || name == NULL)
		goto oom;
	if (cfg->nsecs > 0) {
		s = &cfg->secs[cfg->nsecs - 1];
		if (strcmp(s->type, type) == 0 && strcmp(s->name, name) == 0) {
			free(type);
			free(name);
			return s;
		}
	}
	ns = realloc(cfg->secs, (cfg->nsecs + 1) * sizeof(*ns));
	if (ns == NULL)
		goto oom;
	cfg->secs = ns;
	s = &ns[cfg->nsecs++];
	memset(s, 0, sizeof(*s));
	s->type = type;
	s->name = name;
	s->line = line;
	return s;
oom:
	free(type);
	free(name);
	cfg->oom = 1;
	return NULL;
}

static char *
read_line(char *str, int num, void *stream)
{
	struct trpt_config *cfg = stream;
	char *r = fgets(str, num, cfg->f);

	if (r != NULL)
		cfg->line++;
	return r;
}

static int
on_value(void *user, const char *section, const char *key, const char *value)
{
	struct trpt_config *cfg = user;
	int line = cfg->line;
	struct trpt_config_section *s;
	char **nk, **nv;
	int *nl;

	if (key == NULL)
		return section_for(cfg, section, line) != NULL;
	s = section_for(cfg, section, line);
	if (s == NULL)
		return 0;
	nk = realloc(s->keys, (s->nkeys + 1) * sizeof(*nk));
	if (nk != NULL)
		s->keys = nk;
	nv = realloc(s->values, (s->nkeys + 1) * sizeof(*nv));
	if (nv != NULL)
		s->values = nv;
	nl = realloc(s->lines, (s->nkeys + 1) * sizeof(*nl));
	if (nl != NULL)
		s->lines = nl;
	if (nk == NULL || nv == NULL || nl == NULL) {
		cfg->oom = 1;
		return 0;
	}
	s->keys[s->nkeys] = strdup(key);
	s->values[s->nkeys] = strdup(value);
	s->lines[s->nkeys] = line;
	s->nkeys++;
	if (s->keys[s->nkeys - 1] == NULL || s->values[s->nkeys - 1] == NULL) {
		cfg->oom = 1;
		return 0;
	}
	return 1;
}

int
trpt_config_empty(struct trpt_config **out, struct trpt_err *err)
{
	struct trpt_config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL || (cfg->path = strdup("(none)")) == NULL) {
		free(cfg);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	*out = cfg;
	return TRPT_OK;
}

/* Files that may hold secrets must not be readable by group or others. */
static int
check_private(const char *path, FILE *f, struct trpt_err *err)
{
	struct stat st;

	if (fstat(fileno(f), &st) != 0)
		return trpt_err_set(
		    err, TRPT_EIO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return trpt_err_set(
		    err, TRPT_EINVAL, "%s: not a regular file", path);
	if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH))
		return trpt_err_set(err, TRPT_EINVAL,
		    "%s: readable or writable by group or others (mode %03o); "
		    "it may hold secrets: chmod 600 it",
		    path, (unsigned)(st.st_mode & 0777));
	return TRPT_OK;
}

int
trpt_config_load(
    const char *path, struct trpt_config **out, struct trpt_err *err)
{
	struct trpt_config *cfg = NULL;
	FILE *f;
	int rc, line;

	f = fopen(path, "r");
	if (f == NULL)
		return trpt_err_set(
		    err, TRPT_EIO, "config %s: %s", path, strerror(errno));
	if ((rc = check_private(path, f, err)) != TRPT_OK) {
		trpt_err_prefix(err, "config");
		goto out;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL || (cfg->path = strdup(path)) == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	cfg->f = f;
	line = ini_parse_stream(read_line, cfg, on_value, cfg);
	cfg->f = NULL;
	if (cfg->oom)
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	else if (cfg->bad[0] != '\0')
		rc = trpt_err_set(
		    err, TRPT_EINVAL, "config %s: %s", path, cfg->bad);
	else if (line != 0)
		rc = trpt_err_set(err, TRPT_EINVAL,
		    "config %s: line %d: syntax error", path, line);
	else {
		*out = cfg;
		cfg = NULL;
		rc = TRPT_OK;
	}
out:
	fclose(f);
	trpt_config_free(&cfg);
	return rc;
}

void
trpt_config_free(struct trpt_config **cfgp)
{
	struct trpt_config *cfg;
	size_t i, j;

	if (cfgp == NULL || *cfgp == NULL)
		return;
	cfg = *cfgp;
	for (i = 0; i < cfg->nsecs; i++) {
		struct trpt_config_section *s = &cfg->secs[i];

		for (j = 0; j < s->nkeys; j++) {
			free(s->keys[j]);
			if (s->values[j] != NULL) {
				explicit_bzero(
				    s->values[j], strlen(s->values[j]));
				free(s->values[j]);
			}
		}
		free(s->keys);
		free(s->values);
		free(s->lines);
		free(s->type);
		free(s->name);
	}
	free(cfg->secs);
	free(cfg->path);
	free(cfg);
	*cfgp = NULL;
}

const char *
trpt_config_path(const struct trpt_config *cfg)
{
	return cfg->path;
}

size_t
trpt_config_count(const struct trpt_config *cfg)
{
	return cfg->nsecs;
}

const struct trpt_config_section *
trpt_config_at(const struct trpt_config *cfg, size_t i)
{
	return i < cfg->nsecs ? &cfg->secs[i] : NULL;
}

const struct trpt_config_section *
trpt_config_find(
    const struct trpt_config *cfg, const char *type, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nsecs; i++)
		if (strcmp(cfg->secs[i].type, type) == 0 &&
		    strcmp(cfg->secs[i].name, name) == 0)
			return &cfg->secs[i];
	return NULL;
}

static int
find_key(const struct trpt_config_section *sec, const char *key, size_t nth)
{
	size_t i;

	if (sec == NULL)
		return -1;
	for (i = 0; i < sec->nkeys; i++)
		if (strcmp(sec->keys[i], key) == 0 && nth-- == 0)
			return (int)i;
	return -1;
}

const char *
trpt_config_get(
    const struct trpt_config_section *sec, const char *key, size_t nth)
{
	int i = find_key(sec, key, nth);

	return i < 0 ? NULL : sec->values[i];
}

static int
bad_value(const struct trpt_config *cfg, const struct trpt_config_section *sec,
    int i, const char *what, struct trpt_err *err)
{
	return trpt_err_set(err, TRPT_EINVAL,
	    "config %s: line %d: %s = \"%.60s\": %s", cfg->path, sec->lines[i],
	    sec->keys[i], sec->values[i], what);
}

int
trpt_config_get_bool(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, const char *key, int *out,
    struct trpt_err *err)
{
	int i = find_key(sec, key, 0);
	const char *v;

	if (i < 0)
		return TRPT_OK;
	v = sec->values[i];
	if (strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
	    strcmp(v, "1") == 0 || strcasecmp(v, "on") == 0)
		*out = 1;
	else if (strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
		 strcmp(v, "0") == 0 || strcasecmp(v, "off") == 0)
		*out = 0;
	else
		return bad_value(cfg, sec, i, "expected true or false", err);
	return TRPT_OK;
}

static int
parse_uint(const char *v, int suffixes, uint64_t *out)
{
	unsigned long long n;
	uint64_t mult = 1;
	char *end;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0)
		return -1;
	if (suffixes && *end != '\0') {
		switch (*end) {
		case 'k':
		case 'K':
			mult = 1024;
			break;
		case 'm':
		case 'M':
			mult = 1024 * 1024;
			break;
		case 'g':
		case 'G':
			mult = 1024 * 1024 * 1024;
			break;
		default:
			return -1;
		}
		end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end != '\0' || n > UINT64_MAX / mult)
		return -1;
	*out = n * mult;
	return 0;
}

int
trpt_config_get_size(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, const char *key, size_t *out,
    struct trpt_err *err)
{
	int i = find_key(sec, key, 0);
	uint64_t v;

	if (i < 0)
		return TRPT_OK;
	if (parse_uint(sec->values[i], 1, &v) != 0 || v == 0 ||
	    v > SIZE_MAX / 2)
		return bad_value(cfg, sec, i,
		    "expected a size such as 10M, 512k or 1048576", err);
	*out = (size_t)v;
	return TRPT_OK;
}

int
trpt_config_get_uint(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, const char *key, uint64_t max,
    uint64_t *out, struct trpt_err *err)
{
	int i = find_key(sec, key, 0);
	uint64_t v;
	char what[64];

	if (i < 0)
		return TRPT_OK;
	if (parse_uint(sec->values[i], 0, &v) != 0 || v > max) {
		snprintf(what, sizeof(what), "expected a number from 0 to %llu",
		    (unsigned long long)max);
		return bad_value(cfg, sec, i, what, err);
	}
	*out = v;
	return TRPT_OK;
}

int
trpt_config_check_keys(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, const char *const *known,
    struct trpt_err *err)
{
	size_t i, k;

	for (i = 0; i < sec->nkeys; i++) {
		for (k = 0; known[k] != NULL; k++)
			if (strcmp(sec->keys[i], known[k]) == 0)
				break;
		if (known[k] == NULL)
			return trpt_err_set(err, TRPT_EINVAL,
			    "config %s: line %d: unknown key \"%s\" in "
			    "[%s%s%s%s]",
			    cfg->path, sec->lines[i], sec->keys[i], sec->type,
			    sec->name[0] ? " \"" : "", sec->name,
			    sec->name[0] ? "\"" : "");
	}
	return TRPT_OK;
}

int
trpt_config_limits(const struct trpt_config *cfg, struct trpt_limits *lim,
    struct trpt_err *err)
{
	static const char *const known[] = { "max_message", "max_inflated",
		"max_inflated_input", "max_json", "max_depth", "max_parts",
		"max_policies", "max_failures", NULL };
	const struct trpt_config_section *sec =
	    trpt_config_find(cfg, "limits", "");
	int rc;

	if (sec == NULL)
		return TRPT_OK;
	if ((rc = trpt_config_check_keys(cfg, sec, known, err)) != TRPT_OK ||
	    (rc = trpt_config_get_size(
		 cfg, sec, "max_message", &lim->max_message, err)) != TRPT_OK ||
	    (rc = trpt_config_get_size(cfg, sec, "max_inflated",
		 &lim->max_inflated, err)) != TRPT_OK ||
	    (rc = trpt_config_get_size(cfg, sec, "max_inflated_input",
		 &lim->max_inflated_input, err)) != TRPT_OK ||
	    (rc = trpt_config_get_size(
		 cfg, sec, "max_json", &lim->max_json, err)) != TRPT_OK ||
	    (rc = trpt_config_get_size(
		 cfg, sec, "max_depth", &lim->max_depth, err)) != TRPT_OK ||
	    (rc = trpt_config_get_size(
		 cfg, sec, "max_parts", &lim->max_parts, err)) != TRPT_OK ||
	    (rc = trpt_config_get_size(cfg, sec, "max_policies",
		 &lim->max_policies, err)) != TRPT_OK ||
	    (rc = trpt_config_get_size(
		 cfg, sec, "max_failures", &lim->max_failures, err)) != TRPT_OK)
		return rc;
	return TRPT_OK;
}

int
trpt_config_read_secret_file(const char *path, char **out, struct trpt_err *err)
{
	char line[4096];
	size_t n;
	FILE *f;
	int rc;

	f = fopen(path, "r");
	if (f == NULL)
		return trpt_err_set(
		    err, TRPT_EIO, "secret file %s: %s", path, strerror(errno));
	if ((rc = check_private(path, f, err)) != TRPT_OK) {
		fclose(f);
		return rc;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	*out = strdup(line);
	explicit_bzero(line, sizeof(line));
	if (*out == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	return TRPT_OK;
}

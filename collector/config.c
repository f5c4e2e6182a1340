/*
 * The configuration file and its tables.
 *
 * Every section type and every key lives in one table below (Postfix's
 * CONFIG_INT_TABLE is the model).  With S #defined to the section's struct
 * above its table,
 *
 *	KEY("threads", UINT, rx.threads, 1, 64, NULL, 0),
 *
 * is the key "threads": an unsigned from 1 to 64, stored at S.rx.threads,
 * whose default is what the section's init function set (NULL); a string
 * there ("4") would be the default, parsed like a written value; the last
 * field holds flags (REQUIRED, URL: never printed with its credentials).
 * The loader checks every section of a file against these tables once
 * (trpt_config_validate): unknown sections and keys, repeated keys and
 * sections, types, minima and maxima, required keys, and each section's
 * finish rule across keys.  A command then fills the section's struct,
 * already checked, with trpt_config_read(cfg, sec or NULL, "type", &s,
 * sizeof(s), &err).
 *
 * To add a key: a field in the section's struct (config.h) and one KEY
 * line.  To add a section: its struct in config.h, a table of KEY lines
 * ending with END, and one line in sections[] (named or not, the struct's
 * size, init and finish functions or NULL).  Keys before any [section]
 * go in main_keys (its sections[] line then needs a struct and a size).
 * Types: STR, LIST (a key that may repeat), BOOL, UINT,
 * INT64, SIZE (bytes, k/M/G), COUNT, PERCENT, ENUM (ENUMKEY with a table
 * of choices).
 */
#include "collector/config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ini.h>

#include "check/check.h"
#include "common/buf.h"
#include "common/datetime.h"
#include "common/text.h"
#include "ingest/dkim.h"
#include "ingest/imap.h"
#include "ingest/pull.h"
#include "report/mail_send.h"
#include "report/notify.h"
#include "schema/db.h"

struct trpt_config {
	char *path;
	FILE *f;
	int line; /* Debian's inih has no line numbers: the reader counts */
	int header_line; /* of the last [section] header read */
	int long_line;   /* the first line too long for inih, if any */
	int max_line;
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
		/* inih reports each key with its section's name: the same
		 * name under a new header is the section given twice. */
		if (strcmp(s->type, type) == 0 && strcmp(s->name, name) == 0 &&
		    (cfg->header_line == 0 || s->line == cfg->header_line)) {
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
	s->line = cfg->header_line > 0 ? cfg->header_line : line;
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
	char *r;
	size_t i, n;

	if (cfg->long_line > 0)
		return NULL;
	r = fgets(str, num, cfg->f);
	if (r == NULL)
		return NULL;
	cfg->line++;
	n = strlen(r);
	/* A line longer than inih's buffer would come back in pieces, each
	 * parsed as a line of its own: stop at it instead. */
	if (n > 0 && r[n - 1] != '\n' && !feof(cfg->f)) {
		cfg->long_line = cfg->line;
		cfg->max_line = num - 2;
		return NULL;
	}
	i = strspn(r, " \t");
	if (r[i] == '[')
		cfg->header_line = cfg->line;
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
	else if (cfg->long_line > 0)
		rc = trpt_err_set(err, TRPT_EINVAL,
		    "config %s: line %d: longer than %d characters", path,
		    cfg->long_line, cfg->max_line);
	else if (cfg->bad[0] != '\0')
		rc = trpt_err_set(
		    err, TRPT_EINVAL, "config %s: %s", path, cfg->bad);
	else if (line != 0)
		rc = trpt_err_set(err, TRPT_EINVAL,
		    "config %s: line %d: syntax error", path, line);
	else if ((rc = trpt_config_validate(cfg, err)) == TRPT_OK) {
		*out = cfg;
		cfg = NULL;
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
trpt_config_limits(const struct trpt_config *cfg, struct trpt_limits *lim,
    struct trpt_err *err)
{
	return trpt_config_read(cfg, NULL, "limits", lim, sizeof(*lim), err);
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

/* ---- the tables ---- */

struct section_def {
	const char *type;
	int named; /* 1: [type "NAME"], several; 0: [type], at most once */
	const struct trpt_config_key *keys; /* ends with END */
	size_t size;                        /* of the struct keys fill */
	void (*init)(void *out);            /* defaults; may be NULL */
	/* Rules across keys, and values derived from several; may be NULL.
	 * Called only for a section present in the file. */
	int (*finish)(const struct trpt_config *cfg,
	    const struct trpt_config_section *sec, void *out,
	    struct trpt_err *err);
};

#define KEY(k, t, field, lo, hi, def, flags)                                   \
	{                                                                      \
		k, TRPT_CONF_##t, offsetof(S, field), lo, hi, def, NULL, flags \
	}
#define ENUMKEY(k, field, choices, def)                                        \
	{                                                                      \
		k, TRPT_CONF_ENUM, offsetof(S, field), 0, 0, def, choices, 0   \
	}
#define END                                                                    \
	{                                                                      \
		NULL, TRPT_CONF_STR, 0, 0, 0, NULL, NULL, 0                    \
	}
#define REQUIRED TRPT_CONF_REQUIRED
#define URL      TRPT_CONF_URL
#define GiB      (UINT64_C(1) << 30)
#define PATHMAX  4096 /* a file name */

/* Keys before any [section]. */
#define S struct trpt_conf_main
static const struct trpt_config_key main_keys[] = {
	KEY("db", STR, db, 1, PATHMAX, NULL, 0),
	END,
};
#undef S

#define S struct trpt_limits
static const struct trpt_config_key limits_keys[] = {
	KEY("max_message", SIZE, max_message, 1, 4 * GiB, NULL, 0),
	KEY("max_inflated", SIZE, max_inflated, 1, 4 * GiB, NULL, 0),
	KEY("max_inflated_input", SIZE, max_inflated_input, 1, 4 * GiB, NULL,
	    0),
	KEY("max_json", SIZE, max_json, 1, 4 * GiB, NULL, 0),
	KEY("max_depth", COUNT, max_depth, 1, 2048, NULL, 0),
	KEY("max_parts", COUNT, max_parts, 1, 100000, NULL, 0),
	KEY("max_policies", COUNT, max_policies, 1, 10000000, NULL, 0),
	KEY("max_failures", COUNT, max_failures, 1, 100000000, NULL, 0),
	END,
};
#undef S

#define S struct trpt_conf_serve
static const struct trpt_config_key serve_keys[] = {
	KEY("listen", STR, rx.listen, 1, 255, NULL, 0),
	KEY("path", LIST, paths, 1, TRPT_RECEIVER_MAX_PATHS, NULL, 0),
	KEY("allow", LIST, allow, 1, TRPT_RECEIVER_MAX_ALLOW, NULL, 0),
	KEY("tls_cert", STR, tls_cert, 1, PATHMAX, NULL, 0),
	KEY("tls_key", STR, tls_key, 1, PATHMAX, NULL, 0),
	KEY("threads", UINT, rx.threads, 1, 64, NULL, 0),
	KEY("max_connections", UINT, rx.max_connections, 1, 100000, NULL, 0),
	KEY("max_connections_per_client", UINT, rx.max_per_client, 1, 100000,
	    NULL, 0),
	KEY("idle_timeout", UINT, rx.idle_timeout, 1, 3600, NULL, 0),
	KEY("header_timeout", UINT, rx.header_timeout, 1, 600, NULL, 0),
	KEY("request_timeout", UINT, rx.request_timeout, 1, 3600, NULL, 0),
	KEY("rate_limit", UINT, rx.rate_per_minute, 0, 1000000, NULL, 0),
	KEY("rate_burst", UINT, rx.rate_burst, 1, 1000000, NULL, 0),
	KEY("trust_proxy", BOOL, rx.trust_proxy, 0, 0, NULL, 0),
	KEY("drain_timeout", UINT, drain_timeout, 0, 3600, NULL, 0),
	KEY("busy_timeout", UINT, busy_timeout, 0, 60000, NULL, 0),
	END,
};
#undef S

#define S struct trpt_alert_config
static const struct trpt_config_key alerts_keys[] = {
	KEY("threshold", PERCENT, drop_threshold, 1, 100, NULL, 0),
	KEY("min_sessions", INT64, min_sessions, 1, UINT64_C(1) << 53, NULL, 0),
	KEY("baseline_days", INT64, baseline_days, 3, 365, NULL, 0),
	KEY("recent_days", INT64, recent_days, 1, 365, NULL, 0),
	KEY("min_history_days", INT64, min_history_days, 1, 365, NULL, 0),
	KEY("silence_min_days", INT64, silence_min_days, 1, 365, NULL, 0),
	KEY("silence_min_reports", INT64, silence_min_reports, 2, 10000, NULL,
	    0),
	KEY("collection_days", INT64, collection_days, 0, 365, "3", 0),
	END,
};
#undef S

static const struct trpt_config_choice starttls_choices[] = {
	{ "required", TRPT_MAIL_TLS_REQUIRED },
	{ "yes", TRPT_MAIL_TLS_REQUIRED },
	{ "no", TRPT_MAIL_TLS_NONE },
	{ NULL, 0 },
};

#define S struct trpt_conf_summary
static const struct trpt_config_key summary_keys[] = {
	KEY("from", STR, from, 1, 998, NULL, 0),
	KEY("to", LIST, to, 1, 100, NULL, 0),
	KEY("smtp_url", STR, smtp_url, 1, PATHMAX, NULL, URL),
	KEY("username", STR, username, 1, 1024, NULL, 0),
	KEY("password_file", STR, password_file, 1, PATHMAX, NULL, 0),
	KEY("ca_file", STR, ca_file, 1, PATHMAX, NULL, 0),
	ENUMKEY("starttls", starttls, starttls_choices, "required"),
	KEY("send_at", STR, send_at, 9, 9, NULL, 0),
	END,
};
#undef S

static const struct trpt_config_choice security_choices[] = {
	{ "tls", TRPT_IMAP_TLS },
	{ "starttls", TRPT_IMAP_STARTTLS },
	{ "none", TRPT_IMAP_NONE },
	{ NULL, 0 },
};

#define S struct trpt_conf_imap
static const struct trpt_config_key imap_keys[] = {
	KEY("host", STR, host, 1, 255, NULL, REQUIRED),
	KEY("port", UINT, port, 1, 65535, NULL, 0),
	ENUMKEY("security", security, security_choices, "tls"),
	KEY("ca_file", STR, ca_file, 1, PATHMAX, NULL, 0),
	KEY("username", STR, username, 1, 1024, NULL, REQUIRED),
	KEY("password_file", STR, password_file, 1, PATHMAX, NULL, 0),
	KEY("password_env", STR, password_env, 1, 255, NULL, 0),
	KEY("mailbox", LIST, mailboxes, 0, 1000, NULL, 0),
	KEY("read_only", BOOL, read_only, 0, 0, "true", 0),
	KEY("after", STR, after, 1, 1024, "keep", 0),
	KEY("since", STR, since, 1, 64, NULL, 0),
	KEY("connect_timeout", UINT, connect_timeout, 1, 3600, "30", 0),
	KEY("timeout", UINT, timeout, 1, 3600, "60", 0),
	KEY("batch", UINT, batch, 1, 10000, "100", 0),
	KEY("deadline", UINT, deadline, 10, 86400, "3600", 0),
	KEY("idle", BOOL, idle, 0, 0, "true", 0),
	KEY("interval", UINT, interval, 10, 86400, "300", 0),
	END,
};
#undef S

#define S struct trpt_conf_https
static const struct trpt_config_key https_keys[] = {
	KEY("url", STR, url, 1, PATHMAX, NULL, REQUIRED | URL),
	KEY("bearer_token_file", STR, bearer_token_file, 1, PATHMAX, NULL, 0),
	KEY("ca_file", STR, ca_file, 1, PATHMAX, NULL, 0),
	KEY("connect_timeout", UINT, connect_timeout, 1, 3600, NULL, 0),
	KEY("timeout", UINT, timeout, 1, 86400, NULL, 0),
	KEY("retries", UINT, retries, 0, 20, NULL, 0),
	KEY("retry_delay", UINT, retry_delay, 0, 600000, NULL, 0),
	KEY("max_size", SIZE, max_size, 1, 4 * GiB, NULL, 0),
	KEY("max_entries", COUNT, max_entries, 1, 1000000, NULL, 0),
	KEY("interval", UINT, interval, 10, 86400, "300", 0),
	END,
};
#undef S

#define S struct trpt_conf_notify
static const struct trpt_config_key notify_keys[] = {
	KEY("mail_to", LIST, mail_to, 1, 32, NULL, 0),
	KEY("interval", UINT, interval, 60, 86400, "3600", 0),
	KEY("recheck", BOOL, recheck, 0, 0, "true", 0),
	END,
};
#undef S

static const struct trpt_config_choice webhook_format_choices[] = {
	{ "generic", TRPT_WEBHOOK_GENERIC },
	{ "slack", TRPT_WEBHOOK_SLACK },
	{ "teams", TRPT_WEBHOOK_TEAMS },
	{ NULL, 0 },
};

#define S struct trpt_conf_webhook
static const struct trpt_config_key webhook_keys[] = {
	KEY("url", STR, url, 9, PATHMAX, NULL, REQUIRED | URL),
	ENUMKEY("format", format, webhook_format_choices, "generic"),
	KEY("ca_file", STR, ca_file, 1, PATHMAX, NULL, 0),
	KEY("timeout", UINT, timeout, 1, 300, "30", 0),
	END,
};
#undef S

#define S struct trpt_conf_check
static const struct trpt_config_key check_keys[] = {
	KEY("resolver", STR, resolver, 1, 255, NULL, 0),
	KEY("trust_anchor", STR, trust_anchor, 1, PATHMAX, NULL, 0),
	KEY("ca_file", STR, ca_file, 1, PATHMAX, NULL, 0),
	KEY("helo", STR, helo, 1, 255, NULL, 0),
	KEY("smtp_port", UINT, smtp_port, 1, 65535, NULL, 0),
	KEY("https_port", UINT, https_port, 1, 65535, NULL, 0),
	KEY("timeout", UINT, timeout, 1, 300, NULL, 0),
	KEY("dns_timeout", UINT, dns_timeout, 1, 300, NULL, 0),
	KEY("max_time", UINT, max_time, 1, 3600, NULL, 0),
	KEY("max_mx", COUNT, max_mx, 1, 100, NULL, 0),
	KEY("max_policy", SIZE, max_policy, 256, 1024 * 1024, NULL, 0),
	END,
};
#undef S

static const struct trpt_config_choice require_choices[] = {
	{ "no", TRPT_DKIM_REQUIRE_NO },
	{ "warn", TRPT_DKIM_REQUIRE_WARN },
	{ "yes", TRPT_DKIM_REQUIRE_YES },
	{ NULL, 0 },
};

#define S struct trpt_conf_dkim
static const struct trpt_config_key dkim_keys[] = {
	ENUMKEY("require", require, require_choices, NULL),
	KEY("nameserver", STR, nameserver, 1, 255, NULL, 0),
	KEY("timeout", UINT, timeout, 1, 60, NULL, 0),
	KEY("cache", COUNT, cache, 0, 1000000, NULL, 0),
	END,
};
#undef S

#define S struct trpt_conf_dashboard
static const struct trpt_config_key dashboard_keys[] = {
	KEY("listen", STR, listen, 1, 255, NULL, 0),
	KEY("password_file", STR, password_file, 1, PATHMAX, NULL, 0),
	KEY("tls_cert", STR, tls_cert, 1, PATHMAX, NULL, 0),
	KEY("tls_key", STR, tls_key, 1, PATHMAX, NULL, 0),
	END,
};
#undef S

static void
init_limits(void *out)
{
	trpt_limits_default(out);
}

static void
init_serve(void *out)
{
	struct trpt_conf_serve *s = out;
	struct trpt_limits lim;

	trpt_limits_default(&lim);
	trpt_receiver_config_default(&s->rx, &lim);
	s->drain_timeout = 30;
	s->busy_timeout = TRPT_DB_BUSY_TIMEOUT_MS;
}

static void
init_alerts(void *out)
{
	trpt_alert_config_init(out);
}

static void
init_https(void *out)
{
	struct trpt_conf_https *h = out;
	struct trpt_pull_source src;
	struct trpt_limits lim;

	trpt_limits_default(&lim);
	trpt_pull_source_default(&src, &lim);
	h->connect_timeout = src.connect_timeout;
	h->timeout = src.timeout;
	h->retries = src.retries;
	h->retry_delay = src.retry_delay_ms;
	h->max_size = 0; /* max_message of [limits], known to the caller */
	h->max_entries = src.max_entries;
}

/* The live check's defaults, in the units of the file. */
static void
init_check(void *out)
{
	struct trpt_conf_check *k = out;
	struct trpt_check_config c;

	trpt_check_config_init(&c);
	k->resolver = c.resolver;
	k->trust_anchor = c.trust_anchor;
	k->ca_file = c.cafile;
	k->helo = NULL; /* the command's: this host's name */
	k->smtp_port = c.smtp_port;
	k->https_port = c.https_port;
	k->timeout = c.timeout_ms / 1000;
	k->dns_timeout = c.dns_timeout_ms / 1000;
	k->max_time = c.max_time_ms / 1000;
	k->max_mx = c.max_mx;
	k->max_policy = c.max_policy;
}

static void
init_dkim(void *out)
{
	struct trpt_conf_dkim *k = out;
	struct trpt_dkim_config c;

	trpt_dkim_config_default(&c);
	k->require = (int)c.require;
	k->nameserver = c.nameserver;
	k->timeout = c.timeout_ms / 1000;
	k->cache = c.cache_max;
}

static int finish_dkim(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, void *out, struct trpt_err *err);
static int finish_dashboard(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, void *out, struct trpt_err *err);
static int finish_serve(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, void *out, struct trpt_err *err);
static int finish_imap(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, void *out, struct trpt_err *err);
static int finish_https(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, void *out, struct trpt_err *err);

static const struct section_def sections[] = {
	{ "", 0, main_keys, sizeof(struct trpt_conf_main), NULL, NULL },
	{ "limits", 0, limits_keys, sizeof(struct trpt_limits), init_limits,
	    NULL },
	{ "serve", 0, serve_keys, sizeof(struct trpt_conf_serve), init_serve,
	    finish_serve },
	{ "alerts", 0, alerts_keys, sizeof(struct trpt_alert_config),
	    init_alerts, NULL },
	{ "summary", 0, summary_keys, sizeof(struct trpt_conf_summary), NULL,
	    NULL },
	{ "imap", 1, imap_keys, sizeof(struct trpt_conf_imap), NULL,
	    finish_imap },
	{ "https", 1, https_keys, sizeof(struct trpt_conf_https), init_https,
	    finish_https },
	{ "check", 0, check_keys, sizeof(struct trpt_conf_check), init_check,
	    NULL },
	{ "dkim", 0, dkim_keys, sizeof(struct trpt_conf_dkim), init_dkim,
	    finish_dkim },
	{ "dashboard", 0, dashboard_keys, sizeof(struct trpt_conf_dashboard),
	    NULL, finish_dashboard },
	{ "notify", 0, notify_keys, sizeof(struct trpt_conf_notify), NULL,
	    NULL },
	{ "webhook", 1, webhook_keys, sizeof(struct trpt_conf_webhook), NULL,
	    NULL },
};

#undef KEY
#undef ENUMKEY
#undef END
#undef REQUIRED
#undef URL

/* ---- checking and reading a section by its table ---- */

static const struct section_def *
def_for(const char *type)
{
	size_t i;

	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (strcmp(sections[i].type, type) == 0)
			return &sections[i];
	return NULL;
}

/* "[imap \"reports\"]", "[limits]", or "the top of the file". */
static const char *
label(const struct trpt_config_section *sec, char *buf, size_t n)
{
	char t[64], nm[128];

	if (sec->type[0] == '\0')
		snprintf(buf, n, "the top of the file");
	else if (sec->name[0] == '\0')
		snprintf(buf, n, "[%s]", trpt_text_escape(sec->type, t, 48));
	else
		snprintf(buf, n, "[%s \"%s\"]",
		    trpt_text_escape(sec->type, t, 48),
		    trpt_text_escape(sec->name, nm, 100));
	return buf;
}

/* The line of the first (or nth) key, else the section's. */
static int
key_line(const struct trpt_config_section *sec, const char *key, size_t nth)
{
	int i = find_key(sec, key, nth);

	return i < 0 ? sec->line : sec->lines[i];
}

/* "config FILE: line N: [sec] key = "value": why" */
static int
bad_key(const struct trpt_config *cfg, const struct trpt_config_section *sec,
    const struct trpt_config_key *k, int line, const char *value,
    const char *why, struct trpt_err *err)
{
	char lb[200], v[72];

	if (sec == NULL)
		return trpt_err_set(err, TRPT_EINVAL,
		    "config: the default of %s is wrong: %s", k->key, why);
	label(sec, lb, sizeof(lb));
	if (value == NULL)
		return trpt_err_set(err, TRPT_EINVAL,
		    "config %s: line %d: %s %s: %s", cfg->path, line, lb,
		    k->key, why);
	if (k->flags & TRPT_CONF_URL)
		trpt_text_redact_url(value, v, sizeof(v));
	else
		trpt_text_escape(value, v, sizeof(v));
	return trpt_err_set(err, TRPT_EINVAL,
	    "config %s: line %d: %s %s = \"%s\": %s", cfg->path, line, lb,
	    k->key, v, why);
}

/* "10M" for 10485760: sizes in messages as they are written. */
static void
fmt_size(uint64_t v, char *buf, size_t n)
{
	static const char suffix[] = "kMG";
	int i = -1;

	while (i < 2 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, n, "%llu", (unsigned long long)v);
	else
		snprintf(buf, n, "%llu%c", (unsigned long long)v, suffix[i]);
}

static int
parse_bool(const char *v, int *out)
{
	if (strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
	    strcmp(v, "1") == 0 || strcasecmp(v, "on") == 0)
		*out = 1;
	else if (strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
		 strcmp(v, "0") == 0 || strcasecmp(v, "off") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* Parses v for k and stores it at base + k->offset. */
static int
set_value(const struct trpt_config *cfg, const struct trpt_config_section *sec,
    const struct trpt_config_key *k, int line, const char *v, void *base,
    struct trpt_err *err)
{
	char *at = (char *)base + k->offset;
	char why[200], lo[32], hi[32];
	uint64_t n;
	size_t len, i;
	int b;

	switch (k->type) {
	case TRPT_CONF_STR:
	case TRPT_CONF_LIST:
		len = strlen(v);
		if (len < k->min || len == 0)
			return bad_key(
			    cfg, sec, k, line, v, "must not be empty", err);
		if (len > k->max) {
			snprintf(why, sizeof(why),
			    "longer than %llu characters",
			    (unsigned long long)k->max);
			return bad_key(cfg, sec, k, line, v, why, err);
		}
		if (k->type == TRPT_CONF_STR)
			memcpy(at, &v, sizeof(v));
		return TRPT_OK;
	case TRPT_CONF_BOOL:
		if (parse_bool(v, &b) != 0)
			return bad_key(cfg, sec, k, line, v,
			    "expected true or false", err);
		memcpy(at, &b, sizeof(b));
		return TRPT_OK;
	case TRPT_CONF_ENUM:
		for (i = 0; k->choices[i].name != NULL; i++)
			if (strcasecmp(v, k->choices[i].name) == 0) {
				memcpy(at, &k->choices[i].value, sizeof(int));
				return TRPT_OK;
			}
		snprintf(why, sizeof(why), "expected");
		for (i = 0; k->choices[i].name != NULL; i++) {
			len = strlen(why);
			snprintf(why + len, sizeof(why) - len, "%s%s",
			    i == 0                           ? " "
			    : k->choices[i + 1].name != NULL ? ", "
							     : " or ",
			    k->choices[i].name);
		}
		return bad_key(cfg, sec, k, line, v, why, err);
	case TRPT_CONF_UINT:
	case TRPT_CONF_INT64:
	case TRPT_CONF_PERCENT:
	case TRPT_CONF_SIZE:
	case TRPT_CONF_COUNT:
		break;
	}
	if (parse_uint(v, k->type == TRPT_CONF_SIZE, &n) != 0 || n < k->min ||
	    n > k->max) {
		if (k->type == TRPT_CONF_SIZE) {
			fmt_size(k->min, lo, sizeof(lo));
			fmt_size(k->max, hi, sizeof(hi));
			snprintf(why, sizeof(why),
			    "expected a size from %s to %s, such as 10M, 512k "
			    "or 1048576",
			    lo, hi);
		} else
			snprintf(why, sizeof(why),
			    "expected a %snumber from %llu to %llu",
			    k->type == TRPT_CONF_PERCENT ? "whole " : "",
			    (unsigned long long)k->min,
			    (unsigned long long)k->max);
		return bad_key(cfg, sec, k, line, v, why, err);
	}
	switch (k->type) {
	case TRPT_CONF_UINT: {
		unsigned u = (unsigned)n;

		memcpy(at, &u, sizeof(u));
		break;
	}
	case TRPT_CONF_INT64: {
		int64_t s = (int64_t)n;

		memcpy(at, &s, sizeof(s));
		break;
	}
	case TRPT_CONF_PERCENT: {
		double d = (double)n / 100.0;

		memcpy(at, &d, sizeof(d));
		break;
	}
	default: {
		size_t z = (size_t)n;

		memcpy(at, &z, sizeof(z));
		break;
	}
	}
	return TRPT_OK;
}

/* Fills base from the defaults of def and the keys of sec (may be NULL). */
static int
read_section(const struct trpt_config *cfg, const struct section_def *def,
    const struct trpt_config_section *sec, void *base, struct trpt_err *err)
{
	const struct trpt_config_key *k;
	struct trpt_config_list list;
	char lb[200], why[96];
	size_t i, n;
	int rc;

	if (def->size > 0)
		memset(base, 0, def->size);
	if (def->init != NULL)
		def->init(base);
	for (i = 0; sec != NULL && i < sec->nkeys; i++) {
		for (k = def->keys; k->key != NULL; k++)
			if (strcmp(k->key, sec->keys[i]) == 0)
				break;
		if (k->key == NULL) {
			char kb[72];

			return trpt_err_set(err, TRPT_EINVAL,
			    "config %s: line %d: unknown key \"%s\" in %s",
			    cfg->path, sec->lines[i],
			    trpt_text_escape(sec->keys[i], kb, sizeof(kb)),
			    label(sec, lb, sizeof(lb)));
		}
	}
	for (k = def->keys; k->key != NULL; k++) {
		n = 0;
		while (sec != NULL && find_key(sec, k->key, n) >= 0)
			n++;
		if (k->type == TRPT_CONF_LIST) {
			if (n > k->max || (n > 0 && n < k->min)) {
				snprintf(why, sizeof(why),
				    "given %zu times; at most %llu", n,
				    (unsigned long long)k->max);
				return bad_key(cfg, sec, k,
				    key_line(sec, k->key, n - 1), NULL, why,
				    err);
			}
			for (i = 0; i < n; i++)
				if ((rc = set_value(cfg, sec, k,
					 key_line(sec, k->key, i),
					 trpt_config_get(sec, k->key, i), base,
					 err)) != TRPT_OK)
					return rc;
			list.sec = sec;
			list.key = k->key;
			list.n = n;
			memcpy((char *)base + k->offset, &list, sizeof(list));
			continue;
		}
		if (n > 1)
			return bad_key(cfg, sec, k, key_line(sec, k->key, 1),
			    NULL, "given more than once", err);
		if (n == 1)
			rc = set_value(cfg, sec, k, key_line(sec, k->key, 0),
			    trpt_config_get(sec, k->key, 0), base, err);
		else if (sec != NULL && (k->flags & TRPT_CONF_REQUIRED))
			rc = bad_key(
			    cfg, sec, k, sec->line, NULL, "missing", err);
		else if (k->def != NULL)
			rc = set_value(cfg, NULL, k, 0, k->def, base, err);
		else
			rc = TRPT_OK;
		if (rc != TRPT_OK)
			return rc;
	}
	if (sec != NULL && def->finish != NULL)
		return def->finish(cfg, sec, base, err);
	return TRPT_OK;
}

const char *
trpt_config_list_at(const struct trpt_config_list *l, size_t i)
{
	return i < l->n ? trpt_config_get(l->sec, l->key, i) : NULL;
}

int
trpt_config_read(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, const char *type, void *out,
    size_t outsize, struct trpt_err *err)
{
	const struct section_def *def = def_for(type);

	if (def == NULL || def->size != outsize ||
	    (sec != NULL && strcmp(sec->type, type) != 0))
		return trpt_err_set(err, TRPT_EINVAL,
		    "config: no table for section [%s] of that size", type);
	if (sec == NULL && !def->named)
		sec = trpt_config_find(cfg, type, "");
	return read_section(cfg, def, sec, out, err);
}

int
trpt_config_validate(const struct trpt_config *cfg, struct trpt_err *err)
{
	const struct trpt_config_section *sec, *other;
	const struct section_def *def;
	char lb[200], t[64];
	void *scratch;
	size_t i, j;
	int rc;

	for (i = 0; i < cfg->nsecs; i++) {
		sec = &cfg->secs[i];
		def = def_for(sec->type);
		if (def == NULL)
			return trpt_err_set(err, TRPT_EINVAL,
			    "config %s: line %d: unknown section [%s]",
			    cfg->path, sec->line,
			    trpt_text_escape(sec->type, t, 48));
		if (def->named && sec->name[0] == '\0')
			return trpt_err_set(err, TRPT_EINVAL,
			    "config %s: line %d: [%s] needs a name: [%s "
			    "\"NAME\"]",
			    cfg->path, sec->line, def->type, def->type);
		if (!def->named && sec->name[0] != '\0')
			return trpt_err_set(err, TRPT_EINVAL,
			    "config %s: line %d: %s: [%s] takes no name",
			    cfg->path, sec->line, label(sec, lb, sizeof(lb)),
			    def->type);
		for (j = 0; j < i; j++) {
			other = &cfg->secs[j];
			if (strcmp(other->type, sec->type) == 0 &&
			    strcmp(other->name, sec->name) == 0)
				return trpt_err_set(err, TRPT_EINVAL,
				    "config %s: line %d: %s given twice "
				    "(first on line %d)",
				    cfg->path, sec->line,
				    label(sec, lb, sizeof(lb)), other->line);
		}
		scratch = calloc(1, def->size > 0 ? def->size : 1);
		if (scratch == NULL)
			return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		rc = read_section(cfg, def, sec, scratch, err);
		free(scratch);
		if (rc != TRPT_OK)
			return rc;
	}
	return TRPT_OK;
}

/* ---- rules across keys ---- */

static int
finish_serve(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, void *out, struct trpt_err *err)
{
	struct trpt_conf_serve *s = out;
	char lb[200];

	if ((s->tls_cert == NULL) != (s->tls_key == NULL))
		return trpt_err_set(err, TRPT_EINVAL,
		    "config %s: line %d: %s tls_cert and tls_key go together",
		    cfg->path,
		    key_line(
			sec, s->tls_cert != NULL ? "tls_cert" : "tls_key", 0),
		    label(sec, lb, sizeof(lb)));
	return TRPT_OK;
}

static int
finish_imap(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, void *out, struct trpt_err *err)
{
	struct trpt_conf_imap *m = out;
	const char *v = m->after;
	struct trpt_err e2;
	char lb[200], why[TRPT_ERR_MSG_LEN];

	label(sec, lb, sizeof(lb));
	if ((m->password_file == NULL) == (m->password_env == NULL))
		return trpt_err_set(err, TRPT_EINVAL,
		    "config %s: line %d: %s password_file: give exactly one of "
		    "password_file and password_env",
		    cfg->path,
		    key_line(sec,
			m->password_env != NULL ? "password_env"
						: "password_file",
			0),
		    lb);
	if (strcmp(v, "keep") == 0)
		m->after_action = TRPT_IMAP_KEEP;
	else if (strcmp(v, "seen") == 0)
		m->after_action = TRPT_IMAP_SEEN;
	else if (strcmp(v, "delete") == 0)
		m->after_action = TRPT_IMAP_DELETE;
	else if (strncmp(v, "move:", 5) == 0 && v[5] != '\0') {
		m->after_action = TRPT_IMAP_MOVE;
		m->after_folder = v + 5;
	} else
		return trpt_err_set(err, TRPT_EINVAL,
		    "config %s: line %d: %s after: expected keep, seen, "
		    "move:FOLDER or delete",
		    cfg->path, key_line(sec, "after", 0), lb);
	if (m->after_action != TRPT_IMAP_KEEP && m->read_only)
		return trpt_err_set(err, TRPT_EINVAL,
		    "config %s: line %d: %s after: seen, move and delete "
		    "change the mailbox: set read_only = false",
		    cfg->path, key_line(sec, "after", 0), lb);
	if (m->since != NULL &&
	    trpt_datetime_parse_user(m->since, (int64_t)time(NULL),
		&m->since_time, &e2) != TRPT_OK) {
		trpt_text_escape(e2.msg, why, sizeof(why));
		return trpt_err_set(err, TRPT_EINVAL,
		    "config %s: line %d: %s since: %.150s", cfg->path,
		    key_line(sec, "since", 0), lb, why);
	}
	return TRPT_OK;
}

static int
finish_https(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, void *out, struct trpt_err *err)
{
	struct trpt_conf_https *h = out;
	char lb[200];

	if (strncasecmp(h->url, "https://", 8) != 0)
		return trpt_err_set(err, TRPT_EINVAL,
		    "config %s: line %d: %s url: must start with https:// "
		    "(certificates are always verified)",
		    cfg->path, key_line(sec, "url", 0),
		    label(sec, lb, sizeof(lb)));
	return TRPT_OK;
}

static int
finish_dkim(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, void *out, struct trpt_err *err)
{
	struct trpt_conf_dkim *k = out;
	struct trpt_err e2;
	char lb[200], why[TRPT_ERR_MSG_LEN];

	if (k->nameserver != NULL &&
	    trpt_dkim_nameserver_check(k->nameserver, &e2) != TRPT_OK) {
		trpt_text_escape(e2.msg, why, sizeof(why));
		return trpt_err_set(err, TRPT_EINVAL,
		    "config %s: line %d: %s nameserver: %.150s", cfg->path,
		    key_line(sec, "nameserver", 0), label(sec, lb, sizeof(lb)),
		    why);
	}
	return TRPT_OK;
}

static int
finish_dashboard(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, void *out, struct trpt_err *err)
{
	struct trpt_conf_dashboard *d = out;
	char lb[200];

	if ((d->tls_cert == NULL) != (d->tls_key == NULL))
		return trpt_err_set(err, TRPT_EINVAL,
		    "config %s: line %d: %s tls_cert and tls_key go together",
		    cfg->path,
		    key_line(
			sec, d->tls_cert != NULL ? "tls_cert" : "tls_key", 0),
		    label(sec, lb, sizeof(lb)));
	return TRPT_OK;
}

const char *
trpt_config_db(const struct trpt_config *cfg)
{
	struct trpt_conf_main m;

	/* Checked when the file was loaded: this read cannot fail. */
	if (trpt_config_read(cfg, NULL, "", &m, sizeof(m), NULL) != TRPT_OK)
		return NULL;
	return m.db;
}

#pragma once
/*
 * The INI configuration file (libinih).  Sections are "[type]" or
 * "[type \"name\"]", e.g. [limits], [imap "reports"], [https "hosted"],
 * [serve], [summary].  Keys may repeat only where the table says so
 * (mailbox = A, mailbox = B).
 *
 * Every section type and every key is declared once, in a table in
 * config.c (key, type, min, max, default, offset into the section's
 * struct below; Postfix's CONFIG_INT_TABLE is the model).  Loading a file
 * checks all of it against the tables: an unknown section or key, a value
 * of the wrong type or out of bounds, a repeated key or section, a missing
 * required key are refused with the file, line and key, whatever command
 * runs.  A command then fills its section's struct with trpt_config_read.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/limits.h"
#include "ingest/receiver.h"
#include "report/alert.h"

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
 * secrets), as is a syntax error (with its line) and anything the tables
 * refuse (trpt_config_validate).  Caller frees.
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

/* Fills lim with the defaults and what [limits] sets. */
int trpt_config_limits(const struct trpt_config *cfg, struct trpt_limits *lim,
    struct trpt_err *err);

/*
 * Reads a secret from a file (first line, no newline), refusing a file
 * readable by group or others.  Caller wipes and frees *out.
 */
int trpt_config_read_secret_file(
    const char *path, char **out, struct trpt_err *err);

/*
 * The tables.  A value's type decides its parsing and its target:
 */
enum trpt_config_type {
	TRPT_CONF_STR,     /* const char * into the configuration; min..max
			      bound its length */
	TRPT_CONF_LIST,    /* a key that may repeat: struct trpt_config_list;
			      min..max bound the count, no value is empty */
	TRPT_CONF_BOOL,    /* int: true/false, yes/no, on/off, 1/0 */
	TRPT_CONF_UINT,    /* unsigned, min..max (max <= UINT_MAX) */
	TRPT_CONF_INT64,   /* int64_t, min..max */
	TRPT_CONF_SIZE,    /* size_t bytes, k/M/G suffixes (powers of 1024) */
	TRPT_CONF_COUNT,   /* size_t, a plain number */
	TRPT_CONF_PERCENT, /* double: whole percentage points min..max, stored
			      as a fraction (5 -> 0.05) */
	TRPT_CONF_ENUM     /* int: the value of the choice written */
};

struct trpt_config_choice {
	const char *name;
	int value;
};

#define TRPT_CONF_REQUIRED 1u /* the key must be given */
#define TRPT_CONF_URL      2u /* credentials in it are never printed */

struct trpt_config_key {
	const char *key;
	enum trpt_config_type type;
	size_t offset; /* of the target in the section's struct */
	uint64_t min, max;
	/* The value when the key is absent, parsed like a written one; NULL
	 * keeps the section's init value (a library default). */
	const char *def;
	const struct trpt_config_choice *choices; /* ENUM: ends with NULL */
	unsigned flags;
};

/* The values of a repeatable key, borrowed from the configuration. */
struct trpt_config_list {
	const struct trpt_config_section *sec;
	const char *key;
	size_t n;
};

/* The ith value of l (i < l->n). */
const char *trpt_config_list_at(const struct trpt_config_list *l, size_t i);

/* [serve]: the receiver's settings and the command's own. */
struct trpt_conf_serve {
	struct trpt_receiver_config rx; /* max_body: from [limits] */
	struct trpt_config_list paths;
	struct trpt_config_list allow; /* networks, blank or comma apart */
	const char *tls_cert;          /* PEM file paths, both or neither */
	const char *tls_key;
	unsigned drain_timeout; /* seconds */
	unsigned busy_timeout;  /* milliseconds */
};

/* [summary] */
struct trpt_conf_summary {
	const char *from;
	struct trpt_config_list to; /* each may hold several, comma-separated */
	const char *smtp_url;
	const char *username;
	const char *password_file;
	const char *ca_file;
	int starttls;        /* enum trpt_mail_tls */
	const char *send_at; /* run: "Mon 07:00" (UTC), or NULL */
};

/* Keys before any section. */
struct trpt_conf_main {
	const char *db; /* db = PATH */
};

/* [notify]: alert delivery by run. */
struct trpt_conf_notify {
	struct trpt_config_list mail_to; /* each may hold several */
	unsigned interval;               /* seconds between evaluations */
	int recheck;                     /* live check when an alert opens */
};

/* [webhook "NAME"] */
struct trpt_conf_webhook {
	const char *url;
	int format; /* enum trpt_webhook_format */
	const char *ca_file;
	unsigned timeout; /* seconds */
};

/* [imap "NAME"] */
struct trpt_conf_imap {
	const char *host;
	unsigned port; /* 0: 993 with tls, else 143 */
	int security;  /* enum trpt_imap_security */
	const char *ca_file;
	const char *username;
	const char *password_file; /* exactly one of the two */
	const char *password_env;
	struct trpt_config_list mailboxes; /* none: INBOX */
	int read_only;
	const char *after;        /* as written */
	int after_action;         /* enum trpt_imap_after, from after */
	const char *after_folder; /* move:FOLDER; points into after */
	const char *since;        /* as written */
	int64_t since_time;       /* from since (UTC seconds), or 0 */
	unsigned connect_timeout;
	unsigned timeout;
	unsigned batch;
	unsigned deadline; /* seconds for a whole run */
	int idle;          /* run: IMAP IDLE when offered */
	unsigned interval; /* run: seconds between runs without IDLE */
};

/* [https "NAME"] */
struct trpt_conf_https {
	const char *url;
	const char *bearer_token_file;
	const char *ca_file;
	unsigned connect_timeout; /* seconds */
	unsigned timeout;         /* seconds */
	unsigned retries;
	unsigned retry_delay; /* milliseconds */
	size_t max_size;      /* 0: max_message of [limits] */
	size_t max_entries;
	unsigned interval; /* run: seconds between pulls */
};

/* [check]: the live check (collector/cmd_check.c) */
struct trpt_conf_check {
	const char *resolver;
	const char *trust_anchor;
	const char *ca_file;
	const char *helo;
	unsigned smtp_port;
	unsigned https_port;
	unsigned timeout;     /* seconds */
	unsigned dns_timeout; /* seconds */
	unsigned max_time;    /* seconds for the whole check */
	size_t max_mx;
	size_t max_policy; /* bytes */
};

/* [dkim]: verifying report mail (ingest/dkim.h) */
struct trpt_conf_dkim {
	int require;            /* enum trpt_dkim_require */
	const char *nameserver; /* NULL: /etc/resolv.conf */
	unsigned timeout;       /* seconds */
	size_t cache;           /* keys cached */
};

/* [dashboard]: the read-only web dashboard (collector/dashboard.h) */
struct trpt_conf_dashboard {
	const char *listen; /* NULL: TRPT_DASHBOARD_LISTEN */
	const char *password_file;
	const char *tls_cert; /* PEM file paths, both or neither */
	const char *tls_key;
};
/* db = PATH, given before any section, or NULL. */
const char *trpt_config_db(const struct trpt_config *cfg);

/*
 * Checks every section of cfg against the tables (trpt_config_load does it;
 * exposed for tests).  Fails with TRPT_EINVAL naming the file, line, section
 * and key.
 */
int trpt_config_validate(const struct trpt_config *cfg, struct trpt_err *err);

/*
 * Fills out, a struct of size outsize that section type's table describes
 * (struct trpt_limits for "limits", struct trpt_alert_config for "alerts",
 * struct trpt_conf_X for the others): first the defaults, then what sec
 * holds.  sec NULL takes the unnamed section of that type if the file has
 * one, else gives the defaults.  Strings borrow from cfg.  TRPT_EINVAL as
 * trpt_config_validate.
 */
int trpt_config_read(const struct trpt_config *cfg,
    const struct trpt_config_section *sec, const char *type, void *out,
    size_t outsize, struct trpt_err *err);

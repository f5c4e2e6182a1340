#pragma once
/*
 * The read-only web dashboard (libmicrohttpd): its own listen address,
 * loopback by default; HTTP basic authentication against a file of
 * PBKDF2 hashes (common/passwd.h), required when it listens anywhere but
 * loopback; native TLS like the receiver.  Pages come from report/dash.h;
 * every answer carries a strict Content-Security-Policy (nothing but the
 * page's own origin, no script, no inline style).
 *
 * Started by "serve" (and the daemon) beside the receiver; it opens its
 * own connection to the database and only reads, except for bringing the
 * trend rollups up to date (skipped when the database is busy).
 */

#include "collector/cli.h"
#include "common/err.h"
#include "report/alert.h"

struct trpt_dashboard_config {
	const char *listen;    /* "ADDR:PORT"; default 127.0.0.1:8461 */
	const char *db_path;   /* the database to read */
	const char *passwords; /* the password file's text, or NULL */
	const char *tls_cert_pem, *tls_key_pem; /* both or neither */
	struct trpt_alert_config alerts;
};

#define TRPT_DASHBOARD_LISTEN "127.0.0.1:8461"

void trpt_dashboard_config_default(struct trpt_dashboard_config *cfg);

struct trpt_dashboard;

/*
 * Binds and serves from a thread of its own.  cfg's strings are copied.
 * TRPT_EINVAL for a bad address, TLS material or password file, or a
 * non-loopback address without passwords; TRPT_EIO when it cannot bind.
 */
int trpt_dashboard_start(const struct trpt_dashboard_config *cfg,
    struct trpt_dashboard **out, struct trpt_err *err);

/* The port bound, and "http(s)://ADDR:PORT/" (valid until stopped). */
unsigned trpt_dashboard_port(const struct trpt_dashboard *d);
const char *trpt_dashboard_url(const struct trpt_dashboard *d);

/* Stops serving and frees d.  Accepts NULL. */
void trpt_dashboard_stop(struct trpt_dashboard **dp);

/*
 * The [dashboard] section (listen, password_file, tls_cert, tls_key) and
 * [alerts], read for "serve" and the daemon.  enabled is 1 when the
 * section exists or listen_arg (a --dashboard option, may be NULL) is
 * given.  The files' contents are kept in s until
 * trpt_dashboard_settings_free.  Prints the problem and returns
 * TRPT_EXIT_USAGE for a bad section.
 */
struct trpt_dashboard_settings {
	struct trpt_dashboard_config cfg;
	int enabled;
	char *passwords, *cert, *key;
};

int trpt_dashboard_settings_load(struct trpt_cli *cli, const char *listen_arg,
    struct trpt_dashboard_settings *s);
void trpt_dashboard_settings_free(struct trpt_dashboard_settings *s);

/*
 * "dashboard-password [USER]": reads a password from the first line of
 * standard input and prints the line for the password file.
 */
int trpt_dashboard_password_run(struct trpt_cli *cli, int argc, char **argv);

#include "collector/cmd_summary.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector/cmd_alerts.h"
#include "common/outfile.h"
#include "report/mail_send.h"
#include "report/notify.h"
#include "report/summary.h"
#include "report/trend.h"

#define MAX_TO 64

static void
summary_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector summary [--week YYYY-Www] [--domain D]\n"
	    "           (-o FILE | --send)\n"
	    "\n"
	    "Builds the weekly summary e-mail (MIME multipart/alternative,\n"
	    "text and self-contained HTML): per domain the sessions, the\n"
	    "success rate and its change against the week before, a bar per\n"
	    "day, the senders and MX hosts with the most failures, each\n"
	    "failure type with its probable cause and fix, and the week's\n"
	    "alerts.\n"
	    "\n"
	    "  --week W     ISO week, e.g. 2026-W05 (default: last week)\n"
	    "  --domain D   only policy domain D (default: every domain)\n"
	    "  -o FILE      write the message to FILE (\"-\": standard "
	    "output)\n"
	    "  --send       send it with the [summary] settings\n"
	    "\n"
	    "[summary] in the configuration:\n"
	    "  from = tlsrpt@example.com        sender (required for --send)\n"
	    "  to = admin@example.com           recipient; repeat the key or\n"
	    "                                   separate with commas\n"
	    "  smtp_url = smtp://mail.example.com:587   or smtps://...:465\n"
	    "  starttls = required              smtp:// needs STARTTLS; "
	    "\"no\"\n"
	    "                                   only for a local relay\n"
	    "  username = ...                   AUTH, with password_file\n"
	    "  password_file = /etc/tlsrpt-collector/smtp.pass (mode 0600)\n"
	    "  ca_file = ...                    CA bundle (default: system)\n"
	    "Exit status: 0 written or sent, 2 usage or configuration, 3\n"
	    "database, I/O or SMTP failure.\n");
}

struct settings {
	const char *from, *url, *username, *password_file, *ca_file;
	char *to_buf[MAX_TO];
	const char *to[MAX_TO];
	size_t nto;
	enum trpt_mail_tls tls;
};

static void
settings_free(struct settings *s)
{
	size_t i;

	for (i = 0; i < s->nto; i++)
		free(s->to_buf[i]);
	s->nto = 0;
}

static int
add_to(struct settings *s, const char *v)
{
	size_t i = s->nto;
	int rc = trpt_cli_split_list(v, s->to_buf, MAX_TO, &s->nto);

	for (; i < s->nto; i++)
		s->to[i] = s->to_buf[i];
	if (rc == TRPT_ELIMIT) {
		trpt_cli_warn("summary: more than %d recipients", MAX_TO);
		return TRPT_EXIT_USAGE;
	}
	if (rc != TRPT_OK) {
		trpt_cli_warn("summary: out of memory");
		return TRPT_EXIT_FATAL;
	}
	return TRPT_EXIT_OK;
}

static int
read_settings(const struct trpt_cli *cli, struct settings *s)
{
	struct trpt_conf_summary c;
	struct trpt_err err;
	size_t i;
	int status;

	memset(s, 0, sizeof(*s));
	if (trpt_config_read(cli->cfg, NULL, "summary", &c, sizeof(c), &err) !=
	    TRPT_OK) {
		trpt_cli_warn("summary: %s", err.msg);
		return TRPT_EXIT_USAGE;
	}
	s->from = c.from;
	s->url = c.smtp_url;
	s->username = c.username;
	s->password_file = c.password_file;
	s->ca_file = c.ca_file;
	s->tls = (enum trpt_mail_tls)c.starttls;
	for (i = 0; i < c.to.n; i++)
		if ((status = add_to(s, trpt_config_list_at(&c.to, i))) !=
		    TRPT_EXIT_OK)
			return status;
	return TRPT_EXIT_OK;
}

static int
write_file(const char *path, const char *msg, size_t len)
{
	struct trpt_outfile out;
	struct trpt_err err;

	if (trpt_outfile_open(path, &out, &err) != TRPT_OK) {
		trpt_cli_warn("summary: %s", err.msg);
		return TRPT_EXIT_FATAL;
	}
	if (fwrite(msg, 1, len, out.f) != len) {
		trpt_err_set(&err, TRPT_EIO, "%s: %s", path, strerror(errno));
		trpt_outfile_abort(&out);
	} else if (trpt_outfile_commit(&out, &err) == TRPT_OK)
		return TRPT_EXIT_OK;
	if (strcmp(path, "-") == 0 && trpt_cli_stdout_gone())
		return TRPT_EXIT_OK;
	trpt_cli_warn("summary: %s", err.msg);
	return TRPT_EXIT_FATAL;
}

static int
send_message(const struct settings *s, const char *msg, size_t len)
{
	struct trpt_mail m;
	struct trpt_err err;
	char *password = NULL;
	size_t i;
	int rc;

	if (s->url == NULL) {
		trpt_cli_warn("summary: --send needs smtp_url in [summary]");
		return TRPT_EXIT_USAGE;
	}
	memset(&m, 0, sizeof(m));
	m.url = s->url;
	m.from = s->from;
	m.to = s->to;
	m.nto = s->nto;
	m.username = s->username;
	m.ca_file = s->ca_file;
	m.tls = s->tls;
	if (s->password_file != NULL) {
		if (trpt_config_read_secret_file(
			s->password_file, &password, &err) != TRPT_OK) {
			trpt_cli_warn("summary: %s", err.msg);
			return TRPT_EXIT_USAGE;
		}
		m.password = password;
	}
	rc = trpt_mail_send_message(&m, msg, len, &err);
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	if (rc != TRPT_OK) {
		trpt_cli_warn("summary: %s", err.msg);
		return rc == TRPT_EINVAL ? TRPT_EXIT_USAGE : TRPT_EXIT_FATAL;
	}
	printf("sent to ");
	for (i = 0; i < s->nto; i++)
		printf("%s%s", i > 0 ? ", " : "", s->to[i]);
	printf(" via %s (%zu bytes)\n", s->url, len);
	return TRPT_EXIT_OK;
}

int
trpt_cmd_summary_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "week", required_argument, NULL, 'w' },
		{ "domain", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "send", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const default_to[] = { "postmaster@localhost" };
	struct trpt_summary_opts so;
	struct trpt_alert_config ac;
	struct settings s;
	struct trpt_db *db = NULL;
	struct trpt_err err;
	const char *output = NULL;
	char *msg = NULL;
	size_t len = 0;
	int64_t now = (int64_t)time(NULL), today = now / 86400;
	int c, rc, status, send = 0;

	memset(&so, 0, sizeof(so));
	/* Last complete ISO week. */
	so.monday = trpt_trend_period_start(TRPT_PERIOD_WEEK,
			trpt_trend_period_of(TRPT_PERIOD_WEEK, today)) -
		    7;
	while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			if (trpt_trend_parse_week(optarg, &so.monday, &err) !=
			    TRPT_OK) {
				trpt_cli_warn("summary: --week: %s", err.msg);
				return TRPT_EXIT_USAGE;
			}
			break;
		case 'd':
			so.domain = trpt_cli_domain_arg(optarg);
			break;
		case 'o':
			output = optarg;
			break;
		case 'S':
			send = 1;
			break;
		case 'h':
			summary_usage(stdout);
			return TRPT_EXIT_OK;
		default:
			summary_usage(stderr);
			return TRPT_EXIT_USAGE;
		}
	}
	if (optind != argc || (output == NULL) == (send == 0)) {
		if (optind == argc)
			trpt_cli_warn("summary: give either -o FILE or --send");
		summary_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	if ((status = read_settings(cli, &s)) != TRPT_EXIT_OK)
		goto out;
	if (send && (s.from == NULL || s.nto == 0)) {
		trpt_cli_warn("summary: --send needs from and to in [summary]");
		status = TRPT_EXIT_USAGE;
		goto out;
	}
	so.from = s.from != NULL ? s.from : "tlsrpt-collector@localhost";
	so.to = s.nto > 0 ? s.to : default_to;
	so.nto = s.nto > 0 ? s.nto : 1;
	so.date = now;
	trpt_alert_config_init(&ac);
	if ((status = trpt_cmd_alerts_config(cli, &ac)) != TRPT_EXIT_OK)
		goto out;
	so.alerts = &ac;
	if ((status = trpt_cli_open_db_read(cli, &db)) != TRPT_EXIT_OK)
		goto out;
	rc = trpt_summary_build(db, &so, &msg, &len, &err);
	trpt_db_close(&db);
	if (rc != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		status = trpt_cli_exit_for(rc);
		goto out;
	}
	status =
	    send ? send_message(&s, msg, len) : write_file(output, msg, len);
out:
	free(msg);
	settings_free(&s);
	return status;
}

/* The [summary] relay as a struct trpt_mail, with the password read. */
static int
relay(const struct trpt_cli *cli, struct settings *s, struct trpt_mail *m,
    char **password, struct trpt_err *err)
{
	if (read_settings(cli, s) != TRPT_EXIT_OK)
		return trpt_err_set(
		    err, TRPT_EINVAL, "[summary]: bad settings (see above)");
	if (s->url == NULL || s->from == NULL)
		return trpt_err_set(err, TRPT_EINVAL,
		    "[summary]: mail needs smtp_url and from");
	memset(m, 0, sizeof(*m));
	m->url = s->url;
	m->from = s->from;
	m->to = s->to;
	m->nto = s->nto;
	m->username = s->username;
	m->ca_file = s->ca_file;
	m->tls = s->tls;
	*password = NULL;
	if (s->password_file != NULL) {
		if (trpt_config_read_secret_file(
			s->password_file, password, err) != TRPT_OK)
			return TRPT_EINVAL;
		m->password = *password;
	}
	return TRPT_OK;
}

static void
wipe(char **password)
{
	if (*password != NULL) {
		explicit_bzero(*password, strlen(*password));
		free(*password);
		*password = NULL;
	}
}

int
trpt_cmd_summary_mail_text(const struct trpt_cli *cli, const char *const *to,
    size_t nto, const char *subject, const char *text, struct trpt_err *err)
{
	struct settings s;
	struct trpt_mail m;
	char *password = NULL;
	int rc;

	if ((rc = relay(cli, &s, &m, &password, err)) == TRPT_OK) {
		m.to = to;
		m.nto = nto;
		rc = trpt_notify_mail(&m, subject, text, err);
	}
	wipe(&password);
	settings_free(&s);
	return rc;
}

int
trpt_cmd_summary_build_week(const struct trpt_cli *cli, struct trpt_db *db,
    int64_t monday, char **msg, size_t *len, struct trpt_err *err)
{
	static const char *const default_to[] = { "postmaster@localhost" };
	struct trpt_summary_opts so;
	struct settings s;
	int rc;

	if (read_settings(cli, &s) != TRPT_EXIT_OK)
		return trpt_err_set(
		    err, TRPT_EINVAL, "[summary]: bad settings (see above)");
	memset(&so, 0, sizeof(so));
	so.monday = monday;
	so.from = s.from != NULL ? s.from : "tlsrpt-collector@localhost";
	so.to = s.nto > 0 ? s.to : default_to;
	so.nto = s.nto > 0 ? s.nto : 1;
	so.date = (int64_t)time(NULL);
	rc = trpt_summary_build(db, &so, msg, len, err);
	settings_free(&s);
	return rc;
}

int
trpt_cmd_summary_send_built(const struct trpt_cli *cli, const char *msg,
    size_t len, struct trpt_err *err)
{
	struct settings s;
	struct trpt_mail m;
	char *password = NULL;
	int rc;

	if ((rc = relay(cli, &s, &m, &password, err)) == TRPT_OK) {
		if (s.nto == 0)
			rc = trpt_err_set(
			    err, TRPT_EINVAL, "[summary]: no recipient (to)");
		else
			rc = trpt_mail_send_message(&m, msg, len, err);
	}
	wipe(&password);
	settings_free(&s);
	return rc;
}

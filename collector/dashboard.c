#include "collector/dashboard.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "collector/cmd_alerts.h"
#include "common/buf.h"
#include "common/calendar.h"
#include "common/datetime.h"
#include "common/passwd.h"
#include "ingest/inflate.h"
#include "ingest/receiver.h"
#include "report/dash.h"
#include "report/export.h"
#include "report/html.h"
#include "report/trend.h"
#include "schema/db.h"
#include "schema/view.h"

#define REALM        "tlsrpt-collector dashboard"
#define MAX_SPAN     3660 /* days in one page's range */
#define DEFAULT_SPAN 30
#define INFLATE_MAX  (8u * 1024 * 1024)
#define BUSY_MS      250 /* longest wait for a writer's lock, a page */

/* Nothing but this origin: no script, no inline style, no frames. */
static const char csp[] = "default-src 'none'; style-src 'self'; "
			  "img-src 'self'; form-action 'self'; "
			  "base-uri 'none'; frame-ancestors 'none'";

/* A padlock, so that browsers asking for an icon get one. */
static const char favicon[] =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">"
    "<rect x=\"3\" y=\"7\" width=\"10\" height=\"8\" fill=\"#1f3a5f\"/>"
    "<path d=\"M5 7V5a3 3 0 0 1 6 0v2\" fill=\"none\" stroke=\"#1f3a5f\" "
    "stroke-width=\"2\"/></svg>";

struct trpt_dashboard {
	struct MHD_Daemon *mhd;
	struct trpt_db *db; /* used by the server's one thread only */
	char *passwords;
	char *cert, *key;
	char url[96];
	unsigned port;
	struct trpt_alert_config ac;
	/* The last credentials that passed (SHA-256 of the header value):
	 * PBKDF2 is slow on purpose, and a browser sends them with every
	 * request. */
	uint8_t good[SHA256_DIGEST_SIZE];
	int have_good;
	/* Alerts of the last page, for as long as no report arrives. */
	struct trpt_alerts *alerts;
	int64_t alerts_since, alerts_today, alerts_version;
	char mhd_error[160];
};

void
trpt_dashboard_config_default(struct trpt_dashboard_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = TRPT_DASHBOARD_LISTEN;
	trpt_alert_config_init(&cfg->alerts);
}

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct trpt_dashboard *d = cls;
	char *nl;

	vsnprintf(d->mhd_error, sizeof(d->mhd_error), fmt, ap);
	nl = strchr(d->mhd_error, '\n');
	if (nl != NULL)
		*nl = '\0';
}

static enum MHD_Result
respond(struct MHD_Connection *c, unsigned status, const char *ctype,
    void *body_take, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(
	    len, body_take, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body_take);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(
	    resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
send_static(struct MHD_Connection *c, const char *ctype, const char *text)
{
	char *copy = strdup(text);

	if (copy == NULL)
		return MHD_NO;
	return respond(c, MHD_HTTP_OK, ctype, copy, strlen(copy));
}

/* An error page; msg is escaped. */
static enum MHD_Result
error_page(struct trpt_dashboard *d, struct MHD_Connection *c, unsigned status,
    const char *msg)
{
	struct trpt_dash v = { d->db, 0, 0, NULL, NULL, 0, 0 };
	struct trpt_html h;
	char *out = NULL;
	size_t len = 0;

	v.until_day = time(NULL) / 86400;
	v.since_day = v.until_day - DEFAULT_SPAN + 1;
	trpt_html_init(&h, 64 * 1024);
	trpt_dash_begin(&h, &v, "Error");
	trpt_html_rawf(&h, "<h1>%u</h1><p class=\"bad\">", status);
	trpt_html_text(&h, msg);
	trpt_html_raw(&h, "</p>");
	trpt_dash_end(&h);
	if (trpt_html_finish(&h, &out, &len, NULL) != TRPT_OK)
		return MHD_NO;
	return respond(c, status, "text/html; charset=utf-8", out, len);
}

static unsigned
status_of(int rc)
{
	switch (rc) {
	case TRPT_ENOTFOUND:
		return MHD_HTTP_NOT_FOUND;
	case TRPT_EINVAL:
		return MHD_HTTP_BAD_REQUEST;
	case TRPT_ETEMP:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

/* ---- authentication ---- */

static void
digest(const char *user, const char *pass, uint8_t out[SHA256_DIGEST_SIZE])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, strlen(user) + 1, (const uint8_t *)user);
	sha256_update(&ctx, strlen(pass), (const uint8_t *)pass);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

/* 1 when the request carries a user and password of the file. */
static int
authorized(struct trpt_dashboard *d, struct MHD_Connection *c)
{
	uint8_t dg[SHA256_DIGEST_SIZE];
	char *user, *pass = NULL;
	int ok = 0;

	if (d->passwords == NULL)
		return 1;
	user = MHD_basic_auth_get_username_password(c, &pass);
	if (user == NULL || pass == NULL)
		goto out;
	digest(user, pass, dg);
	if (d->have_good && memeql_sec(dg, d->good, sizeof(dg)))
		ok = 1;
	else if (trpt_passwd_check(d->passwords, user, pass, &ok, NULL) ==
		     TRPT_OK &&
		 ok) {
		memcpy(d->good, dg, sizeof(dg));
		d->have_good = 1;
	}
out:
	if (pass != NULL) {
		explicit_bzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user != NULL)
		MHD_free(user);
	return ok;
}

static enum MHD_Result
refuse(struct MHD_Connection *c)
{
	static const char body[] = "authentication required\n";
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(
	    sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(
	    resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	ret = MHD_queue_basic_auth_fail_response(c, REALM, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- parameters ---- */

static const char *
arg(struct MHD_Connection *c, const char *name)
{
	const char *v =
	    MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* The range of the request: since/until (YYYY-MM-DD, -Nd, now), the
 * last 30 days by default. */
static int
range(struct MHD_Connection *c, struct trpt_dash *v, struct trpt_err *err)
{
	int64_t now = time(NULL), t;
	const char *s;
	int rc;

	v->until_day = trpt_calendar_day(now);
	if ((s = arg(c, "until")) != NULL) {
		if ((rc = trpt_datetime_parse_user(s, now, &t, err)) != TRPT_OK)
			return trpt_err_set(
			    err, TRPT_EINVAL, "until: %s", err->msg);
		v->until_day = trpt_calendar_day(t);
	}
	v->since_day = v->until_day - DEFAULT_SPAN + 1;
	if ((s = arg(c, "since")) != NULL) {
		if ((rc = trpt_datetime_parse_user(s, now, &t, err)) != TRPT_OK)
			return trpt_err_set(
			    err, TRPT_EINVAL, "since: %s", err->msg);
		v->since_day = trpt_calendar_day(t);
	}
	if (v->since_day > v->until_day)
		return trpt_err_set(err, TRPT_EINVAL, "since is after until");
	if (v->until_day - v->since_day >= MAX_SPAN)
		return trpt_err_set(err, TRPT_EINVAL,
		    "a range of at most %d days, please", MAX_SPAN);
	return TRPT_OK;
}

/* The alerts (kept while nothing changes). */
static int
prepare(struct trpt_dashboard *d, struct trpt_dash *v, struct trpt_err *err)
{
	int64_t version = 0, today = trpt_calendar_day(time(NULL));
	int rc;

	if ((rc = trpt_view_data_version(d->db, &version, err)) != TRPT_OK)
		return rc;
	if (v->until_day + 1 < today)
		today = v->until_day + 1;
	if (d->alerts == NULL || d->alerts_since != v->since_day ||
	    d->alerts_today != today || d->alerts_version != version) {
		trpt_alert_free(&d->alerts);
		if ((rc = trpt_alert_detect(d->db, &d->ac, v->since_day, today,
			 &d->alerts, err)) != TRPT_OK)
			return rc;
		d->alerts_since = v->since_day;
		d->alerts_today = today;
		d->alerts_version = version;
	}
	v->alerts = d->alerts;
	return TRPT_OK;
}

/* ---- pages ---- */

static enum MHD_Result
page(struct trpt_dashboard *d, struct MHD_Connection *c, const char *url)
{
	struct trpt_dash v;
	struct trpt_html h;
	struct trpt_err err;
	char *decoded = NULL, *out = NULL, title[200];
	const char *s = NULL;
	int64_t id = 0;
	size_t len = 0;
	char *end;
	int rc;

	memset(&v, 0, sizeof(v));
	v.db = d->db;
	if ((rc = range(c, &v, &err)) != TRPT_OK)
		return error_page(d, c, MHD_HTTP_BAD_REQUEST, err.msg);
	if (strcmp(url, "/domain") == 0 && (s = arg(c, "d")) == NULL)
		return error_page(d, c, MHD_HTTP_BAD_REQUEST, "d: a domain");
	if (strcmp(url, "/sender") == 0 && (s = arg(c, "o")) == NULL)
		return error_page(d, c, MHD_HTTP_BAD_REQUEST, "o: a sender");
	if (strcmp(url, "/report") == 0) {
		s = arg(c, "id");
		id = s != NULL ? strtoll(s, &end, 10) : 0;
		if (s == NULL || *end != '\0' || id <= 0)
			return error_page(
			    d, c, MHD_HTTP_BAD_REQUEST, "id: a report number");
	}
	if (strcmp(url, "/") == 0)
		v.domain = arg(c, "domain");
	if ((rc = prepare(d, &v, &err)) != TRPT_OK)
		return error_page(d, c, status_of(rc), err.msg);
	snprintf(title, sizeof(title), "%s",
	    strcmp(url, "/") == 0             ? "Overview"
	    : strcmp(url, "/quarantine") == 0 ? "Quarantine"
	    : strcmp(url, "/report") == 0     ? "Report"
					      : s);
	trpt_html_init(&h, TRPT_HTML_MAX_PAGE);
	trpt_dash_begin(&h, &v, title);
	if (strcmp(url, "/") == 0)
		rc = trpt_dash_overview(&v, &h, &err);
	else if (strcmp(url, "/domain") == 0)
		rc = trpt_dash_domain(&v, s, &h, &err);
	else if (strcmp(url, "/sender") == 0)
		rc = trpt_dash_sender(&v, s, &h, &err);
	else if (strcmp(url, "/quarantine") == 0)
		rc = trpt_dash_quarantine(&v, &h, &err);
	else {
		struct trpt_view_rows *r = NULL;
		size_t dlen;

		/* A gzip input is shown inflated. */
		if (trpt_view_report(d->db, id, &r, NULL) == TRPT_OK &&
		    trpt_inflate_is_gzip(trpt_view_text(r, 0, TRPT_VR_BYTES),
			r->len[TRPT_VR_BYTES]) &&
		    trpt_inflate_gzip(trpt_view_text(r, 0, TRPT_VR_BYTES),
			r->len[TRPT_VR_BYTES], INFLATE_MAX, &decoded, &dlen,
			NULL) != TRPT_OK)
			decoded = NULL;
		trpt_view_free(&r);
		rc = trpt_dash_report(&v, id, decoded, &h, &err);
	}
	free(decoded);
	trpt_dash_end(&h);
	if (rc != TRPT_OK) {
		trpt_html_free(&h);
		return error_page(d, c, status_of(rc), err.msg);
	}
	if ((rc = trpt_html_finish(&h, &out, &len, &err)) != TRPT_OK)
		return error_page(d, c, status_of(rc), err.msg);
	return respond(c, MHD_HTTP_OK, "text/html; charset=utf-8", out, len);
}

/* CSV downloads, through the exporters of the command line. */
static enum MHD_Result
csv(struct trpt_dashboard *d, struct MHD_Connection *c, const char *what)
{
	struct trpt_export_filter f;
	struct trpt_dash v;
	struct trpt_err err;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char disp[80];
	FILE *tmp;
	long size = 0;
	int rc, fd;

	memset(&v, 0, sizeof(v));
	if ((rc = range(c, &v, &err)) != TRPT_OK)
		return error_page(d, c, MHD_HTTP_BAD_REQUEST, err.msg);
	trpt_export_filter_init(&f);
	f.since = v.since_day * 86400;
	f.until = (v.until_day + 1) * 86400;
	f.domain = arg(c, "domain");
	if ((tmp = tmpfile()) == NULL)
		return error_page(
		    d, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "no temporary file");
	if (strcmp(what, "daily") == 0) {
		rc = trpt_trend_export_daily(d->db, &f, tmp, NULL, &err);
	} else if (strcmp(what, "failures") == 0)
		rc = trpt_export_failures(d->db, &f, tmp, &err);
	else if (strcmp(what, "policies") == 0)
		rc = trpt_export_policies(d->db, &f, tmp, &err);
	else if (strcmp(what, "reports") == 0)
		rc = trpt_trend_export_reports(d->db, &f, tmp, NULL, &err);
	else
		rc = trpt_err_set(&err, TRPT_ENOTFOUND, "no such export");
	if (rc == TRPT_OK && (fflush(tmp) != 0 || (size = ftell(tmp)) < 0))
		rc =
		    trpt_err_set(&err, TRPT_EIO, "temporary file: write error");
	if (rc != TRPT_OK) {
		fclose(tmp);
		return error_page(d, c, status_of(rc), err.msg);
	}
	fd = dup(fileno(tmp));
	fclose(tmp);
	if (fd < 0)
		return MHD_NO;
	resp = MHD_create_response_from_fd((size_t)size, fd);
	if (resp == NULL) {
		close(fd);
		return MHD_NO;
	}
	snprintf(
	    disp, sizeof(disp), "attachment; filename=\"tlsrpt-%s.csv\"", what);
	MHD_add_response_header(
	    resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/csv; charset=utf-8");
	MHD_add_response_header(resp, "Content-Disposition", disp);
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* The bytes of a report's input as received (the first
 * TRPT_VIEW_MAX_RAW). */
static enum MHD_Result
raw(struct trpt_dashboard *d, struct MHD_Connection *c)
{
	struct trpt_view_rows *r = NULL;
	struct trpt_err err;
	const char *s = arg(c, "id");
	char *end, *copy;
	int64_t id = s != NULL ? strtoll(s, &end, 10) : 0;
	size_t len;
	int rc;

	if (s == NULL || *end != '\0' || id <= 0)
		return error_page(
		    d, c, MHD_HTTP_BAD_REQUEST, "id: a report number");
	if ((rc = trpt_view_report(d->db, id, &r, &err)) != TRPT_OK)
		return error_page(d, c, status_of(rc), err.msg);
	len = r->len[TRPT_VR_BYTES];
	copy = malloc(len + 1);
	if (copy != NULL)
		memcpy(copy, trpt_view_text(r, 0, TRPT_VR_BYTES), len);
	trpt_view_free(&r);
	if (copy == NULL)
		return MHD_NO;
	return respond(c, MHD_HTTP_OK, "application/octet-stream", copy, len);
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_size,
    void **con_cls)
{
	static int started;
	struct trpt_dashboard *d = cls;

	(void)version;
	(void)upload_data;
	if (*con_cls == NULL) {
		*con_cls = &started; /* headers only: answer on the next call */
		return MHD_YES;
	}
	if (*upload_size > 0) {
		*upload_size = 0; /* a body is not read */
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return error_page(d, c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "the dashboard only reads (GET)");
	if (!authorized(d, c))
		return refuse(c);
	if (strcmp(url, "/style.css") == 0)
		return send_static(
		    c, "text/css; charset=utf-8", trpt_html_css());
	if (strcmp(url, "/favicon.svg") == 0 ||
	    strcmp(url, "/favicon.ico") == 0)
		return send_static(c, "image/svg+xml", favicon);
	if (strcmp(url, "/") == 0 || strcmp(url, "/domain") == 0 ||
	    strcmp(url, "/sender") == 0 || strcmp(url, "/report") == 0 ||
	    strcmp(url, "/quarantine") == 0)
		return page(d, c, url);
	if (strncmp(url, "/csv/", 5) == 0)
		return csv(d, c, url + 5);
	if (strcmp(url, "/raw") == 0)
		return raw(d, c);
	return error_page(d, c, MHD_HTTP_NOT_FOUND, "no such page");
}

static int
is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)
				  ->sin_addr.s_addr) >>
			   24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

static char *
dup_or_null(const char *s, int *fail)
{
	char *p;

	if (s == NULL)
		return NULL;
	if ((p = strdup(s)) == NULL)
		*fail = 1;
	return p;
}

static void
release(struct trpt_dashboard *d)
{
	if (d->passwords != NULL) {
		explicit_bzero(d->passwords, strlen(d->passwords));
		free(d->passwords);
	}
	if (d->key != NULL) {
		explicit_bzero(d->key, strlen(d->key));
		free(d->key);
	}
	free(d->cert);
	trpt_alert_free(&d->alerts);
	trpt_db_close(&d->db);
	free(d);
}

int
trpt_dashboard_start(const struct trpt_dashboard_config *cfg,
    struct trpt_dashboard **out, struct trpt_err *err)
{
	struct trpt_dashboard *d;
	struct sockaddr_storage ss;
	socklen_t sslen;
	const union MHD_DaemonInfo *di;
	unsigned flags;
	int rc, fail = 0, ok;
	char host[64];
	const char *colon;

	if ((cfg->tls_cert_pem == NULL) != (cfg->tls_key_pem == NULL))
		return trpt_err_set(err, TRPT_EINVAL,
		    "dashboard: tls_cert and tls_key go together");
	if ((rc = trpt_receiver_parse_listen(cfg->listen, &ss, &sslen, err)) !=
	    TRPT_OK) {
		trpt_err_prefix(err, "dashboard");
		return rc;
	}
	if (cfg->passwords == NULL && !is_loopback(&ss))
		return trpt_err_set(err, TRPT_EINVAL,
		    "dashboard: listening on %s (not loopback) needs a "
		    "password_file",
		    cfg->listen);
	if (cfg->passwords != NULL && (rc = trpt_passwd_check(cfg->passwords,
					   "", "", &ok, err)) != TRPT_OK) {
		trpt_err_prefix(err, "dashboard: password_file");
		return rc;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	d->ac = cfg->alerts;
	d->passwords = dup_or_null(cfg->passwords, &fail);
	d->cert = dup_or_null(cfg->tls_cert_pem, &fail);
	d->key = dup_or_null(cfg->tls_key_pem, &fail);
	if (fail) {
		release(d);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	if ((rc = trpt_db_open(cfg->db_path, &d->db, err)) != TRPT_OK) {
		release(d);
		return rc;
	}
	trpt_db_set_busy_timeout(d->db, BUSY_MS);
	/* One thread: pages are rendered one at a time on the one
	 * connection to the database. */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (d->cert != NULL)
		flags |= MHD_USE_TLS;
	d->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, d,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, d, MHD_OPTION_SOCK_ADDR,
	    &ss, MHD_OPTION_CONNECTION_LIMIT, 64u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 60u,
	    d->cert != NULL ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
	    d->cert, MHD_OPTION_HTTPS_MEM_KEY, d->key,
	    MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1",
	    MHD_OPTION_END);
	if (d->mhd == NULL) {
		rc = trpt_err_set(err, TRPT_EIO,
		    "dashboard: cannot listen on %s: %s", cfg->listen,
		    d->mhd_error[0] != '\0' ? d->mhd_error
					    : "libmicrohttpd failed to start");
		release(d);
		return rc;
	}
	di = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
	d->port = di != NULL ? di->port : 0;
	colon = strrchr(cfg->listen, ':');
	snprintf(host, sizeof(host), "%.*s",
	    colon != NULL ? (int)(colon - cfg->listen) : 0, cfg->listen);
	snprintf(d->url, sizeof(d->url), "%s://%s:%u/",
	    d->cert != NULL ? "https" : "http",
	    host[0] != '\0' ? host : "0.0.0.0", d->port);
	*out = d;
	return TRPT_OK;
}

unsigned
trpt_dashboard_port(const struct trpt_dashboard *d)
{
	return d->port;
}

const char *
trpt_dashboard_url(const struct trpt_dashboard *d)
{
	return d->url;
}

void
trpt_dashboard_stop(struct trpt_dashboard **dp)
{
	struct trpt_dashboard *d = *dp;

	if (d == NULL)
		return;
	MHD_stop_daemon(d->mhd);
	release(d);
	*dp = NULL;
}

#define FILE_MAX (64 * 1024)

static int
read_file(const char *what, const char *path, char **out)
{
	struct trpt_err err;
	size_t len;

	if (trpt_buf_read_file(path, FILE_MAX * 16, out, &len, &err) !=
	    TRPT_OK) {
		trpt_cli_warn("dashboard: %s: %s", what, err.msg);
		return TRPT_EXIT_USAGE;
	}
	return TRPT_EXIT_OK;
}

int
trpt_dashboard_settings_load(struct trpt_cli *cli, const char *listen_arg,
    struct trpt_dashboard_settings *s)
{
	struct trpt_conf_dashboard d;
	struct trpt_err err;
	int rc;

	memset(s, 0, sizeof(*s));
	trpt_dashboard_config_default(&s->cfg);
	s->cfg.db_path = cli->db_path;
	s->enabled = trpt_config_find(cli->cfg, "dashboard", "") != NULL ||
		     listen_arg != NULL;
	if (!s->enabled)
		return TRPT_EXIT_OK;
	if ((rc = trpt_cmd_alerts_config(cli, &s->cfg.alerts)) != TRPT_EXIT_OK)
		return rc;
	if (trpt_config_read(
		cli->cfg, NULL, "dashboard", &d, sizeof(d), &err) != TRPT_OK) {
		trpt_cli_warn("%s", err.msg);
		return TRPT_EXIT_USAGE;
	}
	if (d.listen != NULL)
		s->cfg.listen = d.listen;
	if (listen_arg != NULL)
		s->cfg.listen = listen_arg;
	if (d.password_file != NULL) {
		if ((rc = read_file(
			 "password_file", d.password_file, &s->passwords)) != 0)
			return rc;
		s->cfg.passwords = s->passwords;
	}
	if (d.tls_cert != NULL) {
		if ((rc = read_file("tls_cert", d.tls_cert, &s->cert)) != 0 ||
		    (rc = read_file("tls_key", d.tls_key, &s->key)) != 0)
			return rc;
		s->cfg.tls_cert_pem = s->cert;
		s->cfg.tls_key_pem = s->key;
	}
	return TRPT_EXIT_OK;
}

void
trpt_dashboard_settings_free(struct trpt_dashboard_settings *s)
{
	if (s->passwords != NULL) {
		explicit_bzero(s->passwords, strlen(s->passwords));
		free(s->passwords);
	}
	if (s->key != NULL) {
		explicit_bzero(s->key, strlen(s->key));
		free(s->key);
	}
	free(s->cert);
	memset(s, 0, sizeof(*s));
}

int
trpt_dashboard_password_run(struct trpt_cli *cli, int argc, char **argv)
{
	char pw[1024], line[TRPT_PASSWD_LINE_MAX];
	const char *user = "admin";
	struct trpt_err err;
	size_t n;

	(void)cli;
	if (argc > 1 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: tlsrpt-collector dashboard-password [USER]\n"
		       "\n"
		       "Reads a password from the first line of standard "
		       "input and prints\n"
		       "the line to put in the dashboard's password_file\n"
		       "(USER:pbkdf2-sha256$ITERATIONS$SALT$KEY; USER is "
		       "admin by default).\n");
		return TRPT_EXIT_OK;
	}
	if (argc > 2) {
		trpt_cli_warn(
		    "usage: tlsrpt-collector dashboard-password [USER]");
		return TRPT_EXIT_USAGE;
	}
	if (argc == 2)
		user = argv[1];
	if (fgets(pw, sizeof(pw), stdin) == NULL) {
		trpt_cli_warn("dashboard-password: no password on standard "
			      "input");
		return TRPT_EXIT_USAGE;
	}
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (n == 0) {
		trpt_cli_warn("dashboard-password: empty password");
		return TRPT_EXIT_USAGE;
	}
	if (trpt_passwd_hash(user, pw, TRPT_PASSWD_ITERATIONS, line, &err) !=
	    TRPT_OK) {
		explicit_bzero(pw, sizeof(pw));
		trpt_cli_warn("dashboard-password: %s", err.msg);
		return trpt_cli_exit_for(err.code);
	}
	explicit_bzero(pw, sizeof(pw));
	printf("%s\n", line);
	return TRPT_EXIT_OK;
}

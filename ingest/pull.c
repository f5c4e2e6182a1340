#include "ingest/pull.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/buf.h"
#include "schema/pull_state.h"

#define MAX_BACKOFF_MS 60000u
#define MAX_URL_LEN    4096

struct run {
	const struct trpt_pull_source *src;
	struct trpt_pipeline *pipe;
	struct trpt_db *db;
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	char *origin; /* scheme://host:port of src->url */
	char *auth;   /* "Authorization: Bearer ..." or NULL */
	struct trpt_buf body;
	int too_big;
	void (*on_fetch)(void *, const struct trpt_pull_event *);
	void *arg;
	struct trpt_pull_stats *stats;
	int first_rc; /* first per-URL failure */
	struct trpt_err first_err;
};

void
trpt_pull_source_default(
    struct trpt_pull_source *src, const struct trpt_limits *lim)
{
	memset(src, 0, sizeof(*src));
	src->connect_timeout = 10;
	src->timeout = 60;
	src->retries = 3;
	src->retry_delay_ms = 1000;
	src->max_body = lim->max_message;
	src->max_entries = 10000;
}

static const char *
skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

static int
parse_json_index(const char *body, size_t len, size_t max,
    struct trpt_strlist *out, struct trpt_err *err)
{
	struct trpt_strlist l = { NULL, 0 };
	json_error_t je;
	json_t *root, *v;
	size_t i;
	int rc = TRPT_OK;

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return trpt_err_set(
		    err, TRPT_EPARSE, "index: line %d: %s", je.line, je.text);
	if (json_array_size(root) > max) {
		rc = trpt_err_set(err, TRPT_ELIMIT,
		    "index: %zu entries, more than the limit of %zu",
		    json_array_size(root), max);
		goto out;
	}
	json_array_foreach (root, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > MAX_URL_LEN) {
			rc = trpt_err_set(err, TRPT_EPARSE,
			    "index: entry %zu is not a URL string", i + 1);
			goto out;
		}
		if (trpt_strlist_add(&l, json_string_value(v)) != TRPT_OK) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			goto out;
		}
	}
	*out = l;
	l.v = NULL;
	l.n = 0;
out:
	trpt_strlist_clear(&l);
	json_decref(root);
	return rc;
}

static int
looks_like_url_line(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > MAX_URL_LEN)
		return 0;
	if (!(n > 8 && strncasecmp(p, "https://", 8) == 0) &&
	    !(n > 7 && strncasecmp(p, "http://", 7) == 0) && p[0] != '/')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return 0;
	return 1;
}

int
trpt_pull_parse_index(const char *body, size_t len, size_t max,
    struct trpt_strlist *out, struct trpt_err *err)
{
	struct trpt_strlist l = { NULL, 0 };
	const char *end = body + len, *p, *eol;
	char line[MAX_URL_LEN + 1];
	size_t n;
	int rc = TRPT_OK;

	if (len >= 2 && (unsigned char)body[0] == 0x1f &&
	    (unsigned char)body[1] == 0x8b)
		return trpt_err_set(err, TRPT_ENOTFOUND, "gzip data");
	p = body;
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	p = skip_space(p, end);
	if (p == end)
		return trpt_err_set(err, TRPT_ENOTFOUND, "empty");
	if (*p == '[')
		return parse_json_index(p, (size_t)(end - p), max, out, err);
	if (*p == '{')
		return trpt_err_set(err, TRPT_ENOTFOUND, "a JSON object");

	/* One URL per line; anything else is not an index. */
	for (; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		n = (size_t)(eol - p);
		while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' ||
				    p[n - 1] == '\t'))
			n--;
		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		if (n == 0 || *p == '#')
			continue;
		if (!looks_like_url_line(p, n)) {
			rc = trpt_err_set(
			    err, TRPT_ENOTFOUND, "not a list of URLs");
			goto out;
		}
		if (l.n >= max) {
			rc = trpt_err_set(err, TRPT_ELIMIT,
			    "index: more than the limit of %zu entries", max);
			goto out;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		if (trpt_strlist_add(&l, line) != TRPT_OK) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			goto out;
		}
	}
	*out = l;
	l.v = NULL;
	l.n = 0;
out:
	trpt_strlist_clear(&l);
	return rc;
}

/* ---- http_state (schema/pull_state.h) ---- */

static int
state_load(struct run *x, const char *url, struct trpt_pull_state *out,
    struct trpt_err *err)
{
	return trpt_pull_state_get(x->db, x->src->name, url, out, err);
}

/*
 * Records the outcome of a fetch.  Validators are replaced only when
 * save_validators is set (the body was committed); otherwise the old ones
 * stay.
 */
static int
state_save(struct run *x, const char *url, long status, int save_validators,
    const char *etag, const char *last_modified, struct trpt_err *err)
{
	return trpt_pull_state_put(x->db, x->src->name, url, status,
	    save_validators, etag, last_modified, err);
}

/* ---- HTTP ---- */

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct run *x = arg;
	size_t n = size * nmemb;

	if (trpt_buf_append(&x->body, data, n, NULL) != TRPT_OK) {
		x->too_big = 1;
		return 0; /* aborts the transfer */
	}
	return n;
}

/* scheme://host:port of url, lower-cased by libcurl; NULL on failure. */
static char *
url_origin(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *res = NULL;
	size_t n;

	if (u == NULL)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
		CURLUE_OK) {
		n = strlen(scheme) + strlen(host) + strlen(port) + 5;
		res = malloc(n);
		if (res != NULL)
			snprintf(res, n, "%s://%s:%s", scheme, host, port);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return res;
}

/* entry resolved against base; caller frees with curl_free. */
static int
resolve(const char *base, const char *entry, char **out, struct trpt_err *err)
{
	CURLU *u = curl_url();
	CURLUcode uc;
	char *res = NULL;
	int rc = TRPT_OK;

	if (u == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	uc = curl_url_set(u, CURLUPART_URL, base, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_set(u, CURLUPART_URL, entry, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_URL, &res, 0);
	if (uc != CURLUE_OK)
		rc = trpt_err_set(err, TRPT_EPARSE,
		    "index entry \"%.200s\": %s", entry, curl_url_strerror(uc));
	else
		*out = res;
	curl_url_cleanup(u);
	return rc;
}

static int
retryable_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static const char *
header_value(CURL *c, const char *name)
{
	struct curl_header *h = NULL;

	if (curl_easy_header(c, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return NULL;
	return h->value;
}

/*
 * One GET with retries.  On TRPT_OK *status is the final status (200 with
 * the body in x->body, 304, or another 4xx).  Validators of a 200 are
 * copied into fresh.
 */
static int
get(struct run *x, const char *url, const struct trpt_pull_state *old,
    long *status, struct trpt_pull_state *fresh, struct trpt_err *err)
{
	struct curl_slist *hdrs = NULL, *h;
	char line[1024];
	unsigned attempt, delay = x->src->retry_delay_ms;
	CURLcode cc = CURLE_OK;
	char *origin;
	const char *v;
	long code = 0;
	int rc = TRPT_OK;

	origin = url_origin(url);
	if (origin == NULL) {
		rc = trpt_err_set(err, TRPT_EINVAL, "%s: not a valid URL", url);
		goto out;
	}
	if (x->auth != NULL && strcmp(origin, x->origin) == 0)
		hdrs = curl_slist_append(hdrs, x->auth);
	if (old->etag != NULL && strlen(old->etag) < 1000) {
		snprintf(line, sizeof(line), "If-None-Match: %s", old->etag);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (old->last_modified != NULL && strlen(old->last_modified) < 900) {
		snprintf(line, sizeof(line), "If-Modified-Since: %s",
		    old->last_modified);
		hdrs = curl_slist_append(hdrs, line);
	}
	curl_easy_setopt(x->curl, CURLOPT_URL, url);
	curl_easy_setopt(x->curl, CURLOPT_HTTPHEADER, hdrs);

	for (attempt = 0;; attempt++) {
		trpt_buf_reset(&x->body);
		x->too_big = 0;
		x->errbuf[0] = '\0';
		code = 0;
		cc = curl_easy_perform(x->curl);
		if (cc == CURLE_OK)
			curl_easy_getinfo(
			    x->curl, CURLINFO_RESPONSE_CODE, &code);
		if (attempt >= x->src->retries)
			break;
		if (cc == CURLE_OK && code != 429 && code < 500)
			break;
		if (cc != CURLE_OK && !retryable_curl(cc))
			break;
		sleep_ms(delay);
		delay = delay * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : delay * 2;
	}

	if (x->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		rc = trpt_err_set(err, TRPT_ELIMIT,
		    "%s: body larger than the limit of %zu bytes", url,
		    x->src->max_body);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = trpt_err_set(err,
		    retryable_curl(cc) ? TRPT_ETEMP : TRPT_EIO, "%s: %s", url,
		    x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(cc));
		goto out;
	}
	if (code == 200) {
		v = header_value(x->curl, "ETag");
		fresh->etag = v != NULL && v[0] != '\0' ? strdup(v) : NULL;
		v = header_value(x->curl, "Last-Modified");
		fresh->last_modified =
		    v != NULL && v[0] != '\0' ? strdup(v) : NULL;
	}
	*status = code;
out:
	/* The slist holds a copy of the bearer token: wipe it. */
	for (h = hdrs; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(hdrs);
	curl_easy_setopt(x->curl, CURLOPT_HTTPHEADER, NULL);
	free(origin);
	return rc;
}

static void
notify(struct run *x, const char *url, enum trpt_pull_result res, long status,
    size_t entries, const char *reason)
{
	struct trpt_pull_event ev;

	switch (res) {
	case TRPT_PULL_FETCHED:
		x->stats->fetched++;
		break;
	case TRPT_PULL_NOT_MODIFIED:
		x->stats->not_modified++;
		break;
	case TRPT_PULL_INDEX:
		x->stats->indexes++;
		break;
	case TRPT_PULL_FAILED:
		x->stats->failed++;
		break;
	}
	if (x->on_fetch == NULL)
		return;
	ev.source = x->src->name;
	ev.url = url;
	ev.result = res;
	ev.status = status;
	ev.entries = entries;
	ev.reason = reason;
	x->on_fetch(x->arg, &ev);
}

/* A per-URL failure: noted, remembered, and the run goes on. */
static void
url_failed(
    struct run *x, const char *url, long status, const struct trpt_err *e)
{
	if (x->first_rc == TRPT_OK) {
		x->first_rc = e->code;
		x->first_err = *e;
	}
	if (status > 0)
		state_save(x, url, status, 0, NULL, NULL, NULL);
	notify(x, url, TRPT_PULL_FAILED, status, 0, e->msg);
}

/* The last path segment, for RFC 8460 file-name fallbacks. */
static void
url_filename(const char *url, char *out, size_t len)
{
	const char *q, *slash;
	size_t n;

	q = url + strcspn(url, "?#");
	slash = q;
	while (slash > url && slash[-1] != '/')
		slash--;
	n = (size_t)(q - slash);
	if (n >= len)
		n = len - 1;
	memcpy(out, slash, n);
	out[n] = '\0';
}

/*
 * Runs a fetched body through the pipeline.  A URL is asked for a report:
 * whatever else comes back (an HTML error or login page, say) is rejected
 * and kept in quarantine, not skipped as a mailbox skips other mail, even
 * when the pipeline skips non-reports for IMAP.  *rejected is 1 when
 * something was rejected (then the validators are not saved, so that the
 * URL is fetched again: issue 9 item 14).
 */
static int
feed(struct run *x, const char *url, int *rejected, struct trpt_err *err)
{
	struct trpt_pipeline_result res;
	struct trpt_origin origin;
	unsigned flags = x->pipe->flags;
	char fname[256];
	int rc;

	url_filename(url, fname, sizeof(fname));
	memset(&origin, 0, sizeof(origin));
	origin.kind = "https-pull";
	origin.source = url;
	origin.filename = fname[0] != '\0' ? fname : NULL;
	origin.received = (int64_t)time(NULL);
	memset(&res, 0, sizeof(res));
	x->pipe->flags &= ~(unsigned)TRPT_PIPE_SKIP_NON_REPORTS;
	rc =
	    trpt_pipeline_run(x->pipe, x->body.data != NULL ? x->body.data : "",
		x->body.len, &origin, &res, err);
	x->pipe->flags = flags;
	*rejected = res.rejected > 0;
	trpt_pipeline_result_free(&res);
	return rc;
}

/*
 * Fetches url.  depth 0 is the configured URL, which may be an index;
 * entries (depth 1) must be reports.  Returns an error only for what must
 * stop the whole run; per-URL failures go through url_failed and set
 * *ok to 0.
 */
static int
fetch(struct run *x, const char *url, int depth, int *ok, struct trpt_err *err)
{
	struct trpt_pull_state old, fresh = { NULL, NULL };
	struct trpt_strlist entries = { NULL, 0 };
	struct trpt_err e;
	char *abs = NULL;
	long status = 0;
	size_t i;
	int rc, irc, all_ok = 1, rejected = 0;

	if ((rc = state_load(x, url, &old, err)) != TRPT_OK)
		return rc;
	rc = get(x, url, &old, &status, &fresh, &e);
	if (rc == TRPT_ENOMEM) {
		if (err != NULL) /* err may be NULL (issue 9 item 14) */
			*err = e;
		goto out;
	}
	if (rc != TRPT_OK) {
		url_failed(x, url, 0, &e);
		*ok = 0;
		rc = TRPT_OK;
		goto out;
	}
	if (status == 304) {
		rc = state_save(x, url, status, 0, NULL, NULL, err);
		if (rc == TRPT_OK)
			notify(x, url, TRPT_PULL_NOT_MODIFIED, status, 0, NULL);
		goto out;
	}
	if (status != 200) {
		trpt_err_set(&e,
		    status == 404 || status == 410   ? TRPT_ENOTFOUND
		    : status >= 500 || status == 429 ? TRPT_ETEMP
						     : TRPT_EIO,
		    "%s: HTTP status %ld", url, status);
		url_failed(x, url, status, &e);
		*ok = 0;
		goto out;
	}

	irc = trpt_pull_parse_index(x->body.data != NULL ? x->body.data : "",
	    x->body.len, x->src->max_entries, &entries, &e);
	if (irc == TRPT_ENOTFOUND) {
		/* A report (or junk): the pipeline stores or quarantines. */
		if ((rc = feed(x, url, &rejected, err)) != TRPT_OK)
			goto out;
		notify(x, url, TRPT_PULL_FETCHED, status, 0, NULL);
		rc = state_save(x, url, status, 1, rejected ? NULL : fresh.etag,
		    rejected ? NULL : fresh.last_modified, err);
		goto out;
	}
	if (irc == TRPT_ENOMEM) {
		if (err != NULL)
			*err = e;
		rc = irc;
		goto out;
	}
	if (irc != TRPT_OK || depth > 0) {
		if (irc == TRPT_OK)
			trpt_err_set(&e, TRPT_EPARSE,
			    "%s: an index entry is itself an index", url);
		else
			trpt_err_prefix(&e, "%s", url);
		url_failed(x, url, status, &e);
		*ok = 0;
		goto out;
	}
	notify(x, url, TRPT_PULL_INDEX, status, entries.n, NULL);
	/* The body buffer is reused by each entry's fetch. */
	for (i = 0; i < entries.n; i++) {
		if (resolve(url, entries.v[i], &abs, &e) != TRPT_OK) {
			url_failed(x, entries.v[i], 0, &e);
			all_ok = 0;
			continue;
		}
		rc = fetch(x, abs, depth + 1, &all_ok, err);
		curl_free(abs);
		if (rc != TRPT_OK)
			goto out;
	}
	if (all_ok)
		rc = state_save(
		    x, url, status, 1, fresh.etag, fresh.last_modified, err);
	else {
		*ok = 0;
		rc = state_save(x, url, status, 0, NULL, NULL, err);
	}
out:
	trpt_strlist_clear(&entries);
	trpt_pull_state_clear(&old);
	trpt_pull_state_clear(&fresh);
	return rc;
}

int
trpt_pull_run(const struct trpt_pull_source *src, struct trpt_pipeline *p,
    void (*on_fetch)(void *arg, const struct trpt_pull_event *ev), void *arg,
    struct trpt_pull_stats *stats, struct trpt_err *err)
{
	struct trpt_pull_stats local;
	struct run x;
	size_t n;
	int ok = 1, rc;

	if (src->url == NULL || strncasecmp(src->url, "https://", 8) != 0)
		return trpt_err_set(err, TRPT_EINVAL,
		    "https \"%s\": url must start with https://",
		    src->name != NULL ? src->name : "");
	memset(&x, 0, sizeof(x));
	memset(&local, 0, sizeof(local));
	x.src = src;
	x.pipe = p;
	x.db = p->db;
	x.on_fetch = on_fetch;
	x.arg = arg;
	x.stats = stats != NULL ? stats : &local;
	trpt_buf_init(&x.body, src->max_body);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return trpt_err_set(err, TRPT_ENOMEM, "libcurl: cannot start");
	x.curl = curl_easy_init();
	x.origin = url_origin(src->url);
	if (x.curl == NULL || x.origin == NULL) {
		rc = trpt_err_set(err,
		    x.curl == NULL ? TRPT_ENOMEM : TRPT_EINVAL,
		    "https \"%s\": bad url %s", src->name, src->url);
		goto out;
	}
	if (src->bearer_token != NULL) {
		n = strlen(src->bearer_token) + 32;
		x.auth = malloc(n);
		if (x.auth == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			goto out;
		}
		snprintf(
		    x.auth, n, "Authorization: Bearer %s", src->bearer_token);
	}
	curl_easy_setopt(x.curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(x.curl, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(x.curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(x.curl, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(x.curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(x.curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(x.curl, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
	if (src->ca_file != NULL)
		curl_easy_setopt(x.curl, CURLOPT_CAINFO, src->ca_file);
	curl_easy_setopt(x.curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(
	    x.curl, CURLOPT_CONNECTTIMEOUT, (long)src->connect_timeout);
	curl_easy_setopt(x.curl, CURLOPT_TIMEOUT, (long)src->timeout);
	curl_easy_setopt(
	    x.curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)src->max_body);
	curl_easy_setopt(x.curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(x.curl, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(x.curl, CURLOPT_ERRORBUFFER, x.errbuf);
	curl_easy_setopt(x.curl, CURLOPT_USERAGENT, "tlsrpt-collector/0.1");
	curl_easy_setopt(x.curl, CURLOPT_ACCEPT_ENCODING, NULL);

	rc = fetch(&x, src->url, 0, &ok, err);
	if (rc == TRPT_OK && !ok) {
		rc = x.first_rc != TRPT_OK ? x.first_rc : TRPT_EIO;
		if (err != NULL)
			*err = x.first_err;
	}
out:
	if (x.auth != NULL) {
		explicit_bzero(x.auth, strlen(x.auth));
		free(x.auth);
	}
	free(x.origin);
	if (x.curl != NULL)
		curl_easy_cleanup(x.curl);
	trpt_buf_free(&x.body);
	curl_global_cleanup();
	return rc;
}

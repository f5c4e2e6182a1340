#include "report/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/datetime.h"

static void
day_label(int64_t day, char *buf, size_t len)
{
	int64_t y;
	unsigned m, d;

	trpt_datetime_civil_from_days(day, &y, &m, &d);
	snprintf(buf, len, "%04lld-%02u-%02u", (long long)y, m, d);
}

static void
make_key(const struct trpt_alert *al, char *buf, size_t len)
{
	char d[16];

	day_label(al->first_day, d, sizeof(d));
	snprintf(buf, len, "%s/%s/%s/%s/%s", trpt_alert_kind_name(al->kind),
	    al->kind == TRPT_ALERT_COLLECTION ? "all"
	    : al->sender                      ? "sender"
					      : "domain",
	    al->subject, al->type != NULL ? al->type : "", d);
}

static int
lists(const struct trpt_alert_items *it, const char *name)
{
	size_t i;

	for (i = 0; i < it->n; i++)
		if (strcmp(it->v[i].name, name) == 0)
			return 1;
	return 0;
}

/* A sender's drop that is a view of the domain drop d. */
static int
same_incident(const struct trpt_alert *d, const struct trpt_alert *s)
{
	return s->kind == TRPT_ALERT_DROP && s->sender &&
	       lists(&s->others, d->subject) && s->first_day <= d->last_day &&
	       d->first_day <= s->last_day;
}

int
trpt_notify_incidents(const struct trpt_alerts *a, struct trpt_incident **out,
    size_t *n, struct trpt_err *err)
{
	struct trpt_incident *v;
	char *taken;
	size_t i, j, k = 0;

	v = calloc(a->n + 1, sizeof(*v));
	taken = calloc(a->n + 1, 1);
	if (v == NULL || taken == NULL) {
		free(v);
		free(taken);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	/* Domain drops first: they take the sender-wide views along. */
	for (i = 0; i < a->n; i++) {
		const struct trpt_alert *d = &a->v[i];

		if (d->kind != TRPT_ALERT_DROP || d->sender)
			continue;
		v[k].alert = d;
		v[k].open = d->open;
		make_key(d, v[k].key, sizeof(v[k].key));
		for (j = 0; j < a->n; j++)
			if (!taken[j] && same_incident(d, &a->v[j]) &&
			    v[k].nviews < TRPT_INCIDENT_VIEWS) {
				v[k].views[v[k].nviews++] = &a->v[j];
				taken[j] = 1;
				/* Open while any view is. */
				v[k].open |= a->v[j].open;
			}
		taken[i] = 1;
		k++;
	}
	for (i = 0; i < a->n; i++) {
		if (taken[i] || a->v[i].kind == TRPT_ALERT_RECOVERY)
			continue;
		v[k].alert = &a->v[i];
		v[k].open = a->v[i].open;
		make_key(&a->v[i], v[k].key, sizeof(v[k].key));
		k++;
	}
	free(taken);
	*out = v;
	*n = k;
	return TRPT_OK;
}

static void
rate(char *buf, size_t len, double r)
{
	if (r < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f%%", r * 100.0);
}

/* One line about one view. */
static void
describe(const struct trpt_alert *al, char *buf, size_t len)
{
	char d1[16], r1[16], r2[16];

	day_label(al->first_day, d1, sizeof(d1));
	rate(r1, sizeof(r1), al->rate_before);
	rate(r2, sizeof(r2), al->rate_after);
	switch (al->kind) {
	case TRPT_ALERT_DROP:
		snprintf(buf, len,
		    "drop of %s %s: success rate %s -> %s since %s",
		    al->sender ? "sender" : "domain", al->subject, r1, r2, d1);
		break;
	case TRPT_ALERT_NEW_TYPE:
		snprintf(buf, len, "new failure type %s for domain %s since %s",
		    al->type != NULL ? al->type : "?", al->subject, d1);
		break;
	case TRPT_ALERT_SILENT:
		snprintf(
		    buf, len, "sender %s silent since %s", al->subject, d1);
		break;
	case TRPT_ALERT_TESTING:
		snprintf(buf, len,
		    "MTA-STS testing policy of %s with failures (%s "
		    "successful)",
		    al->subject, r2);
		break;
	case TRPT_ALERT_COLLECTION:
		snprintf(buf, len,
		    "no report received since %s (%lld days): check the "
		    "mailbox, the sources and the _smtp._tls record",
		    d1, (long long)al->gap_days);
		break;
	case TRPT_ALERT_RECOVERY:
		snprintf(buf, len, "recovery of %s", al->subject);
		break;
	}
}

/* Control characters from report data never reach a mail or a chat. */
static void
sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 && *s != '\n')
			*s = ' ';
		else if ((unsigned char)*s == 0x7f)
			*s = ' ';
}

int
trpt_notify_render(const struct trpt_incident *inc, const char *event,
    char **summary, char **text, struct trpt_err *err)
{
	char line[600], head[1200], why[80] = "", also[300];
	char *body = NULL, *sum = NULL;
	size_t blen = 0, i;
	FILE *f;

	describe(inc->alert, line, sizeof(line));
	if (strcmp(event, "close") == 0) {
		if (inc->alert->stale)
			snprintf(why, sizeof(why), " (no longer reported)");
		else if (inc->alert->kind == TRPT_ALERT_DROP)
			snprintf(why, sizeof(why), " (recovered)");
		else
			snprintf(why, sizeof(why), " (over)");
	}
	/* The sender-wide views, named: "(also sender Google Inc.)". */
	also[0] = '\0';
	for (i = 0; i < inc->nviews; i++) {
		size_t l = strlen(also);

		snprintf(also + l, sizeof(also) - l, "%s%s",
		    i == 0 ? " (also sender " : ", ", inc->views[i]->subject);
	}
	if (inc->nviews > 0)
		snprintf(also + strlen(also), sizeof(also) - strlen(also), ")");
	snprintf(head, sizeof(head), "%s %s%s%s",
	    strcmp(event, "open") == 0 ? "OPEN" : "CLOSED", line, why, also);
	if ((sum = strdup(head)) == NULL)
		goto nomem;
	sanitize(sum);
	if ((f = open_memstream(&body, &blen)) == NULL)
		goto nomem;
	fprintf(f, "%s\n\n", head);
	trpt_alert_write_one(inc->alert, TRPT_FORMAT_TABLE, f);
	for (i = 0; i < inc->nviews; i++) {
		describe(inc->views[i], line, sizeof(line));
		fprintf(f, "\nThe same incident seen from the sender: %s\n\n",
		    line);
		trpt_alert_write_one(inc->views[i], TRPT_FORMAT_TABLE, f);
	}
	fprintf(f, "\nIncident %s\n", inc->key);
	if (fclose(f) != 0 || body == NULL)
		goto nomem;
	sanitize(body);
	*summary = sum;
	*text = body;
	return TRPT_OK;
nomem:
	free(sum);
	free(body);
	return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
}

int
trpt_notify_render_gone(
    const char *open_summary, char **summary, char **text, struct trpt_err *err)
{
	const char *s = open_summary;
	size_t n;

	if (strncmp(s, "OPEN ", 5) == 0)
		s += 5;
	n = strlen(s) + 64;
	*summary = malloc(n);
	*text = malloc(n + 80);
	if (*summary == NULL || *text == NULL) {
		free(*summary);
		free(*text);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	snprintf(*summary, n, "CLOSED %s (no longer detected)", s);
	snprintf(*text, n + 80,
	    "%s\n\nThe alert is no longer detected in the stored reports.\n",
	    *summary);
	return TRPT_OK;
}

int
trpt_notify_webhook_format(
    const char *name, enum trpt_webhook_format *out, struct trpt_err *err)
{
	if (strcmp(name, "generic") == 0)
		*out = TRPT_WEBHOOK_GENERIC;
	else if (strcmp(name, "slack") == 0)
		*out = TRPT_WEBHOOK_SLACK;
	else if (strcmp(name, "teams") == 0)
		*out = TRPT_WEBHOOK_TEAMS;
	else
		return trpt_err_set(err, TRPT_EINVAL,
		    "webhook format \"%s\": expected generic, slack or teams",
		    name);
	return TRPT_OK;
}

/* The JSON of one alert, as `alerts --format json` writes it. */
static json_t *
alert_json(const struct trpt_alert *al)
{
	char *buf = NULL;
	size_t len = 0;
	json_t *j = NULL;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	trpt_alert_write_one(al, TRPT_FORMAT_JSON, f);
	if (fclose(f) == 0 && buf != NULL)
		j = json_loadb(buf, len, 0, NULL);
	free(buf);
	return j;
}

int
trpt_notify_webhook_body(enum trpt_webhook_format fmt, const char *event,
    const char *key, const char *summary, const char *text,
    const struct trpt_incident *inc, char **json, struct trpt_err *err)
{
	json_t *root = NULL, *arr, *a;
	char *out = NULL, *slack = NULL;
	size_t i, n;
	int rc = TRPT_ENOMEM;

	switch (fmt) {
	case TRPT_WEBHOOK_GENERIC:
		arr = json_array();
		root = json_pack("{s:s, s:s, s:s, s:s, s:o}", "event", event,
		    "incident", key, "summary", summary, "text", text, "alerts",
		    arr);
		if (root == NULL)
			goto out;
		for (i = 0; inc != NULL && i <= inc->nviews; i++) {
			a = alert_json(i == 0 ? inc->alert : inc->views[i - 1]);
			if (a == NULL || json_array_append_new(arr, a) != 0)
				goto out;
		}
		break;
	case TRPT_WEBHOOK_SLACK:
		/* Slack's mrkdwn: the summary bold, the details as code. */
		n = strlen(summary) + strlen(text) + 16;
		if ((slack = malloc(n)) == NULL)
			goto out;
		snprintf(slack, n, "*%s*\n```%s```", summary, text);
		root = json_pack("{s:s}", "text", slack);
		break;
	case TRPT_WEBHOOK_TEAMS:
		root = json_pack("{s:s, s:s, s:s, s:s, s:s}", "@type",
		    "MessageCard", "@context", "https://schema.org/extensions",
		    "summary", summary, "title", summary, "text", text);
		break;
	}
	if (root == NULL)
		goto out;
	if ((out = json_dumps(root, JSON_COMPACT)) == NULL)
		goto out;
	*json = out;
	rc = TRPT_OK;
out:
	json_decref(root);
	free(slack);
	if (rc != TRPT_OK)
		return trpt_err_set(err, rc, "out of memory");
	return rc;
}

/* The URL without user:password@ for messages. */
static void
safe_url(const char *url, char *buf, size_t len)
{
	const char *p = strstr(url, "://"), *at, *slash;

	if (p == NULL) {
		snprintf(buf, len, "%s", url);
		return;
	}
	p += 3;
	at = strchr(p, '@');
	slash = strchr(p, '/');
	if (at != NULL && (slash == NULL || at < slash))
		snprintf(buf, len, "%.*s***@%s", (int)(p - url), url, at + 1);
	else
		snprintf(buf, len, "%s", url);
}

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * nmemb;
}

int
trpt_notify_webhook_post(
    const struct trpt_webhook *w, const char *json, struct trpt_err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", shown[512];
	struct curl_slist *hdr = NULL;
	long status = 0;
	CURLcode cc;
	CURL *c;
	int rc;

	safe_url(w->url, shown, sizeof(shown));
	if (strncmp(w->url, "https://", 8) != 0)
		return trpt_err_set(
		    err, TRPT_EINVAL, "webhook %s: only https:// URLs", shown);
	if ((c = curl_easy_init()) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	hdr = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, w->url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(
	    c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, w->timeout > 0 ? w->timeout : 30L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "tlsrpt-collector");
	if (w->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, w->ca_file);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK)
		rc = trpt_err_set(err, TRPT_ETEMP, "webhook %s: %s", shown,
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
	else if (status < 200 || status > 299)
		rc = trpt_err_set(err, TRPT_ETEMP,
		    "webhook %s: answered HTTP %ld", shown, status);
	else
		rc = TRPT_OK;
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return rc;
}

int
trpt_notify_mail(const struct trpt_mail *m, const char *subject,
    const char *text, struct trpt_err *err)
{
	char date[64], host[128] = "localhost", *msg = NULL;
	size_t len = 0, i;
	struct tm tm;
	time_t now = time(NULL);
	const char *p;
	FILE *f;
	int rc;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "localhost");
	if ((f = open_memstream(&msg, &len)) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	fprintf(f, "From: %s\r\nTo: ", m->from);
	for (i = 0; i < m->nto; i++)
		fprintf(f, "%s%s", i > 0 ? ", " : "", m->to[i]);
	/* RFC 2047 would be needed for non-ASCII subjects; report data is
	 * sanitized to printable text, and 8-bit bytes go in the body. */
	fprintf(f,
	    "\r\nSubject: [tlsrpt] %s\r\nDate: %s\r\n"
	    "Message-ID: <tlsrpt-alert.%lld.%ld@%s>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "Auto-Submitted: auto-generated\r\n\r\n",
	    subject, date, (long long)now, (long)getpid(), host);
	/* CRLF line ends; a line of a single dot is doubled by curl. */
	for (p = text; *p != '\0'; p++) {
		if (*p == '\n')
			fputc('\r', f);
		fputc(*p, f);
	}
	if (fclose(f) != 0 || msg == NULL) {
		free(msg);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	rc = trpt_mail_send_message(m, msg, len, err);
	free(msg);
	return rc;
}

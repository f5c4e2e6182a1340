#include "report/mail_send.h"

#include <string.h>
#include <strings.h>

#include <curl/curl.h>

struct reader {
	const char *p;
	size_t left;
};

static size_t
read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct reader *r = arg;
	size_t len = size * n;

	if (len > r->left)
		len = r->left;
	memcpy(buf, r->p, len);
	r->p += len;
	r->left -= len;
	return len;
}

int
trpt_mail_send_message(const struct trpt_mail *m, const char *msg, size_t len,
    struct trpt_err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *rcpt = NULL, *n;
	struct reader r = { msg, len };
	CURL *c = NULL;
	CURLcode cc;
	long code = 0;
	size_t i;
	int rc = TRPT_OK, smtps;

	if (m->url == NULL || (strncasecmp(m->url, "smtp://", 7) != 0 &&
				  strncasecmp(m->url, "smtps://", 8) != 0))
		return trpt_err_set(err, TRPT_EINVAL,
		    "summary: smtp_url \"%s\": expected smtp:// or smtps://",
		    m->url != NULL ? m->url : "");
	smtps = strncasecmp(m->url, "smtps://", 8) == 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return trpt_err_set(
		    err, TRPT_ENOMEM, "curl: cannot initialise");
	for (i = 0; i < m->nto; i++) {
		n = curl_slist_append(rcpt, m->to[i]);
		if (n == NULL) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			goto out;
		}
		rcpt = n;
	}
	if ((c = curl_easy_init()) == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "curl: cannot initialise");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, m->url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, m->from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, &r);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, m->timeout > 0 ? m->timeout : 60L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	if (!smtps)
		curl_easy_setopt(c, CURLOPT_USE_SSL,
		    m->tls == TRPT_MAIL_TLS_NONE ? (long)CURLUSESSL_NONE
						 : (long)CURLUSESSL_ALL);
	if (m->ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, m->ca_file);
	if (m->username != NULL) {
		curl_easy_setopt(c, CURLOPT_USERNAME, m->username);
		curl_easy_setopt(c, CURLOPT_PASSWORD,
		    m->password != NULL ? m->password : "");
	}
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		rc = trpt_err_set(err,
		    cc == CURLE_URL_MALFORMAT ? TRPT_EINVAL : TRPT_ETEMP,
		    "smtp %s: %s%s%s (reply %ld)", m->url,
		    curl_easy_strerror(cc), errbuf[0] != '\0' ? ": " : "",
		    errbuf, code);
	}
out:
	if (c != NULL) {
		/* The password was copied into the handle: clear it. */
		curl_easy_setopt(c, CURLOPT_PASSWORD, "");
		curl_easy_cleanup(c);
	}
	curl_slist_free_all(rcpt);
	return rc;
}

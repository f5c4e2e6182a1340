#include "check/stsfetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/buf.h"

struct sink {
	struct trpt_buf buf;
	int too_big;
};

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;

	if (trpt_buf_append(&s->buf, p, size * n, NULL) != TRPT_OK) {
		s->too_big = 1;
		return 0;
	}
	return size * n;
}

static int
webpki_error(CURLcode cc)
{
	return cc == CURLE_PEER_FAILED_VERIFICATION ||
	       cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_ISSUER_ERROR ||
	       cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

int
trpt_stsfetch_get(const struct trpt_stsfetch *f, int *fail, char **body,
    size_t *len, char *why, size_t whysize, struct trpt_err *err)
{
	char url[512], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *resolve = NULL, *nr;
	struct trpt_buf addrs;
	struct sink sink;
	const char *ctype = NULL;
	unsigned port = f->port != 0 ? f->port : 443;
	long status = 0;
	CURLcode cc;
	CURL *c;
	size_t i;
	int rc = TRPT_OK;

	trpt_buf_init(&sink.buf, f->max_body);
	sink.too_big = 0;
	trpt_buf_init(&addrs, 4096);
	if (port == 443)
		snprintf(url, sizeof(url), "https://%s/.well-known/mta-sts.txt",
		    f->host);
	else
		snprintf(url, sizeof(url),
		    "https://%s:%u/.well-known/mta-sts.txt", f->host, port);
	if ((c = curl_easy_init()) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "curl: out of memory");
	/* host:port:addr,addr so that curl connects where DNSSEC-validated
	 * lookups said, and never asks the system resolver. */
	rc = trpt_buf_appendf(&addrs, err, "%s:%u:", f->host, port);
	for (i = 0; rc == TRPT_OK && i < f->naddrs; i++)
		rc = trpt_buf_appendf(&addrs, err,
		    strchr(f->addrs[i], ':') != NULL ? "%s[%s]" : "%s%s",
		    i > 0 ? "," : "", f->addrs[i]);
	if (rc != TRPT_OK)
		goto out;
	if ((nr = curl_slist_append(NULL, addrs.data)) == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "curl: out of memory");
		goto out;
	}
	resolve = nr;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* §3.3 */
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
	if (f->cafile != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, f->cafile);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)f->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)f->timeout_ms);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->max_body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "tlsrpt-collector-check/0.1");
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
	if (sink.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		*fail = TRPT_STSFETCH_ERROR;
		snprintf(why, whysize, "%s: policy larger than %zu bytes", url,
		    f->max_body);
	} else if (cc != CURLE_OK) {
		*fail = webpki_error(cc) ? TRPT_STSFETCH_WEBPKI
					 : TRPT_STSFETCH_ERROR;
		snprintf(why, whysize, "%s: %s", url,
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
	} else if (status != 200) {
		*fail = TRPT_STSFETCH_ERROR;
		snprintf(why, whysize, "%s: HTTP status %ld%s", url, status,
		    status >= 300 && status < 400
			? " (a redirect, which senders must not follow)"
			: "");
	} else {
		*fail = ctype != NULL &&
				strncasecmp(ctype, "text/plain", 10) == 0 &&
				(ctype[10] == '\0' || ctype[10] == ';' ||
				    ctype[10] == ' ')
			    ? TRPT_STSFETCH_OK
			    : TRPT_STSFETCH_TYPE;
		if (*fail == TRPT_STSFETCH_TYPE)
			snprintf(why, whysize,
			    "%s: media type \"%.60s\", not text/plain", url,
			    ctype != NULL ? ctype : "(none)");
		if ((*body = trpt_buf_steal(&sink.buf, len)) == NULL)
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
out:
	curl_slist_free_all(resolve);
	curl_easy_cleanup(c);
	trpt_buf_free(&addrs);
	trpt_buf_free(&sink.buf);
	return rc;
}

/* libcurl (HTTPS sources, MTA-STS policies, webhooks, the summary mail), loaded
 * on first use: see common/lib.h. */

/* The wrapper below is curl_easy_setopt itself: no type-checking macro. */
#define CURL_DISABLE_TYPECHECK

#include <stdarg.h>
#include <string.h>

#include <curl/curl.h>

#include "common/lib.h"

#define FUNCS(X, V, F)                                                         \
	V(curl_easy_cleanup, (CURL * a0), (a0))                                \
	F(CURLcode, curl_easy_getinfo, (CURL * a0, CURLINFO a1, ...))          \
	X(CURLHcode, curl_easy_header,                                         \
	    (CURL * a0, const char *a1, size_t a2, unsigned int a3, int a4,    \
		struct curl_header **a5),                                      \
	    (a0, a1, a2, a3, a4, a5), CURLHE_NOT_BUILT_IN)                     \
	X(CURL *, curl_easy_init, (void), (), NULL)                            \
	X(CURLcode, curl_easy_perform, (CURL * a0), (a0), CURLE_FAILED_INIT)   \
	F(CURLcode, curl_easy_setopt, (CURL * a0, CURLoption a1, ...))         \
	X(const char *, curl_easy_strerror, (CURLcode a0), (a0),               \
	    trpt_lib_curl.why)                                                 \
	V(curl_free, (void *a0), (a0))                                         \
	V(curl_global_cleanup, (void), ())                                     \
	X(CURLcode, curl_global_init, (long int a0), (a0), CURLE_FAILED_INIT)  \
	X(struct curl_slist *, curl_slist_append,                              \
	    (struct curl_slist * a0, const char *a1), (a0, a1), NULL)          \
	V(curl_slist_free_all, (struct curl_slist * a0), (a0))                 \
	X(CURLU *, curl_url, (void), (), NULL)                                 \
	V(curl_url_cleanup, (CURLU * a0), (a0))                                \
	X(CURLUcode, curl_url_get,                                             \
	    (CURLU * a0, CURLUPart a1, char **a2, unsigned int a3),            \
	    (a0, a1, a2, a3), CURLUE_BAD_HANDLE)                               \
	X(CURLUcode, curl_url_set,                                             \
	    (CURLU * a0, CURLUPart a1, const char *a2, unsigned int a3),       \
	    (a0, a1, a2, a3), CURLUE_BAD_HANDLE)                               \
	X(const char *, curl_url_strerror, (CURLUcode a0), (a0),               \
	    trpt_lib_curl.why)

#define TRPT__LIB_VAR trpt_lib_curl
TRPT__LIB_DEFINE(FUNCS, trpt_lib_curl, TRPT_SONAME_CURL, "HTTPS and SMTP")

/*
 * The option's number gives its argument's type (curl.h: CURLOPTTYPE_*
 * ranges), as libcurl's own curl_easy_setopt reads it with va_arg.
 */
CURLcode
curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;

	if (!trpt_lib_ready(&trpt_lib_curl))
		return CURLE_FAILED_INIT;
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = fn.curl_easy_setopt(c, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = fn.curl_easy_setopt(c, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = fn.curl_easy_setopt(c, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = fn.curl_easy_setopt(c, opt, va_arg(ap, curl_off_t));
	else
		rc = fn.curl_easy_setopt(c, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

/* Every CURLINFO_* takes one pointer to where the answer goes. */
CURLcode
curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
	va_list ap;
	CURLcode rc;

	if (!trpt_lib_ready(&trpt_lib_curl))
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	rc = fn.curl_easy_getinfo(c, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

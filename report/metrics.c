#include "report/metrics.h"

#include <inttypes.h>
#include <string.h>

#include "schema/view.h"

/* A label value: \\ \" \n escaped, other control characters '?'. */
static int
label(struct trpt_buf *b, const char *s, struct trpt_err *err)
{
	const char *run = s;
	const char *rep;
	int rc;

	for (; *s != '\0'; s++) {
		switch (*s) {
		case '\\':
			rep = "\\\\";
			break;
		case '"':
			rep = "\\\"";
			break;
		case '\n':
			rep = "\\n";
			break;
		default:
			rep =
			    (unsigned char)*s < 0x20 || *s == 0x7f ? "?" : NULL;
		}
		if (rep == NULL)
			continue;
		if ((rc = trpt_buf_append(b, run, (size_t)(s - run), err)) !=
			TRPT_OK ||
		    (rc = trpt_buf_append(b, rep, strlen(rep), err)) != TRPT_OK)
			return rc;
		run = s + 1;
	}
	return trpt_buf_append(b, run, (size_t)(s - run), err);
}

/* name{k1="v1",k2="v2",k3="v3"} value */
static int
series(struct trpt_buf *b, const char *name, const char *const k[3],
    const char *const v[3], int64_t value, struct trpt_err *err)
{
	int rc, i;

	if ((rc = trpt_buf_appendf(b, err, "%s{", name)) != TRPT_OK)
		return rc;
	for (i = 0; i < 3; i++) {
		if ((rc = trpt_buf_appendf(b, err, "%s%s=\"", i > 0 ? "," : "",
			 k[i])) != TRPT_OK ||
		    (rc = label(b, v[i], err)) != TRPT_OK ||
		    (rc = trpt_buf_append(b, "\"", 1, err)) != TRPT_OK)
			return rc;
	}
	return trpt_buf_appendf(b, err, "} %" PRId64 "\n", value);
}

int
trpt_metrics_write(struct trpt_db *db, size_t max_series, struct trpt_buf *out,
    struct trpt_err *err)
{
	static const char *const sk[3] = { "policy_domain", "organization",
		"result" };
	static const char *const fk[3] = { "policy_domain", "result_type",
		"mx_host" };
	struct trpt_view_rows *s = NULL, *f = NULL;
	const char *v[3];
	size_t i, ns, dropped_s = 0, dropped_f = 0;
	int rc;

	if (max_series == 0)
		max_series = TRPT_METRICS_MAX_SERIES;
	/* Two series a row: ask for one more row to know if any was
	 * left out. */
	if ((rc = trpt_view_metric_sessions(db, max_series / 2 + 1, &s, err)) !=
		TRPT_OK ||
	    (rc = trpt_view_metric_failures(db, max_series + 1, &f, err)) !=
		TRPT_OK)
		goto out;
	ns = s->nrows;
	if (ns > max_series / 2) {
		ns = max_series / 2;
		dropped_s = 1;
	}
	rc = trpt_buf_appendf(out, err,
	    "# HELP tlsrpt_sessions_total Sessions reported by senders, per "
	    "policy domain, reporting organisation and result (a domain's "
	    "sessions once per report).\n"
	    "# TYPE tlsrpt_sessions_total counter\n");
	for (i = 0; rc == TRPT_OK && i < ns; i++) {
		v[0] = trpt_view_text(s, i, 0);
		v[1] = trpt_view_text(s, i, 1);
		v[2] = "successful";
		rc = series(out, "tlsrpt_sessions_total", sk, v,
		    trpt_view_int(s, i, 2), err);
		v[2] = "failed";
		if (rc == TRPT_OK)
			rc = series(out, "tlsrpt_sessions_total", sk, v,
			    trpt_view_int(s, i, 3), err);
	}
	if (rc == TRPT_OK)
		rc = trpt_buf_appendf(out, err,
		    "# HELP tlsrpt_failures_total Failed sessions per policy "
		    "domain, result type and receiving MX host, from the "
		    "senders' failure details.\n"
		    "# TYPE tlsrpt_failures_total counter\n");
	for (i = 0; rc == TRPT_OK && i < f->nrows && i < max_series; i++) {
		v[0] = trpt_view_text(f, i, 0);
		v[1] = trpt_view_text(f, i, 1);
		v[2] = trpt_view_text(f, i, 2);
		rc = series(out, "tlsrpt_failures_total", fk, v,
		    trpt_view_int(f, i, 3), err);
	}
	if (f->nrows > max_series)
		dropped_f = 1;
	if (rc == TRPT_OK)
		rc = trpt_buf_appendf(out, err,
		    "# HELP tlsrpt_metrics_series_dropped 1 when the family "
		    "has more series than the cap of %zu and some were left "
		    "out.\n"
		    "# TYPE tlsrpt_metrics_series_dropped gauge\n"
		    "tlsrpt_metrics_series_dropped{family=\"tlsrpt_sessions_"
		    "total\"} %zu\n"
		    "tlsrpt_metrics_series_dropped{family=\"tlsrpt_failures_"
		    "total\"} %zu\n",
		    max_series, dropped_s, dropped_f);
out:
	trpt_view_free(&s);
	trpt_view_free(&f);
	return rc;
}

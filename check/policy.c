#include "check/policy.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* The next ';'-separated field of s, trimmed; NULL at the end. */
static const char *
next_field(const char **sp, size_t *len)
{
	const char *s = *sp, *e;

	while (is_wsp(*s))
		s++;
	if (*s == '\0')
		return NULL;
	e = strchr(s, ';');
	if (e == NULL)
		e = s + strlen(s);
	*sp = *e == ';' ? e + 1 : e;
	while (e > s && is_wsp(e[-1]))
		e--;
	*len = (size_t)(e - s);
	return s;
}

static int
host_ok(const char *h, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		if (h[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)h[i]) && h[i] != '-')
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

static int
rua_ok(const char *u, size_t n)
{
	const char *at, *h, *e;

	if (n > 7 && strncasecmp(u, "mailto:", 7) == 0) {
		at = memchr(u + 7, '@', n - 7);
		if (at == NULL || at == u + 7)
			return 0;
		e = memchr(at, '?', (size_t)(u + n - at));
		if (e == NULL)
			e = u + n;
		return host_ok(at + 1, (size_t)(e - at - 1));
	}
	if (n > 8 && strncasecmp(u, "https://", 8) == 0) {
		h = u + 8;
		for (e = h; e < u + n && *e != '/' && *e != ':' && *e != '?';
		     e++)
			;
		return host_ok(h, (size_t)(e - h));
	}
	return 0;
}

int
trpt_policy_tlsrpt_parse(
    const char *txt, struct trpt_policy_tlsrpt *out, struct trpt_err *err)
{
	struct trpt_policy_tlsrpt r;
	const char *s = txt, *f, *u, *e;
	size_t len, n;
	int seen_rua = 0;

	memset(&r, 0, sizeof(r));
	f = next_field(&s, &len);
	if (f == NULL || len != 10 || strncmp(f, "v=TLSRPTv1", 10) != 0)
		return trpt_err_set(err, TRPT_EPARSE,
		    "TLSRPT record does not start with \"v=TLSRPTv1;\"");
	while ((f = next_field(&s, &len)) != NULL) {
		if (len == 0)
			continue;
		if (len < 4 || strncmp(f, "rua=", 4) != 0) {
			if (memchr(f, '=', len) == NULL)
				return trpt_err_set(err, TRPT_EPARSE,
				    "TLSRPT record: field \"%.*s\" is not "
				    "name=value",
				    (int)(len > 40 ? 40 : len), f);
			continue; /* an extension */
		}
		if (seen_rua++)
			return trpt_err_set(err, TRPT_EPARSE,
			    "TLSRPT record: more than one rua field");
		u = f + 4;
		while (u < f + len) {
			while (u < f + len && is_wsp(*u))
				u++;
			e = memchr(u, ',', (size_t)(f + len - u));
			if (e == NULL)
				e = f + len;
			n = (size_t)(e - u);
			while (n > 0 && is_wsp(u[n - 1]))
				n--;
			if (!rua_ok(u, n))
				return trpt_err_set(err, TRPT_EPARSE,
				    "TLSRPT record: rua \"%.*s\" is neither "
				    "mailto:ADDRESS nor https://HOST/...",
				    (int)(n > 80 ? 80 : n), u);
			if (r.nrua < TRPT_POLICY_MAX_RUA &&
			    n < TRPT_POLICY_NAME) {
				memcpy(r.rua[r.nrua], u, n);
				r.rua[r.nrua++][n] = '\0';
			}
			u = e + 1;
		}
	}
	if (!seen_rua || r.nrua == 0)
		return trpt_err_set(
		    err, TRPT_EPARSE, "TLSRPT record: no rua field");
	*out = r;
	return TRPT_OK;
}

int
trpt_policy_sts_txt_parse(
    const char *txt, char *id, size_t idsize, struct trpt_err *err)
{
	const char *s = txt, *f;
	size_t len, i;
	int seen_id = 0;

	f = next_field(&s, &len);
	if (f == NULL || len != 7 || strncmp(f, "v=STSv1", 7) != 0)
		return trpt_err_set(err, TRPT_EPARSE,
		    "_mta-sts record does not start with \"v=STSv1;\"");
	while ((f = next_field(&s, &len)) != NULL) {
		if (len == 0)
			continue;
		if (len < 3 || strncmp(f, "id=", 3) != 0) {
			if (memchr(f, '=', len) == NULL)
				return trpt_err_set(err, TRPT_EPARSE,
				    "_mta-sts record: field \"%.*s\" is not "
				    "name=value",
				    (int)(len > 40 ? 40 : len), f);
			continue;
		}
		if (seen_id++)
			return trpt_err_set(err, TRPT_EPARSE,
			    "_mta-sts record: more than one id");
		if (len - 3 < 1 || len - 3 > 32 || len - 3 >= idsize)
			return trpt_err_set(err, TRPT_EPARSE,
			    "_mta-sts record: id must be 1 to 32 letters and "
			    "digits");
		for (i = 3; i < len; i++)
			if (!isalnum((unsigned char)f[i]))
				return trpt_err_set(err, TRPT_EPARSE,
				    "_mta-sts record: id must be 1 to 32 "
				    "letters and digits");
		memcpy(id, f + 3, len - 3);
		id[len - 3] = '\0';
	}
	if (!seen_id)
		return trpt_err_set(
		    err, TRPT_EPARSE, "_mta-sts record: no id field");
	return TRPT_OK;
}

const char *
trpt_policy_sts_mode_name(enum trpt_sts_mode m)
{
	return m == TRPT_STS_ENFORCE   ? "enforce"
	       : m == TRPT_STS_TESTING ? "testing"
				       : "none";
}

static int
pattern_ok(const char *p, size_t n)
{
	if (n > 2 && p[0] == '*' && p[1] == '.')
		return host_ok(p + 2, n - 2);
	return host_ok(p, n);
}

int
trpt_policy_sts_parse(const char *body, size_t len, struct trpt_sts_policy *out,
    struct trpt_err *err)
{
	struct trpt_sts_policy p;
	const char *s = body, *end = body + len, *eol, *colon, *v, *ve;
	size_t klen, vlen, i, lineno = 0;
	int have_version = 0, have_mode = 0, have_age = 0;

	memset(&p, 0, sizeof(p));
	if (memchr(body, '\0', len) != NULL)
		return trpt_err_set(
		    err, TRPT_EPARSE, "MTA-STS policy holds a NUL byte");
	while (s < end) {
		lineno++;
		eol = memchr(s, '\n', (size_t)(end - s));
		if (eol == NULL)
			eol = end;
		ve = eol > s && eol[-1] == '\r' ? eol - 1 : eol;
		if (ve == s) { /* an empty line (e.g. the last) */
			s = eol + (eol < end);
			continue;
		}
		colon = memchr(s, ':', (size_t)(ve - s));
		if (colon == NULL || colon == s)
			return trpt_err_set(err, TRPT_EPARSE,
			    "MTA-STS policy line %zu is not \"key: value\"",
			    lineno);
		klen = (size_t)(colon - s);
		for (i = 0; i < klen; i++)
			if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
			    s[i] != '-' && s[i] != '.')
				return trpt_err_set(err, TRPT_EPARSE,
				    "MTA-STS policy line %zu: bad key", lineno);
		v = colon + 1;
		while (v < ve && is_wsp(*v))
			v++;
		vlen = (size_t)(ve - v);
		while (vlen > 0 && is_wsp(v[vlen - 1]))
			vlen--;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(s, k, klen) == 0)
#define VAL(x) (vlen == sizeof(x) - 1 && memcmp(v, x, vlen) == 0)
		if (KEY("version")) {
			if (have_version++ || !VAL("STSv1"))
				return trpt_err_set(err, TRPT_EPARSE,
				    "MTA-STS policy line %zu: version must "
				    "be STSv1, once",
				    lineno);
		} else if (KEY("mode")) {
			if (have_mode++)
				return trpt_err_set(err, TRPT_EPARSE,
				    "MTA-STS policy line %zu: mode given "
				    "twice",
				    lineno);
			if (VAL("enforce"))
				p.mode = TRPT_STS_ENFORCE;
			else if (VAL("testing"))
				p.mode = TRPT_STS_TESTING;
			else if (VAL("none"))
				p.mode = TRPT_STS_NONE;
			else
				return trpt_err_set(err, TRPT_EPARSE,
				    "MTA-STS policy line %zu: mode \"%.*s\" "
				    "is not enforce, testing or none",
				    lineno, (int)(vlen > 20 ? 20 : vlen), v);
		} else if (KEY("max_age")) {
			if (have_age++ || vlen == 0 || vlen > 10)
				goto bad_age;
			p.max_age = 0;
			for (i = 0; i < vlen; i++) {
				if (!isdigit((unsigned char)v[i]))
					goto bad_age;
				p.max_age = p.max_age * 10 + (v[i] - '0');
			}
			if (p.max_age > 31557600)
				goto bad_age;
		} else if (KEY("mx")) {
			if (!pattern_ok(v, vlen))
				return trpt_err_set(err, TRPT_EPARSE,
				    "MTA-STS policy line %zu: mx \"%.*s\" is "
				    "not a host name or *.pattern",
				    lineno, (int)(vlen > 60 ? 60 : vlen), v);
			if (p.nmx == TRPT_POLICY_MAX_MX)
				return trpt_err_set(err, TRPT_ELIMIT,
				    "MTA-STS policy: more than %d mx lines",
				    TRPT_POLICY_MAX_MX);
			for (i = 0; i < vlen; i++)
				p.mx[p.nmx][i] =
				    (char)tolower((unsigned char)v[i]);
			p.mx[p.nmx++][vlen] = '\0';
		}
		/* Other keys are extensions: ignored (§3.2). */
#undef KEY
#undef VAL
		s = eol + (eol < end);
	}
	if (!have_version || !have_mode || !have_age)
		return trpt_err_set(err, TRPT_EPARSE,
		    "MTA-STS policy: missing %s line",
		    !have_version ? "version"
		    : !have_mode  ? "mode"
				  : "max_age");
	if (p.mode != TRPT_STS_NONE && p.nmx == 0)
		return trpt_err_set(err, TRPT_EPARSE,
		    "MTA-STS policy: mode %s without mx lines",
		    trpt_policy_sts_mode_name(p.mode));
	*out = p;
	return TRPT_OK;
bad_age:
	return trpt_err_set(err, TRPT_EPARSE,
	    "MTA-STS policy line %zu: max_age must be given once, 0 to "
	    "31557600 seconds",
	    lineno);
}

int
trpt_policy_mx_match(const char *pattern, const char *host)
{
	const char *dot;

	if (pattern[0] == '*' && pattern[1] == '.') {
		dot = strchr(host, '.');
		return dot != NULL && dot != host &&
		       strcasecmp(dot + 1, pattern + 2) == 0;
	}
	return strcasecmp(pattern, host) == 0;
}

const char *
trpt_policy_sts_match(const struct trpt_sts_policy *p, const char *host)
{
	size_t i;

	for (i = 0; i < p->nmx; i++)
		if (trpt_policy_mx_match(p->mx[i], host))
			return p->mx[i];
	return NULL;
}

#include "check/check.h"

#include <idn2.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "check/stsfetch.h"

void
trpt_check_config_init(struct trpt_check_config *c)
{
	memset(c, 0, sizeof(*c));
	c->smtp_port = 25;
	c->https_port = 443;
	c->helo = "localhost";
	c->dns_timeout_ms = 5000;
	c->timeout_ms = 5000;
	c->max_policy = 64 * 1024;
	c->max_mx = 10;
	c->max_time_ms = 120000;
	c->now = (int64_t)time(NULL);
}

static void add(struct trpt_check_findings *f, const char *type,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Text from the network (certificate names, TXT records, server errors)
 * kept as printable ASCII: it reaches terminals, logs, JSON (which needs
 * UTF-8) and the database.
 */
static void
clean(char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
}

static void
add(struct trpt_check_findings *f, const char *type, const char *fmt, ...)
{
	va_list ap;

	if (f->n == TRPT_CHECK_MAX_FINDINGS)
		return;
	f->v[f->n].type = type;
	va_start(ap, fmt);
	vsnprintf(f->v[f->n].detail, sizeof(f->v[f->n].detail), fmt, ap);
	va_end(ap);
	clean(f->v[f->n].detail);
	f->n++;
}

static int
has_type(const struct trpt_check_findings *f, const char *type)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (f->v[i].type != NULL && strcmp(f->v[i].type, type) == 0)
			return 1;
	return 0;
}

int
trpt_check_domain_ascii(
    const char *in, char *out, size_t size, struct trpt_err *err)
{
	char *a = NULL;
	size_t n, i, label = 0;
	int r;

	r = idn2_to_ascii_8z(in, &a, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	if (r != IDN2_OK)
		return trpt_err_set(err, TRPT_EINVAL, "domain \"%.80s\": %s",
		    in, idn2_strerror(r));
	n = strlen(a);
	if (n > 0 && a[n - 1] == '.')
		a[--n] = '\0';
	for (i = 0; i < n; i++) {
		if (a[i] >= 'A' && a[i] <= 'Z')
			a[i] = (char)(a[i] - 'A' + 'a');
		if (a[i] == '.') {
			if (label == 0)
				break;
			label = 0;
		} else if ((a[i] >= 'a' && a[i] <= 'z') ||
			   (a[i] >= '0' && a[i] <= '9') || a[i] == '-')
			label++;
		else
			break;
	}
	if (n == 0 || i < n || label == 0 || n >= size || n > 253 ||
	    strchr(a, '.') == NULL) {
		free(a);
		return trpt_err_set(err, TRPT_EINVAL,
		    "domain \"%.80s\" is not a mail domain name", in);
	}
	memcpy(out, a, n + 1);
	free(a);
	return TRPT_OK;
}

/*
 * The TXT record at name that starts with prefix: exactly one must exist
 * (RFC 8460 §3, RFC 8461 §3.1 discard the others).  Returns 1 with it in
 * t->text, 0 when none counts (why in why), or a trpt_rc.
 */
static int
one_txt(struct trpt_dns *dns, const char *name, const char *prefix,
    struct trpt_check_txt *t, char *why, size_t whysize, struct trpt_err *err)
{
	struct trpt_dns_answer a;
	char text[4096];
	size_t i, count = 0, plen = strlen(prefix);
	int rc;

	if ((rc = trpt_dns_query(dns, name, TRPT_DNS_TXT, &a, err)) != TRPT_OK)
		return rc;
	t->dnssec = a.dnssec;
	if (a.dnssec == TRPT_DNSSEC_BOGUS) {
		snprintf(why, whysize, "%s: DNSSEC validation failed (%s)",
		    name, a.why_bogus);
		trpt_dns_answer_clear(&a);
		return 0;
	}
	for (i = 0; i < a.n; i++) {
		if (trpt_dns_txt(a.rr[i], a.len[i], text, sizeof(text), NULL) !=
			TRPT_OK ||
		    strncmp(text, prefix, plen) != 0 ||
		    (text[plen] != ';' && text[plen] != '\0' &&
			text[plen] != ' '))
			continue;
		if (count++ == 0) {
			snprintf(t->text, sizeof(t->text), "%.*s",
			    (int)sizeof(t->text) - 1, text);
			clean(t->text);
		}
	}
	trpt_dns_answer_clear(&a);
	if (count == 1) {
		t->found = 1;
		return 1;
	}
	if (count == 0)
		snprintf(why, whysize, "no %s record at %s", prefix, name);
	else
		snprintf(why, whysize,
		    "%zu %s records at %s: senders ignore them all", count,
		    prefix, name);
	return 0;
}

/* A and AAAA of host; the first address in addr, all in addrs. */
static int
addresses(struct trpt_dns *dns, const char *host, enum trpt_dnssec *state,
    char addrs[][64], size_t max, size_t *naddrs, char *why, size_t whysize,
    struct trpt_err *err)
{
	static const enum trpt_dns_type types[2] = { TRPT_DNS_A,
		TRPT_DNS_AAAA };
	struct trpt_dns_answer a;
	size_t t, i;
	int rc;

	*naddrs = 0;
	*state = TRPT_DNSSEC_SECURE;
	for (t = 0; t < 2; t++) {
		if ((rc = trpt_dns_query(dns, host, types[t], &a, err)) !=
		    TRPT_OK)
			return rc;
		if (a.dnssec == TRPT_DNSSEC_BOGUS) {
			*state = TRPT_DNSSEC_BOGUS;
			snprintf(why, whysize,
			    "addresses of %s: DNSSEC validation failed (%s)",
			    host, a.why_bogus);
		} else if (a.dnssec == TRPT_DNSSEC_INSECURE &&
			   *state == TRPT_DNSSEC_SECURE)
			*state = TRPT_DNSSEC_INSECURE;
		for (i = 0; i < a.n && *naddrs < max; i++)
			if (trpt_dns_addr(types[t], a.rr[i], a.len[i],
				addrs[*naddrs], 64, NULL) == TRPT_OK)
				(*naddrs)++;
		trpt_dns_answer_clear(&a);
	}
	if (*naddrs == 0 && *state != TRPT_DNSSEC_BOGUS)
		snprintf(why, whysize, "%s has no address (A or AAAA)", host);
	return TRPT_OK;
}

static int
cmp_mx(const void *p, const void *q)
{
	const struct trpt_check_mx *a = p, *b = q;

	if (a->pref != b->pref)
		return a->pref < b->pref ? -1 : 1;
	return strcmp(a->host, b->host);
}

/* The MX set; 1 when it could be read, 0 when a finding says why not. */
static int
mx_set(struct trpt_dns *dns, const struct trpt_check_config *c,
    struct trpt_check_result *r, struct trpt_err *err)
{
	struct trpt_dns_answer a;
	char host[TRPT_POLICY_NAME], addrs[1][64], why[256];
	unsigned pref;
	size_t i, n = 0;
	enum trpt_dnssec st;
	int rc;

	if ((rc = trpt_dns_query(dns, r->domain, TRPT_DNS_MX, &a, err)) !=
	    TRPT_OK)
		return rc;
	r->mx_dnssec = a.dnssec;
	if (a.dnssec == TRPT_DNSSEC_BOGUS) {
		add(&r->findings, "dnssec-invalid",
		    "MX records of %s: DNSSEC validation failed (%s)",
		    r->domain, a.why_bogus);
		trpt_dns_answer_clear(&a);
		return 0;
	}
	if (a.nxdomain) {
		add(&r->findings, NULL, "%s does not exist (NXDOMAIN)",
		    r->domain);
		trpt_dns_answer_clear(&a);
		return 0;
	}
	r->mx_total = a.n;
	if ((r->mx = calloc(a.n > 0 ? a.n : 1, sizeof(*r->mx))) == NULL) {
		trpt_dns_answer_clear(&a);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	for (i = 0; i < a.n; i++) {
		if (trpt_dns_mx(a.rr[i], a.len[i], &pref, host, sizeof(host),
			err) != TRPT_OK) {
			add(&r->findings, NULL, "MX record of %s: %s",
			    r->domain, err->msg);
			continue;
		}
		if (host[0] == '\0') {
			r->null_mx = 1;
			continue;
		}
		r->mx[n].pref = pref;
		snprintf(r->mx[n].host, sizeof(r->mx[n].host), "%s", host);
		n++;
	}
	trpt_dns_answer_clear(&a);
	if (r->null_mx) {
		add(&r->findings, NULL,
		    "%s publishes a null MX (RFC 7505): it takes no mail",
		    r->domain);
		return 0;
	}
	if (r->mx_total == 0) {
		/* No MX: senders deliver to the domain's own address. */
		if ((rc = addresses(dns, r->domain, &st, addrs, 1, &i, why,
			 sizeof(why), err)) != TRPT_OK)
			return rc;
		if (i == 0) {
			add(&r->findings, NULL,
			    "%s has no MX record and no "
			    "address: it takes no mail",
			    r->domain);
			return 0;
		}
		r->implicit_mx = 1;
		snprintf(r->mx[0].host, sizeof(r->mx[0].host), "%s", r->domain);
		n = 1;
	}
	qsort(r->mx, n, sizeof(*r->mx), cmp_mx);
	r->nmx = n;
	(void)c;
	return 1;
}

static void
tlsrpt_record(struct trpt_dns *dns, struct trpt_check_result *r, int *rc,
    struct trpt_err *err)
{
	char name[300], why[256];
	struct trpt_err perr;
	int got;

	snprintf(name, sizeof(name), "_smtp._tls.%s", r->domain);
	got =
	    one_txt(dns, name, "v=TLSRPTv1", &r->tlsrpt, why, sizeof(why), err);
	if (got < 0) {
		*rc = got;
		return;
	}
	if (got == 0) {
		add(&r->findings, NULL, "%s: senders send no TLS reports", why);
		return;
	}
	if (trpt_policy_tlsrpt_parse(r->tlsrpt.text, &r->tlsrpt_rua, &perr) !=
	    TRPT_OK)
		add(&r->findings, NULL, "%s: %s", name, perr.msg);
}

static void
sts(struct trpt_dns *dns, const struct trpt_check_config *c,
    struct trpt_check_result *r, int *rc, struct trpt_err *err)
{
	char name[300], why[256], host[262], addrs[8][64];
	const char *ap[8];
	struct trpt_stsfetch f;
	struct trpt_err perr;
	enum trpt_dnssec st;
	char *body = NULL;
	size_t n, i, len;
	int got, fail;

	snprintf(name, sizeof(name), "_mta-sts.%s", r->domain);
	got = one_txt(dns, name, "v=STSv1", &r->sts_txt, why, sizeof(why), err);
	if (got < 0) {
		*rc = got;
		return;
	}
	if (got == 0) {
		if (r->sts_txt.dnssec == TRPT_DNSSEC_BOGUS)
			add(&r->findings, "dnssec-invalid", "%s", why);
		else if (strncmp(why, "no ", 3) != 0)
			add(&r->findings, "sts-policy-invalid", "%s", why);
		return; /* no MTA-STS: nothing more to fetch */
	}
	if (trpt_policy_sts_txt_parse(r->sts_txt.text, r->sts_id,
		sizeof(r->sts_id), &perr) != TRPT_OK) {
		add(&r->findings, "sts-policy-invalid", "%s: %s", name,
		    perr.msg);
		return;
	}
	snprintf(host, sizeof(host), "mta-sts.%s", r->domain);
	if (c->https_port == 443)
		snprintf(r->sts_url, sizeof(r->sts_url),
		    "https://%s/.well-known/mta-sts.txt", host);
	else
		snprintf(r->sts_url, sizeof(r->sts_url),
		    "https://%s:%u/.well-known/mta-sts.txt", host,
		    c->https_port);
	if ((*rc = addresses(dns, host, &st, addrs, 8, &n, why, sizeof(why),
		 err)) != TRPT_OK)
		return;
	if (n == 0) {
		add(&r->findings, "sts-policy-fetch-error", "%s", why);
		return;
	}
	for (i = 0; i < n; i++)
		ap[i] = addrs[i];
	memset(&f, 0, sizeof(f));
	f.host = host;
	f.port = c->https_port;
	f.addrs = ap;
	f.naddrs = n;
	f.cafile = c->cafile;
	f.timeout_ms = c->timeout_ms;
	f.max_body = c->max_policy;
	why[0] = '\0';
	if ((*rc = trpt_stsfetch_get(
		 &f, &fail, &body, &len, why, sizeof(why), err)) != TRPT_OK)
		return;
	if (fail == TRPT_STSFETCH_ERROR)
		add(&r->findings, "sts-policy-fetch-error", "%s", why);
	else if (fail == TRPT_STSFETCH_WEBPKI)
		add(&r->findings, "sts-webpki-invalid", "%s", why);
	else if (fail == TRPT_STSFETCH_TYPE)
		add(&r->findings, "sts-policy-invalid", "%s", why);
	else if (trpt_policy_sts_parse(body, len, &r->sts, &perr) != TRPT_OK)
		add(&r->findings, "sts-policy-invalid", "%s: %s", r->sts_url,
		    perr.msg);
	else
		r->sts_fetched = 1;
	free(body);
}

static void
tlsa_text(const unsigned char *rr, size_t len, char *buf, size_t size)
{
	size_t i, o;

	if (len < 4) {
		snprintf(buf, size, "(malformed)");
		return;
	}
	o = (size_t)snprintf(buf, size, "%u %u %u ", rr[0], rr[1], rr[2]);
	for (i = 3; i < len && o + 3 < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%02x", rr[i]);
	if (i < len && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

static void
day_text(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, size, "?");
	else
		strftime(buf, size, "%Y-%m-%d", &tm);
}

/* DNS and the SMTP probe of one MX host; findings per sender logic. */
static int
one_mx(struct trpt_dns *dns, const struct trpt_check_config *c,
    struct trpt_check_result *r, struct trpt_check_mx *m, struct trpt_err *err)
{
	struct trpt_dns_answer tl;
	struct trpt_smtp_probe p;
	char name[300], why[256], addrs[4][64], day[16];
	const unsigned char *rrs[TRPT_DNS_MAX_RR];
	size_t lens[TRPT_DNS_MAX_RR], n, i;
	int rc, dane, webpki, sts_on;
	struct trpt_check_findings *f = &m->findings;

	memset(&tl, 0, sizeof(tl));
	m->smtp.dane = -1;
	why[0] = '\0';
	rc = addresses(
	    dns, m->host, &m->addr_dnssec, addrs, 4, &n, why, sizeof(why), err);
	if (rc == TRPT_ETEMP) {
		add(f, NULL, "%s", err->msg);
		return TRPT_OK;
	}
	if (rc != TRPT_OK)
		return rc;
	if (m->addr_dnssec == TRPT_DNSSEC_BOGUS)
		add(f, "dnssec-invalid", "%s", why);
	else if (n == 0)
		add(f, NULL, "%s", why);
	snprintf(name, sizeof(name), "_25._tcp.%s", m->host);
	rc = trpt_dns_query(dns, name, TRPT_DNS_TLSA, &tl, err);
	if (rc == TRPT_ETEMP) {
		add(f, NULL, "%s", err->msg);
		return TRPT_OK;
	}
	if (rc != TRPT_OK)
		return rc;
	m->tlsa_dnssec = tl.dnssec;
	m->ntlsa = tl.n;
	for (i = 0; i < tl.n && i < 4; i++)
		tlsa_text(tl.rr[i], tl.len[i], m->tlsa[i], sizeof(m->tlsa[i]));
	if (tl.dnssec == TRPT_DNSSEC_BOGUS)
		add(f, "dnssec-invalid",
		    "TLSA records at %s: DNSSEC validation failed (%s)", name,
		    tl.why_bogus);
	/* RFC 7672 §2.2: only DNSSEC-validated TLSA records count. */
	dane = tl.dnssec == TRPT_DNSSEC_SECURE && tl.n > 0;
	sts_on = r->sts_fetched && r->sts.mode != TRPT_STS_NONE;
	if (sts_on) {
		m->sts_pattern = trpt_policy_sts_match(&r->sts, m->host);
		if (m->sts_pattern == NULL)
			add(f, "sts-policy-invalid",
			    "%s matches no mx line of the MTA-STS policy",
			    m->host);
	}
	if (n == 0 || m->addr_dnssec == TRPT_DNSSEC_BOGUS)
		goto out;
	memset(&p, 0, sizeof(p));
	p.host = m->host;
	p.port = c->smtp_port;
	p.helo = c->helo;
	p.cafile = c->cafile;
	p.timeout_ms = c->timeout_ms;
	if (dane) {
		for (i = 0; i < tl.n; i++) {
			rrs[i] = tl.rr[i];
			lens[i] = tl.len[i];
		}
		p.tlsa = rrs;
		p.tlsa_len = lens;
		p.ntlsa = tl.n;
	}
	/* As a sender: the next address when one does not answer. */
	for (i = 0; i < n && i < 2; i++) {
		snprintf(m->addr, sizeof(m->addr), "%s", addrs[i]);
		p.addr = m->addr;
		if ((rc = trpt_smtp_probe(&p, &m->smtp, err)) != TRPT_OK)
			goto out;
		if (m->smtp.connected)
			break;
	}
	clean(m->smtp.subject);
	clean(m->smtp.issuer);
	clean(m->smtp.names);
	clean(m->smtp.cipher);
	clean(m->smtp.error);
	clean(m->smtp.trust_why);
	clean(m->smtp.dane_why);
	if (!m->smtp.connected) {
		add(f, NULL, "%s", m->smtp.error);
		goto out;
	}
	if (!m->smtp.starttls) {
		add(f, "starttls-not-supported",
		    "%s does not offer STARTTLS%s%s", m->host,
		    m->smtp.error[0] != '\0' ? ": " : "", m->smtp.error);
		goto out;
	}
	if (!m->smtp.tls) {
		add(f, "validation-failure",
		    "no TLS 1.2 or 1.3 with %s%s%s%s: %s", m->host,
		    m->smtp.legacy[0] != '\0' ? " (it speaks only " : "",
		    m->smtp.legacy, m->smtp.legacy[0] != '\0' ? ")" : "",
		    m->smtp.error);
		goto out;
	}
	m->days_left = m->smtp.not_after >= c->now
			   ? (m->smtp.not_after - c->now) / 86400
			   : -((c->now - m->smtp.not_after + 86399) / 86400);
	if (dane && m->smtp.dane == 0)
		add(f, "tlsa-invalid",
		    "no TLSA record at %s matches the certificate chain (%s)",
		    name, m->smtp.dane_why);
	/* A DANE sender needs no WebPKI; an MTA-STS sender, and one
	 * without a policy to go by, judges the certificate itself. */
	webpki = sts_on || !dane;
	if (!webpki)
		goto out;
	day_text(m->smtp.not_after, day, sizeof(day));
	if (m->smtp.expired)
		add(f, "certificate-expired",
		    "certificate of %s expired on %s (%" PRId64 " days ago)",
		    m->host, day, -m->days_left);
	else if (m->smtp.not_yet_valid)
		add(f, "validation-failure",
		    "certificate of %s is not valid yet", m->host);
	if (m->smtp.untrusted)
		add(f, "certificate-not-trusted",
		    "certificate of %s: no chain to a trusted CA (%s)", m->host,
		    m->smtp.trust_why);
	if (!m->smtp.name_ok)
		add(f, "certificate-host-mismatch",
		    "certificate of %s covers %s, not %s", m->host,
		    m->smtp.names[0] != '\0' ? m->smtp.names : m->smtp.subject,
		    m->host);
out:
	trpt_dns_answer_clear(&tl);
	return rc;
}

/* host is one of only (given as U- or A-labels), or only is empty. */
static int
wanted(const char *host, const char *const *only, size_t nonly)
{
	char a[TRPT_POLICY_NAME];
	size_t i;

	if (only == NULL || nonly == 0)
		return 1;
	for (i = 0; i < nonly; i++)
		if (trpt_check_domain_ascii(only[i], a, sizeof(a), NULL) ==
			TRPT_OK &&
		    strcmp(a, host) == 0)
			return 1;
	return 0;
}

int
trpt_check_run(const struct trpt_check_config *c, const char *domain,
    const char *const *only, size_t nonly, struct trpt_check_result **out,
    struct trpt_err *err)
{
	struct trpt_check_result *r;
	struct trpt_dns *dns = NULL;
	char want[TRPT_POLICY_NAME];
	int64_t start = (int64_t)time(NULL) * 1000;
	size_t i, j, k, secure_tlsa = 0;
	int rc = TRPT_OK, have_mx;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	snprintf(r->input, sizeof(r->input), "%s", domain);
	r->checked_at = c->now;
	if ((rc = trpt_check_domain_ascii(
		 domain, r->domain, sizeof(r->domain), err)) != TRPT_OK)
		goto out;
	if ((rc = trpt_dns_new(c->resolver, c->trust_anchor, c->dns_timeout_ms,
		 &dns, err)) != TRPT_OK ||
	    (rc = trpt_dns_check_anchor(dns, err)) != TRPT_OK)
		goto out;
	if ((have_mx = mx_set(dns, c, r, err)) < 0) {
		rc = have_mx;
		goto out;
	}
	tlsrpt_record(dns, r, &rc, err);
	if (rc != TRPT_OK)
		goto out;
	sts(dns, c, r, &rc, err);
	if (rc != TRPT_OK)
		goto out;
	for (i = 0; i < nonly; i++) {
		if (trpt_check_domain_ascii(
			only[i], want, sizeof(want), NULL) != TRPT_OK)
			snprintf(want, sizeof(want), "%s", only[i]);
		for (j = 0; j < r->nmx; j++)
			if (strcmp(r->mx[j].host, want) == 0)
				break;
		if (j == r->nmx)
			add(&r->findings, NULL,
			    "%s is not an MX host of %s: not checked", want,
			    r->domain);
	}
	/* Keep the hosts asked for (all by default), up to max_mx. */
	for (i = j = 0; i < r->nmx; i++) {
		if (!wanted(r->mx[i].host, only, nonly) || j >= c->max_mx)
			continue;
		if (i != j)
			r->mx[j] = r->mx[i];
		j++;
	}
	if (r->nmx > c->max_mx && nonly == 0)
		add(&r->findings, NULL,
		    "%zu MX hosts: only the first %zu were checked", r->nmx,
		    c->max_mx);
	r->nmx = j;
	for (i = 0; i < r->nmx; i++) {
		if (c->max_time_ms > 0 &&
		    (int64_t)time(NULL) * 1000 > start + c->max_time_ms) {
			add(&r->mx[i].findings, NULL,
			    "not checked: the check ran out of its %u s",
			    c->max_time_ms / 1000);
			continue;
		}
		if ((rc = one_mx(dns, c, r, &r->mx[i], err)) != TRPT_OK)
			goto out;
		secure_tlsa += r->mx[i].tlsa_dnssec == TRPT_DNSSEC_SECURE &&
			       r->mx[i].ntlsa > 0;
	}
	for (i = 0; i < r->nmx; i++) {
		struct trpt_check_mx *m = &r->mx[i];

		/* Where some MX hosts have DANE, a sender that requires it
		 * for the domain fails on those that lack it. */
		if (secure_tlsa > 0 &&
		    !(m->tlsa_dnssec == TRPT_DNSSEC_SECURE && m->ntlsa > 0))
			add(&m->findings, "dane-required",
			    "no DNSSEC-validated TLSA records at "
			    "_25._tcp.%s, while %zu other MX host%s them",
			    m->host, secure_tlsa,
			    secure_tlsa == 1 ? " has" : "s have");
		for (k = 0; k < r->findings.n; k++)
			if (r->findings.v[k].type != NULL &&
			    !has_type(&m->findings, r->findings.v[k].type))
				add(&m->findings, r->findings.v[k].type, "%s",
				    r->findings.v[k].detail);
	}
	(void)have_mx;
	*out = r;
	r = NULL;
out:
	trpt_dns_free(&dns);
	trpt_check_free(&r);
	return rc;
}

void
trpt_check_free(struct trpt_check_result **rp)
{
	struct trpt_check_result *r = *rp;

	if (r == NULL)
		return;
	free(r->mx);
	free(r);
	*rp = NULL;
}

size_t
trpt_check_failures(const struct trpt_check_result *r)
{
	size_t i, n = 0;

	/* Typed domain findings are also in each MX host's list, unless
	 * there is none to hold them (a bogus MX set). */
	for (i = 0; i < r->findings.n; i++)
		n += r->findings.v[i].type == NULL || r->nmx == 0;
	for (i = 0; i < r->nmx; i++)
		n += r->mx[i].findings.n;
	return n;
}

#include "check/dns.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound.h>

struct trpt_dns {
	struct ub_ctx *ub;
	unsigned timeout_ms;
	char anchor_zone[256]; /* owner of the first trust anchor record */
	const char *anchor;
	struct pending *abandoned;
};

/* The owner name of the first record in the anchor file. */
static void
anchor_owner(const char *path, char *out, size_t size)
{
	char line[512];
	size_t n;
	FILE *f;

	snprintf(out, size, ".");
	if ((f = fopen(path, "r")) == NULL)
		return;
	for (n = 0; n < 1000 && fgets(line, sizeof(line), f) != NULL; n++) {
		if (line[0] == ';' || line[0] == '$' || line[0] == ' ' ||
		    line[0] == '\t' || line[0] == '\n' || line[0] == '\r')
			continue;
		line[strcspn(line, " \t\r\n")] = '\0';
		snprintf(out, size, "%.*s", (int)size - 1, line);
		break;
	}
	fclose(f);
}

/*
 * One query.  Heap-allocated: a query given up (timeout) whose cancel
 * fails may still be answered by a later ub_process, so it must outlive
 * the call; such queries wait on d->abandoned until trpt_dns_free.
 */
struct pending {
	int done, err, abandoned;
	struct ub_result *res;
	struct pending *next;
};

const char *
trpt_dns_dnssec_name(enum trpt_dnssec s)
{
	switch (s) {
	case TRPT_DNSSEC_SECURE:
		return "secure";
	case TRPT_DNSSEC_BOGUS:
		return "bogus";
	default:
		return "insecure";
	}
}

int
trpt_dns_new(const char *upstream, const char *anchor, unsigned timeout_ms,
    struct trpt_dns **out, struct trpt_err *err)
{
	struct trpt_dns *d;
	int urc, rc;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	d->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	if ((d->ub = ub_ctx_create()) == NULL) {
		free(d);
		return trpt_err_set(
		    err, TRPT_ENOMEM, "resolver: out of memory");
	}
	if (anchor == NULL)
		anchor = TRPT_DNS_ROOT_ANCHOR;
	/* A thread, not a forked process, answers the queries. */
	if ((urc = ub_ctx_async(d->ub, 1)) != 0) {
		rc = trpt_err_set(
		    err, TRPT_EINVAL, "resolver: %s", ub_strerror(urc));
		goto fail;
	}
	if (upstream != NULL) {
		/* A test resolver on loopback is normal here. */
		if ((urc = ub_ctx_set_option(
			 d->ub, "do-not-query-localhost:", "no")) != 0 ||
		    (urc = ub_ctx_set_fwd(d->ub, upstream)) != 0) {
			rc = trpt_err_set(err, TRPT_EINVAL,
			    "resolver \"%s\": %s", upstream, ub_strerror(urc));
			goto fail;
		}
	} else if ((urc = ub_ctx_resolvconf(d->ub, NULL)) != 0) {
		rc = trpt_err_set(err, TRPT_EINVAL,
		    "resolver: /etc/resolv.conf: %s", ub_strerror(urc));
		goto fail;
	}
	if ((urc = ub_ctx_add_ta_file(d->ub, anchor)) != 0) {
		rc = trpt_err_set(err, TRPT_EINVAL,
		    "resolver: trust anchor %s: %s", anchor,
		    urc == UB_READFILE ? "cannot read it" : ub_strerror(urc));
		goto fail;
	}
	anchor_owner(anchor, d->anchor_zone, sizeof(d->anchor_zone));
	d->anchor = anchor;
	*out = d;
	return TRPT_OK;
fail:
	ub_ctx_delete(d->ub);
	free(d);
	return rc;
}

void
trpt_dns_free(struct trpt_dns **dp)
{
	struct trpt_dns *d = *dp;
	struct pending *p;

	if (d == NULL)
		return;
	ub_ctx_delete(d->ub);
	while ((p = d->abandoned) != NULL) {
		d->abandoned = p->next;
		if (p->res != NULL)
			ub_resolve_free(p->res);
		free(p);
	}
	free(d);
	*dp = NULL;
}

static void
on_result(void *arg, int e, struct ub_result *res)
{
	struct pending *p = arg;

	p->done = 1;
	p->err = e;
	p->res = res;
	if (p->abandoned && res != NULL) {
		ub_resolve_free(res);
		p->res = NULL;
	}
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
trpt_dns_answer_clear(struct trpt_dns_answer *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->rr[i]);
	memset(a, 0, sizeof(*a));
}

int
trpt_dns_query(struct trpt_dns *d, const char *name, enum trpt_dns_type t,
    struct trpt_dns_answer *out, struct trpt_err *err)
{
	struct trpt_dns_answer a;
	struct pending *p;
	struct ub_result *r;
	struct pollfd pfd;
	int64_t deadline = now_ms() + d->timeout_ms, left;
	int id, urc, rc = TRPT_OK;
	size_t i;

	memset(&a, 0, sizeof(a));
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	urc = ub_resolve_async(d->ub, name, (int)t, 1, p, on_result, &id);
	if (urc != 0) {
		free(p);
		return trpt_err_set(
		    err, TRPT_ETEMP, "dns %s: %s", name, ub_strerror(urc));
	}
	while (!p->done) {
		left = deadline - now_ms();
		if (left <= 0) {
			rc = trpt_err_set(err, TRPT_ETEMP,
			    "dns %s: no answer within %u ms", name,
			    d->timeout_ms);
			goto abandon;
		}
		pfd.fd = ub_fd(d->ub);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
			rc = trpt_err_set(err, TRPT_ETEMP, "dns %s: poll: %s",
			    name, strerror(errno));
			goto abandon;
		}
		if ((urc = ub_process(d->ub)) != 0) {
			rc = trpt_err_set(err, TRPT_ETEMP, "dns %s: %s", name,
			    ub_strerror(urc));
			goto abandon;
		}
	}
	if (p->err != 0 || p->res == NULL) {
		rc = trpt_err_set(
		    err, TRPT_ETEMP, "dns %s: %s", name, ub_strerror(p->err));
		free(p);
		return rc;
	}
	r = p->res;
	free(p);
	a.rcode = r->rcode;
	a.nxdomain = r->nxdomain;
	a.dnssec = r->bogus    ? TRPT_DNSSEC_BOGUS
		   : r->secure ? TRPT_DNSSEC_SECURE
			       : TRPT_DNSSEC_INSECURE;
	if (r->bogus && r->why_bogus != NULL)
		snprintf(a.why_bogus, sizeof(a.why_bogus), "%s", r->why_bogus);
	if (!r->bogus && r->rcode != 0 && r->rcode != 3) {
		rc = trpt_err_set(err, TRPT_ETEMP, "dns %s: server answered %s",
		    name, r->rcode == 2 ? "SERVFAIL" : "an error");
		goto out;
	}
	for (i = 0; r->havedata && r->data[i] != NULL && a.n < TRPT_DNS_MAX_RR;
	     i++) {
		a.len[a.n] = (size_t)r->len[i];
		if ((a.rr[a.n] = malloc(a.len[a.n] + 1)) == NULL) {
			trpt_dns_answer_clear(&a);
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(a.rr[a.n], r->data[i], a.len[a.n]);
		a.n++;
	}
	*out = a;
out:
	ub_resolve_free(r);
	return rc;
abandon:
	if (!p->done && ub_cancel(d->ub, id) == 0) {
		free(p);
		return rc;
	}
	p->abandoned = 1;
	if (p->res != NULL) {
		ub_resolve_free(p->res);
		p->res = NULL;
	}
	p->next = d->abandoned;
	d->abandoned = p;
	return rc;
}

int
trpt_dns_check_anchor(struct trpt_dns *d, struct trpt_err *err)
{
	struct trpt_dns_answer a;
	int rc;

	if ((rc = trpt_dns_query(
		 d, d->anchor_zone, TRPT_DNS_DNSKEY, &a, err)) != TRPT_OK)
		return rc;
	if (a.dnssec != TRPT_DNSSEC_SECURE)
		rc = trpt_err_set(err, TRPT_ETEMP,
		    "dns: the DNSKEY records of %s do not validate from the "
		    "trust anchor %s: the resolver does not pass DNSSEC "
		    "records, or the anchor is outdated (%.80s)",
		    d->anchor_zone, d->anchor,
		    a.why_bogus[0] != '\0' ? a.why_bogus : "insecure");
	trpt_dns_answer_clear(&a);
	return rc;
}

int
trpt_dns_txt(const unsigned char *rr, size_t len, char *buf, size_t size,
    struct trpt_err *err)
{
	size_t i = 0, o = 0, n;

	while (i < len) {
		n = rr[i++];
		if (n > len - i)
			return trpt_err_set(
			    err, TRPT_EPARSE, "TXT record: truncated string");
		if (o + n >= size)
			return trpt_err_set(err, TRPT_ELIMIT,
			    "TXT record longer than %zu bytes", size - 1);
		memcpy(buf + o, rr + i, n);
		o += n;
		i += n;
	}
	buf[o] = '\0';
	if (memchr(buf, '\0', o) != NULL)
		return trpt_err_set(
		    err, TRPT_EPARSE, "TXT record holds a NUL byte");
	return TRPT_OK;
}

int
trpt_dns_mx(const unsigned char *rr, size_t len, unsigned *pref, char *name,
    size_t size, struct trpt_err *err)
{
	size_t i = 2, o = 0, n, k;
	unsigned char c;

	if (len < 3)
		return trpt_err_set(err, TRPT_EPARSE, "MX record: too short");
	while (i < len && rr[i] != 0) {
		n = rr[i++];
		if (n > 63 || n > len - i)
			return trpt_err_set(
			    err, TRPT_EPARSE, "MX record: bad name");
		if (o + n + 2 > size)
			return trpt_err_set(
			    err, TRPT_ELIMIT, "MX record: name too long");
		if (o > 0)
			name[o++] = '.';
		for (k = 0; k < n; k++) {
			c = rr[i + k];
			/* Host names are letters, digits and hyphens (RFC
			 * 5321 §2.3.5); anything else is not a mail host. */
			if (!isalnum(c) && c != '-' && c != '_')
				return trpt_err_set(err, TRPT_EPARSE,
				    "MX record: exchange name holds byte "
				    "0x%02x",
				    c);
			name[o++] = (char)tolower(c);
		}
		i += n;
	}
	if (i >= len)
		return trpt_err_set(err, TRPT_EPARSE, "MX record: bad name");
	name[o] = '\0';
	*pref = (unsigned)rr[0] << 8 | rr[1];
	return TRPT_OK;
}

int
trpt_dns_addr(enum trpt_dns_type t, const unsigned char *rr, size_t len,
    char *buf, size_t size, struct trpt_err *err)
{
	if ((t == TRPT_DNS_A && len == 4) || (t == TRPT_DNS_AAAA && len == 16))
		if (inet_ntop(t == TRPT_DNS_A ? AF_INET : AF_INET6, rr, buf,
			(socklen_t)size) != NULL)
			return TRPT_OK;
	return trpt_err_set(err, TRPT_EPARSE, "address record: bad length");
}

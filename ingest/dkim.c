#include "ingest/dkim.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <libpsl.h>
#include <opendkim/dkim.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unbound.h>

#define RR_TXT   16
#define CLASS_IN 1
#define NAME_MAX_LEN                                                           \
	320 /* selector._domainkey.domain: 63 + 12 + 253, rounded up */

/* One key (or its absence) kept for its TTL. */
struct cache_entry {
	char *name;      /* NULL: a free slot */
	char *record;    /* the TXT record; NULL: the name has no key */
	char *temp;      /* a lookup that failed for now: why; or NULL */
	int64_t expires; /* UTC seconds */
};

/*
 * A lookup that failed for now (no answer, SERVFAIL) is remembered this
 * long, so that a batch of mails signed with one key waits for one
 * timeout, not one each.
 */
#define TEMP_TTL 30

struct trpt_dkim {
	struct trpt_dkim_config cfg;
	char *fwd; /* the nameserver as libunbound writes it (ADDR@PORT) */
	DKIM_LIB *lib;
	struct ub_ctx *ub; /* made on the first lookup */
	struct cache_entry *cache;
	size_t ncache;
	struct trpt_dkim_stats stats;
};

/* What the key lookup of one selector found, for the verdict. */
struct note {
	char name[NAME_MAX_LEN];
	int temp;         /* failed temporarily */
	char why[96];     /* the failure, when one */
	char service[64]; /* s= of the record */
};

/* Per message, reachable from libopendkim's callbacks. */
struct msg_ctx {
	struct trpt_dkim *d;
	struct note notes[TRPT_DKIM_MAX_SIGS];
	size_t nnotes;
};

void
trpt_dkim_config_default(struct trpt_dkim_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->require = TRPT_DKIM_REQUIRE_WARN;
	cfg->timeout_ms = TRPT_DKIM_TIMEOUT_MS_DEFAULT;
	cfg->cache_max = TRPT_DKIM_CACHE_DEFAULT;
}

int
trpt_dkim_require_parse(const char *s, enum trpt_dkim_require *out)
{
	if (s == NULL)
		return TRPT_EINVAL;
	if (strcasecmp(s, "no") == 0)
		*out = TRPT_DKIM_REQUIRE_NO;
	else if (strcasecmp(s, "warn") == 0)
		*out = TRPT_DKIM_REQUIRE_WARN;
	else if (strcasecmp(s, "yes") == 0)
		*out = TRPT_DKIM_REQUIRE_YES;
	else
		return TRPT_EINVAL;
	return TRPT_OK;
}

const char *
trpt_dkim_require_name(enum trpt_dkim_require r)
{
	switch (r) {
	case TRPT_DKIM_REQUIRE_NO:
		return "no";
	case TRPT_DKIM_REQUIRE_WARN:
		return "warn";
	case TRPT_DKIM_REQUIRE_YES:
		return "yes";
	}
	return "?";
}

const char *
trpt_dkim_result_name(enum trpt_dkim_result r)
{
	switch (r) {
	case TRPT_DKIM_NONE:
		return "none";
	case TRPT_DKIM_PASS:
		return "pass";
	case TRPT_DKIM_FAIL:
		return "fail";
	case TRPT_DKIM_TEMPERROR:
		return "temperror";
	}
	return "?";
}

const char *
trpt_dkim_align_name(enum trpt_dkim_align a)
{
	switch (a) {
	case TRPT_DKIM_ALIGN_NO:
		return "no";
	case TRPT_DKIM_ALIGN_SAME:
		return "same";
	case TRPT_DKIM_ALIGN_PARENT:
		return "parent";
	case TRPT_DKIM_ALIGN_CHILD:
		return "child";
	}
	return "?";
}

/*
 * The nameserver in libunbound's syntax ("ADDR@PORT") into out, or -1 with
 * the reason in err.
 */
static int
nameserver_fwd(const char *s, char *out, size_t size, struct trpt_err *err)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *port = NULL, *close;
	size_t alen;
	char *end;
	unsigned long pn = 53;

	if (s == NULL || *s == '\0')
		return trpt_err_set(err, TRPT_EINVAL, "empty nameserver");
	if (s[0] == '[') {
		close = strchr(s, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return trpt_err_set(err, TRPT_EINVAL,
			    "nameserver %s: expected [V6ADDR]:PORT", s);
		alen = (size_t)(close - s - 1);
		if (alen >= sizeof(addr))
			goto bad_addr;
		memcpy(addr, s + 1, alen);
		addr[alen] = '\0';
		if (close[1] == ':')
			port = close + 2;
	} else {
		const char *colon = strchr(s, ':');

		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			colon = NULL; /* a bare IPv6 address */
		alen = colon != NULL ? (size_t)(colon - s) : strlen(s);
		if (alen >= sizeof(addr))
			goto bad_addr;
		memcpy(addr, s, alen);
		addr[alen] = '\0';
		if (colon != NULL)
			port = colon + 1;
	}
	if (inet_pton(AF_INET, addr, bin) != 1 &&
	    inet_pton(AF_INET6, addr, bin) != 1)
		goto bad_addr;
	if (port != NULL) {
		if (!isdigit((unsigned char)*port))
			goto bad_port;
		pn = strtoul(port, &end, 10);
		if (*end != '\0' || pn == 0 || pn > 65535)
			goto bad_port;
	}
	if (out != NULL)
		snprintf(out, size, "%s@%lu", addr, pn);
	return TRPT_OK;
bad_addr:
	return trpt_err_set(err, TRPT_EINVAL,
	    "nameserver %s: not an IPv4 or IPv6 address (ADDR:PORT, "
	    "[V6ADDR]:PORT or ADDR)",
	    s);
bad_port:
	return trpt_err_set(
	    err, TRPT_EINVAL, "nameserver %s: port must be 1 to 65535", s);
}

int
trpt_dkim_nameserver_check(const char *s, struct trpt_err *err)
{
	return nameserver_fwd(s, NULL, 0, err);
}

/* Copies a domain lower case without a trailing dot; 0 if it does not fit
 * or is empty. */
static int
norm_domain(const char *s, size_t n, char *out, size_t size)
{
	size_t i;

	while (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n >= size)
		return 0;
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return 1;
}

/* A domain name as DNS carries it: letters, digits, '-', '_', '.'. */
static int
name_ok(const char *s)
{
	size_t label = 0;

	if (*s == '\0' || *s == '.')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-' ||
			   *s == '_') {
			if (++label > 63)
				return 0;
		} else
			return 0;
	}
	return 1;
}

/* a ends with "." + b */
static int
below(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la > lb + 1 && a[la - lb - 1] == '.' &&
	       strcmp(a + la - lb, b) == 0;
}

enum trpt_dkim_align
trpt_dkim_align(const char *d, const char *domain)
{
	char a[256], b[256];
	const psl_ctx_t *psl = psl_builtin();

	if (d == NULL || domain == NULL ||
	    !norm_domain(d, strlen(d), a, sizeof(a)) ||
	    !norm_domain(domain, strlen(domain), b, sizeof(b)))
		return TRPT_DKIM_ALIGN_NO;
	if (strcmp(a, b) == 0)
		return TRPT_DKIM_ALIGN_SAME;
	/* The upper of the two must be at or below a registrable domain:
	 * d=co.uk is the parent of everything in the UK. Without libpsl's
	 * built-in list nothing but the same domain aligns. */
	if (below(b, a) && psl != NULL &&
	    !psl_is_public_suffix2(psl, a, PSL_TYPE_ANY))
		return TRPT_DKIM_ALIGN_PARENT;
	if (below(a, b) && psl != NULL &&
	    !psl_is_public_suffix2(psl, b, PSL_TYPE_ANY))
		return TRPT_DKIM_ALIGN_CHILD;
	return TRPT_DKIM_ALIGN_NO;
}

int
trpt_dkim_contact_domain(const char *contact, char *out, size_t size)
{
	const char *s, *at, *end;

	if (size > 0)
		out[0] = '\0';
	if (contact == NULL)
		return 0;
	s = contact;
	while (isspace((unsigned char)*s) || *s == '<')
		s++;
	if (strncasecmp(s, "mailto:", 7) == 0)
		s += 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		s += 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		s += 7;
	/* A URL's host ends at '/', ':', '?'; an address's domain follows
	 * the last '@' of its first word. */
	end = s + strcspn(s, " \t,;>/?:");
	at = NULL;
	for (const char *p = s; p < end; p++)
		if (*p == '@')
			at = p;
	if (at != NULL)
		s = at + 1;
	if (!norm_domain(s, (size_t)(end - s), out, size) || !name_ok(out) ||
	    strchr(out, '.') == NULL) {
		if (size > 0)
			out[0] = '\0';
		return 0;
	}
	return 1;
}

/* The clock of the key cache. */
static int64_t
now_s(const struct trpt_dkim *d)
{
	if (d->cfg.now != NULL)
		return d->cfg.now(d->cfg.now_arg);
	return (int64_t)time(NULL);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct cache_entry *
cache_find(struct trpt_dkim *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->ncache; i++)
		if (d->cache[i].name != NULL &&
		    strcmp(d->cache[i].name, name) == 0)
			return &d->cache[i];
	return NULL;
}

static void
cache_clear(struct cache_entry *e)
{
	free(e->name);
	free(e->record);
	free(e->temp);
	memset(e, 0, sizeof(*e));
}

/*
 * Keeps name -> record (NULL for no key) for ttl seconds, taking record
 * (returns 1), or returns 0 and leaves it to the caller (TTL 0, no
 * memory).  A full cache drops the entry closest to expiry.
 */
static int
cache_put(struct trpt_dkim *d, const char *name, char *record, int ttl)
{
	struct cache_entry *e;
	char *copy;
	size_t i;

	if (ttl <= 0 || d->cfg.cache_max == 0)
		return 0;
	if (ttl > TRPT_DKIM_MAX_TTL)
		ttl = TRPT_DKIM_MAX_TTL;
	if ((copy = strdup(name)) == NULL)
		return 0;
	e = cache_find(d, name);
	if (e == NULL && d->ncache < d->cfg.cache_max) {
		struct cache_entry *nc;

		nc = realloc(d->cache, (d->ncache + 1) * sizeof(*nc));
		if (nc != NULL) {
			d->cache = nc;
			e = &nc[d->ncache++];
			memset(e, 0, sizeof(*e));
		}
	}
	if (e == NULL) {
		for (i = 0; i < d->ncache; i++)
			if (e == NULL || d->cache[i].expires < e->expires)
				e = &d->cache[i];
	}
	if (e == NULL) {
		free(copy);
		return 0;
	}
	cache_clear(e);
	e->name = copy;
	e->record = record;
	e->expires = now_s(d) + ttl;
	return 1;
}

static int
ub_setup(struct trpt_dkim *d, char *why, size_t whysz)
{
	int urc;

	if (d->ub != NULL)
		return 0;
	d->ub = ub_ctx_create();
	if (d->ub == NULL) {
		snprintf(why, whysz, "cannot create a resolver");
		return -1;
	}
	/* No output from a library; threads, not a forked helper process;
	 * the test servers and local resolvers live on loopback. */
	if ((urc = ub_ctx_debugout(d->ub, NULL)) != 0 ||
	    (urc = ub_ctx_async(d->ub, 1)) != 0 ||
	    (urc = ub_ctx_set_option(d->ub, "use-syslog:", "no")) != 0 ||
	    (urc = ub_ctx_set_option(d->ub, "do-not-query-localhost:", "no")) !=
		0)
		goto fail;
	if (d->fwd != NULL)
		urc = ub_ctx_set_fwd(d->ub, d->fwd);
	else
		/* No resolv.conf: libunbound resolves from the root itself. */
		(void)ub_ctx_resolvconf(d->ub, NULL);
	if (urc != 0)
		goto fail;
	return 0;
fail:
	snprintf(why, whysz, "resolver setup: %s", ub_strerror(urc));
	ub_ctx_delete(d->ub);
	d->ub = NULL;
	return -1;
}

struct query {
	int done;
	int err;
	struct ub_result *res;
};

static void
on_answer(void *arg, int err, struct ub_result *res)
{
	struct query *q = arg;

	q->done = 1;
	q->err = err;
	q->res = res;
}

/* The strings of one TXT rdata, concatenated (RFC 6376 §3.6.2.2). */
static char *
txt_join(const char *data, int len)
{
	char *out = malloc(len > 0 ? (size_t)len : 1);
	size_t o = 0;
	int i = 0, n;

	if (out == NULL)
		return NULL;
	while (i < len) {
		n = (unsigned char)data[i++];
		if (n > len - i)
			n = len - i;
		memcpy(out + o, data + i, (size_t)n);
		o += (size_t)n;
		i += n;
	}
	out[o] = '\0';
	return out;
}

enum fetch { FETCH_KEY, FETCH_NONE, FETCH_TEMP };

/*
 * Asks the DNS for name's TXT record, waiting at most timeout_ms.
 * FETCH_KEY: *record (caller frees) and *ttl; FETCH_NONE: no such name or
 * no TXT (*ttl: how long that holds); FETCH_TEMP: why says what failed.
 */
static enum fetch
resolve(struct trpt_dkim *d, const char *name, char **record, int *ttl,
    char *why, size_t whysz)
{
	struct query q = { 0, 0, NULL };
	struct pollfd pfd;
	int64_t deadline, left;
	enum fetch f;
	int id, urc, i;

	if (ub_setup(d, why, whysz) != 0)
		return FETCH_TEMP;
	d->stats.dns_queries++;
	urc =
	    ub_resolve_async(d->ub, name, RR_TXT, CLASS_IN, &q, on_answer, &id);
	if (urc != 0) {
		snprintf(why, whysz, "%s", ub_strerror(urc));
		return FETCH_TEMP;
	}
	deadline = mono_ms() + d->cfg.timeout_ms;
	while (!q.done) {
		left = deadline - mono_ms();
		if (left <= 0) {
			ub_cancel(d->ub, id);
			snprintf(why, whysz, "no answer within %u ms",
			    d->cfg.timeout_ms);
			return FETCH_TEMP;
		}
		pfd.fd = ub_fd(d->ub);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)left) > 0 && (pfd.revents & POLLIN))
			ub_process(d->ub);
	}
	if (q.err != 0) {
		snprintf(why, whysz, "%s", ub_strerror(q.err));
		return FETCH_TEMP;
	}
	*ttl = q.res->ttl;
	if (q.res->rcode == 3 /* NXDOMAIN */ ||
	    (q.res->rcode == 0 && !q.res->havedata))
		f = FETCH_NONE;
	else if (q.res->rcode != 0) {
		snprintf(why, whysz, "%s",
		    q.res->rcode == 2   ? "SERVFAIL"
		    : q.res->rcode == 5 ? "REFUSED"
					: "DNS error");
		f = FETCH_TEMP;
	} else {
		/* Several records: the first that looks like a key. */
		for (i = 0; q.res->data[i] != NULL; i++)
			if (q.res->len[i] > 0)
				break;
		if (q.res->data[i] == NULL)
			f = FETCH_NONE;
		else if ((*record = txt_join(q.res->data[i], q.res->len[i])) ==
			 NULL) {
			snprintf(why, whysz, "out of memory");
			f = FETCH_TEMP;
		} else
			f = FETCH_KEY;
	}
	ub_resolve_free(q.res);
	return f;
}

/*
 * The key record at name, from the cache or the DNS.  *record is borrowed
 * from the cache, or (when it could not be cached) from *own, which the
 * caller frees.
 */
static enum fetch
fetch_key(struct trpt_dkim *d, const char *name, const char **record,
    char **own, char *why, size_t whysz)
{
	struct cache_entry *e;
	char *rec = NULL;
	enum fetch f;
	int ttl = 0;

	*own = NULL;
	d->stats.lookups++;
	e = cache_find(d, name);
	if (e != NULL && e->expires > now_s(d)) {
		d->stats.cache_hits++;
		if (e->temp != NULL) {
			d->stats.dns_temp++;
			snprintf(why, whysz, "%s", e->temp);
			return FETCH_TEMP;
		}
		*record = e->record;
		return e->record != NULL ? FETCH_KEY : FETCH_NONE;
	}
	f = resolve(d, name, &rec, &ttl, why, whysz);
	if (f == FETCH_TEMP) {
		d->stats.dns_temp++;
		if (cache_put(d, name, NULL, TEMP_TTL) &&
		    (e = cache_find(d, name)) != NULL)
			e->temp = strdup(why); /* no memory: not remembered */
		if (e != NULL && e->temp == NULL)
			e->expires = 0;
		return f;
	}
	if (!cache_put(d, name, rec, ttl))
		*own = rec; /* not cached: the caller frees it */
	*record = rec;
	return f;
}

/* Trims blanks (RFC 6376 FWS) at both ends of [*s, *e). */
static void
trim(const char **s, const char **e)
{
	while (*s < *e && isspace((unsigned char)**s))
		(*s)++;
	while (*e > *s && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

/* Whether the colon-separated list [s, e) holds word (case ignored). */
static int
list_has(const char *s, const char *e, const char *word)
{
	size_t wl = strlen(word);
	const char *p, *q;

	for (p = s; p < e; p = q + 1) {
		const char *a = p, *b;

		q = memchr(p, ':', (size_t)(e - p));
		if (q == NULL)
			q = e;
		b = q;
		trim(&a, &b);
		if ((size_t)(b - a) == wl && strncasecmp(a, word, wl) == 0)
			return 1;
	}
	return 0;
}

/*
 * Copies the key record into buf for libopendkim, noting its service tag
 * (s=) in service.  RFC 8460 §3 asks reporters for s=tlsrpt, a service
 * libopendkim does not know (it accepts "email" and "*" only): for such a
 * record the s= tag is left out of the copy, which then reads as a key
 * for all services.  Returns 0, or -1 when the record does not fit.
 */
static int
key_for_libopendkim(
    const char *rec, char *buf, size_t buflen, char *service, size_t servsz)
{
	const char *p = rec, *t, *eq, *ns, *ne;
	size_t o = 0, n;
	int drop_s = 0;

	service[0] = '\0';
	/* First pass: the service tag. */
	for (p = rec; *p != '\0'; p = *t != '\0' ? t + 1 : t) {
		t = p + strcspn(p, ";");
		eq = memchr(p, '=', (size_t)(t - p));
		if (eq == NULL)
			continue;
		ns = p;
		ne = eq;
		trim(&ns, &ne);
		if (ne - ns == 1 && *ns == 's') {
			const char *vs = eq + 1, *ve = t;

			trim(&vs, &ve);
			n = (size_t)(ve - vs);
			if (n >= servsz)
				n = servsz - 1;
			memcpy(service, vs, n);
			service[n] = '\0';
			drop_s = list_has(vs, ve, "tlsrpt") &&
				 !list_has(vs, ve, "*") &&
				 !list_has(vs, ve, "email");
		}
	}
	for (p = rec; *p != '\0'; p = *t != '\0' ? t + 1 : t) {
		t = p + strcspn(p, ";");
		if (drop_s) {
			eq = memchr(p, '=', (size_t)(t - p));
			ns = p;
			ne = eq != NULL ? eq : t;
			trim(&ns, &ne);
			if (eq != NULL && ne - ns == 1 && *ns == 's')
				continue;
		}
		n = (size_t)(t - p);
		if (o + n + 2 >= buflen)
			return -1;
		memcpy(buf + o, p, n);
		o += n;
		if (*t == ';')
			buf[o++] = ';';
	}
	buf[o] = '\0';
	return 0;
}

static struct note *
note_for(struct msg_ctx *mc, const char *name)
{
	size_t i;
	struct note *n;

	for (i = 0; i < mc->nnotes; i++)
		if (strcmp(mc->notes[i].name, name) == 0)
			return &mc->notes[i];
	if (mc->nnotes < TRPT_DKIM_MAX_SIGS)
		n = &mc->notes[mc->nnotes++];
	else
		n = &mc->notes[TRPT_DKIM_MAX_SIGS - 1];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	return n;
}

static const struct note *
note_find(const struct msg_ctx *mc, const char *name)
{
	size_t i;

	for (i = 0; i < mc->nnotes; i++)
		if (strcmp(mc->notes[i].name, name) == 0)
			return &mc->notes[i];
	return NULL;
}

/* "selector._domainkey.domain", or 0 when either is not a DNS name. */
static int
key_name(DKIM_SIGINFO *sig, char *out, size_t size)
{
	const char *s = (const char *)dkim_sig_getselector(sig);
	const char *dom = (const char *)dkim_sig_getdomain(sig);
	int n;

	if (s == NULL || dom == NULL || !name_ok(s) || !name_ok(dom))
		return 0;
	n = snprintf(out, size, "%s._domainkey.%s", s, dom);
	return n > 0 && (size_t)n < size && n <= 253;
}

/*
 * libopendkim's key lookup.  A key that cannot be fetched now is reported
 * as not found (so that the other signatures are still verified) and
 * noted as temporary, which the verdict turns into temperror.
 */
static DKIM_CBSTAT
key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	struct msg_ctx *mc = dkim_get_user_context(dkim);
	char name[NAME_MAX_LEN], *own = NULL;
	const char *rec = NULL;
	struct note *n;
	enum fetch f;

	if (mc == NULL || !key_name(sig, name, sizeof(name)))
		return DKIM_CBSTAT_NOTFOUND;
	n = note_for(mc, name);
	f = fetch_key(mc->d, name, &rec, &own, n->why, sizeof(n->why));
	if (f == FETCH_TEMP) {
		n->temp = 1;
		return DKIM_CBSTAT_NOTFOUND;
	}
	if (f == FETCH_NONE || rec == NULL) {
		free(own);
		return DKIM_CBSTAT_NOTFOUND;
	}
	if (key_for_libopendkim(rec, (char *)buf, buflen, n->service,
		sizeof(n->service)) != 0) {
		snprintf(n->why, sizeof(n->why),
		    "key record longer than %zu bytes", buflen - 2);
		free(own);
		return DKIM_CBSTAT_NOTFOUND;
	}
	free(own);
	return DKIM_CBSTAT_CONTINUE;
}

/*
 * Before the body: signatures with l= are not verified (RFC 8460 §3
 * forbids them; the verdict fails them without a DNS lookup), and past
 * TRPT_DKIM_MAX_SIGS the rest are ignored.
 */
static DKIM_CBSTAT
prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
	int i, kept = 0;

	(void)dkim;
	for (i = 0; i < nsigs; i++) {
		if (dkim_sig_gettagvalue(sigs[i], 0, (u_char *)"l") != NULL ||
		    kept >= TRPT_DKIM_MAX_SIGS)
			dkim_sig_ignore(sigs[i]);
		else
			kept++;
	}
	return DKIM_CBSTAT_CONTINUE;
}

/*
 * libopendkim's handle, made on the first message that may be signed:
 * dkim_init initialises OpenSSL (its error strings: ~1.3 ms of CPU, and
 * more at exit), which a run of unsigned mail never needs.
 */
static int
lib_setup(struct trpt_dkim *d, struct trpt_err *err)
{
	u_int flags;

	if (d->lib != NULL)
		return TRPT_OK;
	d->lib = dkim_init(NULL, NULL);
	if (d->lib == NULL)
		return trpt_err_set(
		    err, TRPT_ENOMEM, "dkim: cannot initialise");
	/* LF line ends are read as CRLF (mail saved by Unix tools); a
	 * malformed signature header still gets a verdict ("bad
	 * signature"), not "no signature".  may_be_signed relies on these
	 * two flags and on the absence of DKIM_LIBFLAGS_STRICTHDRS. */
	flags = DKIM_LIBFLAGS_FIXCRLF | DKIM_LIBFLAGS_BADSIGHANDLES;
	if (dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
		sizeof(flags)) != DKIM_STAT_OK ||
	    dkim_set_key_lookup(d->lib, key_lookup) != DKIM_STAT_OK ||
	    dkim_set_prescreen(d->lib, prescreen) != DKIM_STAT_OK) {
		dkim_close(d->lib);
		d->lib = NULL;
		return trpt_err_set(err, TRPT_EINVAL, "dkim: cannot configure");
	}
	return TRPT_OK;
}

int
trpt_dkim_new(const struct trpt_dkim_config *cfg, struct trpt_dkim **out,
    struct trpt_err *err)
{
	struct trpt_dkim *d;
	char fwd[INET6_ADDRSTRLEN + 8];
	int rc;

	if (cfg->nameserver != NULL && (rc = nameserver_fwd(cfg->nameserver,
					    fwd, sizeof(fwd), err)) != TRPT_OK)
		return rc;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	d->cfg = *cfg;
	d->cfg.nameserver = NULL;
	if (d->cfg.timeout_ms == 0)
		d->cfg.timeout_ms = TRPT_DKIM_TIMEOUT_MS_DEFAULT;
	if (cfg->nameserver != NULL && (d->fwd = strdup(fwd)) == NULL) {
		free(d);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	*out = d;
	return TRPT_OK;
}

void
trpt_dkim_free(struct trpt_dkim **dp)
{
	struct trpt_dkim *d;
	size_t i;

	if (dp == NULL || *dp == NULL)
		return;
	d = *dp;
	if (d->ub != NULL)
		ub_ctx_delete(d->ub);
	if (d->lib != NULL)
		dkim_close(d->lib);
	for (i = 0; i < d->ncache; i++)
		cache_clear(&d->cache[i]);
	free(d->cache);
	free(d->fwd);
	free(d);
	*dp = NULL;
}

enum trpt_dkim_require
trpt_dkim_required(const struct trpt_dkim *d)
{
	return d->cfg.require;
}

void
trpt_dkim_stats(const struct trpt_dkim *d, struct trpt_dkim_stats *out)
{
	*out = d->stats;
}

/* The verdict on one signature libopendkim processed. */
static void
judge_sig(const struct msg_ctx *mc, DKIM_SIGINFO *sig, struct trpt_dkim_sig *s)
{
	char name[NAME_MAX_LEN];
	const struct note *n = NULL;
	unsigned flags = dkim_sig_getflags(sig);
	int bh = dkim_sig_getbh(sig), e = dkim_sig_geterror(sig);
	const char *es;

	if (key_name(sig, name, sizeof(name)))
		n = note_find(mc, name);
	else
		snprintf(name, sizeof(name), "(invalid selector or domain)");
	if (n != NULL)
		snprintf(
		    s->key_service, sizeof(s->key_service), "%s", n->service);
	s->result = TRPT_DKIM_FAIL;
	if ((flags & DKIM_SIGFLAG_PASSED) && bh == DKIM_SIGBH_MATCH) {
		s->result = TRPT_DKIM_PASS;
		return;
	}
	switch (e) {
	case DKIM_SIGERROR_OK:
	case DKIM_SIGERROR_BADSIG:
		if (bh == DKIM_SIGBH_MISMATCH)
			snprintf(
			    s->reason, sizeof(s->reason), "body hash mismatch");
		else
			snprintf(s->reason, sizeof(s->reason),
			    "signature does not verify (a signed header was "
			    "changed)");
		break;
	case DKIM_SIGERROR_NOKEY:
		if (n != NULL && n->temp) {
			s->result = TRPT_DKIM_TEMPERROR;
			snprintf(s->reason, sizeof(s->reason),
			    "key unavailable: %.90s for %.253s", n->why, name);
		} else if (n != NULL && n->why[0] != '\0')
			snprintf(s->reason, sizeof(s->reason),
			    "key unavailable: %.90s at %.253s", n->why, name);
		else
			snprintf(s->reason, sizeof(s->reason),
			    "key unavailable: no key at %.253s", name);
		break;
	case DKIM_SIGERROR_KEYREVOKED:
		snprintf(s->reason, sizeof(s->reason),
		    "key revoked (empty p=) at %.253s", name);
		break;
	case DKIM_SIGERROR_NOTEMAILKEY:
		snprintf(s->reason, sizeof(s->reason),
		    "key at %.253s is for another service (s=%.40s)", name,
		    n != NULL ? n->service : "?");
		break;
	case DKIM_SIGERROR_UNKNOWN:
		snprintf(s->reason, sizeof(s->reason), "not verified");
		break;
	default:
		es = dkim_sig_geterrorstr(e);
		snprintf(s->reason, sizeof(s->reason), "%s",
		    es != NULL ? es : "signature error");
	}
}

#define CLOCK_DRIFT 300 /* seconds of tolerance, libopendkim's default */

/* ASCII letters compared without case, whatever the locale. */
static int
ascii_caseeq(const unsigned char *p, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((p[i] >= 'A' && p[i] <= 'Z' ? p[i] | 0x20 : p[i]) !=
		    (unsigned char)s[i])
			return 0;
	return 1;
}

/*
 * Whether msg holds the 14 bytes "DKIM-Signature" (any case) anywhere.
 * libopendkim takes a field for a signature only when its name, the bytes
 * before its first colon less trailing blanks, is those 14 bytes
 * (dkim_header, compared with strncasecmp after refusing any byte of the
 * name outside 32..126); a field name is copied from the message byte for
 * byte (a fold inside it puts a CR there, which it refuses).  Without
 * them, with the flags trpt_dkim_new sets, its answer is known: a field it
 * cannot read is skipped (DKIM_LIBFLAGS_BADSIGHANDLES), a missing or
 * unreadable From is no error (the same flag), no other header check
 * applies (no DKIM_LIBFLAGS_STRICTHDRS), so at the end of the header it
 * answers DKIM_STAT_NOSIG and reads no further (dkim_eoh_verify): a
 * verdict of no signature and no reason.  Its answer costs ~4 us for a
 * 1.8 KB report mail (a handle, the header copied byte by byte, From
 * parsed, all freed), this scan ~0.1 us: '-' is rare in a header and
 * absent from base64.  tests/unit/test_dkim.c compares both answers on
 * the corpus's mails and mutations of them.
 */
static int
may_be_signed(const unsigned char *p, size_t len)
{
	const unsigned char *dash;
	size_t i = 4;

	if (len < 14)
		return 0;
	/* a '-' at i with 4 bytes before it and 9 after */
	while (
	    i + 10 <= len && (dash = memchr(p + i, '-', len - 9 - i)) != NULL) {
		if (ascii_caseeq(dash - 4, "dkim", 4) &&
		    ascii_caseeq(dash + 1, "signature", 9))
			return 1;
		i = (size_t)(dash - p) + 1;
	}
	return 0;
}

int
trpt_dkim_verify(struct trpt_dkim *d, const void *msg, size_t len, int64_t at,
    struct trpt_dkim_verdict *out, struct trpt_err *err)
{
	if (!may_be_signed(msg, len)) {
		memset(out, 0, sizeof(*out));
		d->stats.messages++;
		d->stats.unsigned_skipped++;
		out->done = 1;
		return TRPT_OK;
	}
	return trpt_dkim_verify_libopendkim(d, msg, len, at, out, err);
}

/*
 * A message whose first line is empty and ends in a bare LF: libopendkim
 * (2.11.0~beta2) aborts on it (assert(len != 0) in dkim_header: its
 * header reader appends the CRLF before it looks for an empty first line,
 * and hands the next field an empty one).  Such a message has no header
 * fields at all (RFC 5322 §2.1: the header ends at the first empty line),
 * so no signature.  A blank after the LF folds it into a field, which
 * libopendkim reads without harm.
 */
static int
empty_header_lf(const unsigned char *p, size_t len)
{
	return len >= 2 && p[0] == '\n' && p[1] != ' ' && p[1] != '\t';
}

int
trpt_dkim_verify_libopendkim(struct trpt_dkim *d, const void *msg, size_t len,
    int64_t at, struct trpt_dkim_verdict *out, struct trpt_err *err)
{
	struct msg_ctx mc;
	DKIM_SIGINFO **sigs = NULL;
	DKIM_STAT st;
	DKIM *dk;
	int64_t now = (int64_t)time(NULL);
	uint64_t drift = CLOCK_DRIFT;
	int i, nsigs = 0, rc = TRPT_OK;

	memset(out, 0, sizeof(*out));
	memset(&mc, 0, sizeof(mc));
	mc.d = d;
	d->stats.messages++;
	if (empty_header_lf(msg, len)) {
		out->done = 1;
		return TRPT_OK;
	}
	if ((rc = lib_setup(d, err)) != TRPT_OK)
		return rc;
	/* libopendkim judges x= against time() with a tolerance: widen the
	 * tolerance by the message's age to judge it at arrival. */
	if (at > 0 && at < now)
		drift += (uint64_t)(now - at);
	if (dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_CLOCKDRIFT, &drift,
		sizeof(drift)) != DKIM_STAT_OK)
		return trpt_err_set(
		    err, TRPT_EINVAL, "dkim: cannot set the time");
	dk = dkim_verify(d->lib, (const u_char *)"report", NULL, &st);
	if (dk == NULL)
		return trpt_err_set(err,
		    st == DKIM_STAT_NORESOURCE ? TRPT_ENOMEM : TRPT_EINVAL,
		    "dkim: %s", dkim_getresultstr(st));
	dkim_set_user_context(dk, &mc);
	/* libopendkim reads but does not change the message. */
	st = dkim_chunk(dk, (u_char *)(uintptr_t)msg, len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(dk, NULL, 0);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(dk, NULL);
	if (st == DKIM_STAT_NORESOURCE) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "dkim: out of memory");
		goto out;
	}
	if (dkim_getsiglist(dk, &sigs, &nsigs) != DKIM_STAT_OK)
		nsigs = 0;
	for (i = 0; i < nsigs; i++) {
		struct trpt_dkim_sig *s;
		const char *dom, *sel;
		unsigned flags = dkim_sig_getflags(sigs[i]);
		int lt =
		    dkim_sig_gettagvalue(sigs[i], 0, (u_char *)"l") != NULL;

		if (!lt && (flags & DKIM_SIGFLAG_IGNORE)) {
			out->ignored++;
			continue;
		}
		if (out->nsigs == TRPT_DKIM_MAX_SIGS) {
			out->ignored++;
			continue;
		}
		s = &out->sigs[out->nsigs++];
		dom = (const char *)dkim_sig_getdomain(sigs[i]);
		sel = (const char *)dkim_sig_getselector(sigs[i]);
		if (dom == NULL || !norm_domain(dom, strlen(dom), s->domain,
				       sizeof(s->domain)))
			s->domain[0] = '\0';
		snprintf(s->selector, sizeof(s->selector), "%s",
		    sel != NULL ? sel : "");
		if (lt) {
			s->result = TRPT_DKIM_FAIL;
			snprintf(s->reason, sizeof(s->reason),
			    "l= body length limit (RFC 8460 §3 forbids l=)");
		} else
			judge_sig(&mc, sigs[i], s);
	}
	if (out->nsigs == 0 && st != DKIM_STAT_NOSIG && st != DKIM_STAT_OK)
		snprintf(out->reason, sizeof(out->reason), "%s: %s",
		    dkim_getresultstr(st),
		    dkim_geterror(dk) != NULL ? dkim_geterror(dk) : "");
	out->done = 1;
out:
	dkim_free(dk);
	return rc;
}

static int
score(const struct trpt_dkim_sig *s, int aligned)
{
	switch (s->result) {
	case TRPT_DKIM_PASS:
		return aligned ? 6 : 4;
	case TRPT_DKIM_TEMPERROR:
		/* An aligned key that may pass once it can be fetched
		 * outweighs a valid signature by someone else. */
		return aligned ? 5 : 3;
	case TRPT_DKIM_FAIL:
		return aligned ? 2 : 1;
	case TRPT_DKIM_NONE:
		break;
	}
	return 0;
}

void
trpt_dkim_judge(const struct trpt_dkim_verdict *v,
    enum trpt_dkim_require require, const char *submitter,
    const char *contact_info, int accept_unsigned,
    struct trpt_dkim_outcome *out)
{
	char sub[256] = "", org[256] = "", with[520];
	enum trpt_dkim_align a, best_a = TRPT_DKIM_ALIGN_NO;
	int sc, best = -1;
	size_t i;

	memset(out, 0, sizeof(*out));
	/* The domains a signature may align with, and their names for the
	 * reason, only when there is a signature: most report mail has none
	 * (about 1.5 us a mail, issue 15). */
	if (v->nsigs > 0) {
		if (submitter != NULL &&
		    !(norm_domain(
			  submitter, strlen(submitter), sub, sizeof(sub)) &&
			name_ok(sub)))
			sub[0] = '\0';
		trpt_dkim_contact_domain(contact_info, org, sizeof(org));
	}
	for (i = 0; i < v->nsigs; i++) {
		/* The closer of the two: the same domain wins. */
		a = trpt_dkim_align(v->sigs[i].domain, sub);
		if (a != TRPT_DKIM_ALIGN_SAME) {
			enum trpt_dkim_align b =
			    trpt_dkim_align(v->sigs[i].domain, org);

			if (b == TRPT_DKIM_ALIGN_SAME ||
			    a == TRPT_DKIM_ALIGN_NO)
				a = b;
		}
		sc = score(&v->sigs[i], a != TRPT_DKIM_ALIGN_NO);
		if (sc > best) {
			best = sc;
			best_a = a;
			out->sig = &v->sigs[i];
		}
	}
	if (out->sig == NULL) {
		out->result =
		    v->reason[0] != '\0' ? TRPT_DKIM_FAIL : TRPT_DKIM_NONE;
		snprintf(out->reason, sizeof(out->reason), "DKIM: %s",
		    v->reason[0] != '\0' ? v->reason : "no signature");
	} else {
		out->result = out->sig->result;
		out->align = best_a;
		if (sub[0] != '\0' && org[0] != '\0' && strcmp(sub, org) != 0)
			snprintf(with, sizeof(with), "%s or %s", sub, org);
		else if (sub[0] != '\0' || org[0] != '\0')
			snprintf(with, sizeof(with), "%s",
			    sub[0] != '\0' ? sub : org);
		else
			snprintf(with, sizeof(with),
			    "the report (no submitter or contact-info domain)");
		if (out->result == TRPT_DKIM_PASS &&
		    best_a == TRPT_DKIM_ALIGN_NO)
			snprintf(out->reason, sizeof(out->reason),
			    "DKIM: d=%s not aligned with %s", out->sig->domain,
			    with);
		else if (out->result == TRPT_DKIM_TEMPERROR)
			snprintf(out->reason, sizeof(out->reason),
			    "DKIM: %s (temporary%s)", out->sig->reason,
			    require == TRPT_DKIM_REQUIRE_YES && !accept_unsigned
				? ": kept, retried by reprocess"
				: "");
		else if (out->result != TRPT_DKIM_PASS)
			snprintf(out->reason, sizeof(out->reason),
			    "DKIM: %s (d=%s)", out->sig->reason,
			    out->sig->domain);
	}
	if (out->result == TRPT_DKIM_PASS && best_a != TRPT_DKIM_ALIGN_NO)
		out->action = TRPT_DKIM_ACCEPT;
	else if (accept_unsigned) {
		out->action = TRPT_DKIM_ACCEPT;
		out->released = 1;
	} else if (require != TRPT_DKIM_REQUIRE_YES)
		out->action = TRPT_DKIM_ACCEPT;
	else if (out->result == TRPT_DKIM_TEMPERROR)
		out->action = TRPT_DKIM_WAIT;
	else
		out->action = TRPT_DKIM_REFUSE;
}

int
trpt_dkim_check(struct trpt_dkim *d, const void *msg, size_t len, int64_t at,
    const char *submitter, const char *contact_info, int accept_unsigned,
    struct trpt_dkim_verdict *v, struct trpt_dkim_outcome *out,
    struct trpt_err *err)
{
	int rc;

	if (!v->done &&
	    (rc = trpt_dkim_verify(d, msg, len, at, v, err)) != TRPT_OK)
		return rc;
	trpt_dkim_judge(
	    v, d->cfg.require, submitter, contact_info, accept_unsigned, out);
	return TRPT_OK;
}

void
trpt_dkim_auth(const struct trpt_dkim_outcome *o, struct trpt_auth *out)
{
	memset(out, 0, sizeof(*out));
	out->dkim = trpt_dkim_result_name(o->result);
	out->dkim_reason = o->reason[0] != '\0' ? o->reason : NULL;
	if (o->sig != NULL) {
		out->dkim_domain = o->sig->domain;
		out->dkim_selector = o->sig->selector;
		out->dkim_key_service = o->sig->key_service;
		out->dkim_aligned = trpt_dkim_align_name(o->align);
	}
	/* Stored although it would have been refused: an operator's
	 * release. */
	out->accepted = o->released;
}

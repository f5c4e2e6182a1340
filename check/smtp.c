#include "check/smtp.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/dane.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* RFC 5321 §4.5.3.1: reply lines are at most 512 octets; a little slack
 * for servers that go beyond, and a cap on lines per reply. */
#define LINE_MAX_BYTES  1024
#define REPLY_MAX_LINES 64
#define CHAIN_MAX       16

/* Offered first: what senders require today. */
static const char modern[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
/* Asked only to name what an old server speaks. */
static const char legacy[] = "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0";

struct conn {
	int fd;
	char in[LINE_MAX_BYTES * 2];
	size_t inlen;
	char *why;
	size_t whysize;
	unsigned timeout_ms;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
tcp_connect(const struct trpt_smtp_probe *p, struct conn *c)
{
	struct addrinfo hints, *ai = NULL;
	struct pollfd pfd;
	struct timeval tv;
	char port[12];
	int fd = -1, flags, e, soerr = 0;
	socklen_t sl = sizeof(soerr);

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", p->port != 0 ? p->port : 25);
	if ((e = getaddrinfo(p->addr, port, &hints, &ai)) != 0) {
		snprintf(c->why, c->whysize, "address %s: %s", p->addr,
		    gai_strerror(e));
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		e = poll(&pfd, 1, (int)p->timeout_ms);
		if (e == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (e < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
			goto fail;
		if (soerr != 0) {
			errno = soerr;
			goto fail;
		}
	}
	fcntl(fd, F_SETFL, flags);
	tv.tv_sec = p->timeout_ms / 1000;
	tv.tv_usec = (p->timeout_ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	freeaddrinfo(ai);
	c->fd = fd;
	return 0;
fail:
	snprintf(c->why, c->whysize, "connect to %s port %s: %s", p->addr, port,
	    strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

/* One reply: its code, and whether a line (after the code) equals word. */
static int
read_reply(struct conn *c, const char *what, const char *word, int *found)
{
	char *nl;
	size_t lines = 0, n;
	ssize_t r;
	int code = -1;

	/* The whole reply within the timeout: a server trickling one byte
	 * at a time must not hold the check. */
	int64_t deadline = now_ms() + c->timeout_ms;

	if (found != NULL)
		*found = 0;
	for (;;) {
		nl = memchr(c->in, '\n', c->inlen);
		if (nl == NULL && now_ms() > deadline) {
			snprintf(
			    c->why, c->whysize, "%s: no reply in time", what);
			return -1;
		}
		if (nl == NULL) {
			if (c->inlen >= LINE_MAX_BYTES) {
				snprintf(c->why, c->whysize,
				    "%s: reply line longer than %d bytes", what,
				    LINE_MAX_BYTES);
				return -1;
			}
			r = recv(c->fd, c->in + c->inlen,
			    sizeof(c->in) - c->inlen, 0);
			if (r <= 0) {
				snprintf(c->why, c->whysize, "%s: %s", what,
				    r == 0 ? "connection closed"
				    : errno == EAGAIN || errno == EWOULDBLOCK
					? "no reply in time"
					: strerror(errno));
				return -1;
			}
			c->inlen += (size_t)r;
			continue;
		}
		n = (size_t)(nl - c->in);
		if (n > 0 && c->in[n - 1] == '\r')
			n--;
		if (n < 3 || c->in[0] < '1' || c->in[0] > '5' ||
		    (n > 3 && c->in[3] != ' ' && c->in[3] != '-')) {
			snprintf(
			    c->why, c->whysize, "%s: not an SMTP reply", what);
			return -1;
		}
		code = (c->in[0] - '0') * 100 + (c->in[1] - '0') * 10 +
		       (c->in[2] - '0');
		if (word != NULL && found != NULL && n >= 4 + strlen(word) &&
		    strncasecmp(c->in + 4, word, strlen(word)) == 0 &&
		    (n == 4 + strlen(word) || c->in[4 + strlen(word)] == ' '))
			*found = 1;
		lines++;
		if (n == 3 || c->in[3] == ' ') {
			c->inlen -= (size_t)(nl + 1 - c->in);
			memmove(c->in, nl + 1, c->inlen);
			return code;
		}
		c->inlen -= (size_t)(nl + 1 - c->in);
		memmove(c->in, nl + 1, c->inlen);
		if (lines >= REPLY_MAX_LINES) {
			snprintf(c->why, c->whysize,
			    "%s: reply longer than %d lines", what,
			    REPLY_MAX_LINES);
			return -1;
		}
	}
}

static int
send_line(struct conn *c, const char *what, const char *line)
{
	size_t n = strlen(line), off = 0;
	ssize_t w;

	while (off < n) {
		w = send(c->fd, line + off, n - off, MSG_NOSIGNAL);
		if (w <= 0) {
			snprintf(c->why, c->whysize, "%s: %s", what,
			    strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	return 0;
}

/*
 * Greeting, EHLO, STARTTLS.  Returns 1 when the server is ready for TLS,
 * 0 when it does not offer STARTTLS, -1 on failure (why filled).
 */
static int
smtp_to_starttls(const struct trpt_smtp_probe *p, struct conn *c,
    struct trpt_smtp_result *out)
{
	char line[300];
	int code, offered;

	if (tcp_connect(p, c) != 0)
		return -1;
	code = read_reply(c, "greeting", NULL, NULL);
	if (code < 0)
		return -1;
	if (code != 220) {
		snprintf(c->why, c->whysize, "greeting: code %d", code);
		return -1;
	}
	out->connected = 1;
	snprintf(line, sizeof(line), "EHLO %s\r\n", p->helo);
	if (send_line(c, "EHLO", line) != 0)
		return -1;
	code = read_reply(c, "EHLO", "STARTTLS", &offered);
	if (code < 0)
		return -1;
	if (code != 250) {
		snprintf(c->why, c->whysize, "EHLO: code %d", code);
		return -1;
	}
	if (!offered) {
		send_line(c, "QUIT", "QUIT\r\n");
		return 0;
	}
	out->starttls = 1;
	if (send_line(c, "STARTTLS", "STARTTLS\r\n") != 0)
		return -1;
	code = read_reply(c, "STARTTLS", NULL, NULL);
	if (code < 0)
		return -1;
	if (code != 220) {
		snprintf(c->why, c->whysize, "STARTTLS: code %d", code);
		return -1;
	}
	return 1;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->inlen = 0;
}

static int
dn_get(gnutls_x509_crt_t crt, int issuer, char *buf, size_t size)
{
	size_t n = size;
	int r;

	r = issuer ? gnutls_x509_crt_get_issuer_dn(crt, buf, &n)
		   : gnutls_x509_crt_get_dn(crt, buf, &n);
	if (r < 0)
		snprintf(buf, size, "(unreadable)");
	return r;
}

static void
sans_get(gnutls_x509_crt_t crt, char *buf, size_t size)
{
	char name[256];
	size_t n, o = 0, len;
	unsigned i;
	int r;

	buf[0] = '\0';
	for (i = 0; i < 64; i++) {
		n = sizeof(name) - 1;
		r = gnutls_x509_crt_get_subject_alt_name(
		    crt, i, name, &n, NULL);
		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (r != GNUTLS_SAN_DNSNAME)
			continue;
		name[n < sizeof(name) ? n : sizeof(name) - 1] = '\0';
		len = strlen(name);
		if (o + len + 3 >= size)
			break;
		o += (size_t)snprintf(
		    buf + o, size - o, "%s%s", o > 0 ? ", " : "", name);
	}
}

static int
cert_facts(gnutls_session_t s, const struct trpt_smtp_probe *p,
    struct trpt_smtp_result *out, struct trpt_err *err)
{
	const gnutls_datum_t *chain;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t txt = { NULL, 0 };
	unsigned n = 0, status = 0, rest;
	int r;

	chain = gnutls_certificate_get_peers(s, &n);
	if (chain == NULL || n == 0) {
		snprintf(out->error, sizeof(out->error),
		    "the server sent no certificate");
		out->untrusted = 1;
		return TRPT_OK;
	}
	if (gnutls_x509_crt_init(&crt) < 0)
		return trpt_err_set(err, TRPT_ENOMEM, "gnutls: out of memory");
	if ((r = gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER)) <
	    0) {
		snprintf(out->error, sizeof(out->error), "certificate: %s",
		    gnutls_strerror(r));
		out->untrusted = 1;
		goto out;
	}
	dn_get(crt, 0, out->subject, sizeof(out->subject));
	dn_get(crt, 1, out->issuer, sizeof(out->issuer));
	sans_get(crt, out->names, sizeof(out->names));
	out->not_before = (int64_t)gnutls_x509_crt_get_activation_time(crt);
	out->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
	out->name_ok = gnutls_x509_crt_check_hostname2(crt, p->host, 0) != 0;
	/* The chain without names: names are judged above, per policy. */
	if ((r = gnutls_certificate_verify_peers2(s, &status)) < 0) {
		out->untrusted = 1;
		snprintf(out->trust_why, sizeof(out->trust_why), "%s",
		    gnutls_strerror(r));
		goto out;
	}
	out->expired = (status & GNUTLS_CERT_EXPIRED) != 0;
	out->not_yet_valid = (status & GNUTLS_CERT_NOT_ACTIVATED) != 0;
	rest = status & ~(unsigned)(GNUTLS_CERT_INVALID | GNUTLS_CERT_EXPIRED |
				    GNUTLS_CERT_NOT_ACTIVATED |
				    GNUTLS_CERT_UNEXPECTED_OWNER);
	out->untrusted = rest != 0;
	if (status != 0 && gnutls_certificate_verification_status_print(
			       status, GNUTLS_CRT_X509, &txt, 0) == 0) {
		snprintf(out->trust_why, sizeof(out->trust_why), "%s",
		    (const char *)txt.data);
		gnutls_free(txt.data);
		n = (unsigned)strlen(out->trust_why);
		while (n > 0 && out->trust_why[n - 1] == ' ')
			out->trust_why[--n] = '\0';
	}
out:
	gnutls_x509_crt_deinit(crt);
	return TRPT_OK;
}

static int
dane_match(gnutls_session_t s, const struct trpt_smtp_probe *p,
    struct trpt_smtp_result *out, struct trpt_err *err)
{
	char *data[TRPT_CHECK_TLSA_MAX + 1];
	int lens[TRPT_CHECK_TLSA_MAX + 1];
	const gnutls_datum_t *chain;
	dane_state_t ds = NULL;
	dane_query_t q = NULL;
	gnutls_datum_t txt = { NULL, 0 };
	unsigned n = 0, verify = 0, nt, i;
	int r, rc = TRPT_OK;

	out->dane = -1;
	if (p->ntlsa == 0)
		return TRPT_OK;
	nt = p->ntlsa < TRPT_CHECK_TLSA_MAX ? (unsigned)p->ntlsa
					    : TRPT_CHECK_TLSA_MAX;
	for (i = 0; i < nt; i++) {
		data[i] = (char *)p->tlsa[i];
		lens[i] = (int)p->tlsa_len[i];
	}
	data[nt] = NULL;
	lens[nt] = 0;
	out->dane = 0;
	chain = gnutls_certificate_get_peers(s, &n);
	if (chain == NULL || n == 0) {
		snprintf(out->dane_why, sizeof(out->dane_why),
		    "no certificate to match");
		return TRPT_OK;
	}
	if (n > CHAIN_MAX)
		n = CHAIN_MAX;
	/* The TLSA data came validated from our own resolver: gnutls-dane
	 * only matches it (no lookups of its own). */
	if (dane_state_init(&ds, DANE_F_IGNORE_DNSSEC) != DANE_E_SUCCESS)
		return trpt_err_set(err, TRPT_ENOMEM, "gnutls-dane: init");
	r = dane_raw_tlsa(ds, &q, data, lens, 1, 0);
	if (r != DANE_E_SUCCESS) {
		snprintf(out->dane_why, sizeof(out->dane_why),
		    "TLSA records: %s", dane_strerror(r));
		goto out;
	}
	r = dane_verify_crt_raw(
	    ds, chain, n, GNUTLS_CRT_X509, q, 0, 0, &verify);
	if (r != DANE_E_SUCCESS) {
		snprintf(out->dane_why, sizeof(out->dane_why), "%s",
		    dane_strerror(r));
	} else if (verify != 0) {
		if (dane_verification_status_print(verify, &txt, 0) == 0) {
			snprintf(out->dane_why, sizeof(out->dane_why), "%s",
			    (const char *)txt.data);
			gnutls_free(txt.data);
		}
	} else
		out->dane = 1;
out:
	if (q != NULL)
		dane_query_deinit(q);
	dane_state_deinit(ds);
	return rc;
}

/* One handshake over a fresh STARTTLS connection. */
static int
handshake(const struct trpt_smtp_probe *p, const char *prio,
    struct trpt_smtp_result *out, int facts, char *why, size_t whysize,
    struct trpt_err *err)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_session_t s = NULL;
	struct conn c;
	char *desc;
	int r, ready, rc = TRPT_OK, ok = 0;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	c.why = why;
	c.whysize = whysize;
	c.timeout_ms = p->timeout_ms;
	ready = smtp_to_starttls(p, &c, out);
	if (ready <= 0)
		goto out;
	if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
	    gnutls_init(&s, GNUTLS_CLIENT) < 0) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "gnutls: out of memory");
		goto out;
	}
	if (p->cafile != NULL)
		r = gnutls_certificate_set_x509_trust_file(
		    cred, p->cafile, GNUTLS_X509_FMT_PEM);
	else
		r = gnutls_certificate_set_x509_system_trust(cred);
	if (r < 0) {
		rc = trpt_err_set(err, TRPT_EINVAL, "trust anchors %s: %s",
		    p->cafile != NULL ? p->cafile : "(system)",
		    gnutls_strerror(r));
		goto out;
	}
	if ((r = gnutls_priority_set_direct(s, prio, NULL)) < 0) {
		rc = trpt_err_set(err, TRPT_EINVAL, "gnutls priority: %s",
		    gnutls_strerror(r));
		goto out;
	}
	gnutls_server_name_set(s, GNUTLS_NAME_DNS, p->host, strlen(p->host));
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_transport_set_int(s, c.fd);
	gnutls_handshake_set_timeout(s, p->timeout_ms);
	do
		r = gnutls_handshake(s);
	while (r < 0 && gnutls_error_is_fatal(r) == 0);
	if (r < 0) {
		snprintf(why, whysize, "TLS handshake: %s", gnutls_strerror(r));
		goto out;
	}
	ok = 1;
	if (!facts) {
		snprintf(out->legacy, sizeof(out->legacy), "%s",
		    gnutls_protocol_get_name(gnutls_protocol_get_version(s)));
		goto out;
	}
	out->tls = 1;
	snprintf(out->version, sizeof(out->version), "%s",
	    gnutls_protocol_get_name(gnutls_protocol_get_version(s)));
	if ((desc = gnutls_session_get_desc(s)) != NULL) {
		snprintf(out->cipher, sizeof(out->cipher), "%s", desc);
		gnutls_free(desc);
	}
	if ((rc = cert_facts(s, p, out, err)) == TRPT_OK)
		rc = dane_match(s, p, out, err);
	/* Leave politely; a failure here changes nothing found. */
	gnutls_record_send(s, "QUIT\r\n", 6);
	gnutls_bye(s, GNUTLS_SHUT_WR);
out:
	if (s != NULL)
		gnutls_deinit(s);
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	conn_close(&c);
	if (rc == TRPT_OK && !ok && ready < 0 && why[0] == '\0')
		snprintf(why, whysize, "connection failed");
	return rc;
}

int
trpt_smtp_probe(const struct trpt_smtp_probe *p, struct trpt_smtp_result *out,
    struct trpt_err *err)
{
	struct trpt_smtp_result r, old;
	char why[256];
	int rc;

	memset(&r, 0, sizeof(r));
	r.dane = -1;
	rc = handshake(p, modern, &r, 1, r.error, sizeof(r.error), err);
	if (rc == TRPT_OK && r.starttls && !r.tls) {
		/* Which older version would it speak?  Only for the text. */
		memset(&old, 0, sizeof(old));
		why[0] = '\0';
		rc = handshake(p, legacy, &old, 0, why, sizeof(why), err);
		if (rc != TRPT_OK && rc != TRPT_ENOMEM)
			rc = TRPT_OK; /* e.g. a policy forbidding TLS 1.0 */
		memcpy(r.legacy, old.legacy, sizeof(r.legacy));
	}
	if (rc == TRPT_OK)
		*out = r;
	return rc;
}

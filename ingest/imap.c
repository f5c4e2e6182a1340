#include "ingest/imap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

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

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libetpan/libetpan.h>
#include <sqlite3.h>

#include "common/datetime.h"
#include "schema/store.h"

#define DEFAULT_CONNECT_TIMEOUT 30
#define DEFAULT_TIMEOUT         60
#define DEFAULT_BATCH           100
#define DEFAULT_BATCH_BYTES     (32u * 1024 * 1024)
#define MAX_WINDOW              65536u /* UIDs asked for in one size FETCH */
#define WHY_LEN                 200

/*
 * The transport under libetpan: a non-blocking socket, optionally wrapped
 * in a verified GnuTLS session, with a timeout on every wait.  why holds
 * the cause of the last failure for the error message.
 */
struct io {
	int fd;
	gnutls_session_t tls;
	gnutls_certificate_credentials_t cred;
	int timeout_ms;
	int broken;
	char why[WHY_LEN];
};

struct trpt_imap {
	const struct trpt_imap_conf *conf;
	mailimap *imap;
	struct io io;
	int logged_in;
};

static const struct {
	int code;
	const char *text;
} etpan_errors[] = {
	{ MAILIMAP_NO_ERROR, "no error" },
	{ MAILIMAP_ERROR_BAD_STATE, "command not allowed in this state" },
	{ MAILIMAP_ERROR_STREAM, "connection failed" },
	{ MAILIMAP_ERROR_PARSE, "unparsable server response" },
	{ MAILIMAP_ERROR_CONNECTION_REFUSED, "connection refused" },
	{ MAILIMAP_ERROR_MEMORY, "out of memory" },
	{ MAILIMAP_ERROR_FATAL, "fatal server error" },
	{ MAILIMAP_ERROR_PROTOCOL, "protocol error" },
	{ MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION,
	    "server does not accept connections" },
	{ MAILIMAP_ERROR_APPEND, "APPEND refused" },
	{ MAILIMAP_ERROR_LOGOUT, "LOGOUT refused" },
	{ MAILIMAP_ERROR_CAPABILITY, "CAPABILITY refused" },
	{ MAILIMAP_ERROR_EXPUNGE, "EXPUNGE refused" },
	{ MAILIMAP_ERROR_COPY, "COPY refused" },
	{ MAILIMAP_ERROR_UID_COPY, "UID COPY refused" },
	{ MAILIMAP_ERROR_MOVE, "MOVE refused" },
	{ MAILIMAP_ERROR_UID_MOVE, "UID MOVE refused" },
	{ MAILIMAP_ERROR_CREATE, "CREATE refused" },
	{ MAILIMAP_ERROR_DELETE, "DELETE refused" },
	{ MAILIMAP_ERROR_EXAMINE, "EXAMINE refused" },
	{ MAILIMAP_ERROR_FETCH, "FETCH refused" },
	{ MAILIMAP_ERROR_UID_FETCH, "UID FETCH refused" },
	{ MAILIMAP_ERROR_LOGIN, "login refused" },
	{ MAILIMAP_ERROR_SELECT, "SELECT refused" },
	{ MAILIMAP_ERROR_STORE, "STORE refused" },
	{ MAILIMAP_ERROR_UID_STORE, "UID STORE refused" },
	{ MAILIMAP_ERROR_STARTTLS, "STARTTLS refused" },
	{ MAILIMAP_ERROR_INVAL, "invalid argument" },
	{ MAILIMAP_ERROR_EXTENSION, "extension error" },
	{ MAILIMAP_ERROR_SSL, "TLS error" },
};

const char *
trpt_imap_strerror(int code)
{
	size_t i;

	for (i = 0; i < sizeof(etpan_errors) / sizeof(etpan_errors[0]); i++)
		if (etpan_errors[i].code == code)
			return etpan_errors[i].text;
	return "IMAP error";
}

/* ---- transport ---------------------------------------------------- */

static int
io_wait(struct io *io, short events)
{
	struct pollfd pfd;
	int r;

	pfd.fd = io->fd;
	pfd.events = events;
	pfd.revents = 0;
	do
		r = poll(&pfd, 1, io->timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		snprintf(io->why, sizeof(io->why),
		    "timed out after %d s waiting for the server",
		    io->timeout_ms / 1000);
		return -1;
	}
	if (r < 0) {
		snprintf(io->why, sizeof(io->why), "poll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static ssize_t
drv_read(mailstream_low *s, void *buf, size_t count)
{
	struct io *io = s->data;
	ssize_t n;

	if (io->broken)
		return -1;
	for (;;) {
		if (io->tls != NULL) {
			n = gnutls_record_recv(io->tls, buf, count);
			if (n > 0)
				return n;
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
				if (io_wait(io, POLLIN) != 0)
					break;
				continue;
			}
			if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION)
				snprintf(io->why, sizeof(io->why),
				    "connection closed by the server");
			else
				snprintf(io->why, sizeof(io->why), "TLS: %s",
				    gnutls_strerror((int)n));
			break;
		}
		n = recv(io->fd, buf, count, 0);
		if (n > 0)
			return n;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
				 errno == EINTR)) {
			if (io_wait(io, POLLIN) != 0)
				break;
			continue;
		}
		if (n == 0)
			snprintf(io->why, sizeof(io->why),
			    "connection closed by the server");
		else
			snprintf(io->why, sizeof(io->why), "read: %s",
			    strerror(errno));
		break;
	}
	io->broken = 1;
	return -1;
}

static ssize_t
drv_write(mailstream_low *s, const void *buf, size_t count)
{
	struct io *io = s->data;
	const char *p = buf;
	size_t left = count;
	ssize_t n;

	if (io->broken)
		return -1;
	while (left > 0) {
		if (io->tls != NULL) {
			n = gnutls_record_send(io->tls, p, left);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
				if (io_wait(io, POLLOUT) != 0)
					goto fail;
				continue;
			}
			if (n < 0) {
				snprintf(io->why, sizeof(io->why), "TLS: %s",
				    gnutls_strerror((int)n));
				goto fail;
			}
		} else {
			n = send(io->fd, p, left, MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
					 errno == EINTR)) {
				if (io_wait(io, POLLOUT) != 0)
					goto fail;
				continue;
			}
			if (n < 0) {
				snprintf(io->why, sizeof(io->why), "write: %s",
				    strerror(errno));
				goto fail;
			}
		}
		p += n;
		left -= (size_t)n;
	}
	return (ssize_t)count;
fail:
	io->broken = 1;
	return -1;
}

/* The socket and TLS session belong to struct trpt_imap, not the stream. */
static int
drv_close(mailstream_low *s)
{
	(void)s;
	return 0;
}

static int
drv_get_fd(mailstream_low *s)
{
	struct io *io = s->data;

	return io->fd;
}

static void
drv_free(mailstream_low *s)
{
	free(s);
}

static void
drv_cancel(mailstream_low *s)
{
	(void)s;
}

static struct mailstream_cancel *
drv_get_cancel(mailstream_low *s)
{
	(void)s;
	return NULL;
}

static carray *
drv_get_certificate_chain(mailstream_low *s)
{
	(void)s;
	return NULL;
}

static mailstream_low_driver io_driver = {
	drv_read,
	drv_write,
	drv_close,
	drv_get_fd,
	drv_free,
	drv_cancel,
	drv_get_cancel,
	drv_get_certificate_chain,
	NULL,
	NULL,
	NULL,
};

static int
is_loopback_name(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

static int
is_loopback_addr(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)
				  ->sin_addr.s_addr) >>
			   24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(
		    &((const struct sockaddr_in6 *)(const void *)sa)
			 ->sin6_addr);
	return 0;
}

/* Non-blocking connect to one address, waiting at most timeout_ms. */
static int
connect_one(const struct addrinfo *ai, int timeout_ms, int *out, char *why,
    size_t whylen)
{
	struct pollfd pfd;
	socklen_t len;
	int fd, r, soerr = 0;

	fd = socket(
	    ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK) != 0) {
		snprintf(why, whylen, "fcntl: %s", strerror(errno));
		goto fail;
	}
	r = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (r != 0 && errno != EINPROGRESS) {
		snprintf(why, whylen, "%s", strerror(errno));
		goto fail;
	}
	if (r != 0) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		do
			r = poll(&pfd, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			snprintf(why, whylen, "timed out after %d s",
			    timeout_ms / 1000);
			goto fail;
		}
		len = sizeof(soerr);
		if (r < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 ||
		    soerr != 0) {
			snprintf(why, whylen, "%s",
			    strerror(soerr != 0 ? soerr : errno));
			goto fail;
		}
	}
	*out = fd;
	return 0;
fail:
	close(fd);
	return -1;
}

static int
tcp_connect(const struct trpt_imap_conf *conf, int *out, struct trpt_err *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8], why[WHY_LEN] = "no address";
	unsigned t = conf->connect_timeout ? conf->connect_timeout
					   : DEFAULT_CONNECT_TIMEOUT;
	int r, fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", (unsigned)conf->port);
	r = getaddrinfo(conf->host, port, &hints, &res);
	if (r != 0)
		return trpt_err_set(err, TRPT_ETEMP,
		    "%s: cannot resolve %s: %s", conf->name, conf->host,
		    gai_strerror(r));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (conf->security == TRPT_IMAP_NONE &&
		    !is_loopback_addr(ai->ai_addr)) {
			snprintf(why, sizeof(why),
			    "security = none is only allowed to loopback "
			    "addresses");
			continue;
		}
		if (connect_one(ai, (int)t * 1000, &fd, why, sizeof(why)) == 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return trpt_err_set(err, TRPT_ETEMP,
		    "%s: connect to %s port %u: %s", conf->name, conf->host,
		    (unsigned)conf->port, why);
	*out = fd;
	return TRPT_OK;
}

/*
 * TLS with the chain checked against ca_file (or the system trust store)
 * and the certificate checked against the configured host name (or IP
 * address).  A failure says why the certificate was not accepted.
 */
static int
tls_start(struct trpt_imap *c, struct trpt_err *err)
{
	const struct trpt_imap_conf *conf = c->conf;
	struct io *io = &c->io;
	gnutls_datum_t out = { NULL, 0 };
	unsigned status;
	int r;

	r = gnutls_certificate_allocate_credentials(&io->cred);
	if (r < 0)
		return trpt_err_set(err, TRPT_ENOMEM, "%s: TLS: %s", conf->name,
		    gnutls_strerror(r));
	if (conf->ca_file != NULL) {
		r = gnutls_certificate_set_x509_trust_file(
		    io->cred, conf->ca_file, GNUTLS_X509_FMT_PEM);
		if (r <= 0)
			return trpt_err_set(err, TRPT_EINVAL,
			    "%s: ca_file %s: %s", conf->name, conf->ca_file,
			    r == 0 ? "no certificate found"
				   : gnutls_strerror(r));
	} else {
		r = gnutls_certificate_set_x509_system_trust(io->cred);
		if (r < 0)
			return trpt_err_set(err, TRPT_EINVAL,
			    "%s: cannot load the system CA certificates: %s",
			    conf->name, gnutls_strerror(r));
	}
	r = gnutls_init(&io->tls, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL);
	if (r < 0) {
		io->tls = NULL;
		return trpt_err_set(err, TRPT_ENOMEM, "%s: TLS: %s", conf->name,
		    gnutls_strerror(r));
	}
	if ((r = gnutls_set_default_priority(io->tls)) < 0 ||
	    (r = gnutls_credentials_set(
		 io->tls, GNUTLS_CRD_CERTIFICATE, io->cred)) < 0)
		goto tlserr;
	if (!is_loopback_name(conf->host) ||
	    strcasecmp(conf->host, "localhost") == 0) {
		struct in_addr a4;
		struct in6_addr a6;

		/* SNI carries names only, never IP literals (RFC 6066). */
		if (inet_pton(AF_INET, conf->host, &a4) != 1 &&
		    inet_pton(AF_INET6, conf->host, &a6) != 1 &&
		    (r = gnutls_server_name_set(io->tls, GNUTLS_NAME_DNS,
			 conf->host, strlen(conf->host))) < 0)
			goto tlserr;
	}
	gnutls_session_set_verify_cert(io->tls, conf->host, 0);
	gnutls_transport_set_int(io->tls, io->fd);
	gnutls_handshake_set_timeout(io->tls, 0);
	for (;;) {
		r = gnutls_handshake(io->tls);
		if (r >= 0)
			break;
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			if (io_wait(io, gnutls_record_get_direction(io->tls)
					    ? POLLOUT
					    : POLLIN) != 0)
				return trpt_err_set(err, TRPT_ETEMP,
				    "%s: TLS handshake with %s port %u: %s",
				    conf->name, conf->host,
				    (unsigned)conf->port, io->why);
			continue;
		}
		if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
			status = gnutls_session_get_verify_cert_status(io->tls);
			if (gnutls_certificate_verification_status_print(
				status, GNUTLS_CRT_X509, &out, 0) < 0)
				out.data = NULL;
			while (out.data != NULL && out.size > 0 &&
			       (out.data[out.size - 1] == ' ' ||
				   out.data[out.size - 1] == '\0'))
				out.data[--out.size] = '\0';
			r = trpt_err_set(err, TRPT_EINVAL,
			    "%s: certificate of %s not accepted: %s%s",
			    conf->name, conf->host,
			    out.data != NULL ? (const char *)out.data
					     : "verification failed",
			    conf->ca_file == NULL
				? " (set ca_file to trust a private CA)"
				: "");
			gnutls_free(out.data);
			return r;
		}
		if (gnutls_error_is_fatal(r))
			goto tlserr;
	}
	return TRPT_OK;
tlserr:
	return trpt_err_set(err, TRPT_ETEMP, "%s: TLS with %s port %u: %s",
	    conf->name, conf->host, (unsigned)conf->port, gnutls_strerror(r));
}

/* The server's text for the last command, trimmed, or a generic one. */
static const char *
server_says(struct trpt_imap *c, int code)
{
	if (code == MAILIMAP_ERROR_STREAM || code == MAILIMAP_ERROR_PARSE) {
		if (c->io.why[0] != '\0')
			return c->io.why;
		return trpt_imap_strerror(code);
	}
	if (c->imap != NULL && c->imap->imap_response != NULL &&
	    c->imap->imap_response[0] != '\0')
		return c->imap->imap_response;
	return trpt_imap_strerror(code);
}

static int
imap_fail(struct trpt_imap *c, int code, struct trpt_err *err, const char *what)
{
	int rc = TRPT_ETEMP;

	if (code == MAILIMAP_ERROR_MEMORY)
		rc = TRPT_ENOMEM;
	else if (code == MAILIMAP_ERROR_LOGIN)
		rc = TRPT_EINVAL;
	return trpt_err_set(
	    err, rc, "%s: %s: %s", c->conf->name, what, server_says(c, code));
}

int
trpt_imap_connect(const struct trpt_imap_conf *conf, struct trpt_imap **out,
    struct trpt_err *err)
{
	struct trpt_imap *c;
	struct mailimap_capability_data *caps = NULL;
	mailstream_low *low;
	mailstream *stream;
	char what[300];
	int r, rc;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	c->conf = conf;
	c->io.fd = -1;
	c->io.timeout_ms =
	    (int)(conf->timeout ? conf->timeout : DEFAULT_TIMEOUT) * 1000;
	if ((rc = tcp_connect(conf, &c->io.fd, err)) != TRPT_OK)
		goto out;
	if (conf->security == TRPT_IMAP_TLS &&
	    (rc = tls_start(c, err)) != TRPT_OK)
		goto out;
	c->imap = mailimap_new(0, NULL);
	low = c->imap != NULL ? mailstream_low_new(&c->io, &io_driver) : NULL;
	stream = low != NULL ? mailstream_new(low, 8192) : NULL;
	if (stream == NULL) {
		if (low != NULL)
			mailstream_low_free(low);
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	r = mailimap_connect(c->imap, stream);
	if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED &&
	    r != MAILIMAP_NO_ERROR_AUTHENTICATED) {
		snprintf(what, sizeof(what), "greeting from %s port %u",
		    conf->host, (unsigned)conf->port);
		rc = imap_fail(c, r, err, what);
		goto out;
	}
	if (conf->security == TRPT_IMAP_STARTTLS) {
		r = mailimap_starttls(c->imap);
		/* Bytes after the answer came in clear text: an attack
		 * (command injection, CVE-2020-15953; libetpan 1.9.4
		 * refuses it too, with a less clear error). */
		if (c->imap->imap_stream != NULL &&
		    c->imap->imap_stream->read_buffer_len != 0) {
			rc = trpt_err_set(err, TRPT_EINVAL,
			    "%s: server sent data after its STARTTLS answer; "
			    "refusing the connection",
			    conf->name);
			goto out;
		}
		if (r != MAILIMAP_NO_ERROR) {
			rc = imap_fail(c, r, err, "STARTTLS refused");
			goto out;
		}
		if ((rc = tls_start(c, err)) != TRPT_OK)
			goto out;
	}
	/* PREAUTH (already authenticated, e.g. by the connection itself)
	 * needs no LOGIN; it cannot follow STARTTLS. */
	if (r != MAILIMAP_NO_ERROR_AUTHENTICATED) {
		r = mailimap_login(c->imap, conf->username,
		    conf->password != NULL ? conf->password : "");
		if (r != MAILIMAP_NO_ERROR) {
			snprintf(what, sizeof(what), "login as %s refused",
			    conf->username);
			if (r == MAILIMAP_ERROR_STREAM ||
			    r == MAILIMAP_ERROR_PARSE)
				snprintf(what, sizeof(what), "login as %s",
				    conf->username);
			rc = imap_fail(c, r, err, what);
			goto out;
		}
	}
	c->logged_in = 1;
	r = mailimap_capability(c->imap, &caps);
	if (r != MAILIMAP_NO_ERROR) {
		rc = imap_fail(c, r, err, "CAPABILITY");
		goto out;
	}
	mailimap_capability_data_free(caps);
	*out = c;
	c = NULL;
	rc = TRPT_OK;
out:
	trpt_imap_free(&c);
	return rc;
}

void
trpt_imap_free(struct trpt_imap **cp)
{
	struct trpt_imap *c;

	if (cp == NULL || *cp == NULL)
		return;
	c = *cp;
	if (c->imap != NULL) {
		if (c->logged_in && !c->io.broken && c->imap->imap_stream)
			mailimap_logout(c->imap);
		mailimap_free(c->imap);
	}
	if (c->io.tls != NULL)
		gnutls_deinit(c->io.tls);
	if (c->io.cred != NULL)
		gnutls_certificate_free_credentials(c->io.cred);
	if (c->io.fd >= 0)
		close(c->io.fd);
	free(c);
	*cp = NULL;
}

void *
trpt_imap_session(struct trpt_imap *c)
{
	return c->imap;
}

/* ---- configuration -------------------------------------------------- */

int
trpt_imap_conf_check(const struct trpt_imap_conf *conf, struct trpt_err *err)
{
	if (conf->host == NULL || conf->host[0] == '\0')
		return trpt_err_set(
		    err, TRPT_EINVAL, "%s: no host", conf->name);
	if (conf->port == 0)
		return trpt_err_set(
		    err, TRPT_EINVAL, "%s: no port", conf->name);
	if (conf->username == NULL || conf->username[0] == '\0')
		return trpt_err_set(
		    err, TRPT_EINVAL, "%s: no username", conf->name);
	if (conf->security == TRPT_IMAP_NONE && !is_loopback_name(conf->host))
		return trpt_err_set(err, TRPT_EINVAL,
		    "%s: security = none is only allowed for loopback hosts "
		    "(127.0.0.1, ::1, localhost), not %s",
		    conf->name, conf->host);
	if (conf->read_only && conf->after != TRPT_IMAP_KEEP)
		return trpt_err_set(err, TRPT_EINVAL,
		    "%s: after = seen, move or delete needs read_only = false",
		    conf->name);
	if (conf->after == TRPT_IMAP_MOVE &&
	    (conf->after_folder == NULL || conf->after_folder[0] == '\0'))
		return trpt_err_set(err, TRPT_EINVAL,
		    "%s: after = move needs a folder (move:FOLDER)",
		    conf->name);
	return TRPT_OK;
}

/* ---- state ---------------------------------------------------------- */

struct state {
	sqlite3 *db;
	sqlite3_stmt *get;
	sqlite3_stmt *put;
};

static int
state_open(struct state *st, struct trpt_db *db, struct trpt_err *err)
{
	memset(st, 0, sizeof(*st));
	st->db = trpt_db_handle(db);
	if (sqlite3_prepare_v2(st->db,
		"SELECT uidvalidity, last_uid FROM imap_state "
		"WHERE source = ?1 AND mailbox = ?2",
		-1, &st->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db,
		"INSERT INTO imap_state (source, mailbox, uidvalidity, "
		"last_uid, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) "
		"ON CONFLICT (source, mailbox) DO UPDATE SET "
		"uidvalidity = excluded.uidvalidity, "
		"last_uid = excluded.last_uid, "
		"updated_at = excluded.updated_at",
		-1, &st->put, NULL) != SQLITE_OK)
		return trpt_err_set(
		    err, TRPT_EDB, "imap_state: %s", sqlite3_errmsg(st->db));
	return TRPT_OK;
}

static void
state_close(struct state *st)
{
	sqlite3_finalize(st->get);
	sqlite3_finalize(st->put);
	st->get = st->put = NULL;
}

/* *found is 0 when no state is kept for (source, mailbox). */
static int
state_get(struct state *st, const char *source, const char *mailbox, int *found,
    uint32_t *uidvalidity, uint32_t *last_uid, struct trpt_err *err)
{
	int r, rc = TRPT_OK;

	sqlite3_bind_text(st->get, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st->get, 2, mailbox, -1, SQLITE_STATIC);
	r = sqlite3_step(st->get);
	if (r == SQLITE_ROW) {
		*found = 1;
		*uidvalidity = (uint32_t)sqlite3_column_int64(st->get, 0);
		*last_uid = (uint32_t)sqlite3_column_int64(st->get, 1);
	} else if (r == SQLITE_DONE)
		*found = 0;
	else
		rc = trpt_err_set(err, r == SQLITE_BUSY ? TRPT_ETEMP : TRPT_EDB,
		    "imap_state: %s", sqlite3_errmsg(st->db));
	sqlite3_reset(st->get);
	sqlite3_clear_bindings(st->get);
	return rc;
}

static int
state_put(struct state *st, const char *source, const char *mailbox,
    uint32_t uidvalidity, uint32_t last_uid, struct trpt_err *err)
{
	int r, rc = TRPT_OK;

	sqlite3_bind_text(st->put, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st->put, 2, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st->put, 3, uidvalidity);
	sqlite3_bind_int64(st->put, 4, last_uid);
	sqlite3_bind_int64(st->put, 5, (sqlite3_int64)time(NULL));
	r = sqlite3_step(st->put);
	if (r != SQLITE_DONE)
		rc = trpt_err_set(err,
		    (r & 0xff) == SQLITE_BUSY ? TRPT_ETEMP : TRPT_EDB,
		    "imap_state: %s", sqlite3_errmsg(st->db));
	sqlite3_reset(st->put);
	sqlite3_clear_bindings(st->put);
	return rc;
}

/* ---- fetching ------------------------------------------------------- */

struct entry {
	uint32_t uid;
	uint32_t size;
	int64_t date; /* INTERNALDATE, or 0 */
};

struct run {
	struct trpt_imap *c;
	const struct trpt_imap_conf *conf;
	struct trpt_pipeline *p;
	struct state st;
	const char *mailbox;
	uint32_t uidvalidity;
	int backfill;
	struct trpt_imap_stats *stats;
	trpt_imap_progress_fn *progress;
	void *progress_arg;
	uint64_t done, total;
	int has_move, has_uidplus;
};

static int64_t
date_time_to_epoch(const struct mailimap_date_time *dt)
{
	int64_t days, zone, t;

	if (dt == NULL || dt->dt_month < 1 || dt->dt_month > 12)
		return 0;
	days = trpt_datetime_days_from_civil(
	    dt->dt_year, (unsigned)dt->dt_month, (unsigned)dt->dt_day);
	t = days * 86400 + dt->dt_hour * 3600 + dt->dt_min * 60 + dt->dt_sec;
	zone = dt->dt_zone < 0 ? -dt->dt_zone : dt->dt_zone;
	zone = (zone / 100) * 3600 + (zone % 100) * 60;
	return dt->dt_zone < 0 ? t + zone : t - zone;
}

/* Walks the static attributes of one FETCH response. */
static void
msg_att_read(struct mailimap_msg_att *ma, uint32_t *uid, uint32_t *size,
    int64_t *date, const char **body, size_t *len)
{
	clistiter *it;

	for (it = clist_begin(ma->att_list); it != NULL; it = clist_next(it)) {
		struct mailimap_msg_att_item *item = clist_content(it);
		struct mailimap_msg_att_static *s;

		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
			continue;
		s = item->att_data.att_static;
		switch (s->att_type) {
		case MAILIMAP_MSG_ATT_UID:
			*uid = s->att_data.att_uid;
			break;
		case MAILIMAP_MSG_ATT_RFC822_SIZE:
			if (size != NULL)
				*size = s->att_data.att_rfc822_size;
			break;
		case MAILIMAP_MSG_ATT_INTERNALDATE:
			if (date != NULL)
				*date = date_time_to_epoch(
				    s->att_data.att_internal_date);
			break;
		case MAILIMAP_MSG_ATT_BODY_SECTION:
			if (body != NULL &&
			    s->att_data.att_body_section != NULL) {
				*body =
				    s->att_data.att_body_section->sec_body_part;
				*len = s->att_data.att_body_section->sec_length;
			}
			break;
		default:
			break;
		}
	}
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* One entry per UID: unsolicited FETCH responses may repeat a UID. */
static size_t
merge_entries(struct entry *v, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (k > 0 && v[k - 1].uid == v[i].uid) {
			if (v[i].size > v[k - 1].size)
				v[k - 1].size = v[i].size;
			if (v[i].date > v[k - 1].date)
				v[k - 1].date = v[i].date;
			continue;
		}
		v[k++] = v[i];
	}
	return k;
}

/*
 * UID FETCH lo:hi (UID RFC822.SIZE INTERNALDATE): the messages in a window
 * of UIDs, sorted.  *out has at most hi - lo + 1 entries.
 */
static int
fetch_sizes(struct run *r, uint32_t lo, uint32_t hi, struct entry **out,
    size_t *n, struct trpt_err *err)
{
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	clist *res = NULL;
	clistiter *it;
	struct entry *v = NULL;
	size_t cnt = 0;
	int e, rc;

	set = mailimap_set_new_interval(lo, hi);
	ft = mailimap_fetch_type_new_fetch_att_list_empty();
	if (set == NULL || ft == NULL ||
	    mailimap_fetch_type_new_fetch_att_list_add(
		ft, mailimap_fetch_att_new_uid()) != MAILIMAP_NO_ERROR ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft,
		mailimap_fetch_att_new_rfc822_size()) != MAILIMAP_NO_ERROR ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft,
		mailimap_fetch_att_new_internaldate()) != MAILIMAP_NO_ERROR) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	e = mailimap_uid_fetch(r->c->imap, set, ft, &res);
	if (e != MAILIMAP_NO_ERROR) {
		char what[300];

		snprintf(what, sizeof(what), "%s: UID FETCH %u:%u", r->mailbox,
		    lo, hi);
		rc = imap_fail(r->c, e, err, what);
		res = NULL;
		goto out;
	}
	v = calloc((size_t)clist_count(res) + 1, sizeof(*v));
	if (v == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	for (it = clist_begin(res); it != NULL; it = clist_next(it)) {
		struct entry en = { 0, 0, 0 };

		msg_att_read(
		    clist_content(it), &en.uid, &en.size, &en.date, NULL, NULL);
		/* Servers also send unsolicited FETCH (flag changes). */
		if (en.uid == 0 || (hi != 0 && (en.uid < lo || en.uid > hi)))
			continue;
		v[cnt++] = en;
	}
	qsort(v, cnt, sizeof(*v), cmp_entry);
	cnt = merge_entries(v, cnt);
	*out = v;
	*n = cnt;
	v = NULL;
	rc = TRPT_OK;
out:
	if (res != NULL)
		mailimap_fetch_list_free(res);
	if (set != NULL)
		mailimap_set_free(set);
	if (ft != NULL)
		mailimap_fetch_type_free(ft);
	free(v);
	return rc;
}

static int
uid_set_single(uint32_t uid, struct mailimap_set **out, struct trpt_err *err)
{
	*out = mailimap_set_new_single(uid);
	if (*out == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	return TRPT_OK;
}

static int
add_flag(struct trpt_imap *c, uint32_t uid, int deleted, struct trpt_err *err)
{
	struct mailimap_flag_list *fl;
	struct mailimap_flag *f;
	struct mailimap_store_att_flags *sf = NULL;
	struct mailimap_set *set = NULL;
	int e, rc;

	fl = mailimap_flag_list_new_empty();
	f = deleted ? mailimap_flag_new_deleted() : mailimap_flag_new_seen();
	if (fl == NULL || f == NULL ||
	    mailimap_flag_list_add(fl, f) != MAILIMAP_NO_ERROR) {
		if (f != NULL)
			mailimap_flag_free(f);
		if (fl != NULL)
			mailimap_flag_list_free(fl);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	sf = mailimap_store_att_flags_new_add_flags_silent(fl);
	if (sf == NULL) {
		mailimap_flag_list_free(fl);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	if ((rc = uid_set_single(uid, &set, err)) != TRPT_OK)
		goto out;
	e = mailimap_uid_store(c->imap, set, sf);
	if (e != MAILIMAP_NO_ERROR) {
		char what[64];

		snprintf(what, sizeof(what), "UID STORE %u +FLAGS", uid);
		rc = imap_fail(c, e, err, what);
	}
out:
	mailimap_store_att_flags_free(sf);
	if (set != NULL)
		mailimap_set_free(set);
	return rc;
}

static int
expunge_uid(struct run *r, uint32_t uid, struct trpt_err *err)
{
	struct mailimap_set *set;
	int e, rc;

	if (!r->has_uidplus)
		return TRPT_OK; /* \Deleted is set; the user's client expunges
				 */
	if ((rc = uid_set_single(uid, &set, err)) != TRPT_OK)
		return rc;
	e = mailimap_uid_expunge(r->c->imap, set);
	mailimap_set_free(set);
	if (e != MAILIMAP_NO_ERROR) {
		char what[64];

		snprintf(what, sizeof(what), "UID EXPUNGE %u", uid);
		return imap_fail(r->c, e, err, what);
	}
	return TRPT_OK;
}

/* The after-action for one message whose reports are committed. */
static int
act(struct run *r, uint32_t uid, struct trpt_err *err)
{
	struct mailimap_set *set;
	int e, rc = TRPT_OK;

	switch (r->conf->after) {
	case TRPT_IMAP_KEEP:
		return TRPT_OK;
	case TRPT_IMAP_SEEN:
		rc = add_flag(r->c, uid, 0, err);
		break;
	case TRPT_IMAP_DELETE:
		if ((rc = add_flag(r->c, uid, 1, err)) == TRPT_OK)
			rc = expunge_uid(r, uid, err);
		break;
	case TRPT_IMAP_MOVE:
		if ((rc = uid_set_single(uid, &set, err)) != TRPT_OK)
			return rc;
		if (r->has_move)
			e = mailimap_uid_move(
			    r->c->imap, set, r->conf->after_folder);
		else
			e = mailimap_uid_copy(
			    r->c->imap, set, r->conf->after_folder);
		mailimap_set_free(set);
		if (e != MAILIMAP_NO_ERROR) {
			char what[300];

			snprintf(what, sizeof(what), "%s: move UID %u to %s",
			    r->mailbox, uid, r->conf->after_folder);
			return imap_fail(r->c, e, err, what);
		}
		if (!r->has_move &&
		    (rc = add_flag(r->c, uid, 1, err)) == TRPT_OK)
			rc = expunge_uid(r, uid, err);
		break;
	}
	if (rc == TRPT_OK)
		r->stats->acted++;
	return rc;
}

static void
report_progress(struct run *r)
{
	struct trpt_imap_progress pr;

	if (r->progress == NULL)
		return;
	pr.source = r->conf->name;
	pr.mailbox = r->mailbox;
	pr.done = r->done;
	pr.total = r->total > r->done ? r->total : r->done;
	pr.pipeline = &r->p->stats;
	r->progress(r->progress_arg, &pr);
}

static void
make_source(const struct run *r, uint32_t uid, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s/%u", r->conf->name, r->mailbox, uid);
}

static int
emit(struct trpt_pipeline *p, enum trpt_event_kind kind, const char *source,
    const char *reason)
{
	struct trpt_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.source = source;
	ev.reason = reason;
	if (p->on_event != NULL)
		p->on_event(p->arg, &ev);
	return TRPT_OK;
}

/* Case-insensitive search in a buffer that may hold NUL bytes. */
static int
contains_ci(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= len; i++)
		if (strncasecmp(hay + i, needle, n) == 0)
			return 1;
	return 0;
}

/*
 * Whether a message header announces a TLS report: a TLS-Report-Domain
 * field, report-type=tlsrpt or an application/tlsrpt media type.  A mere
 * "tlsrpt@" in To: does not count (mailboxes are often named so).
 */
static int
header_claims_tlsrpt(const char *h, size_t len)
{
	size_t i;

	if (contains_ci(h, len, "report-type=tlsrpt") ||
	    contains_ci(h, len, "report-type=\"tlsrpt\"") ||
	    contains_ci(h, len, "application/tlsrpt"))
		return 1;
	for (i = 0; i + 18 <= len; i++)
		if ((i == 0 || h[i - 1] == '\n') &&
		    strncasecmp(h + i, "tls-report-domain:", 18) == 0)
			return 1;
	return 0;
}

/*
 * A message larger than max_message is not fetched.  If its header claims
 * a TLS report, the header is quarantined with the reason so the loss is
 * visible; otherwise it is skipped like any other non-report.
 */
static int
oversized(struct run *r, const struct entry *en, struct trpt_err *err)
{
	struct mailimap_fetch_type *ft = NULL;
	struct mailimap_fetch_att *fa = NULL;
	struct mailimap_section *sec;
	struct mailimap_set *set = NULL;
	clist *res = NULL;
	clistiter *it;
	struct trpt_origin origin;
	struct trpt_raw raw;
	const char *hdr = NULL;
	size_t hlen = 0;
	char source[512], reason[160];
	int e, rc;

	r->stats->oversized++;
	make_source(r, en->uid, source, sizeof(source));
	snprintf(reason, sizeof(reason),
	    "message of %u bytes exceeds max_message (%zu bytes); not fetched",
	    en->size, r->p->limits.max_message);
	if ((rc = uid_set_single(en->uid, &set, err)) != TRPT_OK)
		goto out;
	sec = mailimap_section_new_header();
	fa = sec != NULL ? mailimap_fetch_att_new_body_peek_section(sec) : NULL;
	if (fa == NULL && sec != NULL)
		mailimap_section_free(sec);
	ft = fa != NULL ? mailimap_fetch_type_new_fetch_att(fa) : NULL;
	if (ft == NULL) {
		if (fa != NULL)
			mailimap_fetch_att_free(fa);
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	e = mailimap_uid_fetch(r->c->imap, set, ft, &res);
	if (e != MAILIMAP_NO_ERROR) {
		res = NULL;
		rc = imap_fail(r->c, e, err, source);
		goto out;
	}
	for (it = clist_begin(res); it != NULL; it = clist_next(it)) {
		uint32_t uid = 0;
		const char *b = NULL;
		size_t l = 0;

		msg_att_read(clist_content(it), &uid, NULL, NULL, &b, &l);
		if (uid == en->uid && b != NULL) {
			hdr = b;
			hlen = l;
		}
	}
	if (hdr == NULL || hlen > r->p->limits.max_message ||
	    !header_claims_tlsrpt(hdr, hlen)) {
		r->p->stats.skipped++;
		rc = emit(r->p, TRPT_EV_SKIPPED, source, reason);
		goto out;
	}
	memset(&origin, 0, sizeof(origin));
	origin.kind = "imap";
	origin.source = source;
	origin.received = en->date != 0 ? en->date : (int64_t)time(NULL);
	memset(&raw, 0, sizeof(raw));
	raw.bytes = hdr;
	raw.len = hlen;
	raw.origin = &origin;
	if ((rc = trpt_store_quarantine(r->p->db, &raw, reason, err)) !=
	    TRPT_OK)
		goto out;
	r->p->stats.rejected++;
	rc = emit(r->p, TRPT_EV_REJECTED, source, reason);
out:
	if (res != NULL)
		mailimap_fetch_list_free(res);
	if (set != NULL)
		mailimap_set_free(set);
	if (ft != NULL)
		mailimap_fetch_type_free(ft);
	return rc;
}

static int
handle_message(struct run *r, const struct entry *en, const char *body,
    size_t len, struct trpt_err *err)
{
	struct trpt_origin origin;
	enum trpt_event_kind outcome = TRPT_EV_SKIPPED;
	char source[512];
	int rc;

	make_source(r, en->uid, source, sizeof(source));
	memset(&origin, 0, sizeof(origin));
	origin.kind = "imap";
	origin.source = source;
	origin.received = en->date != 0 ? en->date : (int64_t)time(NULL);
	rc = trpt_pipeline_input(r->p, body, len, &origin, &outcome, err);
	if (rc != TRPT_OK) {
		trpt_err_prefix(err, "%s", source);
		return rc;
	}
	r->stats->messages++;
	/* Committed (or quarantined whole): only now may the server
	 * copy go.  Mail that is not a report is never touched. */
	if (outcome == TRPT_EV_STORED || outcome == TRPT_EV_DUPLICATE ||
	    outcome == TRPT_EV_REJECTED || outcome == TRPT_EV_WARNING)
		if ((rc = act(r, en->uid, err)) != TRPT_OK)
			return rc;
	return state_put(
	    &r->st, r->conf->name, r->mailbox, r->uidvalidity, en->uid, err);
}

/* UID FETCH (UID BODY.PEEK[]) for v[0..n-1], then each through the
 * pipeline in UID order. */
static int
fetch_bodies(
    struct run *r, const struct entry *v, size_t n, struct trpt_err *err)
{
	struct mailimap_fetch_type *ft = NULL;
	struct mailimap_fetch_att *fa = NULL;
	struct mailimap_section *sec;
	struct mailimap_set *set = NULL;
	clist *res = NULL;
	clistiter *it;
	const char **bodies = NULL;
	size_t *lens = NULL, i;
	int e, rc;

	set = mailimap_set_new_empty();
	bodies = calloc(n, sizeof(*bodies));
	lens = calloc(n, sizeof(*lens));
	if (set == NULL || bodies == NULL || lens == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		if (mailimap_set_add_single(set, v[i].uid) !=
		    MAILIMAP_NO_ERROR) {
			rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
			goto out;
		}
	ft = mailimap_fetch_type_new_fetch_att_list_empty();
	sec = mailimap_section_new(NULL);
	fa = sec != NULL ? mailimap_fetch_att_new_body_peek_section(sec) : NULL;
	if (fa == NULL && sec != NULL)
		mailimap_section_free(sec);
	if (ft == NULL || fa == NULL ||
	    mailimap_fetch_type_new_fetch_att_list_add(
		ft, mailimap_fetch_att_new_uid()) != MAILIMAP_NO_ERROR ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft, fa) !=
		MAILIMAP_NO_ERROR) {
		if (fa != NULL)
			mailimap_fetch_att_free(fa);
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	e = mailimap_uid_fetch(r->c->imap, set, ft, &res);
	if (e != MAILIMAP_NO_ERROR) {
		char what[300];

		res = NULL;
		snprintf(what, sizeof(what), "%s: UID FETCH of %zu messages",
		    r->mailbox, n);
		rc = imap_fail(r->c, e, err, what);
		goto out;
	}
	for (it = clist_begin(res); it != NULL; it = clist_next(it)) {
		uint32_t uid = 0;
		const char *b = NULL;
		size_t l = 0;
		struct entry key, *hit;

		msg_att_read(clist_content(it), &uid, NULL, NULL, &b, &l);
		key.uid = uid;
		hit = bsearch(&key, v, n, sizeof(*v), cmp_entry);
		if (hit != NULL && b != NULL) {
			bodies[hit - v] = b;
			lens[hit - v] = l;
		}
	}
	for (i = 0; i < n; i++) {
		if (bodies[i] == NULL) /* expunged meanwhile: gone */
			rc = TRPT_OK;
		else if (lens[i] > r->p->limits.max_message)
			rc = oversized(r, &v[i], err);
		else
			rc = handle_message(r, &v[i], bodies[i], lens[i], err);
		if (rc != TRPT_OK)
			goto out;
		r->done++;
		report_progress(r);
	}
	rc = TRPT_OK;
out:
	if (res != NULL)
		mailimap_fetch_list_free(res);
	if (set != NULL)
		mailimap_set_free(set);
	if (ft != NULL)
		mailimap_fetch_type_free(ft);
	free(bodies);
	free(lens);
	return rc;
}

/* Handles the entries of one window: old and oversized ones alone, the
 * others in body batches bounded by count and bytes. */
static int
process_window(
    struct run *r, const struct entry *v, size_t n, struct trpt_err *err)
{
	size_t batch = r->conf->batch ? r->conf->batch : DEFAULT_BATCH;
	size_t maxbytes =
	    r->conf->batch_bytes ? r->conf->batch_bytes : DEFAULT_BATCH_BYTES;
	size_t i = 0, j, bytes;
	int rc;

	while (i < n) {
		if (r->backfill && r->conf->since != 0 && v[i].date != 0 &&
		    v[i].date < r->conf->since) {
			r->stats->too_old++;
			r->done++;
			if ((rc = state_put(&r->st, r->conf->name, r->mailbox,
				 r->uidvalidity, v[i].uid, err)) != TRPT_OK)
				return rc;
			i++;
			continue;
		}
		if (v[i].size > r->p->limits.max_message) {
			if ((rc = oversized(r, &v[i], err)) != TRPT_OK ||
			    (rc = state_put(&r->st, r->conf->name, r->mailbox,
				 r->uidvalidity, v[i].uid, err)) != TRPT_OK)
				return rc;
			r->done++;
			report_progress(r);
			i++;
			continue;
		}
		bytes = 0;
		for (j = i; j < n && j - i < batch; j++) {
			if (v[j].size > r->p->limits.max_message ||
			    (r->backfill && r->conf->since != 0 &&
				v[j].date != 0 && v[j].date < r->conf->since))
				break;
			if (j > i && bytes + v[j].size > maxbytes)
				break;
			bytes += v[j].size;
		}
		if ((rc = fetch_bodies(r, v + i, j - i, err)) != TRPT_OK)
			return rc;
		i = j;
	}
	return TRPT_OK;
}

/* The highest UID in the mailbox, for servers that omit UIDNEXT. */
static int
max_uid(struct run *r, uint32_t *out, struct trpt_err *err)
{
	struct entry *v = NULL;
	size_t n = 0;
	int rc;

	/* "*" is the highest UID; lo = 0 in libetpan means "*". */
	rc = fetch_sizes(r, 0, 0, &v, &n, err);
	if (rc == TRPT_OK)
		*out = n > 0 ? v[n - 1].uid : 0;
	free(v);
	return rc;
}

/* Sequence number of last_uid, to estimate how many messages are new. */
static uint64_t
estimate_new(struct run *r, uint32_t last_uid, uint32_t exists)
{
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	clist *res = NULL;
	clistiter *it;
	uint64_t total = exists;

	if (last_uid == 0)
		return exists;
	set = mailimap_set_new_single(last_uid);
	ft = mailimap_fetch_type_new_fetch_att(mailimap_fetch_att_new_uid());
	if (set != NULL && ft != NULL &&
	    mailimap_uid_fetch(r->c->imap, set, ft, &res) ==
		MAILIMAP_NO_ERROR) {
		for (it = clist_begin(res); it != NULL; it = clist_next(it)) {
			struct mailimap_msg_att *ma = clist_content(it);
			uint32_t uid = 0;

			msg_att_read(ma, &uid, NULL, NULL, NULL, NULL);
			if (uid == last_uid && ma->att_number <= exists)
				total = exists - ma->att_number;
		}
		mailimap_fetch_list_free(res);
	}
	if (set != NULL)
		mailimap_set_free(set);
	if (ft != NULL)
		mailimap_fetch_type_free(ft);
	return total;
}

static int
run_mailbox(struct run *r, const char *mailbox, struct trpt_err *err)
{
	struct mailimap_selection_info *si;
	struct entry *v = NULL;
	uint32_t uv = 0, last = 0, uidnext, exists, lo, hi, whi;
	uint64_t window = r->conf->batch ? r->conf->batch : DEFAULT_BATCH;
	size_t n;
	int found = 0, e, rc;
	char what[300];

	r->mailbox = mailbox;
	r->done = 0;
	if (r->conf->read_only)
		e = mailimap_examine(r->c->imap, mailbox);
	else
		e = mailimap_select(r->c->imap, mailbox);
	if (e != MAILIMAP_NO_ERROR) {
		snprintf(what, sizeof(what), "mailbox \"%s\"", mailbox);
		rc = imap_fail(r->c, e, err, what);
		if (rc == TRPT_ETEMP && e != MAILIMAP_ERROR_STREAM &&
		    e != MAILIMAP_ERROR_PARSE)
			rc = TRPT_ENOTFOUND;
		return rc;
	}
	si = r->c->imap->imap_selection_info;
	if (si == NULL || si->sel_uidvalidity == 0)
		return trpt_err_set(err, TRPT_EPARSE,
		    "%s: mailbox \"%s\": server sent no UIDVALIDITY",
		    r->conf->name, mailbox);
	r->uidvalidity = si->sel_uidvalidity;
	uidnext = si->sel_uidnext;
	exists = si->sel_exists;
	if ((rc = state_get(&r->st, r->conf->name, mailbox, &found, &uv, &last,
		 err)) != TRPT_OK)
		return rc;
	if (found && uv != r->uidvalidity) {
		r->stats->rescans++;
		last = 0;
	}
	if (!found || uv != r->uidvalidity) {
		if ((rc = state_put(&r->st, r->conf->name, mailbox,
			 r->uidvalidity, last, err)) != TRPT_OK)
			return rc;
	}
	r->backfill = last == 0;
	if (uidnext != 0)
		hi = uidnext - 1;
	else if ((rc = max_uid(r, &hi, err)) != TRPT_OK)
		return rc;
	if (last >= hi || exists == 0)
		return TRPT_OK;
	r->total = r->progress != NULL ? estimate_new(r, last, exists) : 0;
	report_progress(r);
	lo = last + 1;
	for (;;) {
		whi = (uint64_t)lo + window - 1 > hi
			  ? hi
			  : (uint32_t)(lo + window - 1);
		if ((rc = fetch_sizes(r, lo, whi, &v, &n, err)) != TRPT_OK)
			return rc;
		rc = process_window(r, v, n, err);
		free(v);
		v = NULL;
		if (rc != TRPT_OK)
			return rc;
		/* Sparse UIDs (after expunges): widen the window. */
		if (n < window / 4 && window < MAX_WINDOW)
			window *= 4;
		else if (n > (r->conf->batch ? r->conf->batch : DEFAULT_BATCH) *
				 4 &&
			 window > 1)
			window /= 2;
		if (window > MAX_WINDOW)
			window = MAX_WINDOW;
		if (whi >= hi)
			break;
		lo = whi + 1;
	}
	/* Record the window end even when its tail held no message, so
	 * the next run does not fetch the empty range again. */
	return state_put(
	    &r->st, r->conf->name, mailbox, r->uidvalidity, hi, err);
}

int
trpt_imap_run(const struct trpt_imap_conf *conf, struct trpt_pipeline *p,
    trpt_imap_progress_fn *progress, void *progress_arg,
    struct trpt_imap_stats *stats, struct trpt_err *err)
{
	static const char *const inbox[] = { "INBOX" };
	const char *const *boxes = conf->nmailboxes ? conf->mailboxes : inbox;
	size_t nboxes = conf->nmailboxes ? conf->nmailboxes : 1, i;
	struct run r;
	int rc;

	if ((rc = trpt_imap_conf_check(conf, err)) != TRPT_OK)
		return rc;
	memset(&r, 0, sizeof(r));
	r.conf = conf;
	r.p = p;
	r.stats = stats;
	r.progress = progress;
	r.progress_arg = progress_arg;
	if ((rc = state_open(&r.st, p->db, err)) != TRPT_OK)
		goto out;
	if ((rc = trpt_imap_connect(conf, &r.c, err)) != TRPT_OK)
		goto out;
	r.has_move = mailimap_has_extension(r.c->imap, "MOVE");
	r.has_uidplus = mailimap_has_extension(r.c->imap, "UIDPLUS");
	for (i = 0; i < nboxes; i++)
		if ((rc = run_mailbox(&r, boxes[i], err)) != TRPT_OK)
			goto out;
	rc = TRPT_OK;
out:
	trpt_imap_free(&r.c);
	state_close(&r.st);
	return rc;
}

#include "ingest/imap_io.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/x509.h>

#define WHY_LEN TRPT_IMAP_IO_WHY_LEN

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
trpt_imap_io_init(struct trpt_imap_io *io)
{
	memset(io, 0, sizeof(*io));
	io->fd = -1;
	io->timeout_ms = 60 * 1000;
}

void
trpt_imap_io_expect(struct trpt_imap_io *io, size_t budget)
{
	io->budget = budget;
	io->received = 0;
	io->line_budget = 0;
	io->lines = 0;
}

void
trpt_imap_io_expect_lines(struct trpt_imap_io *io, size_t line_budget)
{
	io->line_budget = line_budget;
}

void
trpt_imap_io_set_deadline(struct trpt_imap_io *io, unsigned seconds)
{
	io->deadline_ms = seconds != 0 ? now_ms() + (int64_t)seconds * 1000 : 0;
}

/*
 * Waits for events on the socket within the operation timeout and the run
 * deadline, whichever ends first.
 */
static int
io_wait(struct trpt_imap_io *io, short events)
{
	struct pollfd pfd;
	int64_t left;
	int r, ms = io->timeout_ms, by_deadline = 0;

	if (io->deadline_ms != 0) {
		left = io->deadline_ms - now_ms();
		if (left < 0)
			left = 0;
		if (left < ms) {
			ms = (int)left;
			by_deadline = 1;
		}
	}
	pfd.fd = io->fd;
	pfd.events = events;
	pfd.revents = 0;
	do
		r = poll(&pfd, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		if (by_deadline)
			snprintf(io->why, sizeof(io->why),
			    "the run's deadline passed (set deadline to allow "
			    "more)");
		else
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

/*
 * Follows the literals in the bytes from the server: outside a literal,
 * "{N}" at the end of a line announces N bytes of literal data.  Returns
 * -1 (why set) when N exceeds max_literal.  Inside quoted strings "{N}"
 * cannot end a line, so a quoted string never looks like a literal.
 */
static int
scan_literals(struct trpt_imap_io *io, const unsigned char *p, size_t n)
{
	size_t i = 0, skip;
	unsigned char c;

	while (i < n) {
		if (io->lit_left > 0) {
			skip = n - i;
			if ((uint64_t)skip > io->lit_left)
				skip = (size_t)io->lit_left;
			io->lit_left -= skip;
			i += skip;
			continue;
		}
		c = p[i++];
		if (io->line_budget != 0 && ++io->lines > io->line_budget) {
			snprintf(io->why, sizeof(io->why),
			    "the server sent more than %zu bytes outside "
			    "literals in one answer",
			    io->line_budget);
			return -1;
		}
		switch (io->scan_state) {
		case 1: /* after '{' */
		case 2: /* digits */
			if (c >= '0' && c <= '9') {
				if (io->scan_num < 1000000000000000ull)
					io->scan_num =
					    io->scan_num * 10 + (c - '0');
				else
					io->scan_num = UINT64_MAX;
				io->scan_state = 2;
				continue;
			}
			if (c == '}' && io->scan_state == 2) {
				io->scan_state = 3;
				continue;
			}
			break;
		case 3: /* after '}' */
			if (c == '\r') {
				io->scan_state = 4;
				continue;
			}
			break;
		case 4: /* after '}\r' */
			if (c == '\n') {
				io->scan_state = 0;
				if (io->max_literal != 0 &&
				    io->scan_num > io->max_literal) {
					if (io->scan_num == UINT64_MAX)
						snprintf(io->why,
						    sizeof(io->why),
						    "the server announced a "
						    "literal of more than "
						    "10^15 bytes, over the "
						    "limit of %zu",
						    io->max_literal);
					else
						snprintf(io->why,
						    sizeof(io->why),
						    "the server announced a "
						    "literal of %llu bytes, "
						    "over the limit of %zu",
						    (unsigned long long)
							io->scan_num,
						    io->max_literal);
					return -1;
				}
				io->lit_left = io->scan_num;
				continue;
			}
			break;
		default:
			break;
		}
		io->scan_state = c == '{' ? 1 : 0;
		io->scan_num = 0;
	}
	return 0;
}

/* Counts and checks n bytes just received. */
static int
account(struct trpt_imap_io *io, const void *buf, size_t n)
{
	io->received += n;
	if (io->budget != 0 && io->received > io->budget) {
		snprintf(io->why, sizeof(io->why),
		    "the server sent more than %zu bytes in one answer",
		    io->budget);
		return -1;
	}
	return scan_literals(io, buf, n);
}

static ssize_t
drv_read(mailstream_low *s, void *buf, size_t count)
{
	struct trpt_imap_io *io = s->data;
	ssize_t n;

	if (io->broken)
		return -1;
	for (;;) {
		if (io->tls != NULL) {
			n = gnutls_record_recv(io->tls, buf, count);
			if (n > 0) {
				if (account(io, buf, (size_t)n) != 0)
					break;
				return n;
			}
			/* GnuTLS also says AGAIN after a record that was not
			 * data (a session ticket): the next may be in rbuf
			 * already, and then the socket has nothing to wait
			 * for. */
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
				if (io->roff == io->rlen &&
				    io_wait(io, POLLIN) != 0)
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
		if (n > 0) {
			if (account(io, buf, (size_t)n) != 0)
				break;
			return n;
		}
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
	struct trpt_imap_io *io = s->data;
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

/* The socket and TLS session belong to the io, not to the stream. */
static int
drv_close(mailstream_low *s)
{
	(void)s;
	return 0;
}

static int
drv_get_fd(mailstream_low *s)
{
	struct trpt_imap_io *io = s->data;

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

mailstream_low *
trpt_imap_io_low(struct trpt_imap_io *io)
{
	return mailstream_low_new(io, &io_driver);
}

int
trpt_imap_io_is_loopback_name(const char *host)
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

int
trpt_imap_io_connect(struct trpt_imap_io *io, const char *name,
    const char *host, uint16_t port, int loopback_only,
    unsigned connect_timeout, struct trpt_err *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portbuf[8], why[WHY_LEN] = "no address";
	int r, fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portbuf, sizeof(portbuf), "%u", (unsigned)port);
	r = getaddrinfo(host, portbuf, &hints, &res);
	if (r != 0)
		return trpt_err_set(err, TRPT_ETEMP,
		    "%s: cannot resolve %s: %s", name, host, gai_strerror(r));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (loopback_only && !is_loopback_addr(ai->ai_addr)) {
			snprintf(why, sizeof(why),
			    "security = none is only allowed to loopback "
			    "addresses");
			continue;
		}
		if (connect_one(ai, (int)connect_timeout * 1000, &fd, why,
			sizeof(why)) == 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return trpt_err_set(err, TRPT_ETEMP,
		    "%s: connect to %s port %u: %s", name, host, (unsigned)port,
		    why);
	io->fd = fd;
	return TRPT_OK;
}

/*
 * GnuTLS reads each record with two recv() calls, its 5-byte header and
 * then its body, and Dovecot's login process (which does the TLS of a
 * session) sends a record for each piece its imap process writes: a fetch
 * of 10,000 mails (13.5 MB) over TLS took 10,081 recv() calls, 1.3 kB
 * each, against 1,707 over plain text (strace -c, bench/bench_imap.c).
 * So under TLS the socket is read RBUF_SIZE bytes at a time into rbuf and
 * GnuTLS is served from it (its transport hooks, not a TLS of our own):
 * 1,090 calls, 360 of them finding nothing yet (docs/PERFORMANCE.md,
 * stop 27).  Every byte still passes GnuTLS, then drv_read's accounting
 * and caps.
 */
#define RBUF_SIZE 65536

static ssize_t
tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct trpt_imap_io *io = ptr;
	ssize_t n;

	if (io->roff == io->rlen) {
		/* Asked for more than a buffer: straight into GnuTLS's. */
		if (len >= RBUF_SIZE) {
			n = recv(io->fd, buf, len, 0);
			if (n < 0)
				gnutls_transport_set_errno(io->tls, errno);
			return n;
		}
		n = recv(io->fd, io->rbuf, RBUF_SIZE, 0);
		if (n <= 0) {
			if (n < 0)
				gnutls_transport_set_errno(io->tls, errno);
			return n;
		}
		io->roff = 0;
		io->rlen = (size_t)n;
	}
	if (len > io->rlen - io->roff)
		len = io->rlen - io->roff;
	memcpy(buf, io->rbuf + io->roff, len);
	io->roff += len;
	return (ssize_t)len;
}

/* For GnuTLS's own waits (a transport of its own needs one): > 0 when
 * bytes are buffered or the socket is readable within ms. */
static int
tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct trpt_imap_io *io = ptr;
	struct pollfd pfd;
	int r;

	if (io->roff < io->rlen)
		return 1;
	pfd.fd = io->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	do
		r = poll(&pfd, 1,
		    ms == GNUTLS_INDEFINITE_TIMEOUT
			? -1
			: (ms > INT_MAX ? INT_MAX : (int)ms));
	while (r < 0 && errno == EINTR);
	if (r < 0)
		gnutls_transport_set_errno(io->tls, errno);
	return r;
}

int
trpt_imap_io_tls(struct trpt_imap_io *io, const char *name, const char *host,
    uint16_t port, const char *ca_file, struct trpt_err *err)
{
	gnutls_datum_t out = { NULL, 0 };
	unsigned status;
	int r;

	r = gnutls_certificate_allocate_credentials(&io->cred);
	if (r < 0)
		return trpt_err_set(
		    err, TRPT_ENOMEM, "%s: TLS: %s", name, gnutls_strerror(r));
	if (ca_file != NULL) {
		r = gnutls_certificate_set_x509_trust_file(
		    io->cred, ca_file, GNUTLS_X509_FMT_PEM);
		if (r <= 0)
			return trpt_err_set(err, TRPT_EINVAL,
			    "%s: ca_file %s: %s", name, ca_file,
			    r == 0 ? "no certificate found"
				   : gnutls_strerror(r));
	} else {
		r = gnutls_certificate_set_x509_system_trust(io->cred);
		if (r < 0)
			return trpt_err_set(err, TRPT_EINVAL,
			    "%s: cannot load the system CA certificates: %s",
			    name, gnutls_strerror(r));
	}
	r = gnutls_init(&io->tls, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL);
	if (r < 0) {
		io->tls = NULL;
		return trpt_err_set(
		    err, TRPT_ENOMEM, "%s: TLS: %s", name, gnutls_strerror(r));
	}
	if ((r = gnutls_set_default_priority(io->tls)) < 0 ||
	    (r = gnutls_credentials_set(
		 io->tls, GNUTLS_CRD_CERTIFICATE, io->cred)) < 0)
		goto tlserr;
	if (!trpt_imap_io_is_loopback_name(host) ||
	    strcasecmp(host, "localhost") == 0) {
		struct in_addr a4;
		struct in6_addr a6;

		/* SNI carries names only, never IP literals (RFC 6066). */
		if (inet_pton(AF_INET, host, &a4) != 1 &&
		    inet_pton(AF_INET6, host, &a6) != 1 &&
		    (r = gnutls_server_name_set(
			 io->tls, GNUTLS_NAME_DNS, host, strlen(host))) < 0)
			goto tlserr;
	}
	gnutls_session_set_verify_cert(io->tls, host, 0);
	if (io->rbuf == NULL && (io->rbuf = malloc(RBUF_SIZE)) == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	io->roff = io->rlen = 0;
	/* Reads through rbuf; writes straight to the socket with GnuTLS's
	 * own push (sendmsg, MSG_NOSIGNAL), which takes the descriptor. */
	gnutls_transport_set_ptr2(
	    io->tls, io, (gnutls_transport_ptr_t)(intptr_t)io->fd);
	gnutls_transport_set_pull_function(io->tls, tls_pull);
	gnutls_transport_set_pull_timeout_function(io->tls, tls_pull_timeout);
	gnutls_handshake_set_timeout(io->tls, 0);
	for (;;) {
		r = gnutls_handshake(io->tls);
		if (r >= 0)
			break;
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			int sending = gnutls_record_get_direction(io->tls);

			if (!sending && io->roff < io->rlen)
				continue;
			if (io_wait(io, sending ? POLLOUT : POLLIN) != 0)
				return trpt_err_set(err, TRPT_ETEMP,
				    "%s: TLS handshake with %s port %u: %s",
				    name, host, (unsigned)port, io->why);
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
			    "%s: certificate of %s not accepted: %s%s", name,
			    host,
			    out.data != NULL ? (const char *)out.data
					     : "verification failed",
			    ca_file == NULL
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
	    name, host, (unsigned)port, gnutls_strerror(r));
}

int
trpt_imap_io_wait_idle(struct trpt_imap_io *io, int wake_fd, int timeout_ms)
{
	struct pollfd pfd[2];
	nfds_t n = 1;
	int r;

	if (io->tls != NULL &&
	    (gnutls_record_check_pending(io->tls) > 0 || io->roff < io->rlen))
		return 1;
	pfd[0].fd = io->fd;
	pfd[0].events = POLLIN;
	pfd[0].revents = 0;
	if (wake_fd >= 0) {
		pfd[1].fd = wake_fd;
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		n = 2;
	}
	do
		r = poll(pfd, n, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		snprintf(io->why, sizeof(io->why), "poll: %s", strerror(errno));
		return -1;
	}
	if (r == 0)
		return 0;
	if (n == 2 && pfd[1].revents != 0)
		return 2;
	return 1;
}

void
trpt_imap_io_close(struct trpt_imap_io *io)
{
	if (io->tls != NULL)
		gnutls_deinit(io->tls);
	io->tls = NULL;
	if (io->cred != NULL)
		gnutls_certificate_free_credentials(io->cred);
	io->cred = NULL;
	if (io->fd >= 0)
		close(io->fd);
	io->fd = -1;
	free(io->rbuf);
	io->rbuf = NULL;
	io->roff = io->rlen = 0;
}

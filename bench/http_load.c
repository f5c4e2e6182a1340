/*
 * A small closed-loop HTTP load client for `tlsrpt-collector serve`.
 *
 *   http_load HOST PORT CONNECTIONS REQUESTS RUN-ID [GZIP-PERCENT [CA-FILE]]
 *
 * CONNECTIONS keep-alive sockets, each POSTing a distinct report
 * (report-id "RUN-ID-<connection>-<n>"), waiting for the whole answer and
 * measuring the time from the first byte sent to the last byte received;
 * then it sends its next one.  GZIP-PERCENT (default 50) of the bodies are
 * gzip, the others JSON.  Prints the counts of answers by status, the rate,
 * the latency percentiles and the client's own CPU time per request.  With
 * CA-FILE it speaks TLS (GnuTLS, certificate verified against CA-FILE), one
 * handshake per connection.  With HTTP_LOAD_CLOSE=1 in the environment
 * every POST asks for "Connection: close" and takes a new connection (and
 * handshake), as most senders do.  Not part of the test suite; see
 * docs/BENCHMARKS.md.
 *
 * The client is meant to cost the machine as little as it can, since it
 * shares the CPUs with the server it measures: every request (head and
 * body, gzip included) is built before the clock starts, and one thread
 * drives all the connections with epoll (a thread per connection cost a
 * context switch per answer; building and gzipping each report while timing
 * cost ~250 us of CPU per request, as much as the server's work).
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <zlib.h>

static const char *tpl_head =
    "{\"organization-name\":\"Bench Sender Inc.\","
    "\"date-range\":{\"start-datetime\":\"2026-11-01T00:00:00Z\","
    "\"end-datetime\":\"2026-11-01T23:59:59Z\"},"
    "\"contact-info\":\"tlsrpt@bench.example\",\"report-id\":\"";
static const char *tpl_tail =
    "\",\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
    "\"policy-string\":[\"version: STSv1\",\"mode: enforce\","
    "\"mx: mx1.example.com\",\"max_age: 86400\"],"
    "\"policy-domain\":\"example.com\",\"mx-host\":[\"mx1.example.com\"]},"
    "\"summary\":{\"total-successful-session-count\":5326,"
    "\"total-failure-session-count\":3},"
    "\"failure-details\":[{\"result-type\":\"certificate-expired\","
    "\"sending-mta-ip\":\"2001:db8:abcd:0012::1\","
    "\"receiving-mx-hostname\":\"mx1.example.com\","
    "\"failed-session-count\":3}]}]}";

static const char *host;
static int port;
static gnutls_certificate_credentials_t xcred; /* NULL: plain HTTP */
static int close_each; /* a new connection for every POST */

/* One prepared request: head and body in one buffer. */
struct req {
	char *data;
	size_t len;
};

struct conn {
	int id;
	int fd;
	gnutls_session_t tls;
	struct req *reqs; /* this connection's requests */
	int nreq, next;   /* next: the one in flight or to send */
	double t0;        /* when the one in flight was sent */
	char buf[8192];
	size_t have;
};

static double *lat; /* seconds, one per answer */
static int nlat;
static int ok200, c400, c503, c429, other, neterr;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static size_t
gzip_buf(z_stream *zs, const char *in, size_t len, char *out, size_t cap)
{
	deflateReset(zs);
	zs->next_in = (Bytef *)(uintptr_t)in;
	zs->avail_in = (uInt)len;
	zs->next_out = (Bytef *)out;
	zs->avail_out = (uInt)cap;
	if (deflate(zs, Z_FINISH) != Z_STREAM_END)
		return 0;
	return zs->total_out;
}

/* Builds every request of connection id before the clock starts. */
static int
build(struct conn *c, const char *run_id, int gzip_percent, z_stream *zs)
{
	char json[4096], body[4096], head[512];
	size_t jlen, blen, hlen;
	int i;

	for (i = 0; i < c->nreq; i++) {
		/* gzip_percent of the requests, spread evenly. */
		int gz = (i + 1) * gzip_percent / 100 > i * gzip_percent / 100;

		jlen = (size_t)snprintf(json, sizeof(json), "%s%s-%d-%d%s",
		    tpl_head, run_id, c->id, i, tpl_tail);
		if (gz) {
			blen = gzip_buf(zs, json, jlen, body, sizeof(body));
			if (blen == 0)
				return -1;
		} else {
			memcpy(body, json, jlen);
			blen = jlen;
		}
		hlen = (size_t)snprintf(head, sizeof(head),
		    "POST /v1/tlsrpt HTTP/1.1\r\nHost: %s:%d\r\n"
		    "Content-Type: application/tlsrpt+%s\r\n"
		    "Content-Length: %zu\r\n%s\r\n",
		    host, port, gz ? "gzip" : "json", blen,
		    close_each ? "Connection: close\r\n" : "");
		c->reqs[i].data = malloc(hlen + blen);
		if (c->reqs[i].data == NULL)
			return -1;
		memcpy(c->reqs[i].data, head, hlen);
		memcpy(c->reqs[i].data + hlen, body, blen);
		c->reqs[i].len = hlen + blen;
	}
	return 0;
}

static int
connect_to(void)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void
close_conn(int ep, struct conn *c)
{
	if (c->fd >= 0)
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->tls != NULL) {
		gnutls_deinit(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Connects (and shakes hands) blocking, then watches the socket. */
static int
open_conn(int ep, struct conn *c)
{
	struct epoll_event ev;
	int r;

	c->tls = NULL;
	c->fd = connect_to();
	if (c->fd < 0)
		return -1;
	if (xcred != NULL) {
		if (gnutls_init(&c->tls, GNUTLS_CLIENT) < 0)
			goto fail;
		gnutls_set_default_priority(c->tls);
		gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, xcred);
		gnutls_session_set_verify_cert(c->tls, host, 0);
		gnutls_transport_set_int(c->tls, c->fd);
		do
			r = gnutls_handshake(c->tls);
		while (r < 0 && gnutls_error_is_fatal(r) == 0);
		if (r < 0) {
			fprintf(stderr, "handshake: %s\n", gnutls_strerror(r));
			goto fail;
		}
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		goto fail;
	return 0;
fail:
	if (c->tls != NULL)
		gnutls_deinit(c->tls);
	c->tls = NULL;
	close(c->fd);
	c->fd = -1;
	return -1;
}

static int
send_all(struct conn *c, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if (c->tls != NULL)
			w = gnutls_record_send(c->tls, p, n);
		else
			w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Sends the connection's next request (opening the connection first if
 * needed); on a network error counts it and goes on with the next one.
 * Returns 0 while the connection has a request in flight, -1 when it is
 * done.
 */
static int
send_next(int ep, struct conn *c)
{
	struct req *q;

	for (; c->next < c->nreq; c->next++) {
		q = &c->reqs[c->next];
		c->t0 = now();
		if (c->fd < 0 && open_conn(ep, c) < 0) {
			neterr++;
			continue;
		}
		c->have = 0;
		if (send_all(c, q->data, q->len) == 0)
			return 0;
		neterr++;
		close_conn(ep, c);
	}
	close_conn(ep, c);
	return -1;
}

/*
 * Whether buf holds a whole answer: 1 (with *status and *close_after),
 * 0 for not yet, -1 for garbage.
 */
static int
complete(struct conn *c, int *status, int *close_after)
{
	char *end, *cl;
	size_t need;

	c->buf[c->have] = '\0';
	end = strstr(c->buf, "\r\n\r\n");
	if (end == NULL)
		return c->have == sizeof(c->buf) - 1 ? -1 : 0;
	cl = strcasestr(c->buf, "\r\nContent-Length:");
	need = cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
	need += (size_t)(end + 4 - c->buf);
	if (need > sizeof(c->buf) - 1)
		return -1;
	if (c->have < need)
		return 0;
	if (sscanf(c->buf, "HTTP/1.%*d %d", status) != 1)
		return -1;
	*close_after = strcasestr(c->buf, "\r\nConnection: close") != NULL;
	return 1;
}

/* The socket is readable: reads what is there; 1 when the answer is in. */
static int
on_readable(struct conn *c, int *status, int *close_after)
{
	ssize_t r;
	int done;

	do {
		if (c->tls != NULL)
			do
				r = gnutls_record_recv(c->tls, c->buf + c->have,
				    sizeof(c->buf) - 1 - c->have);
			while (r == GNUTLS_E_INTERRUPTED);
		else
			r = recv(c->fd, c->buf + c->have,
			    sizeof(c->buf) - 1 - c->have, MSG_DONTWAIT);
		if (r == GNUTLS_E_AGAIN ||
		    (r < 0 && c->tls == NULL &&
			(errno == EAGAIN || errno == EINTR)))
			return 0;
		if (r <= 0)
			return -1;
		c->have += (size_t)r;
		done = complete(c, status, close_after);
		if (done != 0)
			return done;
	} while (c->tls != NULL && gnutls_record_check_pending(c->tls) > 0);
	return 0;
}

static void
tally(int status)
{
	if (status == 200)
		ok200++;
	else if (status == 400)
		c400++;
	else if (status == 503)
		c503++;
	else if (status == 429)
		c429++;
	else
		other++;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[64];
	struct conn *cs;
	z_stream zs;
	double t0, cpu0, elapsed, cpu;
	int conns, total, per_conn, i, n, ep, active = 0, gzip_percent = 50;
	const char *run_id;

	if (argc < 6) {
		fprintf(stderr, "usage: http_load HOST PORT CONNECTIONS "
				"REQUESTS RUN-ID [GZIP-PERCENT [CA-FILE]]\n");
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	conns = atoi(argv[3]);
	total = atoi(argv[4]);
	run_id = argv[5];
	if (argc > 6)
		gzip_percent = atoi(argv[6]);
	close_each = getenv("HTTP_LOAD_CLOSE") != NULL &&
		     strcmp(getenv("HTTP_LOAD_CLOSE"), "1") == 0;
	if (argc > 7) {
		gnutls_global_init();
		if (gnutls_certificate_allocate_credentials(&xcred) < 0 ||
		    gnutls_certificate_set_x509_trust_file(
			xcred, argv[7], GNUTLS_X509_FMT_PEM) <= 0) {
			fprintf(stderr, "cannot load %s\n", argv[7]);
			return 2;
		}
	}
	if (conns < 1 || total < conns)
		return 2;
	per_conn = total / conns;
	cs = calloc((size_t)conns, sizeof(*cs));
	lat = calloc((size_t)per_conn * (size_t)conns, sizeof(double));
	memset(&zs, 0, sizeof(zs));
	if (cs == NULL || lat == NULL ||
	    deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 3;
	for (i = 0; i < conns; i++) {
		cs[i].id = i;
		cs[i].fd = -1;
		cs[i].nreq = per_conn;
		cs[i].reqs = calloc((size_t)per_conn, sizeof(struct req));
		if (cs[i].reqs == NULL ||
		    build(&cs[i], run_id, gzip_percent, &zs) != 0)
			return 3;
	}
	deflateEnd(&zs);
	ep = epoll_create1(0);
	if (ep < 0)
		return 3;

	t0 = now();
	cpu0 = cpu_seconds();
	for (i = 0; i < conns; i++)
		if (send_next(ep, &cs[i]) == 0)
			active++;
	while (active > 0) {
		n = epoll_wait(ep, evs, 64, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 3;
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			int status = 0, close_after = 0, r;

			r = on_readable(c, &status, &close_after);
			if (r == 0)
				continue;
			if (r > 0) {
				lat[nlat++] = now() - c->t0;
				tally(status);
				if (close_after || close_each)
					close_conn(ep, c);
			} else {
				neterr++;
				close_conn(ep, c);
			}
			c->next++;
			if (send_next(ep, c) != 0)
				active--;
		}
	}
	elapsed = now() - t0;
	cpu = cpu_seconds() - cpu0;

	qsort(lat, (size_t)nlat, sizeof(double), cmp);
	printf("connections %d requests %d answered %d ok200 %d "
	       "400 %d 429 %d 503 %d other %d neterr %d\n",
	    conns, per_conn * conns, nlat, ok200, c400, c429, c503, other,
	    neterr);
	if (nlat > 0)
		printf("elapsed %.2f s rate %.0f req/s p50 %.2f ms p90 %.2f ms "
		       "p99 %.2f ms max %.2f ms client cpu %.0f us/req\n",
		    elapsed, nlat / elapsed, lat[nlat / 2] * 1e3,
		    lat[(size_t)(nlat * 0.9)] * 1e3,
		    lat[(size_t)(nlat * 0.99)] * 1e3, lat[nlat - 1] * 1e3,
		    cpu / nlat * 1e6);
	for (i = 0; i < conns; i++) {
		for (n = 0; n < cs[i].nreq; n++)
			free(cs[i].reqs[n].data);
		free(cs[i].reqs);
	}
	free(cs);
	free(lat);
	close(ep);
	return neterr == 0 && other == 0 ? 0 : 1;
}

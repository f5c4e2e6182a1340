/*
 * A small closed-loop HTTP load client for `tlsrpt-collector serve`.
 *
 *   http_load HOST PORT CONNECTIONS REQUESTS RUN-ID [GZIP-PERCENT [CA-FILE]]
 *
 * Each connection is one thread with one keep-alive socket that POSTs a
 * distinct report (report-id "RUN-ID-<thread>-<n>"), waits for the whole
 * answer and measures the time from the first byte sent to the last byte
 * received.  GZIP-PERCENT (default 50) of the bodies are gzip, the others
 * JSON.  Prints the counts of answers by status, the rate and the latency
 * percentiles.  With CA-FILE it speaks TLS (GnuTLS, certificate verified
 * against CA-FILE), one handshake per connection.  With HTTP_LOAD_CLOSE=1
 * in the environment every POST asks for "Connection: close" and takes a
 * new connection (and handshake), as most senders do.  Not part of the test
 * suite; see docs/BENCHMARKS.md.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
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
static int port, per_thread, gzip_percent = 50;
static const char *run_id;
static gnutls_certificate_credentials_t xcred; /* NULL: plain HTTP */
static int close_each; /* a new connection for every POST */

struct conn {
	int fd;
	gnutls_session_t tls;
};

struct worker {
	pthread_t tid;
	int id;
	double *lat; /* seconds */
	int n;
	int ok200, c400, c503, c429, other, neterr;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
gzip_buf(const char *in, size_t len, char *out, size_t cap)
{
	z_stream zs;
	size_t n;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&zs);
		return 0;
	}
	n = zs.total_out;
	deflateEnd(&zs);
	return n;
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
close_conn(struct conn *c)
{
	if (c->tls != NULL) {
		gnutls_deinit(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int
open_conn(struct conn *c)
{
	int r;

	c->tls = NULL;
	c->fd = connect_to();
	if (c->fd < 0 || xcred == NULL)
		return c->fd < 0 ? -1 : 0;
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
	return 0;
fail:
	close_conn(c);
	return -1;
}

static ssize_t
conn_recv(struct conn *c, char *p, size_t n)
{
	ssize_t r;

	if (c->tls == NULL)
		return recv(c->fd, p, n, 0);
	do
		r = gnutls_record_recv(c->tls, p, n);
	while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
	return r;
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

/* Reads one response; returns its status, or -1. */
static int
read_response(struct conn *c, int *close_after)
{
	char buf[8192];
	size_t have = 0, need;
	char *end, *cl;
	ssize_t r;
	int status;

	for (;;) {
		r = conn_recv(c, buf + have, sizeof(buf) - 1 - have);
		if (r <= 0)
			return -1;
		have += (size_t)r;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL)
			break;
		if (have == sizeof(buf) - 1)
			return -1;
	}
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	cl = strcasestr(buf, "\r\nContent-Length:");
	need = cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
	*close_after = strcasestr(buf, "\r\nConnection: close") != NULL;
	need += (size_t)(end + 4 - buf);
	while (have < need) {
		r = conn_recv(c, buf, sizeof(buf));
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
	return status;
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	char json[4096], body[4096], head[512];
	size_t jlen, blen, hlen;
	struct conn c = { -1, NULL };
	int i, status, close_after;
	double t0;

	for (i = 0; i < per_thread; i++) {
		/* gzip_percent of the requests, spread evenly. */
		int gz = (i + 1) * gzip_percent / 100 > i * gzip_percent / 100;

		jlen = (size_t)snprintf(json, sizeof(json), "%s%s-%d-%d%s",
		    tpl_head, run_id, w->id, i, tpl_tail);
		if (gz) {
			blen = gzip_buf(json, jlen, body, sizeof(body));
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
		t0 = now();
		if (c.fd < 0 && open_conn(&c) < 0) {
			w->neterr++;
			continue;
		}
		if (send_all(&c, head, hlen) != 0 ||
		    send_all(&c, body, blen) != 0 ||
		    (status = read_response(&c, &close_after)) < 0) {
			w->neterr++;
			close_conn(&c);
			continue;
		}
		w->lat[w->n++] = now() - t0;
		if (status == 200)
			w->ok200++;
		else if (status == 400)
			w->c400++;
		else if (status == 503)
			w->c503++;
		else if (status == 429)
			w->c429++;
		else
			w->other++;
		if (close_after || close_each)
			close_conn(&c);
	}
	close_conn(&c);
	return NULL;
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
	struct worker *ws;
	double *all, t0, elapsed;
	int conns, total, i, n = 0;
	int ok = 0, c400 = 0, c503 = 0, c429 = 0, other = 0, neterr = 0;

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
	per_thread = total / conns;
	ws = calloc((size_t)conns, sizeof(*ws));
	all = calloc((size_t)per_thread * (size_t)conns, sizeof(double));
	if (ws == NULL || all == NULL)
		return 3;
	t0 = now();
	for (i = 0; i < conns; i++) {
		ws[i].id = i;
		ws[i].lat = all + (size_t)i * (size_t)per_thread;
		pthread_create(&ws[i].tid, NULL, work, &ws[i]);
	}
	for (i = 0; i < conns; i++)
		pthread_join(ws[i].tid, NULL);
	elapsed = now() - t0;
	for (i = 0; i < conns; i++) {
		memmove(all + n, ws[i].lat, (size_t)ws[i].n * sizeof(double));
		n += ws[i].n;
		ok += ws[i].ok200;
		c400 += ws[i].c400;
		c503 += ws[i].c503;
		c429 += ws[i].c429;
		other += ws[i].other;
		neterr += ws[i].neterr;
	}
	qsort(all, (size_t)n, sizeof(double), cmp);
	printf("connections %d requests %d answered %d ok200 %d "
	       "400 %d 429 %d 503 %d other %d neterr %d\n",
	    conns, per_thread * conns, n, ok, c400, c429, c503, other, neterr);
	if (n > 0)
		printf("elapsed %.2f s rate %.0f req/s p50 %.2f ms p90 %.2f ms "
		       "p99 %.2f ms max %.2f ms\n",
		    elapsed, n / elapsed, all[n / 2] * 1e3,
		    all[(size_t)(n * 0.9)] * 1e3, all[(size_t)(n * 0.99)] * 1e3,
		    all[n - 1] * 1e3);
	free(all);
	free(ws);
	return neterr == 0 && other == 0 ? 0 : 1;
}

#include "ingest/receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "common/buf.h"
#include "ingest/inflate.h"
#include "schema/db.h"
#include "schema/sql.h"
#include "schema/store.h"

#define RATE_SLOTS 4096
/* libmicrohttpd's memory for each connection (see trpt_receiver_new). */
#define CONN_MEMORY (16 * 1024)
#define NBUCKETS    13
#define ADDR_LEN    64

/* Upper bounds of the latency histogram, in seconds. */
static const double bucket_le[NBUCKETS] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

struct rate_slot {
	char addr[ADDR_LEN];
	double tokens;
	int64_t last_ms;
};

/* A network of [serve] allow. */
struct net {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned bits;
};

struct trpt_receiver {
	struct MHD_Daemon *mhd;
	struct trpt_pipeline *pipe;
	pthread_mutex_t pipe_lock; /* serialises every pipeline call */
	/*
	 * Group commit.  A POST whose body is in is prepared (read, inflated,
	 * validated) on its libmicrohttpd thread, queued here and its
	 * connection suspended; the committer thread takes what is queued,
	 * stores it into one transaction (pipe_lock held) and commits, then
	 * resumes every connection of the group, which is answered after
	 * that commit, never before, and all with 503 when it fails.  POSTs
	 * that come while a group is being stored join it; those that come
	 * during its commit make the next group.
	 */
	pthread_mutex_t q_lock;
	pthread_cond_t q_cond; /* something queued, or stop */
	struct request *q_head, *q_tail;
	unsigned q_len;            /* POSTs queued */
	int q_idle;                /* the committer waits for work */
	int q_gathering;           /* it waits for more POSTs: gather() */
	atomic_uint q_preparing;   /* POSTs being prepared */
	unsigned last_group;       /* POSTs the last group answered */
	unsigned g_taken;          /* POSTs the open group has stored */
	int q_stop;                /* no more queueing: answer 503 */
	unsigned q_entering;       /* POSTs being suspended to queue */
	atomic_uint delegated;     /* POSTs in chains not resumed yet */
	int group_open;            /* pipe_lock */
	pthread_cond_t group_cond; /* a group ended (pipe_lock) */
	pthread_t committer;
	int committer_running;
	/* The answers most POSTs get, made once. */
	struct MHD_Response *resp_stored, *resp_duplicate;
	/* Each libmicrohttpd thread's gzip decoder (thread_inflater). */
	pthread_key_t zkey;
	int zkey_ok;

	char *listen;
	void (*metrics_extra)(void *arg, struct trpt_buf *out);
	void *metrics_arg;
	char *paths[TRPT_RECEIVER_MAX_PATHS];
	size_t npaths;
	char *cert, *key;
	size_t max_body;
	unsigned request_timeout;
	unsigned rate_per_minute, rate_burst;
	int trust_proxy;
	struct net allow[TRPT_RECEIVER_MAX_ALLOW];
	size_t nallow;
	unsigned port;
	/* The listening socket, accepted from by the acceptor thread and
	 * handed to libmicrohttpd (see acceptor_loop); wake[1] is written to
	 * stop it. */
	int lfd, wake[2];
	pthread_t acceptor;
	int acceptor_running;
	atomic_int draining;

	pthread_mutex_t stats_lock;
	struct trpt_receiver_stats stats;
	uint64_t hist[NBUCKETS + 1]; /* last: +Inf */
	uint64_t hist_count;
	double hist_sum;

	pthread_mutex_t rate_lock;
	struct rate_slot *rate;

	pthread_mutex_t log_lock;
	char mhd_error[TRPT_ERR_MSG_LEN]; /* last libmicrohttpd message */

	/* Connections (conn_lock): the per-client cap and header time. */
	pthread_mutex_t conn_lock;
	pthread_cond_t conn_cond;
	struct conn *conns;
	unsigned nconns;
	unsigned max_connections, max_per_client, header_timeout;
	pthread_t reaper;
	int reaper_running, reaper_stop;

	/* Failing stores (store_lock): logged once per cause, and /healthz
	 * answers 503 until a store succeeds again. */
	pthread_mutex_t store_lock;
	void (*log)(void *arg, const char *msg);
	void *log_arg;
	int failing; /* the last store failed (not merely busy) */
	char cause[TRPT_ERR_MSG_LEN]; /* the last cause logged, "" if none */
};

/*
 * One connection from accept to close.  since_ns is when it began to wait
 * for a request head (its start, or the end of its previous request);
 * in_request is set while a request is being handled.
 */
struct conn {
	struct conn *prev, *next;
	MHD_socket fd;
	char addr[ADDR_LEN]; /* the peer's address (never a proxy header) */
	int loopback;        /* that address is a loopback one */
	int64_t since_ns;
	int in_request;
	int closing; /* shut down by us; libmicrohttpd closes it next */
};

/* One request, from its first call to the completion callback. */
struct request {
	int64_t start_ns;
	int is_post; /* to a report path: body expected */
	int too_large;
	char client[ADDR_LEN];
	char peer[ADDR_LEN]; /* the socket's peer (a proxy, or the client) */
	const char *path;
	struct trpt_buf body;
	/* Set while queued for the committer (connection suspended). */
	struct MHD_Connection *conn;
	struct request *q_next;
	pthread_t thread;      /* the libmicrohttpd thread that suspended it */
	struct request *chain; /* of that thread, resumed by it (see resume) */
	struct trpt_pipeline_prepared *prep;
	int queued; /* 1 queued, 2 done (rc, err, res set) */
	int rc;
	struct trpt_err err;
	struct trpt_pipeline_result res;
};

/* Names the calling thread (top -H, /proc/PID/task/TID/comm, and the
 * per-thread split of bench/http-load.sh). */
static void
name_thread(const char *name)
{
#ifdef __linux__
	prctl(PR_SET_NAME, name, 0, 0, 0);
#else
	(void)name;
#endif
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *
dup_or_null(const char *s)
{
	return s == NULL ? NULL : strdup(s);
}

/*
 * The threads receiving requests by default: one a core, 2 to 8.  With
 * the accepting thread spreading connections evenly, 2 threads on this
 * 2-core host were as fast as 4 or faster in every set measured (16
 * kept-alive connections: 11,417 against 9,539 stored/s, medians of 3
 * alternating rounds; front27's four sets in docs/PERFORMANCE.md "Stop
 * 27: serve, the answer path"), at less CPU a POST: a thread more than
 * the cores only adds wake-ups, as each polls many connections.  Past 8
 * the one committer is the limit, not the threads preparing POSTs.
 */
static unsigned
default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 2 ? 2 : n > 8 ? 8 : (unsigned)n;
}

void
trpt_receiver_config_default(
    struct trpt_receiver_config *cfg, const struct trpt_limits *lim)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = "127.0.0.1:8460";
	cfg->paths[0] = "/";
	cfg->paths[1] = "/v1/tlsrpt";
	cfg->npaths = 2;
	cfg->max_body = lim->max_message;
	cfg->threads = default_threads();
	cfg->max_connections = 256;
	cfg->max_per_client = 16;
	cfg->idle_timeout = 30;
	cfg->header_timeout = 10;
	cfg->request_timeout = 120;
	cfg->rate_per_minute = 120;
	cfg->rate_burst = 60;
	cfg->trust_proxy = 0;
}

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct trpt_receiver *r = cls;
	char *nl;

	pthread_mutex_lock(&r->log_lock);
	vsnprintf(r->mhd_error, sizeof(r->mhd_error), fmt, ap);
	nl = strchr(r->mhd_error, '\n');
	if (nl != NULL)
		*nl = '\0';
	pthread_mutex_unlock(&r->log_lock);
}

/*
 * Splits "ADDR:PORT", "[V6]:PORT" or ":PORT" and resolves it (numeric
 * addresses or names) into ss.
 */
static int
parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sslen,
    struct trpt_err *err)
{
	char host[256], *endp;
	const char *colon, *h;
	struct addrinfo hints, *ai = NULL;
	unsigned long port;
	size_t hlen;
	int grc;

	colon = strrchr(spec, ':');
	if (colon == NULL || colon[1] == '\0')
		return trpt_err_set(err, TRPT_EINVAL,
		    "listen \"%s\": expected ADDR:PORT", spec);
	errno = 0;
	port = strtoul(colon + 1, &endp, 10);
	if (errno != 0 || *endp != '\0' || port > 65535 ||
	    !isdigit((unsigned char)colon[1]))
		return trpt_err_set(
		    err, TRPT_EINVAL, "listen \"%s\": bad port", spec);
	h = spec;
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	} else if (memchr(h, ':', hlen) != NULL)
		return trpt_err_set(err, TRPT_EINVAL,
		    "listen \"%s\": write an IPv6 address in brackets", spec);
	if (hlen >= sizeof(host))
		return trpt_err_set(
		    err, TRPT_EINVAL, "listen \"%s\": address too long", spec);
	memcpy(host, h, hlen);
	host[hlen] = '\0';

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	grc = getaddrinfo(hlen == 0 ? NULL : host, colon + 1, &hints, &ai);
	if (grc != 0)
		return trpt_err_set(err, TRPT_EINVAL, "listen \"%s\": %s", spec,
		    gai_strerror(grc));
	if (ai->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(ai);
		return trpt_err_set(
		    err, TRPT_EINVAL, "listen \"%s\": bad address", spec);
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return TRPT_OK;
}

/* Only characters that can appear in an IP address literal. */
static int
plausible_ip(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= ADDR_LEN)
		return 0;
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != ':')
			return 0;
	return 1;
}

/*
 * The client's address (out) and the socket's peer (peer): the peer's,
 * kept on the connection's entry k since on_connection (rather than
 * formatted again at every request of a kept-alive connection), unless
 * a trusted proxy on loopback names the client.
 */
static void
client_address(const struct trpt_receiver *r, struct MHD_Connection *c,
    const struct conn *k, char out[ADDR_LEN], char peer[ADDR_LEN])
{
	const char *h, *p;
	size_t n;

	n = strlen(k->addr);
	memcpy(out, k->addr, n + 1);
	memcpy(peer, k->addr, n + 1);
	if (!r->trust_proxy || !k->loopback)
		return;
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Real-IP");
	if (h != NULL && plausible_ip(h, strlen(h))) {
		snprintf(out, ADDR_LEN, "%s", h);
		return;
	}
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For");
	if (h == NULL)
		return;
	/* The last entry is the one our proxy added. */
	p = strrchr(h, ',');
	p = p == NULL ? h : p + 1;
	while (*p == ' ')
		p++;
	if (plausible_ip(p, strcspn(p, " ")))
		snprintf(out, ADDR_LEN, "%.*s", (int)strcspn(p, " "), p);
}

static void count(struct trpt_receiver *r, uint64_t *counter);

/* The peer's address as a string ("unknown" when there is none), and
 * whether it is a loopback one. */
static void
peer_address(struct MHD_Connection *c, char out[ADDR_LEN], int *loopback)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(out, ADDR_LEN, "unknown");
	*loopback = 0;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, out, ADDR_LEN);
		*loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, out, ADDR_LEN);
		*loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
}

/*
 * Ends a connection libmicrohttpd holds: it sees the end of the stream and
 * closes it.  Under conn_lock, so the descriptor is still the connection's
 * (libmicrohttpd calls on_connection CLOSED, which takes the lock, before
 * it closes the socket).
 */
static void
conn_shut(struct conn *k)
{
	if (!k->closing && k->fd != MHD_INVALID_SOCKET)
		shutdown(k->fd, SHUT_RDWR);
	k->closing = 1;
}

/* The oldest connection waiting for a request head (of addr, if given). */
static struct conn *
oldest_waiting(struct trpt_receiver *r, const char *addr)
{
	struct conn *k, *best = NULL;

	for (k = r->conns; k != NULL; k = k->next)
		if (!k->closing && !k->in_request &&
		    (addr == NULL || strcmp(k->addr, addr) == 0) &&
		    (best == NULL || k->since_ns < best->since_ns))
			best = k;
	return best;
}

/*
 * libmicrohttpd's per-address limit refuses the newest connection, so a
 * client trickling header bytes on max_per_client connections locks out
 * everyone behind the same address, health checks included.  Here a new
 * connection past a cap closes the oldest one still waiting for its head;
 * only when every connection is busy with a request is the new one
 * refused.
 */
static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct trpt_receiver *r = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn *k, *p, *victim = NULL;
	unsigned same = 0, open = 0;
	uint64_t *counter = NULL;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		k = *socket_context;
		if (k == NULL)
			return;
		pthread_mutex_lock(&r->conn_lock);
		if (k->prev != NULL)
			k->prev->next = k->next;
		else
			r->conns = k->next;
		if (k->next != NULL)
			k->next->prev = k->prev;
		r->nconns--;
		pthread_mutex_unlock(&r->conn_lock);
		free(k);
		*socket_context = NULL;
		return;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return; /* not tracked: libmicrohttpd's own limits still hold */
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	k->fd = ci != NULL ? ci->connect_fd : MHD_INVALID_SOCKET;
	peer_address(c, k->addr, &k->loopback);
	k->since_ns = now_ns();
	pthread_mutex_lock(&r->conn_lock);
	for (p = r->conns; p != NULL; p = p->next) {
		if (p->closing)
			continue;
		open++;
		if (strcmp(p->addr, k->addr) == 0)
			same++;
	}
	/* Behind a proxy every connection comes from the proxy. */
	if (!r->trust_proxy && r->max_per_client > 0 &&
	    same >= r->max_per_client) {
		victim = oldest_waiting(r, k->addr);
		counter = &r->stats.client_limit;
	} else if (open >= r->max_connections) {
		victim = oldest_waiting(r, NULL);
		counter = &r->stats.client_limit;
	}
	k->next = r->conns;
	if (r->conns != NULL)
		r->conns->prev = k;
	r->conns = k;
	r->nconns++;
	if (counter != NULL) {
		conn_shut(victim != NULL ? victim : k);
		count(r, counter);
	}
	pthread_mutex_unlock(&r->conn_lock);
	*socket_context = k;
}

/* The connection's entry (NULL when it could not be tracked). */
static struct conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

static void
conn_request(struct trpt_receiver *r, struct conn *k, int in)
{
	if (k == NULL)
		return;
	pthread_mutex_lock(&r->conn_lock);
	k->in_request = in;
	if (!in)
		k->since_ns = now_ns();
	pthread_mutex_unlock(&r->conn_lock);
}

/* until = the realtime clock plus ns (under a second), for
 * pthread_cond_timedwait. */
static void
deadline_in(struct timespec *until, long ns)
{
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_nsec += ns;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

/*
 * Closes connections whose request head has not arrived within
 * header_timeout.  libmicrohttpd's connection timeout is an idle timer
 * that every byte restarts, so one byte every few seconds would hold a
 * connection (and a per-client slot) for ever.
 */
static void *
reaper_loop(void *arg)
{
	struct trpt_receiver *r = arg;
	struct timespec until;
	struct conn *k;
	int64_t limit = (int64_t)r->header_timeout * 1000000000, now;

	name_thread("trpt-reaper");
	pthread_mutex_lock(&r->conn_lock);
	while (!r->reaper_stop) {
		deadline_in(&until, 250 * 1000000L);
		pthread_cond_timedwait(&r->conn_cond, &r->conn_lock, &until);
		now = now_ns();
		for (k = r->conns; k != NULL; k = k->next)
			if (!k->closing && !k->in_request &&
			    now - k->since_ns > limit) {
				conn_shut(k);
				count(r, &r->stats.header_timeouts);
			}
	}
	pthread_mutex_unlock(&r->conn_lock);
	return NULL;
}

static uint32_t
hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/*
 * Token bucket per client: rate_per_minute tokens a minute up to
 * rate_burst.  A fixed table; a colliding address takes the slot over, so
 * memory stays bounded whatever the number of clients.  Returns the
 * seconds to wait, or 0 when the request may go ahead.
 */
static unsigned
rate_check(struct trpt_receiver *r, const char *addr)
{
	struct rate_slot *s;
	struct timespec ts;
	int64_t now_ms;
	double per_ms;
	unsigned wait = 0;

	if (r->rate_per_minute == 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	per_ms = r->rate_per_minute / 60000.0;
	pthread_mutex_lock(&r->rate_lock);
	s = &r->rate[hash_str(addr) % RATE_SLOTS];
	if (strcmp(s->addr, addr) != 0) {
		snprintf(s->addr, sizeof(s->addr), "%s", addr);
		s->tokens = r->rate_burst;
		s->last_ms = now_ms;
	}
	s->tokens += (double)(now_ms - s->last_ms) * per_ms;
	if (s->tokens > r->rate_burst)
		s->tokens = r->rate_burst;
	s->last_ms = now_ms;
	if (s->tokens >= 1.0)
		s->tokens -= 1.0;
	else
		wait = (unsigned)((1.0 - s->tokens) / per_ms / 1000.0) + 1;
	pthread_mutex_unlock(&r->rate_lock);
	return wait;
}

static enum MHD_Result
reply(struct trpt_receiver *r, struct MHD_Connection *c, unsigned status,
    const char *ctype, const char *body, size_t len, const char *hname,
    const char *hvalue)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(
	    len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (hname != NULL)
		MHD_add_response_header(resp, hname, hvalue);
	if (atomic_load(&r->draining))
		MHD_add_response_header(
		    resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
reply_text(struct trpt_receiver *r, struct MHD_Connection *c, unsigned status,
    const char *text)
{
	return reply(r, c, status, "text/plain; charset=utf-8", text,
	    strlen(text), NULL, NULL);
}

/* A text answer made once at start (a copy while draining, which adds
 * "Connection: close"). */
static enum MHD_Result
reply_static(struct trpt_receiver *r, struct MHD_Connection *c, unsigned status,
    struct MHD_Response *resp, const char *text)
{
	if (resp == NULL || atomic_load(&r->draining))
		return reply_text(r, c, status, text);
	return MHD_queue_response(c, status, resp);
}

static struct MHD_Response *
static_text(const char *text)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(
	    strlen(text), (void *)(uintptr_t)text, MHD_RESPMEM_PERSISTENT);
	if (resp != NULL &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		"text/plain; charset=utf-8") != MHD_YES) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	return resp;
}

static void
count(struct trpt_receiver *r, uint64_t *counter)
{
	pthread_mutex_lock(&r->stats_lock);
	(*counter)++;
	pthread_mutex_unlock(&r->stats_lock);
}

/* The media types a report may be posted as (RFC 8460 §5.3, §6). */
static int
media_type_ok(const char *ct)
{
	static const char *const ok[] = { "application/tlsrpt+gzip",
		"application/tlsrpt+json", "application/gzip",
		"application/json", "application/tlsrpt", "application/x-gzip",
		NULL };
	size_t n, i;

	if (ct == NULL)
		return 1; /* none given: the bytes decide */
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	for (i = 0; ok[i] != NULL; i++)
		if (strlen(ok[i]) == n && strncasecmp(ct, ok[i], n) == 0)
			return 1;
	return 0;
}

static int
is_report_path(const struct trpt_receiver *r, const char *url)
{
	size_t i;

	for (i = 0; i < r->npaths; i++)
		if (strcmp(url, r->paths[i]) == 0)
			return 1;
	return 0;
}

/* One line, printable ASCII only: it goes into a response body. */
static void
one_line(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = ' ';
}

/* Rejected parts listed in a 200 answer; the rest are counted. */
#define MAX_LISTED 16

/*
 * The answer to a body of which something was stored: 200, so that the
 * sender does not retry what is stored, with the parts that were not
 * listed one per line (they are kept in quarantine).
 */
static enum MHD_Result
reply_partial(struct trpt_receiver *r, struct MHD_Connection *c,
    const struct trpt_pipeline_result *res)
{
	char line[TRPT_ERR_MSG_LEN + 64];
	struct trpt_buf b;
	enum MHD_Result ret;
	size_t i, listed = 0;

	trpt_buf_init(&b, 64 * 1024);
	trpt_buf_appendf(&b, NULL,
	    "stored %" PRIu64 ", duplicates %" PRIu64 ", rejected %" PRIu64
	    "\n",
	    res->stored, res->duplicates, res->rejected);
	for (i = 0; i < res->nparts && listed < MAX_LISTED; i++) {
		const struct trpt_part_outcome *o = &res->parts[i];

		if (o->kind != TRPT_EV_REJECTED)
			continue;
		if (o->message > 0)
			snprintf(line, sizeof(line),
			    "rejected: message %d: part %d: %s", o->message,
			    o->part, o->reason);
		else
			snprintf(line, sizeof(line), "rejected: part %d: %s",
			    o->part, o->reason);
		one_line(line);
		trpt_buf_appendf(&b, NULL, "%s\n", line);
		listed++;
	}
	if (res->rejected > listed)
		trpt_buf_appendf(&b, NULL, "rejected: %" PRIu64 " more\n",
		    res->rejected - listed);
	ret = b.data != NULL
		  ? reply(r, c, MHD_HTTP_OK, "text/plain; charset=utf-8",
			b.data, b.len, NULL, NULL)
		  : reply_text(r, c, MHD_HTTP_OK, "stored\n");
	trpt_buf_free(&b);
	return ret;
}

/*
 * Who sent a POST, as stored with its reports: "ADDR, TLS1.3", "ADDR,
 * plain HTTP", or "ADDR via proxy PEER" when the address came from the
 * proxy's header.
 */
static void
client_record(const struct trpt_receiver *r, struct MHD_Connection *c,
    const struct request *rq, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci = NULL;
	const char *proto = NULL;

	if (r->cert != NULL) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_PROTOCOL);
		if (ci != NULL)
			proto = gnutls_protocol_get_name(
			    (gnutls_protocol_t)ci->protocol);
	}
	if (strcmp(rq->client, rq->peer) != 0)
		snprintf(out, size, "%s via proxy %s, %s", rq->client, rq->peer,
		    proto != NULL ? proto : "plain HTTP from it");
	else
		snprintf(out, size, "%s, %s", rq->client,
		    r->cert == NULL ? "plain HTTP"
		    : proto != NULL ? proto
				    : "TLS");
}

static enum MHD_Result
reply_unavailable(struct trpt_receiver *r, struct MHD_Connection *c)
{
	static const char body[] =
	    "cannot store the report now, try again later\n";

	return reply(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
	    "text/plain; charset=utf-8", body, sizeof(body) - 1,
	    MHD_HTTP_HEADER_RETRY_AFTER, "60");
}

/*
 * After each store: a failure is logged once per cause (a full disk or a
 * read-only file would otherwise fail every POST in silence), and every
 * failure but a busy database makes /healthz answer 503 until a store
 * succeeds again.
 */
static void
store_result(struct trpt_receiver *r, int rc, const struct trpt_err *err)
{
	char line[TRPT_ERR_MSG_LEN + 64];
	const char *cause;

	/* "report R from O: database D: what: why": the cause is the part
	 * from "database", the same for every report that fails alike. */
	cause = err != NULL ? strstr(err->msg, "database ") : NULL;
	if (cause == NULL)
		cause = err != NULL ? err->msg : "";
	pthread_mutex_lock(&r->store_lock);
	if (rc == TRPT_OK) {
		if (r->cause[0] != '\0' && r->log != NULL)
			r->log(r->log_arg, "serve: stores succeed again");
		r->cause[0] = '\0';
		r->failing = 0;
	} else {
		if (rc != TRPT_ETEMP)
			r->failing = 1;
		if (strcmp(r->cause, cause) != 0) {
			snprintf(r->cause, sizeof(r->cause), "%s", cause);
			snprintf(line, sizeof(line),
			    "serve: cannot store reports (answering 503): %s",
			    err->msg);
			if (r->log != NULL)
				r->log(r->log_arg, line);
		}
	}
	pthread_mutex_unlock(&r->store_lock);
}

static enum MHD_Result
serve_health(struct trpt_receiver *r, struct MHD_Connection *c)
{
	char msg[TRPT_ERR_MSG_LEN + 32];
	size_t len;
	int failing;

	pthread_mutex_lock(&r->store_lock);
	failing = r->failing;
	snprintf(msg, sizeof(msg) - 1, "cannot store reports: %s", r->cause);
	pthread_mutex_unlock(&r->store_lock);
	if (!failing)
		return reply_text(r, c, MHD_HTTP_OK, "ok\n");
	one_line(msg);
	len = strlen(msg);
	msg[len++] = '\n';
	return reply(r, c, MHD_HTTP_SERVICE_UNAVAILABLE,
	    "text/plain; charset=utf-8", msg, len, NULL, NULL);
}

/* Most POSTs in one transaction: bounds what one failed commit fails. */
#define GROUP_MAX 64

/*
 * Takes up to max queued POSTs at once, in order, linked through q_next
 * (NULL when none): one lock for a group rather than one a POST, since the
 * libmicrohttpd threads queue under the same lock.
 */
static struct request *
dequeue(struct trpt_receiver *r, unsigned max)
{
	struct request *head, *last;
	unsigned n;

	pthread_mutex_lock(&r->q_lock);
	head = r->q_head;
	if (head != NULL) {
		last = head;
		for (n = 1; n < max && last->q_next != NULL; n++)
			last = last->q_next;
		r->q_head = last->q_next;
		if (r->q_head == NULL)
			r->q_tail = NULL;
		last->q_next = NULL;
		r->q_len -= n;
	}
	pthread_mutex_unlock(&r->q_lock);
	return head;
}

/* Puts POSTs taken but not stored back at the head of the queue, in
 * their order: they make the next group. */
static void
requeue(struct trpt_receiver *r, struct request *list)
{
	struct request *last;
	unsigned n = 1;

	if (list == NULL)
		return;
	for (last = list; last->q_next != NULL; last = last->q_next)
		n++;
	pthread_mutex_lock(&r->q_lock);
	r->q_len += n;
	last->q_next = r->q_head;
	r->q_head = list;
	if (r->q_tail == NULL)
		r->q_tail = last;
	pthread_mutex_unlock(&r->q_lock);
}

/* Sets a POST's outcome; it is answered once its connection resumes. */
static void
finish(struct request *rq, int rc, const struct trpt_err *err,
    struct request **done)
{
	rq->rc = rc;
	if (rc != TRPT_OK && err != NULL)
		rq->err = *err;
	trpt_pipeline_prepared_free(&rq->prep);
	rq->q_next = *done;
	*done = rq;
}

/*
 * On PostgreSQL, a batch in the order of its inputs' bytes
 * (trpt_pipeline_prepared_cmp), linked through q_next.  Two receivers on
 * one database may store the same inputs at once (a sender retrying
 * against another one, or posting to both); in arrival order their
 * groups could take the same rows (raw_inputs' digest, the reports' key)
 * in opposite orders and deadlock, failing both groups with 503
 * (tests/integration/test_pg_concurrency.py; more likely since groups
 * are gathered).  In one order, one waits for the other instead.  SQLite
 * has one writer at a time: arrival order, which decides which of two
 * copies stored in one group is the first.
 */
static struct request *
pg_order(struct trpt_db *db, struct request *batch)
{
	struct request *sorted = NULL, *rq, *next, **at;

	if (trpt_sql_dialect(db) != TRPT_SQL_PG)
		return batch;
	for (rq = batch; rq != NULL; rq = next) {
		next = rq->q_next;
		for (at = &sorted;
		     *at != NULL &&
		     trpt_pipeline_prepared_cmp((*at)->prep, rq->prep) <= 0;
		     at = &(*at)->q_next)
			;
		rq->q_next = *at;
		*at = rq;
	}
	return sorted;
}

/*
 * PostgreSQL: runs a group whose transaction failed on a conflict with
 * another writer's (a deadlock, 40P01, or a serialization failure, 40001:
 * trpt_store_retryable) once more, in a new transaction: its members
 * (linked through q_next, prepared inputs kept), in the order of their
 * bytes as one list (pg_order sorted each batch dequeued, not the group),
 * so that the retry takes shared rows in the order another receiver's
 * batches take them.  The failed transaction is rolled back: nothing of
 * it is kept, and the retry stores each member as if it came first.
 * Any failure fails the whole group (every member gets it: 503).
 */
static int
group_again(
    struct trpt_receiver *r, struct request **members, struct trpt_err *err)
{
	struct trpt_db *db = r->pipe->db;
	struct request *rq;
	int rc;

	*members = pg_order(db, *members);
	if ((rc = trpt_store_begin(db, err)) != TRPT_OK)
		return rc;
	for (rq = *members; rq != NULL; rq = rq->q_next) {
		/* The first try's counts and outcomes were rolled back. */
		trpt_pipeline_result_free(&rq->res);
		rc = trpt_pipeline_store_prepared_keep(
		    r->pipe, rq->prep, &rq->res, &rq->err);
		if (rc != TRPT_OK) {
			*err = rq->err;
			if (trpt_db_in_transaction(db))
				trpt_store_rollback(db);
			return rc;
		}
	}
	if ((rc = trpt_store_commit(db, err)) != TRPT_OK)
		trpt_store_rollback(db);
	return rc;
}

/* Longest a group waits for more POSTs (gather()). */
#define GATHER_NS (300 * 1000)

/*
 * Under q_lock: whether the open group should wait for more POSTs: it
 * has fewer (stored and queued) than the last group had (under load,
 * those POSTs' senders are sending their next ones), or some whose bodies
 * are in are being prepared (parsed, inflated, validated on
 * libmicrohttpd's threads) or suspended to be queued.
 */
static int
gather_more(struct trpt_receiver *r)
{
	unsigned have = r->q_len + r->g_taken;

	if (r->q_stop || have >= GROUP_MAX)
		return 0;
	return have < r->last_group ||
	       atomic_load(&r->q_preparing) + r->q_entering > 0;
}

/*
 * Under q_lock, in an open group that has stored `taken` POSTs: waits
 * until `until` while nothing is queued and gather_more, so that more
 * POSTs share the group's commit.  Most of a commit's log is the same
 * whatever the POSTs in it (the 9 rollup tables, data_version, page 1,
 * the right edges of the tables and indexes: 11 of the ~43 pages of a
 * group of 14 POSTs), so the log's bytes a POST and the committer's CPU a
 * POST fall as groups grow (docs/PERFORMANCE.md, "Stop 25: serve, the
 * committer").  The group stores what comes while it waits (run_group),
 * so that only the last POSTs' stores, the child rows, the rollups and
 * the commit are left once the last one is in: at 16 connections 13,703
 * against 12,750 stored/s (medians of 8 alternating rounds, quiet; stop
 * 28 in docs/PERFORMANCE.md), where waiting before the transaction began
 * stored them all after the last came.  Woken by gathered() once 4 are
 * queued or the group has what it waits for.  Nothing is answered before
 * its commit, as before: a POST only waits longer for it.  A lone sender
 * never waits (its group had one POST, and it is stored); a POST still
 * being uploaded is not waited for.  The bound keeps a sender that does
 * not come back, or a stalled preparation, from holding the group more
 * than 0.3 ms; stop wakes it (committer_stop signals q_cond).
 */
static void
gather(struct trpt_receiver *r, unsigned taken, const struct timespec *until)
{
	r->g_taken = taken;
	r->q_gathering = 1;
	while (r->q_head == NULL && gather_more(r))
		if (pthread_cond_timedwait(&r->q_cond, &r->q_lock, until) != 0)
			break;
	r->q_gathering = 0;
	r->g_taken = 0;
}

/* Queued POSTs that wake a gathering group before it has all it waits
 * for: stored while the rest come. */
#define GATHER_WAKE 4

/* Under q_lock, after a POST was queued or left preparation: wakes a
 * gathering committer once it has what it waits for, or enough to store
 * meanwhile. */
static void
gathered(struct trpt_receiver *r)
{
	if (r->q_gathering && (r->q_len >= GATHER_WAKE || !gather_more(r)))
		pthread_cond_signal(&r->q_cond);
}

/*
 * One group: opens a transaction, stores what is queued into it (what
 * comes meanwhile and while it gathers too, up to GROUP_MAX) and
 * commits.  Every POST stored gets the commit's result.  A store that
 * rolls the transaction back (an I/O error, a full disk) fails every POST
 * stored so far; a POST refused for itself without touching the
 * transaction fails alone.  On
 * PostgreSQL, a transaction that failed on a deadlock or a serialization
 * failure is run once more before its POSTs get 503 (group_again).
 * Returns the POSTs that have their outcome, linked through q_next.
 */
static struct request *
run_group(struct trpt_receiver *r)
{
	struct trpt_db *db = r->pipe->db;
	struct request *members = NULL, **tail = &members, *done = NULL;
	struct request *batch, *rq, *next;
	struct trpt_err err;
	struct timespec until;
	unsigned n = 0;
	int rc, lost = 0;

	pthread_mutex_lock(&r->pipe_lock);
	rc = trpt_store_begin(db, &err);
	if (rc != TRPT_OK) {
		/* No transaction (the database is locked past busy_timeout,
		 * or failing): every POST queued meanwhile waited as long,
		 * and gets the same 503. */
		pthread_mutex_unlock(&r->pipe_lock);
		while ((batch = dequeue(r, UINT_MAX)) != NULL)
			for (rq = batch; rq != NULL; rq = next) {
				next = rq->q_next;
				finish(rq, rc, &err, &done);
			}
		return done;
	}
	r->group_open = 1;
	deadline_in(&until, GATHER_NS);
store:
	while (!lost && n < GROUP_MAX &&
	       (batch = dequeue(r, GROUP_MAX - n)) != NULL) {
		batch = pg_order(db, batch);
		for (rq = batch; rq != NULL; rq = next) {
			next = rq->q_next;
			rq->q_next = NULL;
			memset(&rq->res, 0, sizeof(rq->res));
			rc = trpt_pipeline_store_prepared_keep(
			    r->pipe, rq->prep, &rq->res, &rq->err);
			if (rc != TRPT_OK && trpt_db_in_transaction(db)) {
				/* Refused for itself: the others go on. */
				finish(rq, rc, &rq->err, &done);
				continue;
			}
			/* Members keep their order, for group_again. */
			*tail = rq;
			tail = &rq->q_next;
			n++;
			if (rc != TRPT_OK) {
				/* Rolled back: the group so far is lost; the
				 * rest of the batch makes the next group. */
				err = rq->err;
				requeue(r, next);
				lost = 1;
				break;
			}
		}
	}
	if (!lost && n < GROUP_MAX) {
		int more;

		/* What comes while the group gathers is stored before its
		 * commit (gather()). */
		pthread_mutex_lock(&r->q_lock);
		gather(r, n, &until);
		more = r->q_head != NULL;
		pthread_mutex_unlock(&r->q_lock);
		if (more)
			goto store;
	}
	if (!lost) {
		rc = trpt_store_commit(db, &err);
		if (rc != TRPT_OK)
			trpt_store_rollback(db);
	}
	if (rc != TRPT_OK && trpt_store_retryable(db))
		rc = group_again(r, &members, &err);
	if (rc == TRPT_OK)
		count(r, &r->stats.commits);
	r->group_open = 0;
	pthread_cond_broadcast(&r->group_cond);
	pthread_mutex_unlock(&r->pipe_lock);
	for (rq = members; rq != NULL; rq = next) {
		next = rq->q_next;
		finish(rq, rc, &err, &done);
	}
	return done;
}

/* Most libmicrohttpd threads a group's resumes are shared between. */
#define RESUME_THREADS 64

/*
 * Resumes the connections of POSTs that have their outcome (linked
 * through q_next).  Every MHD_resume_connection writes to the event
 * descriptor of the connection's thread, a system call, and only the
 * first one a thread needs wakes it: so the committer resumes one POST
 * a thread and hands it the others of that thread (chain), which that
 * thread resumes itself when it answers the first (resume_chain), beside
 * the other threads instead of on the committer, the serial part.
 * Measured (16 connections, 4 threads, ~8 POSTs a commit, 20,000 POSTs,
 * 5 alternating rounds at load 13-14): the server's CPU a POST 105-127
 * -> 99-114 us (medians 120 -> 108); the committer's writes 1.00 -> 0.34
 * a POST and context switches 1.3 -> 0.84 a POST (stop 22, load 5-10).
 * The POSTs handed over are answered one poll round later.
 * The outcomes and chains are written before the first resume
 * (libmicrohttpd's lock orders them before the thread reads them); a POST
 * may be freed once its connection is resumed.  While stopping, every
 * connection is resumed here (libmicrohttpd must not stop with one
 * suspended; trpt_receiver_free waits for the chains handed out).
 */
static void
resume(struct trpt_receiver *r, struct request *done)
{
	struct request *lead[RESUME_THREADS], *rq, *next;
	size_t nlead = 0, i;
	unsigned handed = 0;
	int stopping;

	pthread_mutex_lock(&r->q_lock);
	stopping = r->q_stop;
	pthread_mutex_unlock(&r->q_lock);
	for (rq = done; rq != NULL; rq = next) {
		next = rq->q_next;
		rq->queued = 2;
		rq->chain = NULL;
		for (i = 0; !stopping && i < nlead; i++)
			if (pthread_equal(lead[i]->thread, rq->thread))
				break;
		if (!stopping && i < nlead) {
			rq->chain = lead[i]->chain;
			lead[i]->chain = rq;
			handed++;
		} else if (nlead < RESUME_THREADS)
			lead[nlead++] = rq;
		else
			MHD_resume_connection(rq->conn);
	}
	if (handed > 0)
		atomic_fetch_add(&r->delegated, handed);
	for (i = 0; i < nlead; i++)
		MHD_resume_connection(lead[i]->conn);
}

/* On the connection's own thread: resumes the POSTs chained to rq. */
static void
resume_chain(struct trpt_receiver *r, struct request *rq)
{
	struct request *x, *next;
	unsigned n = 0;

	for (x = rq->chain; x != NULL; x = next) {
		next = x->chain;
		x->chain = NULL;
		MHD_resume_connection(x->conn);
		n++;
	}
	rq->chain = NULL;
	if (n > 0)
		atomic_fetch_sub(&r->delegated, n);
}

/*
 * The committer thread: a group at a time while anything is queued.  At
 * stop it empties the queue first, so that no connection stays
 * suspended (libmicrohttpd must not be stopped with one).
 */
static void *
committer_loop(void *arg)
{
	struct trpt_receiver *r = arg;
	struct request *done, *rq;
	unsigned n;

	name_thread("trpt-committer");
	/* SQLite's page cache and the log's buffer grow on this thread: its
	 * arena is grown once, as on ingest's store thread (schema/db.c). */
	trpt_db_thread_arena();
	pthread_mutex_lock(&r->q_lock);
	for (;;) {
		while (r->q_head == NULL && (!r->q_stop || r->q_entering > 0)) {
			r->q_idle = 1;
			pthread_cond_wait(&r->q_cond, &r->q_lock);
			r->q_idle = 0;
		}
		if (r->q_head == NULL)
			break;
		pthread_mutex_unlock(&r->q_lock);
		done = run_group(r);
		for (rq = done, n = 0; rq != NULL; rq = rq->q_next)
			n++;
		/* Outside q_lock: the threads queue POSTs meanwhile; a POST
		 * may be freed once resumed, so it is counted before. */
		resume(r, done);
		pthread_mutex_lock(&r->q_lock);
		r->last_group = n;
	}
	pthread_mutex_unlock(&r->q_lock);
	return NULL;
}

static void
inflater_release(void *z)
{
	struct trpt_inflater *x = z;

	trpt_inflater_free(&x);
}

/*
 * The calling libmicrohttpd thread's gzip decoder, made at its first
 * gzip POST and kept until the thread ends (NULL when it cannot be had:
 * each POST then has one of its own).  zlib's state and window were
 * allocated and freed for every gzip POST, and so was the inflated text;
 * kept, they are reset (see ingest/inflate.h).
 */
static struct trpt_inflater *
thread_inflater(struct trpt_receiver *r)
{
	struct trpt_inflater *z;

	if (!r->zkey_ok)
		return NULL;
	z = pthread_getspecific(r->zkey);
	if (z == NULL && trpt_inflater_new(&z, NULL) == TRPT_OK &&
	    pthread_setspecific(r->zkey, z) != 0)
		trpt_inflater_free(&z);
	return z;
}

/*
 * The final call of a POST whose body is in: prepares it here, on the
 * connection's thread, then hands it to the committer and suspends the
 * connection until its group is committed.
 */
static enum MHD_Result
process_body(
    struct trpt_receiver *r, struct MHD_Connection *c, struct request *rq)
{
	struct trpt_origin origin;
	char source[ADDR_LEN + 80];
	char client[3 * ADDR_LEN + 64];
	int rc;

	snprintf(source, sizeof(source), "%s POST %.60s", rq->client, rq->path);
	memset(&origin, 0, sizeof(origin));
	origin.kind = "https-post";
	origin.source = source;
	client_record(r, c, rq, client, sizeof(client));
	origin.client = client;
	origin.received = (int64_t)time(NULL);

	/* Read, inflated and validated beside the other POSTs; stored by
	 * the committer with the POSTs queued meanwhile (a gathering group
	 * waits for it: gather()). */
	atomic_fetch_add(&r->q_preparing, 1);
	rc = trpt_pipeline_prepare_take(r->pipe, thread_inflater(r),
	    rq->body.data, rq->body.len, &origin, &rq->prep, &rq->err);
	trpt_buf_init(&rq->body, r->max_body); /* taken */
	pthread_mutex_lock(&r->q_lock);
	atomic_fetch_sub(&r->q_preparing, 1);
	if (rc != TRPT_OK) {
		gathered(r);
		pthread_mutex_unlock(&r->q_lock);
		rq->rc = rc;
		rq->queued = 2;
		return MHD_YES; /* answered at the next call */
	}
	if (r->q_stop) {
		gathered(r);
		pthread_mutex_unlock(&r->q_lock);
		trpt_pipeline_prepared_free(&rq->prep);
		rq->rc =
		    trpt_err_set(&rq->err, TRPT_ETEMP, "serve: shutting down");
		rq->queued = 2;
		return MHD_YES;
	}
	r->q_entering++; /* the committer does not stop before it is in */
	pthread_mutex_unlock(&r->q_lock);
	/* Suspended before the committer can see it, so that its resume
	 * always comes after; outside q_lock, which the other threads and
	 * the committer want meanwhile (a suspension is a system call, and
	 * holding the lock over it made 1.5 futex calls a POST instead of
	 * 0.7: strace -c, 16 connections). */
	MHD_suspend_connection(c);
	rq->conn = c;
	rq->thread = pthread_self();
	rq->queued = 1;
	pthread_mutex_lock(&r->q_lock);
	r->q_entering--;
	if (r->q_tail != NULL)
		r->q_tail->q_next = rq;
	else
		r->q_head = rq;
	r->q_tail = rq;
	r->q_len++;
	if (r->q_idle)
		pthread_cond_signal(&r->q_cond);
	else
		gathered(r);
	pthread_mutex_unlock(&r->q_lock);
	return MHD_YES;
}

/* The answer to a POST whose outcome is known (its group committed). */
static enum MHD_Result
answer(struct trpt_receiver *r, struct MHD_Connection *c, struct request *rq)
{
	struct trpt_pipeline_result *res = &rq->res;
	char msg[TRPT_ERR_MSG_LEN + 32];
	enum MHD_Result ret;
	size_t len;

	store_result(r, rq->rc, &rq->err);
	if (rq->rc != TRPT_OK) {
		count(r, &r->stats.unavailable);
		return reply_unavailable(r, c);
	}
	if (res->stored > 0) {
		pthread_mutex_lock(&r->stats_lock);
		r->stats.stored++;
		r->stats.last_stored = (int64_t)time(NULL);
		pthread_mutex_unlock(&r->stats_lock);
	} else if (res->duplicates > 0)
		count(r, &r->stats.duplicates);
	if (res->stored + res->duplicates > 0) {
		/* Something is stored: a 2xx, or the sender would retry
		 * (and store it again) forever (issue 9 item 11). */
		if (res->rejected > 0)
			ret = reply_partial(r, c, res);
		else if (res->stored > 0)
			ret = reply_static(
			    r, c, MHD_HTTP_OK, r->resp_stored, "stored\n");
		else
			ret = reply_static(r, c, MHD_HTTP_OK, r->resp_duplicate,
			    "duplicate\n");
		return ret;
	}
	snprintf(msg, sizeof(msg), "rejected: %s",
	    res->first_reason[0] != '\0' ? res->first_reason
					 : "not a TLS report");
	count(r, &r->stats.rejected);
	one_line(msg);
	len = strlen(msg);
	msg[len++] = '\n';
	return reply(r, c, MHD_HTTP_BAD_REQUEST, "text/plain; charset=utf-8",
	    msg, len, NULL, NULL);
}

static void
metric(struct trpt_buf *b, const char *name, const char *type, const char *help)
{
	trpt_buf_appendf(
	    b, NULL, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* /metrics grows to this at most (with the per-domain series). */
#define METRICS_MAX (32u * 1024 * 1024)

static enum MHD_Result
serve_metrics(struct trpt_receiver *r, struct MHD_Connection *c)
{
	struct trpt_receiver_stats s;
	uint64_t hist[NBUCKETS + 1], hcount, cum = 0;
	double hsum;
	struct trpt_buf b;
	enum MHD_Result ret;
	size_t i;

	pthread_mutex_lock(&r->stats_lock);
	s = r->stats;
	memcpy(hist, r->hist, sizeof(hist));
	hcount = r->hist_count;
	hsum = r->hist_sum;
	pthread_mutex_unlock(&r->stats_lock);

	trpt_buf_init(&b, METRICS_MAX);
	metric(&b, "tlsrpt_http_reports_total", "counter",
	    "Reports received by POST, by result.");
	trpt_buf_appendf(&b, NULL,
	    "tlsrpt_http_reports_total{result=\"stored\"} %llu\n"
	    "tlsrpt_http_reports_total{result=\"duplicate\"} %llu\n"
	    "tlsrpt_http_reports_total{result=\"rejected\"} %llu\n",
	    (unsigned long long)s.stored, (unsigned long long)s.duplicates,
	    (unsigned long long)s.rejected);
	metric(&b, "tlsrpt_http_refused_total", "counter",
	    "POST requests answered with an error status, by reason.");
	trpt_buf_appendf(&b, NULL,
	    "tlsrpt_http_refused_total{reason=\"invalid_report\"} %llu\n"
	    "tlsrpt_http_refused_total{reason=\"too_large\"} %llu\n"
	    "tlsrpt_http_refused_total{reason=\"unsupported_media_type\"} "
	    "%llu\n"
	    "tlsrpt_http_refused_total{reason=\"method_not_allowed\"} %llu\n"
	    "tlsrpt_http_refused_total{reason=\"not_found\"} %llu\n"
	    "tlsrpt_http_refused_total{reason=\"rate_limited\"} %llu\n"
	    "tlsrpt_http_refused_total{reason=\"forbidden\"} %llu\n"
	    "tlsrpt_http_refused_total{reason=\"unavailable\"} %llu\n",
	    (unsigned long long)s.rejected, (unsigned long long)s.too_large,
	    (unsigned long long)s.bad_media_type,
	    (unsigned long long)s.bad_method, (unsigned long long)s.not_found,
	    (unsigned long long)s.rate_limited, (unsigned long long)s.forbidden,
	    (unsigned long long)s.unavailable);
	metric(&b, "tlsrpt_http_connections_closed_total", "counter",
	    "Connections closed by the server before a request, by reason.");
	trpt_buf_appendf(&b, NULL,
	    "tlsrpt_http_connections_closed_total{reason=\"header_timeout\"} "
	    "%llu\n"
	    "tlsrpt_http_connections_closed_total{reason=\"connection_limit\"} "
	    "%llu\n",
	    (unsigned long long)s.header_timeouts,
	    (unsigned long long)s.client_limit);
	metric(&b, "tlsrpt_http_received_bytes_total", "counter",
	    "Bytes of POST bodies received.");
	trpt_buf_appendf(&b, NULL, "tlsrpt_http_received_bytes_total %llu\n",
	    (unsigned long long)s.bytes);
	metric(&b, "tlsrpt_http_commits_total", "counter",
	    "Transactions committed for POSTs (POSTs that arrive together "
	    "share one).");
	trpt_buf_appendf(&b, NULL, "tlsrpt_http_commits_total %llu\n",
	    (unsigned long long)s.commits);
	metric(&b, "tlsrpt_http_requests_in_flight", "gauge",
	    "Requests being received or processed.");
	trpt_buf_appendf(
	    &b, NULL, "tlsrpt_http_requests_in_flight %u\n", s.in_flight);
	metric(&b, "tlsrpt_http_last_stored_timestamp_seconds", "gauge",
	    "Time of the last stored report (0: none yet).");
	trpt_buf_appendf(&b, NULL,
	    "tlsrpt_http_last_stored_timestamp_seconds %lld\n",
	    (long long)s.last_stored);
	metric(&b, "tlsrpt_http_request_duration_seconds", "histogram",
	    "Time from the request line to the answer of POSTs to report "
	    "paths.");
	for (i = 0; i < NBUCKETS; i++) {
		cum += hist[i];
		trpt_buf_appendf(&b, NULL,
		    "tlsrpt_http_request_duration_seconds_bucket{le=\"%g\"} "
		    "%llu\n",
		    bucket_le[i], (unsigned long long)cum);
	}
	cum += hist[NBUCKETS];
	trpt_buf_appendf(&b, NULL,
	    "tlsrpt_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "tlsrpt_http_request_duration_seconds_sum %.6f\n"
	    "tlsrpt_http_request_duration_seconds_count %llu\n",
	    (unsigned long long)cum, hsum, (unsigned long long)hcount);
	if (r->metrics_extra != NULL)
		r->metrics_extra(r->metrics_arg, &b);
	ret = b.data == NULL ? MHD_NO
			     : reply(r, c, MHD_HTTP_OK,
				   "text/plain; version=0.0.4; charset=utf-8",
				   b.data, b.len, NULL, NULL);
	trpt_buf_free(&b);
	return ret;
}

/* "ADDR" or "ADDR/BITS" into n; -1 when it is neither. */
static int
parse_net(const char *s, struct net *n)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned long bits;
	char *end;

	if (alen == 0 || alen >= sizeof(addr))
		return -1;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, addr, n->addr) == 1) {
		n->family = AF_INET;
		n->bits = 32;
	} else if (inet_pton(AF_INET6, addr, n->addr) == 1) {
		n->family = AF_INET6;
		n->bits = 128;
	} else
		return -1;
	if (slash != NULL) {
		if (!isdigit((unsigned char)slash[1]))
			return -1;
		bits = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || bits > n->bits)
			return -1;
		n->bits = (unsigned)bits;
	}
	return 0;
}

int
trpt_receiver_allow_check(const char *cidr, struct trpt_err *err)
{
	struct net n;

	if (cidr == NULL || parse_net(cidr, &n) != 0)
		return trpt_err_set(err, TRPT_EINVAL,
		    "serve: allow = %s: expected an address or a network "
		    "(192.0.2.0/24, 2001:db8::/32)",
		    cidr != NULL ? cidr : "");
	return TRPT_OK;
}

/* Whether the client address text is in one of the allowed networks. */
static int
allowed(const struct trpt_receiver *r, const char *client)
{
	unsigned char a[16];
	int family;
	size_t i;
	unsigned b, full;

	if (r->nallow == 0)
		return 1;
	if (inet_pton(AF_INET, client, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, client, a) == 1)
		family = AF_INET6;
	else
		return 0;
	for (i = 0; i < r->nallow; i++) {
		const struct net *n = &r->allow[i];

		if (n->family != family)
			continue;
		b = n->bits;
		full = b / 8;
		if (memcmp(a, n->addr, full) != 0)
			continue;
		if (b % 8 != 0 &&
		    ((a[full] ^ n->addr[full]) & (0xff00u >> (b % 8)) & 0xff))
			continue;
		return 1;
	}
	return 0;
}

/* The first call for a request: headers are in, no body read yet. */
static enum MHD_Result
start_request(struct trpt_receiver *r, struct MHD_Connection *c,
    const char *url, const char *method, struct request *rq)
{
	const char *cl;
	char retry[16];
	unsigned wait;

	if (!is_report_path(r, url)) {
		if (strcmp(url, "/healthz") == 0 &&
		    (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0))
			return serve_health(r, c);
		if (strcmp(url, "/metrics") == 0 &&
		    (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0))
			return serve_metrics(r, c);
		count(r, &r->stats.not_found);
		return reply_text(r, c, MHD_HTTP_NOT_FOUND, "not found\n");
	}
	if (strcmp(method, "POST") != 0) {
		count(r, &r->stats.bad_method);
		return reply(r, c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "text/plain; charset=utf-8",
		    "method not allowed: POST a report\n", 34,
		    MHD_HTTP_HEADER_ALLOW, "POST");
	}
	rq->is_post = 1;
	if (!allowed(r, rq->client)) {
		char msg[ADDR_LEN + 64];

		count(r, &r->stats.forbidden);
		snprintf(msg, sizeof(msg),
		    "forbidden: %s may not POST reports here\n", rq->client);
		return reply_text(r, c, MHD_HTTP_FORBIDDEN, msg);
	}
	wait = rate_check(r, rq->client);
	if (wait > 0) {
		count(r, &r->stats.rate_limited);
		snprintf(retry, sizeof(retry), "%u", wait);
		return reply(r, c, MHD_HTTP_TOO_MANY_REQUESTS,
		    "text/plain; charset=utf-8", "too many requests\n", 18,
		    MHD_HTTP_HEADER_RETRY_AFTER, retry);
	}
	if (!media_type_ok(MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		count(r, &r->stats.bad_media_type);
		return reply_text(r, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    "unsupported media type: send application/tlsrpt+gzip or "
		    "application/tlsrpt+json\n");
	}
	cl = MHD_lookup_connection_value(
	    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		char *endp;
		unsigned long long n;

		errno = 0;
		n = strtoull(cl, &endp, 10);
		if (errno != 0 || n > r->max_body) {
			char msg[96];

			count(r, &r->stats.too_large);
			snprintf(msg, sizeof(msg),
			    "report too large: the limit is %zu bytes\n",
			    r->max_body);
			return reply_text(
			    r, c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
		}
	}
	trpt_buf_init(&rq->body, r->max_body);
	return MHD_YES;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size,
    void **con_cls)
{
	struct trpt_receiver *r = cls;
	struct request *rq = *con_cls;
	struct conn *k, untracked;

	(void)version;
	if (rq == NULL) {
		rq = calloc(1, sizeof(*rq));
		if (rq == NULL)
			return MHD_NO;
		rq->start_ns = now_ns();
		rq->path = url;
		k = conn_of(c);
		conn_request(r, k, 1);
		if (k == NULL) {
			memset(&untracked, 0, sizeof(untracked));
			peer_address(c, untracked.addr, &untracked.loopback);
			k = &untracked;
		}
		client_address(r, c, k, rq->client, rq->peer);
		*con_cls = rq;
		pthread_mutex_lock(&r->stats_lock);
		r->stats.in_flight++;
		pthread_mutex_unlock(&r->stats_lock);
		/* Headers are in, no body read yet: refuse early or go on. */
		return start_request(r, c, url, method, rq);
	}
	if (rq->queued == 2) { /* its group committed, or it failed alone */
		resume_chain(r, rq);
		return answer(r, c, rq);
	}
	if (rq->queued == 1) /* not expected: suspended until done */
		return MHD_YES;
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		pthread_mutex_lock(&r->stats_lock);
		r->stats.bytes += n;
		pthread_mutex_unlock(&r->stats_lock);
		if (r->request_timeout > 0 &&
		    now_ns() - rq->start_ns >
			(int64_t)r->request_timeout * 1000000000) {
			/* A body trickling in: drop the connection. */
			return MHD_NO;
		}
		if (rq->too_large)
			return MHD_NO;
		if (trpt_buf_append(&rq->body, upload_data, n, NULL) !=
		    TRPT_OK) {
			/* A chunked body (or one longer than announced) past
			 * the cap.  libmicrohttpd cannot answer in the middle
			 * of a body, and reading the rest could take forever:
			 * drop the connection (the sender retries later). */
			rq->too_large = 1;
			count(r, &r->stats.too_large);
			trpt_buf_free(&rq->body);
			return MHD_NO;
		}
		return MHD_YES;
	}
	if (rq->too_large)
		return MHD_NO;
	return process_body(r, c, rq);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct trpt_receiver *r = cls;
	struct request *rq = *con_cls;
	double secs;
	size_t i;

	(void)toe;
	conn_request(r, conn_of(c), 0);
	if (rq == NULL)
		return;
	/* Ended without its answer (the peer went away): the POSTs it was
	 * to resume are resumed all the same. */
	resume_chain(r, rq);
	secs = (double)(now_ns() - rq->start_ns) / 1e9;
	pthread_mutex_lock(&r->stats_lock);
	r->stats.in_flight--;
	if (rq->is_post) {
		for (i = 0; i < NBUCKETS && secs > bucket_le[i]; i++)
			;
		r->hist[i]++;
		r->hist_count++;
		r->hist_sum += secs;
	}
	pthread_mutex_unlock(&r->stats_lock);
	trpt_buf_free(&rq->body);
	trpt_pipeline_prepared_free(&rq->prep);
	trpt_pipeline_result_free(&rq->res);
	free(rq);
	*con_cls = NULL;
}

/* Loads the pair as libmicrohttpd will, for a message that says why. */
static int
check_tls(const char *cert, const char *key, struct trpt_err *err)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t c, k;
	int ret;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	c.data = (unsigned char *)(uintptr_t)cert;
	c.size = (unsigned)strlen(cert);
	k.data = (unsigned char *)(uintptr_t)key;
	k.size = (unsigned)strlen(key);
	ret = gnutls_certificate_set_x509_key_mem(
	    cred, &c, &k, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (ret < 0)
		return trpt_err_set(err, TRPT_EINVAL,
		    "serve: tls_cert and tls_key cannot be used: %s",
		    ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE
			? "no PEM certificate or private key in them"
			: gnutls_strerror(ret));
	return TRPT_OK;
}

/*
 * The listening socket, bound as libmicrohttpd would bind it (the address
 * reused at once after a restart, an IPv6 one for IPv6 only).
 */
static int
listen_socket(const char *spec, const struct sockaddr_storage *ss,
    socklen_t sslen, int *out, struct trpt_err *err)
{
	int fd, on = 1, e;

	fd = socket(
	    ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return trpt_err_set(err, TRPT_EIO,
		    "serve: cannot listen on %s: %s", spec, strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    (ss->ss_family == AF_INET6 &&
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) !=
		    0) ||
	    bind(fd, (const struct sockaddr *)ss, sslen) != 0 ||
	    listen(fd, SOMAXCONN) != 0) {
		e = errno;
		close(fd);
		return trpt_err_set(err, TRPT_EIO,
		    "serve: cannot listen on %s: %s", spec, strerror(e));
	}
	*out = fd;
	return TRPT_OK;
}

/* The port the listening socket is bound to. */
static unsigned
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(
		    ((const struct sockaddr_in *)(const void *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)&ss)
				 ->sin6_port);
	return 0;
}

/*
 * Accepts the connections and hands each to libmicrohttpd, whose pool
 * puts it on the thread its descriptor number picks (modulo the pool's
 * size, then the next with room): round robin for descriptors opened one
 * after the other.  When libmicrohttpd's threads all poll the listening
 * socket, whichever wakes first takes the connection, and at 16 kept-alive
 * connections one thread often held 8-12 of them and prepared and
 * answered their POSTs one after the other while the other core idled
 * (per-thread CPU a POST 58/0/0/0 or 0/29/19/24 us; now 15/15/15/15).
 * Every idle thread also woke for each new connection and all but one
 * found nothing to accept: with a new connection a POST (most senders),
 * libmicrohttpd's threads 104 -> 88 us a POST and this one 14-17 us, the
 * rate x1.18 (docs/PERFORMANCE.md, "Stop 27: serve, the answer path").
 * Out of descriptors (or memory), the connection waits in the backlog and
 * the thread pauses 10 ms before trying again rather than spinning, as
 * libmicrohttpd stops accepting at its limit.
 */
static void *
acceptor_loop(void *arg)
{
	struct trpt_receiver *r = arg;
	struct pollfd pfd[2];
	struct sockaddr_storage sa;
	struct timespec pause = { 0, 10 * 1000000 };
	socklen_t len;
	int fd;

	name_thread("trpt-accept");
	pfd[0].fd = r->lfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = r->wake[0];
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno != EINTR)
				nanosleep(&pause, NULL);
			continue;
		}
		if (pfd[1].revents != 0)
			break;
		for (;;) {
			len = sizeof(sa);
			fd = accept(r->lfd, (struct sockaddr *)&sa, &len);
			if (fd < 0)
				break;
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
			/* Closes fd when it cannot take it (at its limit). */
			(void)MHD_add_connection(
			    r->mhd, fd, (struct sockaddr *)&sa, len);
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM)
			nanosleep(&pause, NULL);
	}
	return NULL;
}

/* Stops accepting: the acceptor ends and the listening socket closes. */
static void
acceptor_stop(struct trpt_receiver *r)
{
	char one = 1;

	if (r->acceptor_running) {
		while (write(r->wake[1], &one, 1) < 0 && errno == EINTR)
			;
		pthread_join(r->acceptor, NULL);
		r->acceptor_running = 0;
	}
	if (r->lfd >= 0)
		close(r->lfd);
	r->lfd = -1;
}

/* Stops queueing (new POSTs get 503), lets the committer store what is
 * queued and waits for it. */
static void
committer_stop(struct trpt_receiver *r)
{
	if (!r->committer_running)
		return;
	pthread_mutex_lock(&r->q_lock);
	r->q_stop = 1;
	pthread_cond_signal(&r->q_cond);
	pthread_mutex_unlock(&r->q_lock);
	pthread_join(r->committer, NULL);
	r->committer_running = 0;
}

static void
receiver_release(struct trpt_receiver *r)
{
	size_t i;

	acceptor_stop(r);
	if (r->wake[0] >= 0)
		close(r->wake[0]);
	if (r->wake[1] >= 0)
		close(r->wake[1]);
	free(r->listen);
	for (i = 0; i < r->npaths; i++)
		free(r->paths[i]);
	if (r->key != NULL)
		explicit_bzero(r->key, strlen(r->key));
	free(r->key);
	free(r->cert);
	free(r->rate);
	if (r->resp_stored != NULL)
		MHD_destroy_response(r->resp_stored);
	if (r->resp_duplicate != NULL)
		MHD_destroy_response(r->resp_duplicate);
	pthread_mutex_destroy(&r->pipe_lock);
	pthread_cond_destroy(&r->group_cond);
	pthread_mutex_destroy(&r->q_lock);
	pthread_cond_destroy(&r->q_cond);
	pthread_mutex_destroy(&r->stats_lock);
	pthread_mutex_destroy(&r->rate_lock);
	pthread_mutex_destroy(&r->log_lock);
	pthread_mutex_destroy(&r->conn_lock);
	pthread_cond_destroy(&r->conn_cond);
	pthread_mutex_destroy(&r->store_lock);
	/* libmicrohttpd's threads have ended: their decoders are freed. */
	if (r->zkey_ok)
		pthread_key_delete(r->zkey);
	free(r);
}

int
trpt_receiver_new(const struct trpt_receiver_config *cfg,
    struct trpt_pipeline *p, struct trpt_receiver **out, struct trpt_err *err)
{
	struct trpt_receiver *r;
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct MHD_OptionItem opts[16];
	const char *why;
	unsigned flags;
	size_t n = 0, i;
	int rc;

	if (cfg->npaths == 0 || cfg->npaths > TRPT_RECEIVER_MAX_PATHS)
		return trpt_err_set(err, TRPT_EINVAL,
		    "serve: between 1 and %d paths are needed",
		    TRPT_RECEIVER_MAX_PATHS);
	for (i = 0; i < cfg->npaths; i++)
		if (cfg->paths[i] == NULL || cfg->paths[i][0] != '/')
			return trpt_err_set(err, TRPT_EINVAL,
			    "serve: path \"%s\" must start with /",
			    cfg->paths[i] != NULL ? cfg->paths[i] : "");
	if ((cfg->tls_cert_pem == NULL) != (cfg->tls_key_pem == NULL))
		return trpt_err_set(err, TRPT_EINVAL,
		    "serve: tls_cert and tls_key go together");
	if (cfg->tls_cert_pem != NULL &&
	    MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return trpt_err_set(err, TRPT_EINVAL,
		    "serve: this libmicrohttpd has no TLS support");
	if (cfg->tls_cert_pem != NULL &&
	    (rc = check_tls(cfg->tls_cert_pem, cfg->tls_key_pem, err)) !=
		TRPT_OK)
		return rc;
	if (cfg->threads == 0 || cfg->max_body == 0)
		return trpt_err_set(err, TRPT_EINVAL,
		    "serve: threads and the body cap must be positive");
	if ((rc = parse_listen(cfg->listen, &ss, &sslen, err)) != TRPT_OK)
		return rc;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	pthread_mutex_init(&r->pipe_lock, NULL);
	pthread_cond_init(&r->group_cond, NULL);
	pthread_mutex_init(&r->q_lock, NULL);
	pthread_cond_init(&r->q_cond, NULL);
	pthread_mutex_init(&r->stats_lock, NULL);
	pthread_mutex_init(&r->rate_lock, NULL);
	pthread_mutex_init(&r->log_lock, NULL);
	pthread_mutex_init(&r->conn_lock, NULL);
	pthread_cond_init(&r->conn_cond, NULL);
	pthread_mutex_init(&r->store_lock, NULL);
	atomic_init(&r->draining, 0);
	r->lfd = r->wake[0] = r->wake[1] = -1;
	r->zkey_ok = pthread_key_create(&r->zkey, inflater_release) == 0;
	atomic_init(&r->delegated, 0);
	atomic_init(&r->q_preparing, 0);
	r->max_connections = cfg->max_connections;
	r->max_per_client = cfg->max_per_client;
	r->header_timeout = cfg->header_timeout > 0 ? cfg->header_timeout : 10;
	r->log = cfg->log;
	r->log_arg = cfg->log_arg;
	r->listen = strdup(cfg->listen);
	for (i = 0; i < cfg->npaths; i++)
		r->paths[r->npaths++] = strdup(cfg->paths[i]);
	r->cert = dup_or_null(cfg->tls_cert_pem);
	r->key = dup_or_null(cfg->tls_key_pem);
	r->rate = calloc(RATE_SLOTS, sizeof(*r->rate));
	r->max_body = cfg->max_body;
	r->request_timeout = cfg->request_timeout;
	r->rate_per_minute = cfg->rate_per_minute;
	r->rate_burst = cfg->rate_burst > 0 ? cfg->rate_burst : 1;
	r->trust_proxy = cfg->trust_proxy;
	if (cfg->nallow > TRPT_RECEIVER_MAX_ALLOW) {
		receiver_release(r);
		return trpt_err_set(err, TRPT_EINVAL,
		    "serve: at most %d allow entries", TRPT_RECEIVER_MAX_ALLOW);
	}
	for (i = 0; i < cfg->nallow; i++) {
		if (parse_net(cfg->allow[i], &r->allow[i]) != 0) {
			rc = trpt_receiver_allow_check(cfg->allow[i], err);
			receiver_release(r);
			return rc;
		}
		r->nallow++;
	}
	r->metrics_extra = cfg->metrics_extra;
	r->metrics_arg = cfg->metrics_arg;
	if (r->listen == NULL || r->rate == NULL ||
	    (cfg->tls_cert_pem != NULL &&
		(r->cert == NULL || r->key == NULL))) {
		receiver_release(r);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	for (i = 0; i < r->npaths; i++)
		if (r->paths[i] == NULL) {
			r->npaths = i;
			receiver_release(r);
			return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		}

	/*
	 * A pool of `threads` libmicrohttpd threads, each polling many
	 * connections.  A POST whose body is in never waits on its thread
	 * for its group's commit: its connection is suspended and resumed
	 * by the committer once the group is committed, so the thread goes
	 * on with its other connections meanwhile (new POSTs can join the
	 * next group; /healthz and /metrics answer at once).  With a thread
	 * per connection, 2-3 context switches and a lock handover per POST
	 * cost more CPU than storing it.
	 *
	 * poll() rather than epoll: with epoll, libmicrohttpd takes a
	 * suspended connection out of its epoll set and puts it back after
	 * the resume (epoll_ctl twice) and tries a read that fails with
	 * EAGAIN once it has answered; poll() has no set to keep.  Measured
	 * (strace -c, 16 connections, 2026-12-01): 11 -> 7.7 system calls
	 * a POST, server CPU 111-136 -> 102-117 us a POST (alternating
	 * rounds).  The connections are capped (max_connections), so each
	 * thread polls a few dozen descriptors at most.
	 */
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ITC | MHD_USE_ERROR_LOG;
	flags |= MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES
		     ? MHD_USE_POLL
		     : MHD_USE_AUTO;
	/* The connections come from acceptor_loop. */
	flags |= MHD_USE_NO_LISTEN_SOCKET;
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER,
		(intptr_t)mhd_logger, r };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE,
		(intptr_t)cfg->threads, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED,
		(intptr_t)completed, r };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION,
		(intptr_t)on_connection, r };
	/* on_connection keeps max_connections (and max_per_client) by closing
	 * the oldest connection still waiting for its head; libmicrohttpd's
	 * own limit, a little higher, refuses outright past that. */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT,
		(intptr_t)cfg->max_connections + 64, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT,
		(intptr_t)cfg->idle_timeout, NULL };
	/*
	 * Each connection's memory (its request head, read buffer and answer
	 * head), which libmicrohttpd zeroes whole at every request of a
	 * kept-alive connection (memorypool.c, MHD_pool_reset): 16 kB rather
	 * than its default 32 kB.  A head past it is refused with 431 (test
	 * serve-hardening); a body streams through the read buffer whatever its
	 * size.  Measured (perf, 16 connections, 20,000 POSTs, load 7-8):
	 * memset 3.0-3.4% -> 1.6-1.9% of serve's samples (1.1-1.3% at 8 kB).
	 */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		CONN_MEMORY, NULL };
	if (r->cert != NULL) {
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT,
			0, r->cert };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY,
			0, r->key };
		opts[n++] =
		    (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
			    (void *)"NORMAL:-VERS-TLS1.0:-VERS-TLS1.1" };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	if ((rc = listen_socket(cfg->listen, &ss, sslen, &r->lfd, err)) !=
	    TRPT_OK) {
		receiver_release(r);
		return rc;
	}
	if (pipe(r->wake) != 0) {
		r->wake[0] = r->wake[1] = -1;
		receiver_release(r);
		return trpt_err_set(
		    err, TRPT_EIO, "serve: pipe: %s", strerror(errno));
	}
	r->port = bound_port(r->lfd);

	r->pipe = p;
	r->resp_stored = static_text("stored\n");
	r->resp_duplicate = static_text("duplicate\n");
	if (pthread_create(&r->committer, NULL, committer_loop, r) != 0) {
		receiver_release(r);
		return trpt_err_set(
		    err, TRPT_ENOMEM, "serve: cannot start a thread");
	}
	r->committer_running = 1;

	r->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, r,
	    MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (r->mhd == NULL) {
		why = r->mhd_error;
		rc = trpt_err_set(err, TRPT_EIO,
		    "serve: cannot listen on %s: %s", cfg->listen,
		    why[0] != '\0' ? why : "libmicrohttpd failed to start");
		committer_stop(r);
		receiver_release(r);
		return rc;
	}
	if (pthread_create(&r->reaper, NULL, reaper_loop, r) != 0) {
		committer_stop(r);
		MHD_stop_daemon(r->mhd);
		receiver_release(r);
		return trpt_err_set(
		    err, TRPT_ENOMEM, "serve: cannot start a thread");
	}
	r->reaper_running = 1;
	if (pthread_create(&r->acceptor, NULL, acceptor_loop, r) != 0) {
		trpt_receiver_free(&r);
		return trpt_err_set(
		    err, TRPT_ENOMEM, "serve: cannot start a thread");
	}
	r->acceptor_running = 1;
	*out = r;
	return TRPT_OK;
}

unsigned
trpt_receiver_port(const struct trpt_receiver *r)
{
	return r->port;
}

/* The pipeline lock, between two groups (none is open meanwhile). */
static void
lock_between_groups(struct trpt_receiver *r)
{
	pthread_mutex_lock(&r->pipe_lock);
	while (r->group_open)
		pthread_cond_wait(&r->group_cond, &r->pipe_lock);
}

void
trpt_receiver_locked(struct trpt_receiver *r, void (*fn)(void *arg), void *arg)
{
	lock_between_groups(r);
	fn(arg);
	pthread_mutex_unlock(&r->pipe_lock);
}

void
trpt_receiver_lock(struct trpt_receiver *r)
{
	lock_between_groups(r);
}

void
trpt_receiver_unlock(struct trpt_receiver *r)
{
	pthread_mutex_unlock(&r->pipe_lock);
}

void
trpt_receiver_stats(struct trpt_receiver *r, struct trpt_receiver_stats *out)
{
	pthread_mutex_lock(&r->stats_lock);
	*out = r->stats;
	pthread_mutex_unlock(&r->stats_lock);
}

unsigned
trpt_receiver_drain(struct trpt_receiver *r, unsigned timeout_ms)
{
	struct timespec pause = { 0, 10 * 1000000 };
	unsigned waited = 0, left;

	atomic_store(&r->draining, 1);
	acceptor_stop(r);
	for (;;) {
		pthread_mutex_lock(&r->stats_lock);
		left = r->stats.in_flight;
		pthread_mutex_unlock(&r->stats_lock);
		if (left == 0 || waited >= timeout_ms)
			return left;
		nanosleep(&pause, NULL);
		waited += 10;
	}
}

void
trpt_receiver_free(struct trpt_receiver **rp)
{
	struct trpt_receiver *r = *rp;

	if (r == NULL)
		return;
	acceptor_stop(r); /* before libmicrohttpd stops */
	if (r->reaper_running) {
		pthread_mutex_lock(&r->conn_lock);
		r->reaper_stop = 1;
		pthread_cond_signal(&r->conn_cond);
		pthread_mutex_unlock(&r->conn_lock);
		pthread_join(r->reaper, NULL);
	}
	/* Every queued POST is stored and resumed first, and the chains
	 * handed to libmicrohttpd's threads are resumed by them (each thread
	 * does so when it next runs: its first POST's resume woke it). */
	committer_stop(r);
	while (atomic_load(&r->delegated) > 0) {
		struct timespec pause = { 0, 1000000 };

		nanosleep(&pause, NULL);
	}
	if (r->mhd != NULL)
		MHD_stop_daemon(r->mhd);
	receiver_release(r);
	*rp = NULL;
}

int
trpt_receiver_parse_listen(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen, struct trpt_err *err)
{
	return parse_listen(spec, ss, sslen, err);
}

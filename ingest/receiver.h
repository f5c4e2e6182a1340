#pragma once
/*
 * The RFC 8460 §5.4 HTTPS receiving endpoint (libmicrohttpd).
 *
 * Senders POST one report per request, gzip or JSON; the bytes decide what
 * it is, the Content-Type only has to be one of the report types.  A 2xx
 * answer goes out only after the report is committed: 200 for a stored
 * report and for a duplicate, also when other parts of the body were
 * rejected (then the body says "stored N, duplicates N, rejected N" and
 * lists them, one "rejected: part N: reason" line each: the sender must
 * not retry what is stored), 400 with a one-line reason when nothing was
 * stored (all kept in quarantine), 413 past the body cap, 415 for another media
 * type, 405 for another method, 429 past the per-client rate, 503 when
 * the database cannot take the write (senders retry anything but a 2xx).
 *
 * One thread accepts the connections and spreads them evenly over a pool
 * of threads (libmicrohttpd, poll), which receive the requests and
 * prepare each POST (inflate, validate); one committer thread stores
 * them, so one struct trpt_pipeline and its database handle are used by
 * one thread at a time, under a mutex that others may take between groups
 * (trpt_receiver_lock).  POSTs that arrive together share one transaction
 * (group commit); a POST's connection is suspended until its group is
 * committed, so the thread serves its other connections meanwhile.
 * GET /healthz answers "ok", or 503 while stores fail (from a failed
 * store to the next one that succeeds), and GET /metrics the counters in
 * the Prometheus text format.
 */

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "ingest/pipeline.h"

#define TRPT_RECEIVER_MAX_PATHS 8
#define TRPT_RECEIVER_MAX_ALLOW 64

struct trpt_receiver_config {
	/* "ADDR:PORT", "[V6ADDR]:PORT" or ":PORT"; port 0 picks a free one */
	const char *listen;
	const char *paths[TRPT_RECEIVER_MAX_PATHS]; /* POST targets */
	size_t npaths;
	/* PEM contents (not paths); both set for native TLS, else plain */
	const char *tls_cert_pem;
	const char *tls_key_pem;
	size_t max_body;          /* bytes of one POST body */
	unsigned threads;         /* >= 1: threads polling the connections */
	unsigned max_connections; /* in all */
	/* Connections from one address.  A new one past the cap closes the
	 * client's oldest connection still sending its request head (a slow
	 * sender gives way to a fresh one); when none is, the new one. */
	unsigned max_per_client;
	unsigned idle_timeout; /* seconds a connection may stay silent */
	/* Seconds from a connection's start (or the end of its previous
	 * request) to a complete request line and headers: a trickle of
	 * header bytes resets no idle timer past this. */
	unsigned header_timeout;
	unsigned request_timeout; /* seconds to receive a whole body */
	/* Token bucket per client address: rate_per_minute requests, burst
	 * at once; 0 disables the limit. */
	unsigned rate_per_minute;
	unsigned rate_burst;
	/* Take the client address from X-Forwarded-For / X-Real-IP when the
	 * peer is a loopback address (a reverse proxy on the same host). */
	int trust_proxy;
	/* Who may POST reports: networks ("192.0.2.0/24", "2001:db8::/32")
	 * or addresses, matched against the client address (after
	 * trust_proxy); others get 403.  None: everyone may.  A report POST
	 * carries no DKIM (RFC 8460 §3 is about mail): its client is
	 * recorded with it instead. */
	const char *allow[TRPT_RECEIVER_MAX_ALLOW];
	size_t nallow;
	/* Called by GET /metrics after the receiver's own series, from a
	 * request thread (it must lock what it shares), to append more
	 * (the per-domain series of the rollups); NULL for none. */
	void (*metrics_extra)(void *arg, struct trpt_buf *out);
	void *metrics_arg;
	/* Called (from a server thread, one call at a time) once per new
	 * cause of failing stores ("cannot store reports: CAUSE") and once
	 * when stores succeed again; may be NULL. */
	void (*log)(void *arg, const char *msg);
	void *log_arg;
};

/*
 * Checks one allow entry ("ADDR" or "ADDR/BITS"): TRPT_OK or TRPT_EINVAL
 * with the reason.
 */
int trpt_receiver_allow_check(const char *cidr, struct trpt_err *err);

/* Defaults: listen 127.0.0.1:8460, "/" and "/v1/tlsrpt", a thread a core
 * (2 to 8), ... */
void trpt_receiver_config_default(
    struct trpt_receiver_config *cfg, const struct trpt_limits *lim);

/* Counters, as /metrics shows them. */
struct trpt_receiver_stats {
	uint64_t stored;
	uint64_t duplicates;
	uint64_t rejected; /* 400: kept in quarantine */
	uint64_t too_large;
	uint64_t bad_media_type;
	uint64_t bad_method;
	uint64_t not_found;
	uint64_t rate_limited;
	uint64_t forbidden;       /* 403: not in allow */
	uint64_t unavailable;     /* 503 */
	uint64_t header_timeouts; /* connections closed: head too slow */
	uint64_t client_limit;    /* connections closed: per-client cap */
	uint64_t bytes;           /* body bytes received */
	uint64_t commits;         /* group transactions committed */
	int64_t last_stored;      /* UTC seconds, 0 if none */
	unsigned in_flight;       /* requests being received or processed */
};

struct trpt_receiver;

/*
 * Binds and starts serving with cfg, feeding POST bodies to p (which the
 * receiver uses from its threads, under its own lock, until freed; p's
 * on_event still sees every event).  cfg's strings are copied.
 * Fails with TRPT_EINVAL for a bad address or TLS material, TRPT_EIO when
 * the address cannot be bound.
 */
int trpt_receiver_new(const struct trpt_receiver_config *cfg,
    struct trpt_pipeline *p, struct trpt_receiver **out, struct trpt_err *err);

/* The port actually bound (useful with port 0). */
unsigned trpt_receiver_port(const struct trpt_receiver *r);

/*
 * Runs fn(arg) holding the lock that serialises pipeline calls, so that
 * fn may use the pipeline's database while no request does.
 */
void trpt_receiver_locked(
    struct trpt_receiver *r, void (*fn)(void *arg), void *arg);

/*
 * The same lock taken and released apart, for a caller that shares the
 * pipeline's database connection from threads of its own (the daemon's
 * IMAP sources) and must not hold it across network I/O.
 */
void trpt_receiver_lock(struct trpt_receiver *r);
void trpt_receiver_unlock(struct trpt_receiver *r);

/* A snapshot of the counters. */
void trpt_receiver_stats(
    struct trpt_receiver *r, struct trpt_receiver_stats *out);

/*
 * Stops accepting connections and waits up to timeout_ms for the requests
 * in flight to finish.  Returns the number still in flight (0: drained).
 */
unsigned trpt_receiver_drain(struct trpt_receiver *r, unsigned timeout_ms);

/* Stops the threads, closes every connection and frees r. Accepts NULL. */
void trpt_receiver_free(struct trpt_receiver **rp);

/*
 * Splits "ADDR:PORT", "[V6]:PORT" or ":PORT" and resolves it into ss, as
 * the receiver does with its listen address (the dashboard uses it too).
 */
int trpt_receiver_parse_listen(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen, struct trpt_err *err);

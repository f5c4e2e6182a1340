#pragma once
/*
 * The transport under the IMAP session (as curl keeps vtls/ apart from
 * imap.c): a non-blocking TCP socket, optionally wrapped in a GnuTLS
 * session whose certificate chain and host name are always verified, and
 * a libetpan mailstream driver over it.  libetpan's own TLS does not
 * verify certificates, so it is never used.
 *
 * Every wait is bounded three ways: the per-operation timeout, the
 * deadline of the whole run (a server that trickles one byte a second
 * never times out a single read), and the bytes of one answer.  The
 * driver sees every byte the server sends, so it also tracks IMAP
 * literals ({N}CRLF then N bytes): a literal announced larger than
 * max_literal is refused before libetpan allocates room for it, and an
 * answer larger than the budget set by trpt_imap_io_expect is cut off.
 * Either failure leaves the stream broken with the cause in why.
 */

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <libetpan/libetpan.h>

#include "common/err.h"

#define TRPT_IMAP_IO_WHY_LEN 200

struct trpt_imap_io {
	int fd;
	gnutls_session_t tls;
	gnutls_certificate_credentials_t cred;
	int timeout_ms;      /* one read or write */
	int64_t deadline_ms; /* CLOCK_MONOTONIC ms ending the run; 0: none */
	size_t max_literal;  /* bytes of one literal the server announces */
	size_t budget;       /* bytes of the current answer; 0: no cap */
	size_t received;     /* bytes received since trpt_imap_io_expect */
	/* Bytes outside literals of the current answer (what libetpan keeps
	 * of it until its end, literals being handed over one by one); 0:
	 * no cap of their own. */
	size_t line_budget;
	size_t lines;
	/* Literal tracking: lit_left bytes of a literal still to come; in
	 * scan state, the digits of a possible "{N}\r\n" seen so far. */
	uint64_t lit_left;
	uint64_t scan_num;
	int scan_state;
	/* Under TLS, bytes read from the socket ahead of GnuTLS (see
	 * tls_pull in imap_io.c): rbuf[roff..rlen-1] not handed over yet. */
	unsigned char *rbuf;
	size_t roff, rlen;
	int broken;
	char why[TRPT_IMAP_IO_WHY_LEN];
};

/* Sets every field to its idle state (no socket). */
void trpt_imap_io_init(struct trpt_imap_io *io);

/* 1 for "localhost" and loopback IP literals. */
int trpt_imap_io_is_loopback_name(const char *host);

/*
 * Connects to host:port (every address in turn), waiting at most
 * connect_timeout seconds each.  With loopback_only, addresses that are
 * not loopback are refused.  Errors name the source (name), are
 * TRPT_ETEMP.
 */
int trpt_imap_io_connect(struct trpt_imap_io *io, const char *name,
    const char *host, uint16_t port, int loopback_only,
    unsigned connect_timeout, struct trpt_err *err);

/*
 * TLS on the connected socket: the chain checked against ca_file (or the
 * system trust store), the certificate against host.  TRPT_EINVAL for a
 * certificate that is not accepted (the message says why), TRPT_ETEMP for
 * a failed handshake.
 */
int trpt_imap_io_tls(struct trpt_imap_io *io, const char *name,
    const char *host, uint16_t port, const char *ca_file, struct trpt_err *err);

/* A mailstream driver over io (io must outlive it).  NULL: no memory. */
mailstream_low *trpt_imap_io_low(struct trpt_imap_io *io);

/*
 * The next answer may be at most budget bytes (0: no cap); resets the
 * count.  Called before each command.
 */
void trpt_imap_io_expect(struct trpt_imap_io *io, size_t budget);

/*
 * After trpt_imap_io_expect: the bytes of the answer outside literals
 * may be at most line_budget (a streamed FETCH whose bodies are handed
 * over one by one, where budget bounds the whole answer, not what is
 * held).
 */
void trpt_imap_io_expect_lines(struct trpt_imap_io *io, size_t line_budget);

/* Sets the deadline to seconds from now (0: none). */
void trpt_imap_io_set_deadline(struct trpt_imap_io *io, unsigned seconds);

/*
 * Waits until the server sends something, wake_fd (if >= 0) becomes
 * readable, or timeout_ms passes (the run deadline does not apply: this
 * is the wait of IMAP IDLE).  Returns 1 for data from the server, 2 for
 * wake_fd, 0 for the timeout, -1 on a failure (why says it).
 */
int trpt_imap_io_wait_idle(
    struct trpt_imap_io *io, int wake_fd, int timeout_ms);

/* Ends TLS and closes the socket; io can be connected again. */
void trpt_imap_io_close(struct trpt_imap_io *io);

#pragma once
/*
 * A real Dovecot (Debian's dovecot-imapd) for the IMAP integration tests:
 * started on free loopback ports from a configuration written to a temp
 * directory, with a test CA and a server certificate for localhost and
 * 127.0.0.1 made at start time (openssl), and stopped by the test.
 *
 * The helpers that set up and inspect mailboxes use libetpan directly over
 * a plain loopback connection, independently of the code under test.
 * Every helper fails the running cmocka test on error.
 */

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <libetpan/libetpan.h>

#define TRPT_DOVECOT_USER     "reports"
#define TRPT_DOVECOT_PASSWORD "s3cret-pw"

struct trpt_dovecot {
	char dir[256];     /* temp directory holding everything */
	char ca_file[320]; /* PEM of the CA that signed the server */
	int port;          /* plain and STARTTLS */
	int port_tls;      /* implicit TLS */
	pid_t pid;
};

/* A free loopback TCP port (bound once, then released). */
int trpt_dovecot_free_port(void);

void trpt_dovecot_start(struct trpt_dovecot *d);
void trpt_dovecot_stop(struct trpt_dovecot *d);

/* A logged-in plain session (libetpan); free with mailimap_logout/free. */
mailimap *trpt_dovecot_client(const struct trpt_dovecot *d);
void trpt_dovecot_client_free(mailimap **mp);

void trpt_dovecot_append(
    mailimap *m, const char *mailbox, const void *data, size_t len);
/* APPEND with an INTERNALDATE of that day, 12:00 UTC. */
void trpt_dovecot_append_dated(mailimap *m, const char *mailbox,
    const void *data, size_t len, int year, int month, int day);
void trpt_dovecot_create(mailimap *m, const char *mailbox);
void trpt_dovecot_delete(mailimap *m, const char *mailbox);

/* UIDs in mailbox (EXAMINE + UID SEARCH ALL), at most max; returns n. */
size_t trpt_dovecot_uids(
    mailimap *m, const char *mailbox, uint32_t *out, size_t max);
/* UIDVALIDITY of mailbox. */
uint32_t trpt_dovecot_uidvalidity(mailimap *m, const char *mailbox);
/* 1 if the message uid in mailbox has flag ("\\Seen", "\\Deleted"). */
int trpt_dovecot_has_flag(
    mailimap *m, const char *mailbox, uint32_t uid, const char *flag);

/*
 * A TLS report e-mail (multipart/report, report-type=tlsrpt, gzip
 * attachment) whose report-id is "TAG-N", unique per (tag, n).  Caller
 * frees.
 */
char *trpt_dovecot_report_mail(const char *tag, unsigned n, size_t *len);

/*
 * The Maildir file name of mail number i (mail, mlen its bytes), named as
 * Dovecot names what it delivers: "SECS.MUSECSPPID.HOST,S=SIZE,W=VSIZE:2,".
 * Names differing only in a counter (the benchmark's "SECS.MiP1.bench"
 * until stop 23) fall into few buckets of Dovecot's file-name hash
 * (maildir_filename_base_hash: 1,060 values for 10,000 such names), and
 * Dovecot then spent 70 % of its CPU comparing names on every session
 * before it sent a byte; these spread as real deliveries' do (9,945
 * values), and W= spares it reading each file for RFC822.SIZE.
 */
void trpt_dovecot_maildir_name(
    char *buf, size_t len, unsigned i, const char *mail, size_t mlen);

/*
 * Writes n report mails (TAG-0 .. TAG-(n-1)) straight into the Maildir of
 * mailbox, which Dovecot then indexes on first access: much faster than
 * APPEND for the benchmark's large mailboxes.
 */
void trpt_dovecot_fill_maildir(const struct trpt_dovecot *d,
    const char *mailbox, const char *tag, unsigned n);

/*
 * A TCP proxy to 127.0.0.1:target on a free port.  After cut bytes from
 * the server it either closes both sides (stall = 0: a dropped
 * connection) or stops forwarding and keeps them open (stall = 1, for a
 * kill -9 while the client waits).  cut = 0: never.
 */
struct trpt_proxy;
struct trpt_proxy *trpt_proxy_start(int target, size_t cut, int stall);
int trpt_proxy_port(const struct trpt_proxy *p);
/* 1 once the cut happened. */
int trpt_proxy_cut_done(struct trpt_proxy *p);
void trpt_proxy_stop(struct trpt_proxy **pp);

/*
 * Runs $TRPT_BINARY with argv (NULL-terminated, without the program), its
 * stdout and stderr going to the files out and err (may be NULL: the test
 * log); returns the exit status, or 128+signal.
 */
int trpt_run_collector(
    const char *out, const char *err, const char *const *argv);
/* The same, without waiting: returns the child's pid. */
pid_t trpt_spawn_collector(
    const char *out, const char *err, const char *const *argv);
int trpt_wait_collector(pid_t pid);
/* The same, with the child's peak resident set size in KiB. */
int trpt_wait_collector_usage(pid_t pid, long *maxrss_kb);
/* ... and its CPU time (user + system) in seconds. */
int trpt_wait_collector_rusage(pid_t pid, long *maxrss_kb, double *cpu_s);

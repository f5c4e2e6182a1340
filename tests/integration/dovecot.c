#include "tests/integration/dovecot.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/helpers/testutil.h"

int
trpt_dovecot_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	if (r != 0)
		fail_msg("command failed (%d): %s", r, cmd);
}

/* Copies tpl to out, replacing each "@K@" by vals[K - 'A']. */
static void
expand(char *out, size_t cap, const char *tpl, const char *const *vals)
{
	size_t o = 0, l;
	const char *v;

	for (; *tpl != '\0'; tpl++) {
		if (tpl[0] == '@' && tpl[1] >= 'A' && tpl[1] <= 'Z' &&
		    tpl[2] == '@') {
			v = vals[tpl[1] - 'A'];
			l = strlen(v);
			assert_true(o + l < cap);
			memcpy(out + o, v, l);
			o += l;
			tpl += 2;
			continue;
		}
		assert_true(o + 1 < cap);
		out[o++] = *tpl;
	}
	out[o] = '\0';
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	trpt_test_write(path, text, strlen(text));
}

static int
try_connect(int port)
{
	struct sockaddr_in sa;
	int fd, ok;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static int
try_greeting(int port)
{
	struct sockaddr_in sa;
	char buf[64];
	ssize_t n;
	int fd, ok = 0;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		ok = n > 4 && strncmp(buf, "* OK", 4) == 0;
	}
	close(fd);
	return ok;
}

void
trpt_dovecot_start(struct trpt_dovecot *d)
{
	char conf[4096], *tmp, pbuf[16], tbuf[16];
	const char *vals[3];
	struct passwd *pw;
	int i;

	memset(d, 0, sizeof(*d));
	pw = getpwnam("dovecot");
	if (pw == NULL || getpwnam("dovenull") == NULL)
		fail_msg("users dovecot and dovenull missing: install "
			 "dovecot-imapd");
	tmp = trpt_test_tmpdir();
	snprintf(d->dir, sizeof(d->dir), "%s", tmp);
	free(tmp);
	/* Dovecot's unprivileged processes must reach their files. */
	assert_int_equal(chmod(d->dir, 0755), 0);
	sh("cd '%s' && mkdir run state mail && chown dovecot:dovecot mail",
	    d->dir);
	sh("cd '%s' && "
	   "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	   "-nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=trpt-test-ca "
	   ">/dev/null 2>&1 && "
	   "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	   "-nodes -keyout server.key -subj /CN=localhost -out server.csr "
	   ">/dev/null 2>&1 && "
	   "printf 'subjectAltName=DNS:localhost\\n"
	   "basicConstraints=CA:FALSE\\n' >ext.cnf && "
	   "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
	   "-CAcreateserial -days 2 -extfile ext.cnf -out server.pem "
	   ">/dev/null 2>&1",
	    d->dir);
	snprintf(d->ca_file, sizeof(d->ca_file), "%s/ca.pem", d->dir);
	write_file(d->dir, "passwd",
	    TRPT_DOVECOT_USER ":{PLAIN}" TRPT_DOVECOT_PASSWORD "\n");
	d->port = trpt_dovecot_free_port();
	do
		d->port_tls = trpt_dovecot_free_port();
	while (d->port_tls == d->port);
	snprintf(pbuf, sizeof(pbuf), "%d", d->port);
	snprintf(tbuf, sizeof(tbuf), "%d", d->port_tls);
	vals[0] = d->dir;
	vals[1] = pbuf;
	vals[2] = tbuf;
	expand(conf, sizeof(conf),
	    "base_dir = @A@/run\n"
	    "state_dir = @A@/state\n"
	    "log_path = @A@/dovecot.log\n"
	    "protocols = imap\n"
	    "listen = 127.0.0.1\n"
	    "ssl = yes\n"
	    "ssl_cert = <@A@/server.pem\n"
	    "ssl_key = <@A@/server.key\n"
	    "disable_plaintext_auth = no\n"
	    "auth_mechanisms = plain login\n"
	    "default_internal_user = dovecot\n"
	    "default_login_user = dovenull\n"
	    "first_valid_uid = 1\n"
	    "mail_fsync = never\n"
	    "mail_location = maildir:@A@/mail/%u\n"
	    "passdb {\n"
	    "  driver = passwd-file\n"
	    "  args = scheme=PLAIN username_format=%u @A@/passwd\n"
	    "}\n"
	    "userdb {\n"
	    "  driver = static\n"
	    "  args = uid=dovecot gid=dovecot home=@A@/mail/%u\n"
	    "}\n"
	    "service imap-login {\n"
	    "  inet_listener imap {\n"
	    "    address = 127.0.0.1\n"
	    "    port = @B@\n"
	    "  }\n"
	    "  inet_listener imaps {\n"
	    "    address = 127.0.0.1\n"
	    "    port = @C@\n"
	    "    ssl = yes\n"
	    "  }\n"
	    "}\n",
	    vals);
	write_file(d->dir, "dovecot.conf", conf);
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		char cpath[512];

		snprintf(cpath, sizeof(cpath), "%s/dovecot.conf", d->dir);
		execlp("dovecot", "dovecot", "-F", "-c", cpath, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		int status;

		if (try_greeting(d->port) && try_connect(d->port_tls))
			break;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			sh("cat '%s/dovecot.log' >&2 || true", d->dir);
			fail_msg("dovecot exited at start (status %d)", status);
		}
		usleep(50000);
	}
	if (i == 200)
		fail_msg("dovecot did not answer on port %d", d->port);
}

void
trpt_dovecot_stop(struct trpt_dovecot *d)
{
	int status, i;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		for (i = 0; i < 100; i++) {
			if (waitpid(d->pid, &status, WNOHANG) == d->pid)
				break;
			usleep(50000);
		}
		if (i == 100) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &status, 0);
		}
		d->pid = 0;
	}
	if (d->dir[0] != '\0') {
		trpt_test_rmrf(d->dir);
		d->dir[0] = '\0';
	}
}

mailimap *
trpt_dovecot_client(const struct trpt_dovecot *d)
{
	mailimap *m = mailimap_new(0, NULL);
	int r;

	assert_non_null(m);
	mailimap_set_timeout(m, 10);
	r = mailimap_socket_connect(m, "127.0.0.1", (uint16_t)d->port);
	if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED)
		fail_msg("test client: connect to dovecot: %d", r);
	r = mailimap_login(m, TRPT_DOVECOT_USER, TRPT_DOVECOT_PASSWORD);
	if (r != MAILIMAP_NO_ERROR)
		fail_msg("test client: login: %d", r);
	return m;
}

void
trpt_dovecot_client_free(mailimap **mp)
{
	if (*mp == NULL)
		return;
	mailimap_logout(*mp);
	mailimap_free(*mp);
	*mp = NULL;
}

void
trpt_dovecot_append(
    mailimap *m, const char *mailbox, const void *data, size_t len)
{
	int r = mailimap_append(m, mailbox, NULL, NULL, data, len);

	if (r != MAILIMAP_NO_ERROR)
		fail_msg("test client: APPEND to %s: %d (%s)", mailbox, r,
		    m->imap_response ? m->imap_response : "");
}

void
trpt_dovecot_append_dated(mailimap *m, const char *mailbox, const void *data,
    size_t len, int year, int month, int day)
{
	struct mailimap_date_time *dt;
	int r;

	dt = mailimap_date_time_new(day, month, year, 12, 0, 0, 0);
	assert_non_null(dt);
	r = mailimap_append(m, mailbox, NULL, dt, data, len);
	mailimap_date_time_free(dt);
	if (r != MAILIMAP_NO_ERROR)
		fail_msg("test client: APPEND to %s: %d (%s)", mailbox, r,
		    m->imap_response ? m->imap_response : "");
}

void
trpt_dovecot_create(mailimap *m, const char *mailbox)
{
	int r = mailimap_create(m, mailbox);

	if (r != MAILIMAP_NO_ERROR)
		fail_msg("test client: CREATE %s: %d", mailbox, r);
}

void
trpt_dovecot_delete(mailimap *m, const char *mailbox)
{
	int r;

	mailimap_examine(m, "INBOX");
	r = mailimap_delete(m, mailbox);
	if (r != MAILIMAP_NO_ERROR)
		fail_msg("test client: DELETE %s: %d (%s)", mailbox, r,
		    m->imap_response ? m->imap_response : "");
}

static void
examine(mailimap *m, const char *mailbox)
{
	int r = mailimap_examine(m, mailbox);

	if (r != MAILIMAP_NO_ERROR)
		fail_msg("test client: EXAMINE %s: %d", mailbox, r);
}

size_t
trpt_dovecot_uids(mailimap *m, const char *mailbox, uint32_t *out, size_t max)
{
	struct mailimap_search_key *key;
	clist *res = NULL;
	clistiter *it;
	size_t n = 0;
	int r;

	examine(m, mailbox);
	key = mailimap_search_key_new_all();
	r = mailimap_uid_search(m, NULL, key, &res);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR)
		fail_msg("test client: UID SEARCH: %d", r);
	for (it = clist_begin(res); it != NULL; it = clist_next(it))
		if (n < max)
			out[n++] = *(uint32_t *)clist_content(it);
	mailimap_search_result_free(res);
	return n;
}

uint32_t
trpt_dovecot_uidvalidity(mailimap *m, const char *mailbox)
{
	examine(m, mailbox);
	return m->imap_selection_info->sel_uidvalidity;
}

int
trpt_dovecot_has_flag(
    mailimap *m, const char *mailbox, uint32_t uid, const char *flag)
{
	struct mailimap_set *set;
	struct mailimap_fetch_type *ft;
	clist *res = NULL;
	clistiter *it, *jt, *kt;
	int r, found = 0;

	examine(m, mailbox);
	set = mailimap_set_new_single(uid);
	ft = mailimap_fetch_type_new_fetch_att_list_empty();
	mailimap_fetch_type_new_fetch_att_list_add(
	    ft, mailimap_fetch_att_new_uid());
	mailimap_fetch_type_new_fetch_att_list_add(
	    ft, mailimap_fetch_att_new_flags());
	r = mailimap_uid_fetch(m, set, ft, &res);
	mailimap_set_free(set);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR)
		fail_msg("test client: UID FETCH FLAGS: %d", r);
	for (it = clist_begin(res); it != NULL; it = clist_next(it)) {
		struct mailimap_msg_att *ma = clist_content(it);

		for (jt = clist_begin(ma->att_list); jt; jt = clist_next(jt)) {
			struct mailimap_msg_att_item *item = clist_content(jt);

			if (item->att_type != MAILIMAP_MSG_ATT_ITEM_DYNAMIC ||
			    item->att_data.att_dyn->att_list == NULL)
				continue;
			for (kt = clist_begin(item->att_data.att_dyn->att_list);
			     kt; kt = clist_next(kt)) {
				struct mailimap_flag_fetch *ff =
				    clist_content(kt);

				if (ff->fl_flag == NULL)
					continue;
				if ((strcmp(flag, "\\Seen") == 0 &&
					ff->fl_flag->fl_type ==
					    MAILIMAP_FLAG_SEEN) ||
				    (strcmp(flag, "\\Deleted") == 0 &&
					ff->fl_flag->fl_type ==
					    MAILIMAP_FLAG_DELETED))
					found = 1;
			}
		}
	}
	mailimap_fetch_list_free(res);
	return found;
}

/* ---- proxy ---------------------------------------------------------- */

struct trpt_proxy {
	int lfd;
	int target;
	size_t cut;
	int stall;
	int stop_pipe[2];
	pthread_t thread;
	pthread_mutex_t mu;
	int cut_done;
};

static int
dial(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Forwards one connection until either side closes or the cut. */
static void
proxy_session(struct trpt_proxy *p, int cfd)
{
	struct pollfd pfd[3];
	char buf[4096];
	size_t from_server = 0;
	ssize_t n;
	int sfd = dial(p->target), stalled = 0;

	if (sfd < 0) {
		close(cfd);
		return;
	}
	for (;;) {
		pfd[0].fd = cfd;
		pfd[0].events = stalled ? 0 : POLLIN;
		pfd[1].fd = sfd;
		pfd[1].events = stalled ? 0 : POLLIN;
		pfd[2].fd = p->stop_pipe[0];
		pfd[2].events = POLLIN;
		if (poll(pfd, 3, -1) < 0 && errno != EINTR)
			break;
		if (pfd[2].revents)
			break;
		if (stalled)
			continue;
		if (pfd[0].revents) {
			n = read(cfd, buf, sizeof(buf));
			if (n <= 0 || write(sfd, buf, (size_t)n) != n)
				break;
		}
		if (pfd[1].revents) {
			size_t want = sizeof(buf);

			if (p->cut > 0 && p->cut - from_server < want)
				want = p->cut - from_server;
			n = read(sfd, buf, want);
			if (n <= 0 || write(cfd, buf, (size_t)n) != n)
				break;
			from_server += (size_t)n;
			if (p->cut > 0 && from_server >= p->cut) {
				pthread_mutex_lock(&p->mu);
				p->cut_done = 1;
				pthread_mutex_unlock(&p->mu);
				if (!p->stall)
					break;
				stalled = 1;
			}
		}
	}
	close(sfd);
	close(cfd);
}

static void *
proxy_main(void *arg)
{
	struct trpt_proxy *p = arg;
	struct pollfd pfd[2];
	int cfd;

	for (;;) {
		pfd[0].fd = p->lfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = p->stop_pipe[0];
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (!pfd[0].revents)
			continue;
		cfd = accept(p->lfd, NULL, NULL);
		if (cfd >= 0)
			proxy_session(p, cfd);
	}
	return NULL;
}

struct trpt_proxy *
trpt_proxy_start(int target, size_t cut, int stall)
{
	struct trpt_proxy *p = calloc(1, sizeof(*p));
	struct sockaddr_in sa;
	int one = 1;

	assert_non_null(p);
	p->target = target;
	p->cut = cut;
	p->stall = stall;
	pthread_mutex_init(&p->mu, NULL);
	assert_int_equal(pipe(p->stop_pipe), 0);
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(p->lfd >= 0);
	setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(p->lfd, 4), 0);
	assert_int_equal(pthread_create(&p->thread, NULL, proxy_main, p), 0);
	return p;
}

int
trpt_proxy_port(const struct trpt_proxy *p)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

int
trpt_proxy_cut_done(struct trpt_proxy *p)
{
	int v;

	pthread_mutex_lock(&p->mu);
	v = p->cut_done;
	pthread_mutex_unlock(&p->mu);
	return v;
}

void
trpt_proxy_stop(struct trpt_proxy **pp)
{
	struct trpt_proxy *p = *pp;

	if (p == NULL)
		return;
	if (write(p->stop_pipe[1], "x", 1) != 1)
		fail_msg("proxy stop: %s", strerror(errno));
	pthread_join(p->thread, NULL);
	close(p->lfd);
	close(p->stop_pipe[0]);
	close(p->stop_pipe[1]);
	pthread_mutex_destroy(&p->mu);
	free(p);
	*pp = NULL;
}

/* ---- running the collector ---------------------------------------- */

pid_t
trpt_spawn_collector(const char *out, const char *err, const char *const *argv)
{
	const char *bin = getenv("TRPT_BINARY");
	const char *args[32];
	size_t i;
	pid_t pid;

	assert_non_null(bin);
	args[0] = bin;
	for (i = 0; argv[i] != NULL && i < 30; i++)
		args[i + 1] = argv[i];
	args[i + 1] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;

		if (out != NULL) {
			fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || dup2(fd, 1) < 0)
				_exit(126);
			close(fd);
		}
		if (err != NULL) {
			fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || dup2(fd, 2) < 0)
				_exit(126);
			close(fd);
		}
		execv(bin, (char *const *)(uintptr_t)args);
		_exit(127);
	}
	return pid;
}

int
trpt_wait_collector(pid_t pid)
{
	return trpt_wait_collector_usage(pid, NULL);
}

int
trpt_wait_collector_usage(pid_t pid, long *maxrss_kb)
{
	return trpt_wait_collector_rusage(pid, maxrss_kb, NULL);
}

int
trpt_wait_collector_rusage(pid_t pid, long *maxrss_kb, double *cpu_s)
{
	struct rusage ru;
	int status;

	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			fail_msg("wait4: %s", strerror(errno));
	if (maxrss_kb != NULL)
		*maxrss_kb = ru.ru_maxrss;
	if (cpu_s != NULL)
		*cpu_s = (double)ru.ru_utime.tv_sec +
			 (double)ru.ru_stime.tv_sec +
			 ((double)ru.ru_utime.tv_usec +
			     (double)ru.ru_stime.tv_usec) /
			     1e6;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int
trpt_run_collector(const char *out, const char *err, const char *const *argv)
{
	return trpt_wait_collector(trpt_spawn_collector(out, err, argv));
}

/* ---- generated report e-mails ------------------------------------- */

static char *
base64(const unsigned char *in, size_t len, size_t *outlen)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0, cap = (len + 2) / 3 * 4 + len / 57 * 2 + 4;
	char *out = malloc(cap);

	assert_non_null(out);
	for (i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
		if ((i / 3 + 1) % 19 == 0) {
			out[o++] = '\r';
			out[o++] = '\n';
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

char *
trpt_dovecot_report_mail(const char *tag, unsigned n, size_t *len)
{
	char json[2048], *gz, *b64, *mail, nbuf[16];
	const char *vals[3];
	size_t gzlen, b64len, cap;
	int jl, ml;

	jl = snprintf(json, sizeof(json),
	    "{\"organization-name\":\"Example Net\","
	    "\"date-range\":{\"start-datetime\":\"2026-03-02T00:00:00Z\","
	    "\"end-datetime\":\"2026-03-02T23:59:59Z\"},"
	    "\"contact-info\":\"tlsrpt@example.net\","
	    "\"report-id\":\"%s-%u\","
	    "\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
	    "\"policy-string\":[\"version: STSv1\",\"mode: enforce\","
	    "\"mx: mx.example.org\",\"max_age: 86400\"],"
	    "\"policy-domain\":\"example.org\","
	    "\"mx-host\":[\"mx.example.org\"]},"
	    "\"summary\":{\"total-successful-session-count\":%u,"
	    "\"total-failure-session-count\":1},"
	    "\"failure-details\":[{\"result-type\":\"certificate-expired\","
	    "\"sending-mta-ip\":\"192.0.2.1\","
	    "\"receiving-mx-hostname\":\"mx.example.org\","
	    "\"failed-session-count\":1}]}]}",
	    tag, n, 100 + n);
	gz = trpt_test_gzip(json, (size_t)jl, &gzlen);
	b64 = base64((const unsigned char *)gz, gzlen, &b64len);
	free(gz);
	cap = b64len + 2048;
	mail = malloc(cap);
	assert_non_null(mail);
	snprintf(nbuf, sizeof(nbuf), "%u", n);
	vals[0] = tag;
	vals[1] = nbuf;
	vals[2] = b64;
	expand(mail, cap,
	    "From: noreply-smtp-tls-reporting@example.net\r\n"
	    "To: tlsrpt@example.org\r\n"
	    "Subject: Report Domain: example.org Submitter: example.net "
	    "Report-ID: <@A@-@B@@example.net>\r\n"
	    "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
	    "Message-ID: <@A@-@B@@example.net>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "TLS-Report-Domain: example.org\r\n"
	    "TLS-Report-Submitter: example.net\r\n"
	    "Content-Type: multipart/report; report-type=\"tlsrpt\"; "
	    "boundary=\"b-@A@-@B@\"\r\n"
	    "\r\n"
	    "--b-@A@-@B@\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n"
	    "This is an aggregate TLS report from example.net.\r\n"
	    "\r\n"
	    "--b-@A@-@B@\r\n"
	    "Content-Type: application/tlsrpt+gzip\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment;\r\n"
	    " filename=\"example.net!example.org!1772409600!1772495999!"
	    "@A@-@B@.json.gz\"\r\n"
	    "\r\n"
	    "@C@\r\n"
	    "--b-@A@-@B@--\r\n",
	    vals);
	ml = (int)strlen(mail);
	free(b64);
	assert_true(ml > 0 && (size_t)ml < cap);
	*len = (size_t)ml;
	return mail;
}

void
trpt_dovecot_maildir_name(
    char *buf, size_t len, unsigned i, const char *mail, size_t mlen)
{
	size_t k, vsize = mlen;

	/* W=: the size with CRLF line ends, as RFC822.SIZE counts it. */
	for (k = 0; k < mlen; k++)
		if (mail[k] == '\n' && (k == 0 || mail[k - 1] != '\r'))
			vsize++;
	snprintf(buf, len, "%u.M%uP%u.bench,S=%zu,W=%zu:2,",
	    1700000000u + i / 4, (i * 7919u + 13u) % 1000000u,
	    4000u + (i * 131u) % 60000u, mlen, vsize);
}

void
trpt_dovecot_fill_maildir(const struct trpt_dovecot *d, const char *mailbox,
    const char *tag, unsigned n)
{
	char dir[512], file[700], name[128];
	unsigned i;

	snprintf(dir, sizeof(dir), "%s/mail/%s/.%s", d->dir, TRPT_DOVECOT_USER,
	    mailbox);
	sh("mkdir -p '%s/cur' '%s/new' '%s/tmp'", dir, dir, dir);
	for (i = 0; i < n; i++) {
		size_t len;
		char *mail = trpt_dovecot_report_mail(tag, i, &len);

		trpt_dovecot_maildir_name(name, sizeof(name), i, mail, len);
		snprintf(file, sizeof(file), "%s/cur/%s", dir, name);
		trpt_test_write(file, mail, len);
		free(mail);
	}
	sh("chown -R dovecot:dovecot '%s/mail'", d->dir);
}

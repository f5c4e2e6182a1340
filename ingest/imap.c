#include "ingest/imap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "common/datetime.h"
#include "common/limits.h"
#include "ingest/imap_io.h"

#define DEFAULT_CONNECT_TIMEOUT 30
#define DEFAULT_TIMEOUT         60
/* Bytes of any answer but a FETCH of bodies or sizes: greetings, LOGIN,
 * SELECT, STORE, capability lists are a few kB. */
#define SMALL_ANSWER (1024u * 1024)
/* Bytes allowed per message in a FETCH answer besides the body itself. */
#define PER_MESSAGE 1024u
/* libetpan's read buffer: each read of the stream asks the socket (or
 * GnuTLS) for at most this many bytes.  Not larger: libetpan moves what
 * is left in it to its start after every line and every read it hands
 * over (mailstream.c, memmove).  With 64 kB a plain fetch of 10,000
 * mails took 266 recv() calls instead of 1,707 but 3-5 % more CPU. */
#define STREAM_BUFFER 8192

struct trpt_imap {
	const struct trpt_imap_conf *conf;
	mailimap *imap;
	struct trpt_imap_io io;
	size_t max_message;
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

int
trpt__imap_fail(
    struct trpt_imap *c, int code, struct trpt_err *err, const char *what)
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
	trpt_imap_io_init(&c->io);
	c->io.timeout_ms =
	    (int)(conf->timeout ? conf->timeout : DEFAULT_TIMEOUT) * 1000;
	trpt_imap_io_set_deadline(
	    &c->io, conf->deadline ? conf->deadline : TRPT_IMAP_DEADLINE);
	/* Until a command says otherwise, answers are small. */
	c->max_message =
	    conf->max_message ? conf->max_message : TRPT_MAX_MESSAGE_DEFAULT;
	c->io.max_literal = SMALL_ANSWER;
	trpt_imap_io_expect(&c->io, SMALL_ANSWER);
	if ((rc = trpt_imap_io_connect(&c->io, conf->name, conf->host,
		 conf->port, conf->security == TRPT_IMAP_NONE,
		 conf->connect_timeout ? conf->connect_timeout
				       : DEFAULT_CONNECT_TIMEOUT,
		 err)) != TRPT_OK)
		goto out;
	if (conf->security == TRPT_IMAP_TLS &&
	    (rc = trpt_imap_io_tls(&c->io, conf->name, conf->host, conf->port,
		 conf->ca_file, err)) != TRPT_OK)
		goto out;
	c->imap = mailimap_new(0, NULL);
	low = c->imap != NULL ? trpt_imap_io_low(&c->io) : NULL;
	stream = low != NULL ? mailstream_new(low, STREAM_BUFFER) : NULL;
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
		rc = trpt__imap_fail(c, r, err, what);
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
			rc = trpt__imap_fail(c, r, err, "STARTTLS refused");
			goto out;
		}
		if ((rc = trpt_imap_io_tls(&c->io, conf->name, conf->host,
			 conf->port, conf->ca_file, err)) != TRPT_OK)
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
			rc = trpt__imap_fail(c, r, err, what);
			goto out;
		}
	}
	c->logged_in = 1;
	trpt_imap_io_expect(&c->io, SMALL_ANSWER);
	r = mailimap_capability(c->imap, &caps);
	if (r != MAILIMAP_NO_ERROR) {
		rc = trpt__imap_fail(c, r, err, "CAPABILITY");
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
		if (c->logged_in && !c->io.broken && c->imap->imap_stream) {
			trpt_imap_io_expect(&c->io, SMALL_ANSWER);
			mailimap_logout(c->imap);
		}
		mailimap_free(c->imap);
	}
	trpt_imap_io_close(&c->io);
	free(c);
	*cp = NULL;
}

void *
trpt_imap_session(struct trpt_imap *c)
{
	return c->imap;
}

void
trpt__imap_restart_deadline(struct trpt_imap *c)
{
	trpt_imap_io_set_deadline(
	    &c->io, c->conf->deadline ? c->conf->deadline : TRPT_IMAP_DEADLINE);
}

int
trpt__imap_has(struct trpt_imap *c, const char *capability)
{
	return mailimap_has_extension(c->imap, (char *)capability);
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
	if (conf->security == TRPT_IMAP_NONE &&
	    !trpt_imap_io_is_loopback_name(conf->host))
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
/* ---- commands ------------------------------------------------------ */

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
	const struct trpt__imap_entry *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* One entry per UID: unsolicited FETCH responses may repeat a UID. */
static size_t
merge_entries(struct trpt__imap_entry *v, size_t n)
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

int
trpt__imap_select(struct trpt_imap *c, const char *mailbox, int read_only,
    struct trpt__imap_mbox *out, struct trpt_err *err)
{
	struct mailimap_selection_info *si;
	char what[300];
	int e, rc;

	trpt_imap_io_expect(&c->io, SMALL_ANSWER);
	c->io.max_literal = SMALL_ANSWER;
	if (read_only)
		e = mailimap_examine(c->imap, mailbox);
	else
		e = mailimap_select(c->imap, mailbox);
	if (e != MAILIMAP_NO_ERROR) {
		snprintf(what, sizeof(what), "mailbox \"%s\"", mailbox);
		rc = trpt__imap_fail(c, e, err, what);
		if (rc == TRPT_ETEMP && e != MAILIMAP_ERROR_STREAM &&
		    e != MAILIMAP_ERROR_PARSE)
			rc = TRPT_ENOTFOUND;
		return rc;
	}
	si = c->imap->imap_selection_info;
	if (si == NULL || si->sel_uidvalidity == 0)
		return trpt_err_set(err, TRPT_EPARSE,
		    "%s: mailbox \"%s\": server sent no UIDVALIDITY",
		    c->conf->name, mailbox);
	out->uidvalidity = si->sel_uidvalidity;
	out->uidnext = si->sel_uidnext;
	out->exists = si->sel_exists;
	return TRPT_OK;
}

/*
 * A FETCH line with UID, RFC822.SIZE and INTERNALDATE is about 100 bytes;
 * 256 a UID leaves room for unsolicited FLAGS.
 */
#define SIZE_LINE 256u

/* The UIDs in lo:hi with, when sizes, their RFC822.SIZE and INTERNALDATE. */
static int
fetch_entries(struct trpt_imap *c, const char *mailbox, uint32_t lo,
    uint32_t hi, int sizes, struct trpt__imap_entry **out, size_t *n,
    struct trpt_err *err)
{
	struct mailimap_fetch_type *ft;
	struct mailimap_set *set;
	clist *res = NULL;
	clistiter *it;
	struct trpt__imap_entry *v = NULL;
	uint64_t span = hi >= lo ? (uint64_t)hi - lo + 1 : 1;
	size_t cnt = 0;
	int e, rc;

	set = mailimap_set_new_interval(lo, hi);
	ft = mailimap_fetch_type_new_fetch_att_list_empty();
	if (set == NULL || ft == NULL ||
	    mailimap_fetch_type_new_fetch_att_list_add(
		ft, mailimap_fetch_att_new_uid()) != MAILIMAP_NO_ERROR ||
	    (sizes && (mailimap_fetch_type_new_fetch_att_list_add(
			   ft, mailimap_fetch_att_new_rfc822_size()) !=
			      MAILIMAP_NO_ERROR ||
			  mailimap_fetch_type_new_fetch_att_list_add(
			      ft, mailimap_fetch_att_new_internaldate()) !=
			      MAILIMAP_NO_ERROR))) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	/* A window holds at most span UIDs (hi = 0 is "*": one). */
	trpt_imap_io_expect(&c->io, SMALL_ANSWER + (size_t)span * SIZE_LINE);
	c->io.max_literal = SMALL_ANSWER;
	e = mailimap_uid_fetch(c->imap, set, ft, &res);
	if (e != MAILIMAP_NO_ERROR) {
		char what[300];

		snprintf(
		    what, sizeof(what), "%s: UID FETCH %u:%u", mailbox, lo, hi);
		rc = trpt__imap_fail(c, e, err, what);
		res = NULL;
		goto out;
	}
	v = calloc((size_t)clist_count(res) + 1, sizeof(*v));
	if (v == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	for (it = clist_begin(res); it != NULL; it = clist_next(it)) {
		struct trpt__imap_entry en = { 0, 0, 0 };

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

int
trpt__imap_sizes(struct trpt_imap *c, const char *mailbox, uint32_t lo,
    uint32_t hi, struct trpt__imap_entry **out, size_t *n, struct trpt_err *err)
{
	return fetch_entries(c, mailbox, lo, hi, 1, out, n, err);
}

/* A UID in a SEARCH answer: " 4294967295" is 11 bytes. */
#define SEARCH_UID 12u

int
trpt__imap_list(struct trpt_imap *c, const char *mailbox, uint32_t lo,
    uint32_t hi, struct trpt__imap_entry **out, size_t *n, struct trpt_err *err)
{
	struct mailimap_search_key *key = NULL;
	struct mailimap_set *set;
	clist *res = NULL;
	clistiter *it;
	struct trpt__imap_entry *v = NULL;
	uint64_t span = hi >= lo ? (uint64_t)hi - lo + 1 : 1;
	size_t cnt = 0;
	int e, rc;

	set = mailimap_set_new_interval(lo, hi);
	if (set != NULL && (key = mailimap_search_key_new_uid(set)) == NULL)
		mailimap_set_free(set);
	if (key == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	/* One line of at most span UIDs, besides unsolicited answers. */
	trpt_imap_io_expect(&c->io, SMALL_ANSWER + (size_t)span * SEARCH_UID);
	c->io.max_literal = SMALL_ANSWER;
	e = mailimap_uid_search(c->imap, NULL, key, &res);
	if (e != MAILIMAP_NO_ERROR) {
		char what[300];

		snprintf(what, sizeof(what), "%s: UID SEARCH UID %u:%u",
		    mailbox, lo, hi);
		rc = trpt__imap_fail(c, e, err, what);
		res = NULL;
		goto out;
	}
	v = calloc((size_t)clist_count(res) + 1, sizeof(*v));
	if (v == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	for (it = clist_begin(res); it != NULL; it = clist_next(it)) {
		const uint32_t *uid = clist_content(it);

		/* A UID outside the range asked for is not ours. */
		if (uid == NULL || *uid < lo || *uid > hi)
			continue;
		v[cnt].uid = *uid;
		v[cnt].size = 0;
		v[cnt].date = 0;
		cnt++;
	}
	qsort(v, cnt, sizeof(*v), cmp_entry);
	cnt = merge_entries(v, cnt);
	*out = v;
	*n = cnt;
	v = NULL;
	rc = TRPT_OK;
out:
	if (res != NULL)
		mailimap_search_result_free(res);
	mailimap_search_key_free(key);
	free(v);
	return rc;
}

int
trpt__imap_max_uid(struct trpt_imap *c, const char *mailbox, uint32_t *out,
    struct trpt_err *err)
{
	struct trpt__imap_entry *v = NULL;
	size_t n = 0;
	int rc;

	/* "*" is the highest UID; lo = 0 in libetpan means "*".  Only its
	 * UID: with RFC822.SIZE and INTERNALDATE, Dovecot 2.3 answered in
	 * 7-8 ms instead of 0.3-0.5 ms (10,000 messages in a Maildir; it
	 * looks the file up), before any message of the run was fetched. */
	rc = fetch_entries(c, mailbox, 0, 0, 0, &v, &n, err);
	if (rc == TRPT_OK)
		*out = n > 0 ? v[n - 1].uid : 0;
	free(v);
	return rc;
}

uint64_t
trpt__imap_count_after(struct trpt_imap *c, uint32_t last_uid, uint32_t exists)
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
	trpt_imap_io_expect(&c->io, SMALL_ANSWER);
	if (set != NULL && ft != NULL &&
	    mailimap_uid_fetch(c->imap, set, ft, &res) == MAILIMAP_NO_ERROR) {
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

void
trpt__imap_bodies_free(struct trpt__imap_bodies *b)
{
	if (b->res != NULL)
		mailimap_fetch_list_free(b->res);
	free(b->body);
	free(b->len);
	memset(b, 0, sizeof(*b));
}

/*
 * The set of v[0..n-1] (sorted by UID), runs of consecutive UIDs as
 * ranges.
 */
static struct mailimap_set *
entry_set(const struct trpt__imap_entry *v, size_t n)
{
	struct mailimap_set *set = mailimap_set_new_empty();
	size_t i, j;

	for (i = 0; set != NULL && i < n; i = j) {
		for (j = i + 1; j < n && v[j].uid == v[j - 1].uid + 1; j++)
			;
		if (mailimap_set_add_interval(set, v[i].uid, v[j - 1].uid) !=
		    MAILIMAP_NO_ERROR) {
			mailimap_set_free(set);
			set = NULL;
		}
	}
	return set;
}

/* (UID BODY.PEEK[<section>]<0.limit>): never more than limit bytes of a
 * message, whatever RFC822.SIZE said; with sizes, RFC822.SIZE and
 * INTERNALDATE too. */
static struct mailimap_fetch_type *
section_fetch_type(int header_only, size_t limit, int sizes)
{
	struct mailimap_fetch_type *ft;
	struct mailimap_fetch_att *fa = NULL;
	struct mailimap_section *sec;

	ft = mailimap_fetch_type_new_fetch_att_list_empty();
	sec = header_only ? mailimap_section_new_header()
			  : mailimap_section_new(NULL);
	if (sec != NULL &&
	    (fa = mailimap_fetch_att_new_body_peek_section_partial(
		 sec, 0, (uint32_t)limit)) == NULL)
		mailimap_section_free(sec);
	if (ft == NULL || fa == NULL ||
	    mailimap_fetch_type_new_fetch_att_list_add(
		ft, mailimap_fetch_att_new_uid()) != MAILIMAP_NO_ERROR ||
	    (sizes && (mailimap_fetch_type_new_fetch_att_list_add(
			   ft, mailimap_fetch_att_new_rfc822_size()) !=
			      MAILIMAP_NO_ERROR ||
			  mailimap_fetch_type_new_fetch_att_list_add(
			      ft, mailimap_fetch_att_new_internaldate()) !=
			      MAILIMAP_NO_ERROR)) ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft, fa) !=
		MAILIMAP_NO_ERROR) {
		if (fa != NULL)
			mailimap_fetch_att_free(fa);
		if (ft != NULL)
			mailimap_fetch_type_free(ft);
		return NULL;
	}
	return ft;
}

/*
 * What was asked for, and nothing more: each body at most limit bytes (a
 * literal announced larger is refused before libetpan makes room for
 * it), plus the FETCH lines around them.  Entries of size 0 were listed
 * without a size (it comes with the body): up to limit each.
 */
static size_t
sections_budget(
    const struct trpt__imap_entry *v, size_t n, int header_only, size_t limit)
{
	size_t i, budget = SMALL_ANSWER + limit;

	for (i = 0; i < n; i++) {
		size_t want = header_only || v[i].size == 0 ? limit
			      : v[i].size < limit           ? v[i].size
							    : limit;
		/* Some servers' RFC822.SIZE is a little off the body they
		 * send (line ends): an eighth more is allowed. */
		size_t one = want + want / 8 + PER_MESSAGE;

		if (budget > SIZE_MAX - one)
			return SIZE_MAX;
		budget += one;
	}
	return budget;
}

struct stream_ctx {
	trpt__imap_each_fn *fn;
	void *arg;
	size_t seen; /* FETCH responses handed over */
};

static void
stream_att(struct mailimap_msg_att *ma, void *arg)
{
	struct stream_ctx *sc = arg;
	struct trpt__imap_entry got = { 0, 0, 0 };
	const char *body = NULL;
	size_t len = 0;

	msg_att_read(ma, &got.uid, &got.size, &got.date, &body, &len);
	sc->seen++;
	sc->fn(sc->arg, &got, body, len);
}

/* libetpan hands FETCH responses to the msg_att handler only when a
 * progress callback is set. */
static void
stream_progress(size_t current, size_t maximum, void *arg)
{
	(void)current;
	(void)maximum;
	(void)arg;
}

int
trpt__imap_stream_bodies(struct trpt_imap *c, const char *mailbox,
    const struct trpt__imap_entry *v, size_t n, int sizes,
    trpt__imap_each_fn *fn, void *arg, struct trpt_err *err)
{
	/* One byte more than max_message tells an oversized body. */
	size_t limit = c->max_message + 1;
	struct mailimap_fetch_type *ft = NULL;
	struct mailimap_set *set = NULL;
	struct stream_ctx sc;
	clist *res = NULL;
	int e, rc;

	set = entry_set(v, n);
	ft = section_fetch_type(0, limit, sizes);
	if (set == NULL || ft == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	trpt_imap_io_expect(&c->io, sections_budget(v, n, 0, limit));
	/* Each body is freed once handed over; what libetpan keeps until
	 * the end of the answer is the text around them. */
	trpt_imap_io_expect_lines(
	    &c->io, n < (SIZE_MAX - SMALL_ANSWER) / PER_MESSAGE
			? SMALL_ANSWER + n * PER_MESSAGE
			: SIZE_MAX);
	c->io.max_literal = limit;
	sc.fn = fn;
	sc.arg = arg;
	sc.seen = 0;
	mailimap_set_msg_att_handler(c->imap, stream_att, &sc);
	mailimap_set_progress_callback(
	    c->imap, stream_progress, stream_progress, NULL);
	e = mailimap_uid_fetch(c->imap, set, ft, &res);
	mailimap_set_progress_callback(c->imap, NULL, NULL, NULL);
	mailimap_set_msg_att_handler(c->imap, NULL, NULL);
	c->io.max_literal = SMALL_ANSWER;
	/* As libetpan's own UID FETCH: a NO that came with messages (some
	 * were expunged meanwhile) is an answer; the sync loop stops before
	 * any message left out. */
	if (e == MAILIMAP_ERROR_UID_FETCH && sc.seen > 0)
		e = MAILIMAP_NO_ERROR;
	if (e != MAILIMAP_NO_ERROR) {
		char what[300];

		res = NULL;
		snprintf(what, sizeof(what), "%s: UID FETCH of %zu message%s",
		    mailbox, n, n == 1 ? "" : "s");
		rc = trpt__imap_fail(c, e, err, what);
		goto out;
	}
	rc = TRPT_OK;
out:
	if (res != NULL)
		mailimap_fetch_list_free(res);
	if (set != NULL)
		mailimap_set_free(set);
	if (ft != NULL)
		mailimap_fetch_type_free(ft);
	return rc;
}

/* One FETCH of v[0..n-1], kept whole in *out. */
static int
fetch_sections(struct trpt_imap *c, const char *mailbox,
    const struct trpt__imap_entry *v, size_t n, int header_only,
    struct trpt__imap_bodies *out, struct trpt_err *err)
{
	size_t limit = header_only ? c->max_message : c->max_message + 1;
	struct mailimap_fetch_type *ft = NULL;
	struct mailimap_set *set = NULL;
	clist *res = NULL;
	clistiter *it;
	struct trpt__imap_bodies b;
	int e, rc;

	memset(&b, 0, sizeof(b));
	set = entry_set(v, n);
	ft = section_fetch_type(header_only, limit, 0);
	b.body = calloc(n, sizeof(*b.body));
	b.len = calloc(n, sizeof(*b.len));
	if (set == NULL || ft == NULL || b.body == NULL || b.len == NULL) {
		rc = trpt_err_set(err, TRPT_ENOMEM, "out of memory");
		goto out;
	}
	trpt_imap_io_expect(&c->io, sections_budget(v, n, header_only, limit));
	c->io.max_literal = limit;
	e = mailimap_uid_fetch(c->imap, set, ft, &res);
	c->io.max_literal = SMALL_ANSWER;
	if (e != MAILIMAP_NO_ERROR) {
		char what[300];

		res = NULL;
		snprintf(what, sizeof(what), "%s: UID FETCH of %zu message%s",
		    mailbox, n, n == 1 ? "" : "s");
		rc = trpt__imap_fail(c, e, err, what);
		goto out;
	}
	for (it = clist_begin(res); it != NULL; it = clist_next(it)) {
		uint32_t uid = 0;
		const char *body = NULL;
		size_t len = 0;
		struct trpt__imap_entry key, *hit;

		msg_att_read(clist_content(it), &uid, NULL, NULL, &body, &len);
		key.uid = uid;
		hit = bsearch(&key, v, n, sizeof(*v), cmp_entry);
		if (hit != NULL && body != NULL) {
			b.body[hit - v] = body;
			b.len[hit - v] = len;
		}
	}
	b.res = res;
	b.n = n;
	res = NULL;
	*out = b;
	memset(&b, 0, sizeof(b));
	rc = TRPT_OK;
out:
	if (res != NULL)
		mailimap_fetch_list_free(res);
	if (set != NULL)
		mailimap_set_free(set);
	if (ft != NULL)
		mailimap_fetch_type_free(ft);
	trpt__imap_bodies_free(&b);
	return rc;
}

int
trpt__imap_header(struct trpt_imap *c, const char *mailbox,
    const struct trpt__imap_entry *en, struct trpt__imap_bodies *out,
    struct trpt_err *err)
{
	return fetch_sections(c, mailbox, en, 1, 1, out, err);
}

/* The set of uids[0..n-1]. */
static int
uid_set(const uint32_t *uids, size_t n, struct mailimap_set **out,
    struct trpt_err *err)
{
	struct mailimap_set *set = mailimap_set_new_empty();
	size_t i;

	for (i = 0; set != NULL && i < n; i++)
		if (mailimap_set_add_single(set, uids[i]) !=
		    MAILIMAP_NO_ERROR) {
			mailimap_set_free(set);
			set = NULL;
		}
	if (set == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	*out = set;
	return TRPT_OK;
}

/* "UID 7" or "7 UIDs from 3" for messages. */
static void
uids_text(const uint32_t *uids, size_t n, char *buf, size_t len)
{
	if (n == 1)
		snprintf(buf, len, "UID %u", uids[0]);
	else
		snprintf(buf, len, "%zu UIDs from %u", n, uids[0]);
}

int
trpt__imap_flag(struct trpt_imap *c, const uint32_t *uids, size_t n,
    int deleted, struct trpt_err *err)
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
	if ((rc = uid_set(uids, n, &set, err)) != TRPT_OK)
		goto out;
	trpt_imap_io_expect(&c->io, SMALL_ANSWER + n * PER_MESSAGE);
	e = mailimap_uid_store(c->imap, set, sf);
	if (e != MAILIMAP_NO_ERROR) {
		char what[100], u[64];

		uids_text(uids, n, u, sizeof(u));
		snprintf(what, sizeof(what), "UID STORE +FLAGS of %s", u);
		rc = trpt__imap_fail(c, e, err, what);
	}
out:
	mailimap_store_att_flags_free(sf);
	if (set != NULL)
		mailimap_set_free(set);
	return rc;
}

int
trpt__imap_expunge(
    struct trpt_imap *c, const uint32_t *uids, size_t n, struct trpt_err *err)
{
	struct mailimap_set *set = NULL;
	int e, rc;

	if (!trpt__imap_has(c, "UIDPLUS"))
		return TRPT_OK; /* \Deleted is set; the user's client
				   expunges */
	if ((rc = uid_set(uids, n, &set, err)) != TRPT_OK)
		return rc;
	trpt_imap_io_expect(&c->io, SMALL_ANSWER + n * PER_MESSAGE);
	e = mailimap_uid_expunge(c->imap, set);
	mailimap_set_free(set);
	if (e != MAILIMAP_NO_ERROR) {
		char what[100], u[64];

		uids_text(uids, n, u, sizeof(u));
		snprintf(what, sizeof(what), "UID EXPUNGE of %s", u);
		return trpt__imap_fail(c, e, err, what);
	}
	return TRPT_OK;
}

int
trpt__imap_move(struct trpt_imap *c, const char *mailbox, const uint32_t *uids,
    size_t n, const char *folder, struct trpt_err *err)
{
	struct mailimap_set *set = NULL;
	int e, rc, has_move = trpt__imap_has(c, "MOVE");

	if ((rc = uid_set(uids, n, &set, err)) != TRPT_OK)
		return rc;
	trpt_imap_io_expect(&c->io, SMALL_ANSWER + n * PER_MESSAGE);
	if (has_move)
		e = mailimap_uid_move(c->imap, set, folder);
	else
		e = mailimap_uid_copy(c->imap, set, folder);
	mailimap_set_free(set);
	if (e != MAILIMAP_NO_ERROR) {
		char what[400], u[64];

		uids_text(uids, n, u, sizeof(u));
		snprintf(what, sizeof(what), "%s: move %s to %s", mailbox, u,
		    folder);
		return trpt__imap_fail(c, e, err, what);
	}
	if (!has_move && (rc = trpt__imap_flag(c, uids, n, 1, err)) == TRPT_OK)
		rc = trpt__imap_expunge(c, uids, n, err);
	return rc;
}

int
trpt__imap_idle(struct trpt_imap *c, const char *mailbox, int wake_fd,
    unsigned seconds, int *woke, struct trpt_err *err)
{
	char what[300];
	int e, w;

	snprintf(what, sizeof(what), "%s: IDLE", mailbox);
	trpt_imap_io_expect(&c->io, SMALL_ANSWER);
	c->io.max_literal = SMALL_ANSWER;
	/* The wait below has no deadline; the commands around it do. */
	c->io.deadline_ms = 0;
	e = mailimap_idle(c->imap);
	if (e != MAILIMAP_NO_ERROR)
		return trpt__imap_fail(c, e, err, what);
	/* An untagged answer that came with the continuation is already
	 * in libetpan's buffer: no need to wait for it. */
	if (c->imap->imap_stream != NULL &&
	    c->imap->imap_stream->read_buffer_len != 0)
		w = 1;
	else
		w = trpt_imap_io_wait_idle(
		    &c->io, wake_fd, seconds > 0 ? (int)seconds * 1000 : -1);
	if (w < 0)
		return trpt_err_set(err, TRPT_ETEMP, "%s: %s: %s",
		    c->conf->name, what, c->io.why);
	trpt__imap_restart_deadline(c);
	trpt_imap_io_expect(&c->io, SMALL_ANSWER);
	e = mailimap_idle_done(c->imap);
	if (e != MAILIMAP_NO_ERROR)
		return trpt__imap_fail(c, e, err, what);
	*woke = w;
	return TRPT_OK;
}

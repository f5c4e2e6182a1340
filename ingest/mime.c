#include "ingest/mime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

struct walk {
	const struct trpt_limits *lim;
	struct trpt_mime_msg *msg;
	size_t leaves; /* leaf parts seen, against max_parts */
	int depth;
	struct trpt_err *err;
};

#define MAX_MIME_DEPTH 16 /* nested multiparts and message/rfc822 */

static const char *const candidate_types[] = { "application/tlsrpt+gzip",
	"application/tlsrpt+json", "application/tlsrpt", "application/gzip",
	"application/x-gzip", "application/json", "application/octet-stream",
	NULL };

int
trpt_mime_looks_like_message(const char *data, size_t len)
{
	size_t i;

	/* The first line is a header field: a name of printable characters
	 * other than ':' and space, then ':'. */
	for (i = 0; i < len && i < 998; i++) {
		unsigned char c = (unsigned char)data[i];

		if (c == ':')
			return i > 0;
		if (c <= 32 || c >= 127)
			return 0;
	}
	return 0;
}

static char *
lower_dup(const char *s)
{
	char *d = strdup(s), *p;

	if (d != NULL)
		for (p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return d;
}

/* "type/subtype" of a part, lower case; text/plain when absent. */
static char *
content_type(const struct mailmime_content *ct)
{
	const char *type = "text", *sub = "plain";
	char buf[256];

	if (ct != NULL && ct->ct_type != NULL) {
		if (ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE) {
			const struct mailmime_discrete_type *d =
			    ct->ct_type->tp_data.tp_discrete_type;

			switch (d->dt_type) {
			case MAILMIME_DISCRETE_TYPE_TEXT:
				type = "text";
				break;
			case MAILMIME_DISCRETE_TYPE_IMAGE:
				type = "image";
				break;
			case MAILMIME_DISCRETE_TYPE_AUDIO:
				type = "audio";
				break;
			case MAILMIME_DISCRETE_TYPE_VIDEO:
				type = "video";
				break;
			case MAILMIME_DISCRETE_TYPE_APPLICATION:
				type = "application";
				break;
			default:
				type = d->dt_extension != NULL ? d->dt_extension
							       : "x-unknown";
			}
		} else {
			const struct mailmime_composite_type *c =
			    ct->ct_type->tp_data.tp_composite_type;

			type = c->ct_type == MAILMIME_COMPOSITE_TYPE_MESSAGE
				   ? "message"
			       : c->ct_type == MAILMIME_COMPOSITE_TYPE_MULTIPART
				   ? "multipart"
				   : (c->ct_token != NULL ? c->ct_token
							  : "x-unknown");
		}
		if (ct->ct_subtype != NULL)
			sub = ct->ct_subtype;
	}
	snprintf(buf, sizeof(buf), "%s/%s", type, sub);
	return lower_dup(buf);
}

static const char *
content_param(const struct mailmime_content *ct, const char *name)
{
	clistiter *it;

	if (ct == NULL || ct->ct_parameters == NULL)
		return NULL;
	for (it = clist_begin(ct->ct_parameters); it != NULL;
	     it = clist_next(it)) {
		const struct mailmime_parameter *p = clist_content(it);

		if (p->pa_name != NULL && strcasecmp(p->pa_name, name) == 0)
			return p->pa_value;
	}
	return NULL;
}

static int
is_candidate(const char *type)
{
	size_t i;

	for (i = 0; candidate_types[i] != NULL; i++)
		if (strcmp(type, candidate_types[i]) == 0)
			return 1;
	return 0;
}

static char *
trimmed_dup(const char *s, size_t n)
{
	char *d, *o;
	size_t i;

	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	d = malloc(n + 1);
	if (d == NULL)
		return NULL;
	/* Unfold: CRLF or LF followed by white space becomes one space. */
	for (o = d, i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			while (
			    i + 1 < n && (s[i + 1] == '\r' || s[i + 1] == '\n'))
				i++;
			*o++ = ' ';
			while (
			    i + 1 < n && (s[i + 1] == ' ' || s[i + 1] == '\t'))
				i++;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return d;
}

/* Message-ID without its angle brackets. */
static char *
message_id(const char *v)
{
	size_t n = strlen(v);

	if (n >= 2 && v[0] == '<' && v[n - 1] == '>')
		return trimmed_dup(v + 1, n - 2);
	return trimmed_dup(v, n);
}

static int
set_once(char **dst, char *v, struct walk *w)
{
	if (v == NULL)
		return trpt_err_set(w->err, TRPT_ENOMEM, "out of memory");
	if (*dst == NULL)
		*dst = v;
	else
		free(v);
	return TRPT_OK;
}

/* The top-level headers the collector keeps. */
static int
read_headers(struct walk *w, const struct mailimf_fields *fields)
{
	struct trpt_mime_msg *m = w->msg;
	clistiter *it;
	int rc = TRPT_OK;

	if (fields == NULL)
		return TRPT_OK;
	for (it = clist_begin(fields->fld_list); it != NULL && rc == TRPT_OK;
	     it = clist_next(it)) {
		const struct mailimf_field *f = clist_content(it);

		switch (f->fld_type) {
		case MAILIMF_FIELD_MESSAGE_ID:
			if (f->fld_data.fld_message_id->mid_value != NULL)
				rc = set_once(&m->message_id,
				    strdup(
					f->fld_data.fld_message_id->mid_value),
				    w);
			break;
		case MAILIMF_FIELD_SUBJECT:
			if (f->fld_data.fld_subject->sbj_value != NULL)
				rc = set_once(&m->subject,
				    trimmed_dup(
					f->fld_data.fld_subject->sbj_value,
					strlen(f->fld_data.fld_subject
						   ->sbj_value)),
				    w);
			break;
		case MAILIMF_FIELD_OPTIONAL_FIELD: {
			const struct mailimf_optional_field *o =
			    f->fld_data.fld_optional_field;
			char **dst = NULL;

			if (o->fld_name == NULL || o->fld_value == NULL)
				break;
			if (strcasecmp(o->fld_name, "TLS-Report-Domain") == 0)
				dst = &m->report_domain;
			else if (strcasecmp(
				     o->fld_name, "TLS-Report-Submitter") == 0)
				dst = &m->report_submitter;
			else if (strcasecmp(o->fld_name, "Message-ID") == 0)
				/* libetpan leaves an unparseable one here */
				dst = &m->message_id;
			if (dst != NULL) {
				char *v = dst == &m->message_id
					      ? message_id(o->fld_value)
					      : trimmed_dup(o->fld_value,
						    strlen(o->fld_value));
				rc = set_once(dst, v, w);
				if (dst != &m->message_id)
					m->claims_tlsrpt = 1;
			}
			break;
		}
		default:
			break;
		}
	}
	return rc;
}

static int
add_part(struct walk *w, const struct mailmime *mime, char *type)
{
	struct trpt_mime_msg *m = w->msg;
	struct mailmime_single_fields sf;
	const struct mailmime_data *d = mime->mm_data.mm_single;
	struct trpt_mime_part *np, *part;
	const char *fname;
	char *decoded = NULL;
	size_t idx = 0, dlen = 0;
	int enc, r;

	if (d == NULL || d->dt_type != MAILMIME_DATA_TEXT) {
		free(type);
		return TRPT_OK;
	}
	enc = d->dt_encoded ? d->dt_encoding : MAILMIME_MECHANISM_8BIT;
	if (enc == MAILMIME_MECHANISM_BASE64 ||
	    enc == MAILMIME_MECHANISM_QUOTED_PRINTABLE) {
		r = mailmime_part_parse(d->dt_data.dt_text.dt_data,
		    d->dt_data.dt_text.dt_length, &idx, enc, &decoded, &dlen);
		if (r != MAILIMF_NO_ERROR) {
			free(type);
			return trpt_err_set(w->err,
			    r == MAILIMF_ERROR_MEMORY ? TRPT_ENOMEM
						      : TRPT_EPARSE,
			    "part %zu: cannot decode its transfer encoding",
			    w->leaves);
		}
	}
	np = realloc(m->parts, (m->nparts + 1) * sizeof(*np));
	if (np == NULL)
		goto oom;
	m->parts = np;
	part = &np[m->nparts];
	memset(part, 0, sizeof(*part));
	part->index = (int)w->leaves;
	part->content_type = type;
	type = NULL;
	m->nparts++;
	if (decoded != NULL) {
		part->data = malloc(dlen + 1);
		if (part->data == NULL)
			goto oom;
		memcpy(part->data, decoded, dlen);
		part->len = dlen;
		mailmime_decoded_part_free(decoded);
		decoded = NULL;
	} else {
		part->len = d->dt_data.dt_text.dt_length;
		part->data = malloc(part->len + 1);
		if (part->data == NULL)
			goto oom;
		memcpy(part->data, d->dt_data.dt_text.dt_data, part->len);
	}
	part->data[part->len] = '\0';
	mailmime_single_fields_init(
	    &sf, mime->mm_mime_fields, mime->mm_content_type);
	fname = sf.fld_disposition_filename != NULL
		    ? sf.fld_disposition_filename
		    : sf.fld_content_name;
	if (fname != NULL && (part->filename = strdup(fname)) == NULL)
		goto oom;
	return TRPT_OK;
oom:
	free(type);
	if (decoded != NULL)
		mailmime_decoded_part_free(decoded);
	return trpt_err_set(w->err, TRPT_ENOMEM, "out of memory");
}

static int
walk_mime(struct walk *w, const struct mailmime *mime)
{
	clistiter *it;
	char *type;
	int rc = TRPT_OK;

	if (++w->depth > MAX_MIME_DEPTH) {
		return trpt_err_set(w->err, TRPT_ELIMIT,
		    "MIME parts nested more than %d deep", MAX_MIME_DEPTH);
	}
	switch (mime->mm_type) {
	case MAILMIME_SINGLE:
		if (++w->leaves > w->lim->max_parts) {
			rc = trpt_err_set(w->err, TRPT_ELIMIT,
			    "more than %zu MIME parts", w->lim->max_parts);
			break;
		}
		type = content_type(mime->mm_content_type);
		if (type == NULL) {
			rc = trpt_err_set(w->err, TRPT_ENOMEM, "out of memory");
			break;
		}
		if (strncmp(type, "application/tlsrpt", 18) == 0)
			w->msg->claims_tlsrpt = 1;
		if (is_candidate(type))
			rc = add_part(w, mime, type);
		else
			free(type);
		break;
	case MAILMIME_MULTIPLE:
		type = content_type(mime->mm_content_type);
		if (type == NULL) {
			rc = trpt_err_set(w->err, TRPT_ENOMEM, "out of memory");
			break;
		}
		if (strcmp(type, "multipart/report") == 0) {
			const char *rt =
			    content_param(mime->mm_content_type, "report-type");

			/* Only the message's own body counts, not a
			 * forwarded one. */
			if (rt != NULL && strcasecmp(rt, "tlsrpt") == 0 &&
			    (mime->mm_parent == NULL ||
				mime->mm_parent->mm_parent == NULL)) {
				w->msg->tlsrpt_report = 1;
				w->msg->claims_tlsrpt = 1;
			}
		}
		free(type);
		for (it = clist_begin(mime->mm_data.mm_multipart.mm_mp_list);
		     it != NULL && rc == TRPT_OK; it = clist_next(it))
			rc = walk_mime(w, clist_content(it));
		break;
	case MAILMIME_MESSAGE:
		/* The top level, or a forwarded message/rfc822 part. */
		if (mime->mm_parent == NULL)
			rc =
			    read_headers(w, mime->mm_data.mm_message.mm_fields);
		if (rc == TRPT_OK && mime->mm_data.mm_message.mm_msg_mime)
			rc = walk_mime(w, mime->mm_data.mm_message.mm_msg_mime);
		break;
	}
	w->depth--;
	return rc;
}

/*
 * libetpan's multipart parser wants CRLF line ends; files saved on Unix
 * have LF.  A copy with CRLF is at most twice the size of the input,
 * which the caller has already bounded.
 */
static char *
to_crlf(const char *data, size_t len, size_t *outlen)
{
	size_t i, lf = 0;
	char *out, *o;

	for (i = 0; i < len; i++)
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			lf++;
	out = malloc(len + lf + 1);
	if (out == NULL)
		return NULL;
	for (o = out, i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			*o++ = '\r';
		*o++ = data[i];
	}
	*o = '\0';
	*outlen = (size_t)(o - out);
	return out;
}

int
trpt_mime_parse(const char *data, size_t len, const struct trpt_limits *lim,
    struct trpt_mime_msg **out, struct trpt_err *err)
{
	struct mailmime *mime = NULL;
	struct walk w;
	size_t idx = 0, clen;
	char *crlf;
	int r, rc;

	if (len > lim->max_message)
		return trpt_err_set(err, TRPT_ELIMIT,
		    "message of %zu bytes exceeds the limit of %zu bytes", len,
		    lim->max_message);
	crlf = to_crlf(data, len, &clen);
	if (crlf == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	memset(&w, 0, sizeof(w));
	w.lim = lim;
	w.err = err;
	w.msg = calloc(1, sizeof(*w.msg));
	if (w.msg == NULL) {
		free(crlf);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	r = mailmime_parse(crlf, clen, &idx, &mime);
	if (r != MAILIMF_NO_ERROR) {
		rc = trpt_err_set(err,
		    r == MAILIMF_ERROR_MEMORY ? TRPT_ENOMEM : TRPT_EPARSE,
		    "not a parseable MIME message");
		goto out;
	}
	rc = walk_mime(&w, mime);
out:
	if (mime != NULL)
		mailmime_free(mime);
	free(crlf);
	if (rc != TRPT_OK) {
		trpt_mime_free(&w.msg);
		return rc;
	}
	*out = w.msg;
	return TRPT_OK;
}

void
trpt_mime_free(struct trpt_mime_msg **msgp)
{
	struct trpt_mime_msg *m;
	size_t i;

	if (msgp == NULL || *msgp == NULL)
		return;
	m = *msgp;
	for (i = 0; i < m->nparts; i++) {
		free(m->parts[i].content_type);
		free(m->parts[i].filename);
		free(m->parts[i].data);
	}
	free(m->parts);
	free(m->message_id);
	free(m->subject);
	free(m->from);
	free(m->report_domain);
	free(m->report_submitter);
	free(m);
	*msgp = NULL;
}

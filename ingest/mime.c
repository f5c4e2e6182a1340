#include "ingest/mime.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "common/err.h"

/*
 * The multipart structure is walked here, one level at a time, and
 * libetpan parses what is inside a header field (media type and its
 * parameters, Content-Disposition, Content-Transfer-Encoding, RFC 2047
 * words) and decodes the bodies.  libetpan's own mailmime_parse() is not
 * used on whole messages because it has no limits: it builds the tree of
 * every part before anything can be counted (about 50 bytes of memory per
 * byte of a message made of empty parts), rescans the rest of the message
 * at each nesting level (quadratic: a 10 MB message of nested multiparts
 * ran for minutes) and recurses without a depth limit.
 */

/* One header field as it appears in the input: folded, not decoded. */
struct field {
	const char *name;
	size_t namelen;
	const char *val;
	size_t vallen;
};

/* What the MIME header fields of one entity say. */
struct entity {
	char *ctype;       /* lower-case type/subtype */
	char *boundary;    /* multipart only */
	char *report_type; /* multipart/report only */
	char *filename;
	int encoding; /* MAILMIME_MECHANISM_* */
};

struct walk {
	const struct trpt_limits *lim;
	struct trpt_mime_msg *msg;
	size_t cap;   /* allocated elements of msg->parts */
	size_t nseen; /* parts (leaf or multipart) below the top level */
	int nleaves;  /* leaf parts, for trpt_mime_part.index */
	struct trpt_err *err;
};

static const char *const candidate_types[] = {
	"application/tlsrpt+gzip",
	"application/tlsrpt+json",
	"application/tlsrpt",
	"application/gzip",
	"application/x-gzip",
	"application/json",
	"application/octet-stream",
};

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* A character of a field name as real mail uses them (a subset of ftext). */
static int
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* End of the line starting at p: the byte after its '\n', or end. */
static const char *
line_next(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl != NULL ? nl + 1 : end;
}

/* True when the line at p holds nothing but a line ending. */
static int
line_is_blank(const char *p, const char *end)
{
	if (p < end && *p == '\r')
		p++;
	return p < end && *p == '\n';
}

/*
 * Length of a field name at p followed by ':' (white space before the colon
 * is the obsolete syntax and accepted), or 0 when the line is not a field.
 */
static size_t
field_name_len(const char *p, const char *end)
{
	const char *q = p;
	size_t n;

	while (q < end && is_name_char(*q))
		q++;
	n = (size_t)(q - p);
	while (q < end && is_wsp(*q))
		q++;
	return n > 0 && q < end && *q == ':' ? n : 0;
}

/*
 * Splits an entity into its header block [data, data + *hlen) and its body,
 * which starts at *body: after the first blank line, or at the end when
 * there is none.
 */
static void
split_header(const char *data, size_t len, size_t *hlen, size_t *body)
{
	const char *p = data, *end = data + len;

	while (p < end) {
		if (line_is_blank(p, end)) {
			*hlen = (size_t)(p - data);
			*body = (size_t)(line_next(p, end) - data);
			return;
		}
		p = line_next(p, end);
	}
	*hlen = len;
	*body = len;
}

/*
 * The next field of a header block from *pos on.  Lines that are no field
 * (an mbox "From " line, garbage, a continuation without a field) are
 * skipped.  Returns 0 at the end of the block.
 */
static int
next_field(const char *hdr, size_t hlen, size_t *pos, struct field *f)
{
	const char *p = hdr + *pos, *end = hdr + hlen, *q;
	size_t n;

	while (p < end) {
		n = field_name_len(p, end);
		if (n == 0) {
			p = line_next(p, end);
			continue;
		}
		f->name = p;
		f->namelen = n;
		q = (const char *)memchr(p, ':', (size_t)(end - p)) + 1;
		f->val = q;
		p = line_next(p, end);
		while (p < end && is_wsp(*p))
			p = line_next(p, end);
		f->vallen = (size_t)(p - q);
		*pos = (size_t)(p - hdr);
		return 1;
	}
	*pos = hlen;
	return 0;
}

static int
field_is(const struct field *f, const char *name)
{
	return strlen(name) == f->namelen &&
	       strncasecmp(f->name, name, f->namelen) == 0;
}

/* The bytes unfold() does not copy as they are: CR, LF and NUL. */
static int
is_unfold_special(char c)
{
	return c == '\r' || c == '\n' || c == '\0';
}

/*
 * A copy of a field value, unfolded (each line break and the white space
 * after it become one space), without NUL bytes and without white space at
 * either end, into buf when it has room for n + 1 bytes (the copy is never
 * longer than the value), else into a malloc'd buffer.  NULL when out of
 * memory.  The runs of ordinary bytes between line breaks are copied whole
 * (the walk of a report e-mail unfolds about ten values: issue 15).
 */
static char *
unfold_into(const char *v, size_t n, char *buf, size_t bufsize)
{
	char *s = n < bufsize ? buf : malloc(n + 1), *o;
	size_t i = 0, j;

	if (s == NULL)
		return NULL;
	o = s;
	while (i < n) {
		if (v[i] == '\r' || v[i] == '\n') {
			while (i < n &&
			       (v[i] == '\r' || v[i] == '\n' || is_wsp(v[i])))
				i++;
			if (o > s && !is_wsp(o[-1]))
				*o++ = ' ';
			continue;
		}
		if (v[i] == '\0' || (o == s && is_wsp(v[i]))) {
			i++;
			continue;
		}
		for (j = i + 1; j < n && !is_unfold_special(v[j]); j++)
			;
		memcpy(o, v + i, j - i);
		o += j - i;
		i = j;
	}
	while (o > s && is_wsp(o[-1]))
		o--;
	*o = '\0';
	return s;
}

static char *
unfold(const char *v, size_t n)
{
	return unfold_into(v, n, NULL, 0);
}

static void
lower_str(char *s)
{
	for (; *s != '\0'; s++)
		*s = lower(*s);
}

/* A copy of a parameter value of n bytes without surrounding quotes and
 * NUL bytes. */
static char *
param_dup(const char *v, size_t n)
{
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
		return unfold(v + 1, n - 2);
	return unfold(v, n);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * An RFC 2231 extended value (charset'language'percent-encoded) as a
 * string of the raw bytes; the charset is not converted (file names of
 * reports are ASCII).
 */
static char *
rfc2231_dup(const char *v, size_t n)
{
	const char *end = v + n, *q = memchr(v, '\'', n), *q2;
	char *s, *o;

	if (q != NULL &&
	    (q2 = memchr(q + 1, '\'', (size_t)(end - q - 1))) != NULL)
		v = q2 + 1;
	s = param_dup(v, (size_t)(end - v));
	if (s == NULL)
		return NULL;
	for (o = s, q = s; *q != '\0'; q++) {
		if (*q == '%' && hexval(q[1]) >= 0 && hexval(q[2]) >= 0) {
			*o++ = (char)(hexval(q[1]) * 16 + hexval(q[2]));
			q += 2;
			if (o[-1] == '\0')
				o--;
		} else
			*o++ = *q;
	}
	*o = '\0';
	return s;
}

static const char *
discrete_name(const struct mailmime_discrete_type *t)
{
	switch (t->dt_type) {
	case MAILMIME_DISCRETE_TYPE_TEXT:
		return "text";
	case MAILMIME_DISCRETE_TYPE_IMAGE:
		return "image";
	case MAILMIME_DISCRETE_TYPE_AUDIO:
		return "audio";
	case MAILMIME_DISCRETE_TYPE_VIDEO:
		return "video";
	case MAILMIME_DISCRETE_TYPE_APPLICATION:
		return "application";
	default:
		return t->dt_extension != NULL ? t->dt_extension : "x-unknown";
	}
}

static const char *
composite_name(const struct mailmime_composite_type *t)
{
	switch (t->ct_type) {
	case MAILMIME_COMPOSITE_TYPE_MESSAGE:
		return "message";
	case MAILMIME_COMPOSITE_TYPE_MULTIPART:
		return "multipart";
	default:
		return t->ct_token != NULL ? t->ct_token : "x-unknown";
	}
}

/*
 * The simple Content-Type and Content-Disposition values that nearly all
 * mail carries ("application/tlsrpt+gzip; name=\"x.json.gz\"") are split
 * here; any other value is read by libetpan, as before.  Hand-written with
 * a measured reason: libetpan's parsers of these two fields (a list and a
 * string copy per parameter) cost 6 of the 9 us that the MIME walk of one
 * report e-mail took after base64 (issue 15, docs/PERFORMANCE.md).  A value
 * is simple when it is "token/token" (a type libetpan knows by name) or a
 * disposition "inline" or "attachment", then parameters "; token=value"
 * where the value is a token or a quoted string without '\\', white space,
 * control or 8-bit bytes, and nothing else; test_mime compares both
 * readers on a table of values.
 */
#define SIMPLE_MAX_PARAMS 16

/* The pieces of a simple value: pointers into it, with their lengths. */
struct span {
	const char *p;
	size_t n;
};

struct simple {
	struct span type, sub;
	int n;
	struct span name[SIMPLE_MAX_PARAMS], val[SIMPLE_MAX_PARAMS];
};

/* A token character (RFC 2045 §5.1): US-ASCII above the space, not a
 * tspecial.  A switch, not strchr: it ran for every byte of each value. */
static int
is_token_char(char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return 0;
	switch (c) {
	case '(':
	case ')':
	case '<':
	case '>':
	case '@':
	case ',':
	case ';':
	case ':':
	case '\\':
	case '"':
	case '/':
	case '[':
	case ']':
	case '?':
	case '=':
		return 0;
	default:
		return 1;
	}
}

static const char *
skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static const char *
skip_token(const char *p)
{
	while (is_token_char(*p))
		p++;
	return p;
}

static struct span
span_of(const char *from, const char *to)
{
	struct span sp = { from, (size_t)(to - from) };

	return sp;
}

/* True when span a is name, compared without regard to case. */
static int
span_is(struct span a, const char *name)
{
	return a.n == strlen(name) && strncasecmp(a.p, name, a.n) == 0;
}

/*
 * Splits the NUL-terminated value s as described above (s is not
 * changed): sub empty for a disposition.  Returns 0, or -1 when the value
 * is not simple.
 */
static int
simple_split(const char *s, int disposition, struct simple *out)
{
	const char *p = skip_ows(s), *start;

	memset(out, 0, sizeof(*out));
	start = p;
	p = skip_token(p);
	if (p == start)
		return -1;
	out->type = span_of(start, p);
	if (!disposition) {
		if (*p != '/')
			return -1;
		start = ++p;
		p = skip_token(p);
		if (p == start)
			return -1;
		out->sub = span_of(start, p);
	}
	for (;;) {
		const char *name, *val;

		p = skip_ows(p);
		if (*p == '\0')
			break;
		if (*p != ';' || out->n == SIMPLE_MAX_PARAMS)
			return -1;
		name = p = skip_ows(p + 1);
		p = skip_token(p);
		if (p == name)
			return -1; /* also a trailing ';' */
		out->name[out->n] = span_of(name, p);
		p = skip_ows(p);
		if (*p != '=')
			return -1;
		p = skip_ows(p + 1);
		if (*p == '"') {
			val = ++p;
			while (
			    *p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
				p++;
			if (*p != '"' || p == val)
				return -1;
			out->val[out->n] = span_of(val, p++);
		} else {
			val = p;
			p = skip_token(p);
			if (p == val)
				return -1;
			out->val[out->n] = span_of(val, p);
		}
		out->n++;
	}
	return 0;
}

/* Applies one Content-Type parameter (the first of each name wins). */
static int
ctype_param(struct entity *e, struct span pname, struct span pval, char **name,
    char **name_ext)
{
	char **dst = NULL;
	int ext = 0;

	if (span_is(pname, "boundary"))
		dst = &e->boundary;
	else if (span_is(pname, "report-type"))
		dst = &e->report_type;
	else if (span_is(pname, "name"))
		dst = name;
	else if (span_is(pname, "name*")) {
		dst = name_ext;
		ext = 1;
	}
	if (dst == NULL || *dst != NULL)
		return TRPT_OK;
	*dst = ext ? rfc2231_dup(pval.p, pval.n) : param_dup(pval.p, pval.n);
	return *dst != NULL ? TRPT_OK : TRPT_ENOMEM;
}

/* A span of a NUL-terminated string from libetpan. */
static struct span
span_str(const char *s)
{
	return span_of(s, s + strlen(s));
}

/* What the Content-Type parameters leave in e: a lower-case report-type,
 * name*= or name= as the file name unless one is set. */
static void
ctype_finish(struct entity *e, char **name, char **name_ext)
{
	if (e->report_type != NULL)
		lower_str(e->report_type);
	/* Content-Disposition, read later, takes precedence over name=. */
	if (e->filename == NULL) {
		if (*name_ext != NULL && (*name_ext)[0] != '\0') {
			e->filename = *name_ext;
			*name_ext = NULL;
		} else if (*name != NULL && (*name)[0] != '\0') {
			e->filename = *name;
			*name = NULL;
		}
	}
}

static const char *const simple_types[] = { "text", "image", "audio", "video",
	"application", "message", "multipart" };

/* The fast path of parse_content_type: 1 done, 0 not simple, or
 * TRPT_ENOMEM. */
static int
simple_content_type(const char *v, struct entity *e)
{
	struct simple sp;
	char *name = NULL, *name_ext = NULL, *ct;
	size_t i;
	int rc = 0;

	if (simple_split(v, 0, &sp) != 0)
		goto out;
	for (i = 0; i < sizeof(simple_types) / sizeof(simple_types[0]); i++)
		if (span_is(sp.type, simple_types[i]))
			break;
	if (i == sizeof(simple_types) / sizeof(simple_types[0]))
		goto out;
	if ((ct = malloc(sp.type.n + 1 + sp.sub.n + 1)) == NULL) {
		rc = TRPT_ENOMEM;
		goto out;
	}
	memcpy(ct, sp.type.p, sp.type.n);
	ct[sp.type.n] = '/';
	memcpy(ct + sp.type.n + 1, sp.sub.p, sp.sub.n);
	ct[sp.type.n + 1 + sp.sub.n] = '\0';
	lower_str(ct);
	free(e->ctype);
	e->ctype = ct;
	for (i = 0; i < (size_t)sp.n; i++)
		if (ctype_param(e, sp.name[i], sp.val[i], &name, &name_ext) !=
		    TRPT_OK) {
			rc = TRPT_ENOMEM;
			goto out;
		}
	ctype_finish(e, &name, &name_ext);
	rc = 1;
out:
	free(name);
	free(name_ext);
	return rc;
}

/* Reads a Content-Type value into e; a value libetpan rejects is left as
 * the default (text/plain, RFC 2045 §5.2). */
static int
parse_content_type_fast(const char *v, struct entity *e, int allow_fast)
{
	struct mailmime_content *ct = NULL;
	struct mailmime_parameter *pa;
	clistiter *it;
	const char *type;
	char *name = NULL, *name_ext = NULL;
	size_t idx = 0, n;
	int rc = TRPT_ENOMEM, r;

	if (allow_fast && (r = simple_content_type(v, e)) != 0)
		return r == 1 ? TRPT_OK : r;
	r = mailmime_content_parse(v, strlen(v), &idx, &ct);
	if (r == MAILIMF_ERROR_MEMORY)
		return TRPT_ENOMEM;
	if (r != MAILIMF_NO_ERROR || ct->ct_type == NULL ||
	    ct->ct_subtype == NULL) {
		if (r == MAILIMF_NO_ERROR)
			mailmime_content_free(ct);
		return TRPT_OK;
	}
	type = ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE
		   ? discrete_name(ct->ct_type->tp_data.tp_discrete_type)
		   : composite_name(ct->ct_type->tp_data.tp_composite_type);
	n = strlen(type) + 1 + strlen(ct->ct_subtype) + 1;
	free(e->ctype);
	e->ctype = malloc(n);
	if (e->ctype == NULL)
		goto out;
	snprintf(e->ctype, n, "%s/%s", type, ct->ct_subtype);
	lower_str(e->ctype);
	for (it = clist_begin(ct->ct_parameters); it != NULL;
	     it = clist_next(it)) {
		pa = clist_content(it);
		if (pa->pa_name == NULL || pa->pa_value == NULL)
			continue;
		if (ctype_param(e, span_str(pa->pa_name),
			span_str(pa->pa_value), &name, &name_ext) != TRPT_OK)
			goto out;
	}
	ctype_finish(e, &name, &name_ext);
	rc = TRPT_OK;
out:
	free(name);
	free(name_ext);
	mailmime_content_free(ct);
	return rc;
}

static int
parse_content_type(const char *v, struct entity *e)
{
	return parse_content_type_fast(v, e, 1);
}

/* The disposition parameters libetpan reads with a syntax of their own:
 * a value with one of them is left to libetpan. */
static int
special_disposition_param(struct span name)
{
	return span_is(name, "creation-date") ||
	       span_is(name, "modification-date") ||
	       span_is(name, "read-date") || span_is(name, "size");
}

/* The fast path of parse_disposition: 1 done (*fn the file name or NULL),
 * 0 not simple, or TRPT_ENOMEM. */
static int
simple_disposition(const char *v, char **fn)
{
	struct simple sp;
	int i;

	*fn = NULL;
	if (simple_split(v, 1, &sp) != 0 ||
	    (!span_is(sp.type, "inline") && !span_is(sp.type, "attachment")))
		return 0;
	for (i = 0; i < sp.n; i++)
		if (special_disposition_param(sp.name[i]))
			return 0;
	for (i = 0; i < sp.n && *fn == NULL; i++) {
		if (span_is(sp.name[i], "filename"))
			*fn = param_dup(sp.val[i].p, sp.val[i].n);
		else if (span_is(sp.name[i], "filename*"))
			*fn = rfc2231_dup(sp.val[i].p, sp.val[i].n);
		else
			continue;
		if (*fn == NULL)
			return TRPT_ENOMEM;
		if ((*fn)[0] == '\0') {
			free(*fn);
			*fn = NULL;
		}
	}
	return 1;
}

static int
parse_disposition_fast(const char *v, struct entity *e, int allow_fast)
{
	struct mailmime_disposition *d = NULL;
	struct mailmime_disposition_parm *pm;
	clistiter *it;
	char *fn = NULL;
	size_t idx = 0;
	int r;

	if (allow_fast && (r = simple_disposition(v, &fn)) != 0) {
		if (r != 1)
			return r;
		goto done;
	}
	r = mailmime_disposition_parse(v, strlen(v), &idx, &d);
	if (r == MAILIMF_ERROR_MEMORY)
		return TRPT_ENOMEM;
	if (r != MAILIMF_NO_ERROR)
		return TRPT_OK;
	for (it = clist_begin(d->dsp_parms); it != NULL && fn == NULL;
	     it = clist_next(it)) {
		pm = clist_content(it);
		if (pm->pa_type == MAILMIME_DISPOSITION_PARM_FILENAME &&
		    pm->pa_data.pa_filename != NULL)
			fn = param_dup(pm->pa_data.pa_filename,
			    strlen(pm->pa_data.pa_filename));
		else if (pm->pa_type == MAILMIME_DISPOSITION_PARM_PARAMETER &&
			 pm->pa_data.pa_parameter != NULL &&
			 pm->pa_data.pa_parameter->pa_name != NULL &&
			 pm->pa_data.pa_parameter->pa_value != NULL &&
			 strcasecmp(pm->pa_data.pa_parameter->pa_name,
			     "filename*") == 0)
			fn = rfc2231_dup(pm->pa_data.pa_parameter->pa_value,
			    strlen(pm->pa_data.pa_parameter->pa_value));
		else
			continue;
		if (fn == NULL) {
			mailmime_disposition_free(d);
			return TRPT_ENOMEM;
		}
		if (fn[0] == '\0') {
			free(fn);
			fn = NULL;
		}
	}
	mailmime_disposition_free(d);
done:
	if (fn != NULL) {
		free(e->filename);
		e->filename = fn;
	}
	return TRPT_OK;
}

static int
parse_disposition(const char *v, struct entity *e)
{
	return parse_disposition_fast(v, e, 1);
}

static int
parse_encoding(const char *v, struct entity *e)
{
	struct mailmime_mechanism *m = NULL;
	size_t idx = 0;
	int r;

	r = mailmime_encoding_parse(v, strlen(v), &idx, &m);
	if (r == MAILIMF_ERROR_MEMORY)
		return TRPT_ENOMEM;
	if (r == MAILIMF_NO_ERROR) {
		e->encoding = m->enc_type;
		mailmime_mechanism_free(m);
	}
	return TRPT_OK;
}

static void
entity_clear(struct entity *e)
{
	free(e->ctype);
	free(e->boundary);
	free(e->report_type);
	free(e->filename);
	memset(e, 0, sizeof(*e));
}

static int top_field(
    struct trpt_mime_msg *m, const struct field *f, int report_only);

/*
 * Reads the MIME fields of a header block (the first of each wins).  With
 * top (the message's own header block), the fields the collector keeps
 * are read into it in the same pass (see read_top_fields), *nfields counts
 * the fields, and e->ctype is left NULL when there is no Content-Type (see
 * entity_default); else it defaults to text/plain (RFC 2045 §5.2).
 */
static int
parse_entity(const char *hdr, size_t hlen, struct entity *e,
    struct trpt_mime_msg *top, int *nfields, struct trpt_err *err)
{
	struct field f;
	size_t pos = 0;
	int have_ct = 0, have_cd = 0, have_cte = 0, rc = TRPT_OK;
	char *v, buf[256];

	memset(e, 0, sizeof(*e));
	e->encoding = MAILMIME_MECHANISM_7BIT;
	while (rc == TRPT_OK && next_field(hdr, hlen, &pos, &f)) {
		int *seen = NULL;

		if (top != NULL) {
			(*nfields)++;
			if ((rc = top_field(top, &f, 0)) != TRPT_OK)
				break;
		}
		if (field_is(&f, "Content-Type"))
			seen = &have_ct;
		else if (field_is(&f, "Content-Disposition"))
			seen = &have_cd;
		else if (field_is(&f, "Content-Transfer-Encoding"))
			seen = &have_cte;
		if (seen == NULL || *seen)
			continue;
		*seen = 1;
		v = unfold_into(f.val, f.vallen, buf, sizeof(buf));
		if (v == NULL) {
			rc = TRPT_ENOMEM;
			break;
		}
		if (seen == &have_ct)
			rc = parse_content_type(v, e);
		else if (seen == &have_cd)
			rc = parse_disposition(v, e);
		else
			rc = parse_encoding(v, e);
		if (v != buf)
			free(v);
	}
	if (rc == TRPT_OK && top == NULL && e->ctype == NULL) {
		e->ctype = strdup("text/plain");
		if (e->ctype == NULL)
			rc = TRPT_ENOMEM;
	}
	if (rc != TRPT_OK) {
		entity_clear(e);
		return trpt_err_set(err, rc, "out of memory");
	}
	return TRPT_OK;
}

/* The top level's default type, once parse_entity(top) found fields. */
static int
entity_default(struct entity *e, struct trpt_err *err)
{
	if (e->ctype == NULL && (e->ctype = strdup("text/plain")) == NULL) {
		entity_clear(e);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	return TRPT_OK;
}

static int
is_candidate(const char *ctype)
{
	size_t i;

	for (i = 0; i < sizeof(candidate_types) / sizeof(candidate_types[0]);
	     i++)
		if (strcmp(ctype, candidate_types[i]) == 0)
			return 1;
	return 0;
}

static int
is_tlsrpt_type(const char *ctype)
{
	return strcmp(ctype, "application/tlsrpt") == 0 ||
	       strncmp(ctype, "application/tlsrpt+", 19) == 0;
}

static const char *
encoding_name(int enc)
{
	switch (enc) {
	case MAILMIME_MECHANISM_BASE64:
		return "base64";
	case MAILMIME_MECHANISM_QUOTED_PRINTABLE:
		return "quoted-printable";
	default:
		return "binary";
	}
}

/* The value of each base64 character; 64 ('=') and 0xff are skipped. */
/* clang-format off */
static const unsigned char b64_value[256] = {
#define X 0xff
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, 62, X, X, X, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, 64, X, X,
	X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, X,
	X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
#undef X
};
/* clang-format on */

/*
 * Decodes a base64 body (RFC 2045 §6.8) into a NUL-terminated malloc'd
 * buffer.  Hand-written, with a measured reason: libetpan's decoder
 * (mailmime_part_parse) and the copy out of its MMAPString took most of
 * the 9.7 us that parsing one report e-mail cost (issue 15; a table
 * decoder into the final buffer does the same in a fraction, see
 * docs/PERFORMANCE.md).  It decodes as libetpan's does, byte for byte:
 * every character outside the alphabet ('=' padding, line breaks, white
 * space, garbage) is skipped, and a last incomplete group gives the whole
 * bytes it holds.  Four characters of the alphabet in a row, at the start
 * of a group, are decoded at once (the lines of a body are): about 0.1 us
 * less per report e-mail than one at a time (issue 15).
 */
static int
decode_base64(const char *body, size_t len, size_t max, char **out,
    size_t *outlen, struct trpt_err *err)
{
	const unsigned char *p = (const unsigned char *)body;
	const unsigned char *end = p + len;
	unsigned char *dec, *o, v;
	uint32_t acc = 0;
	int n = 0;

	/* At most 3 bytes for every 4 characters, and 2 for a last 3. */
	dec = malloc(len / 4 * 3 + 3);
	if (dec == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	o = dec;
	while (p < end) {
		if (n == 0 && end - p >= 4) {
			uint32_t a = b64_value[p[0]], b = b64_value[p[1]],
				 c = b64_value[p[2]], d = b64_value[p[3]];

			if ((a | b | c | d) < 64) {
				acc = a << 18 | b << 12 | c << 6 | d;
				o[0] = (unsigned char)(acc >> 16);
				o[1] = (unsigned char)(acc >> 8);
				o[2] = (unsigned char)acc;
				o += 3;
				p += 4;
				acc = 0;
				continue;
			}
		}
		v = b64_value[*p++];
		if (v >= 64)
			continue;
		acc = acc << 6 | v;
		if (++n == 4) {
			o[0] = (unsigned char)(acc >> 16);
			o[1] = (unsigned char)(acc >> 8);
			o[2] = (unsigned char)acc;
			o += 3;
			n = 0;
			acc = 0;
		}
	}
	if (n == 3) {
		o[0] = (unsigned char)(acc >> 10);
		o[1] = (unsigned char)(acc >> 2);
		o += 2;
	} else if (n == 2)
		*o++ = (unsigned char)(acc >> 4);
	if ((size_t)(o - dec) > max) {
		free(dec);
		return trpt_err_set(
		    err, TRPT_ELIMIT, "decoded size exceeds %zu bytes", max);
	}
	*o = '\0';
	*outlen = (size_t)(o - dec);
	*out = (char *)dec;
	return TRPT_OK;
}

/*
 * Transfer-decodes a body into a NUL-terminated malloc'd copy of at most
 * max bytes.  libetpan decodes quoted-printable into an MMAPString, freed
 * with mailmime_decoded_part_free.
 */
static int
decode_body(const char *body, size_t len, int enc, size_t max, char **out,
    size_t *outlen, struct trpt_err *err)
{
	char *dec = NULL, *copy;
	size_t idx = 0, declen = 0;
	int r;

	if (enc == MAILMIME_MECHANISM_BASE64)
		return decode_base64(body, len, max, out, outlen, err);

	/*
	 * libetpan's quoted-printable decoder reads one byte past the end
	 * when the body ends in a truncated escape ("=4"); such an escape is
	 * invalid and dropped here.
	 */
	if (enc == MAILMIME_MECHANISM_QUOTED_PRINTABLE && len >= 2 &&
	    body[len - 2] == '=' && body[len - 1] != '\r' &&
	    body[len - 1] != '\n')
		len -= 2;
	r = mailmime_part_parse(body, len, &idx, enc, &dec, &declen);
	if (r == MAILIMF_ERROR_MEMORY)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	if (r != MAILIMF_NO_ERROR)
		return trpt_err_set(err, TRPT_EPARSE, "cannot decode %s body",
		    encoding_name(enc));
	if (declen > max) {
		mailmime_decoded_part_free(dec);
		return trpt_err_set(
		    err, TRPT_ELIMIT, "decoded size exceeds %zu bytes", max);
	}
	copy = malloc(declen + 1);
	if (copy == NULL) {
		mailmime_decoded_part_free(dec);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	if (declen > 0)
		memcpy(copy, dec, declen);
	copy[declen] = '\0';
	mailmime_decoded_part_free(dec);
	*out = copy;
	*outlen = declen;
	return TRPT_OK;
}

/* Adds a candidate part; its type and file name are taken from e. */
static int
add_part(struct walk *w, struct entity *e, const char *body, size_t len)
{
	struct trpt_mime_msg *m = w->msg;
	struct trpt_mime_part *p;
	size_t ncap;
	int rc;

	if (m->nparts == w->cap) {
		ncap = w->cap == 0 ? 4 : w->cap * 2;
		p = realloc(m->parts, ncap * sizeof(*p));
		if (p == NULL)
			return trpt_err_set(
			    w->err, TRPT_ENOMEM, "out of memory");
		m->parts = p;
		w->cap = ncap;
	}
	p = &m->parts[m->nparts];
	memset(p, 0, sizeof(*p));
	p->index = w->nleaves;
	p->content_type = e->ctype;
	p->filename = e->filename;
	e->ctype = NULL;
	e->filename = NULL;
	rc = decode_body(body, len, e->encoding, w->lim->max_message, &p->data,
	    &p->len, w->err);
	if (rc != TRPT_OK) {
		trpt_err_prefix(
		    w->err, "part %d (%s)", p->index, p->content_type);
		goto fail;
	}
	m->nparts++;
	return TRPT_OK;
fail:
	free(p->content_type);
	free(p->filename);
	return rc;
}

/* True when the line at p is "--boundary" or "--boundary--", allowing
 * trailing white space (RFC 2046 transport padding). */
static int
is_delimiter(
    const char *p, const char *end, const char *b, size_t blen, int *close)
{
	const char *q;

	if ((size_t)(end - p) < 2 + blen || p[0] != '-' || p[1] != '-' ||
	    memcmp(p + 2, b, blen) != 0)
		return 0;
	q = p + 2 + blen;
	*close = 0;
	if (end - q >= 2 && q[0] == '-' && q[1] == '-') {
		*close = 1;
		q += 2;
	}
	while (q < end && is_wsp(*q))
		q++;
	return q == end || *q == '\r' || *q == '\n';
}

/*
 * The first line at or after the line start p that begins with '-' (a
 * delimiter line may), or end.  memchr jumps to the candidates rather than
 * a look at every line: most lines of a report e-mail are base64, which
 * has no '-' (issue 15).  At most one memchr of each kind a line.
 */
static const char *
next_dash_line(const char *p, const char *end)
{
	const char *d;

	while (p < end) {
		d = memchr(p, '-', (size_t)(end - p));
		if (d == NULL)
			break;
		if (d == p || d[-1] == '\n')
			return d;
		p = line_next(d, end);
	}
	return end;
}

static int walk_entity(struct walk *w, const char *data, size_t len, int depth);
static int read_top_fields(struct trpt_mime_msg *m, const char *hdr,
    size_t hlen, int report_only, int *nfields);

/*
 * Walks the body parts of a multipart body.  A body that ends without the
 * close delimiter (Mail.ru does this) ends its last part at the end.  The
 * line ending before a delimiter belongs to the delimiter.
 */
static int
walk_multipart(struct walk *w, const char *body, size_t len,
    const char *boundary, int depth)
{
	const char *p = body, *end = body + len, *start = NULL, *stop;
	size_t blen = strlen(boundary);
	int close = 0, rc;

	while ((p = next_dash_line(p, end)) < end) {
		if (!is_delimiter(p, end, boundary, blen, &close)) {
			p = line_next(p, end);
			continue;
		}
		if (start != NULL) {
			stop = p;
			if (stop > start && stop[-1] == '\n')
				stop--;
			if (stop > start && stop[-1] == '\r')
				stop--;
			rc = walk_entity(
			    w, start, (size_t)(stop - start), depth + 1);
			if (rc != TRPT_OK)
				return rc;
		}
		p = line_next(p, end);
		start = p;
		if (close)
			return TRPT_OK;
	}
	if (start != NULL)
		return walk_entity(w, start, (size_t)(end - start), depth + 1);
	return TRPT_OK;
}

/*
 * Walks the body (from offset body on) of the entity data, whose header
 * fields are e (top: the message itself).
 */
static int
walk_body(struct walk *w, struct entity *e, const char *data, size_t len,
    size_t body, int depth, int top)
{
	int rc = TRPT_OK;

	if (strncmp(e->ctype, "multipart/", 10) == 0 && e->boundary != NULL &&
	    e->boundary[0] != '\0') {
		if (strcmp(e->ctype, "multipart/report") == 0 &&
		    e->report_type != NULL &&
		    strcmp(e->report_type, "tlsrpt") == 0) {
			w->msg->claims_tlsrpt = 1;
			if (top)
				w->msg->tlsrpt_report = 1;
		}
		rc = walk_multipart(
		    w, data + body, len - body, e->boundary, depth);
	} else if (strcmp(e->ctype, "message/rfc822") == 0 ||
		   strcmp(e->ctype, "message/global") == 0) {
		/*
		 * A forwarded message: its parts count, and its TLS-Report-*
		 * headers when the outer message has none.
		 */
		if (!top) {
			const char *in = data + body;
			size_t inlen = len - body, ihlen, ibody;
			int nf;

			split_header(in, inlen, &ihlen, &ibody);
			rc = read_top_fields(w->msg, in, ihlen, 1, &nf);
			if (rc != TRPT_OK)
				rc = trpt_err_set(w->err, rc, "out of memory");
			else
				rc = walk_entity(w, in, inlen, depth + 1);
		}
	} else {
		w->nleaves++;
		if (is_tlsrpt_type(e->ctype))
			w->msg->claims_tlsrpt = 1;
		if (is_candidate(e->ctype))
			rc = add_part(w, e, data + body, len - body);
	}
	return rc;
}

/* Walks a part (not the message itself). */
static int
walk_entity(struct walk *w, const char *data, size_t len, int depth)
{
	struct entity e;
	size_t hlen, body;
	int rc;

	if (++w->nseen > w->lim->max_parts)
		return trpt_err_set(w->err, TRPT_ELIMIT,
		    "more than %zu MIME parts", w->lim->max_parts);
	if (depth > TRPT_MIME_MAX_DEPTH)
		return trpt_err_set(w->err, TRPT_ELIMIT,
		    "MIME parts nested deeper than %d levels",
		    TRPT_MIME_MAX_DEPTH);
	split_header(data, len, &hlen, &body);
	rc = parse_entity(data, hlen, &e, NULL, NULL, w->err);
	if (rc != TRPT_OK)
		return rc;
	rc = walk_body(w, &e, data, len, body, depth, 0);
	entity_clear(&e);
	return rc;
}

/* Message-ID without the angle brackets. */
static char *
msgid_dup(const char *v, size_t n)
{
	char *s = unfold(v, n), *gt;
	size_t l;

	if (s == NULL || s[0] != '<')
		return s;
	gt = strchr(s, '>');
	l = gt != NULL ? (size_t)(gt - s - 1) : strlen(s) - 1;
	memmove(s, s + 1, l);
	s[l] = '\0';
	return s;
}

/* Subject or From: unfolded, RFC 2047 encoded words decoded to UTF-8
 * when there are any and libetpan can decode them, else kept raw. */
static char *
text_dup(const char *v, size_t n)
{
	char *s = unfold(v, n), *dec = NULL;
	size_t idx = 0;

	if (s == NULL || strstr(s, "=?") == NULL)
		return s;
	if (mailmime_encoded_phrase_parse("us-ascii", s, strlen(s), &idx,
		"utf-8", &dec) == MAILIMF_NO_ERROR &&
	    dec != NULL) {
		free(s);
		return dec; /* malloc'd by libetpan */
	}
	free(dec);
	return s;
}

/* Empty strings become NULL. */
static void
null_if_empty(char **s)
{
	if (*s != NULL && (*s)[0] == '\0') {
		free(*s);
		*s = NULL;
	}
}

/*
 * Reads one field into m if the collector keeps it (the first of each
 * wins; fields already set are kept), or only the TLS-Report-* ones.
 */
static int
top_field(struct trpt_mime_msg *m, const struct field *f, int report_only)
{
	char **dst;

	if (field_is(f, "TLS-Report-Domain"))
		dst = &m->report_domain;
	else if (field_is(f, "TLS-Report-Submitter"))
		dst = &m->report_submitter;
	else if (report_only)
		return TRPT_OK;
	else if (field_is(f, "Message-ID"))
		dst = &m->message_id;
	else if (field_is(f, "Subject"))
		dst = &m->subject;
	else if (field_is(f, "From"))
		dst = &m->from;
	else
		return TRPT_OK;
	if (*dst != NULL)
		return TRPT_OK;
	if (dst == &m->message_id)
		*dst = msgid_dup(f->val, f->vallen);
	else if (dst == &m->subject || dst == &m->from)
		*dst = text_dup(f->val, f->vallen);
	else
		*dst = unfold(f->val, f->vallen);
	if (*dst == NULL)
		return TRPT_ENOMEM;
	null_if_empty(dst);
	return TRPT_OK;
}

/* A TLS-Report-* field is a sign of a TLS report. */
static void
top_claims(struct trpt_mime_msg *m)
{
	if (m->report_domain != NULL || m->report_submitter != NULL)
		m->claims_tlsrpt = 1;
}

/* top_field for each field of a header block; *nfields counts them. */
static int
read_top_fields(struct trpt_mime_msg *m, const char *hdr, size_t hlen,
    int report_only, int *nfields)
{
	struct field f;
	size_t pos = 0;
	int rc;

	*nfields = 0;
	while (next_field(hdr, hlen, &pos, &f)) {
		(*nfields)++;
		if ((rc = top_field(m, &f, report_only)) != TRPT_OK)
			return rc;
	}
	top_claims(m);
	return TRPT_OK;
}

int
trpt_mime_looks_like_message(const char *data, size_t len)
{
	const char *p, *end;
	int lines = 0, fields = 0;

	if (data == NULL)
		return 0;
	p = data;
	end = data + len;
	/* The first line must be a field; look at a few more to be sure. */
	while (p < end && lines < 8) {
		if (line_is_blank(p, end))
			break;
		if (field_name_len(p, end) > 0)
			fields++;
		else if (lines == 0 || !is_wsp(*p))
			return 0;
		lines++;
		p = line_next(p, end);
	}
	return fields > 0;
}

int
trpt_mime_parse(const char *data, size_t len, const struct trpt_limits *lim,
    struct trpt_mime_msg **out, struct trpt_err *err)
{
	struct trpt_mime_msg *m;
	struct trpt_limits deflim;
	struct entity e;
	struct walk w;
	size_t hlen, body;
	int nfields = 0, rc;

	if (data == NULL || len == 0)
		return trpt_err_set(err, TRPT_EPARSE, "empty message");
	if (lim == NULL) {
		trpt_limits_default(&deflim);
		lim = &deflim;
	}
	if (len > lim->max_message)
		return trpt_err_set(err, TRPT_ELIMIT,
		    "message of %zu bytes exceeds the limit of %zu bytes", len,
		    lim->max_message);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	/* One pass over the message's header reads both its MIME fields and
	 * the fields the collector keeps. */
	split_header(data, len, &hlen, &body);
	rc = parse_entity(data, hlen, &e, m, &nfields, err);
	if (rc != TRPT_OK)
		goto out;
	if (nfields == 0) {
		entity_clear(&e);
		rc = trpt_err_set(
		    err, TRPT_EPARSE, "not a mail message: no header fields");
		goto out;
	}
	top_claims(m);
	if ((rc = entity_default(&e, err)) != TRPT_OK)
		goto out;
	memset(&w, 0, sizeof(w));
	w.lim = lim;
	w.msg = m;
	w.err = err;
	rc = walk_body(&w, &e, data, len, body, 0, 1);
	entity_clear(&e);
	if (rc == TRPT_OK) {
		*out = m;
		m = NULL;
	}
out:
	trpt_mime_free(&m);
	return rc;
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

int
trpt__mime_fields(const char *content_type, const char *disposition,
    int allow_fast, char **ctype, char **boundary, char **report_type,
    char **filename)
{
	struct entity e;
	int rc = TRPT_OK;

	memset(&e, 0, sizeof(e));
	if (content_type != NULL)
		rc = parse_content_type_fast(content_type, &e, allow_fast);
	if (rc == TRPT_OK && disposition != NULL)
		rc = parse_disposition_fast(disposition, &e, allow_fast);
	if (rc == TRPT_OK) {
		*ctype = e.ctype;
		*boundary = e.boundary;
		*report_type = e.report_type;
		*filename = e.filename;
		return TRPT_OK;
	}
	entity_clear(&e);
	return rc;
}

#include "ingest/validate.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/datetime.h"
#include "ingest/filename.h"

/* A report with more warnings than this is odd enough; keep the first. */
#define MAX_WARNINGS 64

/*
 * Texts from this size on have their failure details read one at a time
 * (stream_scan); below it the whole tree is cheaper: streaming cost 15%
 * more CPU on the small reports of bench/ (one json_loadb per element),
 * and the tree of 64 KiB of JSON is about 300 kB.
 */
#define STREAM_MIN ((size_t)64 * 1024)

/*
 * jansson's allocations while a thread reads a text below STREAM_MIN
 * (issue 15): a small report's tree took about 240 mallocs and as many
 * frees, ~7.5% of the instructions of `ingest`'s reading thread
 * (callgrind) and more of its time (malloc_consolidate, cache misses).
 * trpt_validate_init installs j_malloc/j_free as jansson's allocator for
 * the whole process; they take from the calling thread's arena while it
 * has one (jcur, thread-local: only validate() sets it, around the parse
 * and the read of one tree, which it frees before it ends: no value
 * outlives it) and are plain malloc/free otherwise, on every other thread
 * and for anything larger than a quarter chunk.  A free inside the
 * arena's chunks only counts; the chunks go at the end.  If anything was
 * not freed then (a missing json_decref), the chunks are left allocated,
 * so that the sanitizers' leak check still reports it.
 */
#define JCHUNK_MIN ((size_t)16 * 1024)

/*
 * Under AddressSanitizer each piece has a poisoned header before it
 * (holding its size) and the rest of its chunk stays poisoned, and a
 * piece is poisoned again when jansson frees it: reading past a string of
 * the tree, or a value after its json_decref, is still caught.
 */
#if defined(__SANITIZE_ADDRESS__)
#define TRPT_VALIDATE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TRPT_VALIDATE_ASAN 1
#endif
#endif
#ifdef TRPT_VALIDATE_ASAN
#include <sanitizer/asan_interface.h>
#define JHDR           _Alignof(max_align_t)
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define JHDR           0
#define POISON(p, n)   ((void)0)
#define UNPOISON(p, n) ((void)0)
#endif

struct jchunk {
	struct jchunk *next;
	size_t size;
	_Alignas(max_align_t) unsigned char data[];
};

struct jarena {
	struct jchunk *chunks; /* newest first */
	size_t used;           /* of the newest */
	size_t live;           /* allocations not freed yet */
};

static _Thread_local struct jarena *jcur;

/* Each thread's first chunk, kept from one text to the next (a malloc
 * and free of 16 KiB per report otherwise); freed when the thread ends. */
static pthread_key_t jspare;
static int jspare_ok;

static void *
j_malloc(size_t n)
{
	struct jarena *a = jcur;
	struct jchunk *c;
	size_t at, size;

	size_t need;

	if (a == NULL || n > JCHUNK_MIN / 4)
		return malloc(n);
	need = JHDR +
	       ((n + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1));
	c = a->chunks;
	at = a->used;
	if (c == NULL || c->size - at < need) {
		size = c == NULL ? JCHUNK_MIN : c->size * 2;
		if ((c = malloc(sizeof(*c) + size)) == NULL)
			return NULL;
		c->next = a->chunks;
		c->size = size;
		POISON(c->data, size);
		a->chunks = c;
		at = 0;
	}
	a->used = at + need;
	a->live++;
	if (JHDR > 0) {
		UNPOISON(c->data + at, JHDR);
		memcpy(c->data + at, &n, sizeof(n));
		POISON(c->data + at, JHDR);
		UNPOISON(c->data + at + JHDR, n);
	}
	return c->data + at + JHDR;
}

static void
j_free(void *p)
{
	struct jarena *a = jcur;
	const struct jchunk *c;

	if (p == NULL)
		return;
	if (a != NULL)
		for (c = a->chunks; c != NULL; c = c->next)
			if ((uintptr_t)p >= (uintptr_t)c->data &&
			    (uintptr_t)p < (uintptr_t)c->data + c->size) {
				a->live--;
				if (JHDR > 0) {
					unsigned char *h =
					    (unsigned char *)p - JHDR;
					size_t n;

					UNPOISON(h, JHDR);
					memcpy(&n, h, sizeof(n));
					POISON(h, JHDR + n);
				}
				return;
			}
	free(p);
}

static void
jarena_begin(struct jarena *a)
{
	struct jchunk *c = jspare_ok ? pthread_getspecific(jspare) : NULL;

	if (c != NULL && pthread_setspecific(jspare, NULL) != 0)
		c = NULL;
	if (c != NULL) {
		c->next = NULL;
		POISON(c->data, c->size);
	}
	a->chunks = c;
	a->used = 0;
	a->live = 0;
	jcur = a;
}

static void
jarena_end(struct jarena *a)
{
	struct jchunk *c, *next;

	jcur = NULL;
	if (a->live != 0)
		return; /* leaked on purpose: the leak check shows it */
	for (c = a->chunks; c != NULL; c = next) {
		next = c->next;
		UNPOISON(c->data, c->size);
		/* The oldest, the first chunk, is kept for the next text. */
		if (next == NULL && jspare_ok && c->size == JCHUNK_MIN &&
		    pthread_setspecific(jspare, c) == 0)
			break;
		free(c);
	}
}

static void
spare_free(void *c)
{
	free(c);
}

static void
install(void)
{
	jspare_ok = pthread_key_create(&jspare, spare_free) == 0;
	json_set_alloc_funcs(j_malloc, j_free);
}

void
trpt_validate_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, install);
}

/*
 * A failure-details array read from the text one element at a time
 * instead of through the tree of the whole report (see stream_scan).
 */
struct streamed {
	size_t policy;     /* index in policies */
	size_t start, end; /* its elements: after '[', up to ']' */
	size_t count;      /* how many */
};

struct vstate {
	const struct trpt_limits *lim;
	const struct trpt_validate_ctx *ctx;
	struct trpt_report *r;
	struct trpt_err *err;
	size_t nfailures;          /* over all policies, against max_failures */
	struct trpt_filename fn;   /* parsed ctx->filename, for fallbacks */
	const char *text;          /* the JSON text, for streamed arrays */
	const struct streamed *sv; /* streamed failure-details, by policy */
	size_t nsv;
};

static const char *const known_result_types[] = { "starttls-not-supported",
	"certificate-host-mismatch", "certificate-expired",
	"certificate-not-trusted", "validation-failure", "tlsa-invalid",
	"dnssec-invalid", "dane-required", "sts-policy-fetch-error",
	"sts-policy-invalid", "sts-webpki-invalid", NULL };

static const char *const known_policy_types[] = { "sts", "tlsa",
	"no-policy-found", NULL };

static int
in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static int warn(struct vstate *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
warn(struct vstate *st, const char *fmt, ...)
{
	char msg[TRPT_ERR_MSG_LEN];
	va_list ap;

	if (st->r->warnings.n >= MAX_WARNINGS)
		return TRPT_OK;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (trpt_strlist_add(&st->r->warnings, msg) != TRPT_OK)
		return trpt_err_set(st->err, TRPT_ENOMEM, "out of memory");
	return TRPT_OK;
}

static int reject(struct vstate *st, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
reject(struct vstate *st, const char *path, const char *fmt, ...)
{
	char msg[TRPT_ERR_MSG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return trpt_err_set(st->err, TRPT_EPARSE, "%s: %s", path, msg);
}

static int
oom(struct vstate *st)
{
	return trpt_err_set(st->err, TRPT_ENOMEM, "out of memory");
}

/*
 * A copy of string v in the report's blocks (trpt_report_new: one malloc
 * per few hundred bytes rather than a strdup per field, ~45 a small
 * report, and one free of them all; issue 15), or NULL when out of
 * memory.  jansson refuses \u0000 without JSON_ALLOW_NUL, so the length
 * is strlen's.
 */
static char *
copy(struct vstate *st, const json_t *v)
{
	return trpt_report_strndup(
	    st->r, json_string_value(v), json_string_length(v));
}

/* n string pointers for a list of the report, or NULL when out of memory. */
static char **
list_alloc(struct vstate *st, size_t n)
{
	if (n > SIZE_MAX / sizeof(char *))
		return NULL;
	return trpt_report_alloc(st->r, n * sizeof(char *));
}

/*
 * Nesting depth of the JSON text, counted before parsing so that a hostile
 * document cannot drive the parser's recursion.  Brackets inside strings do
 * not count.  Returns the maximum depth.
 *
 * A string is skipped with memchr to its next quote, which closes it
 * unless an odd run of backslashes stands right before it (each pair is
 * an escaped backslash; the byte before the run is no backslash, so the
 * run's first one always escapes): the same answer as reading it byte by
 * byte, at a fraction of the cost.  Byte by byte, this scan was 7,800
 * instructions of serve's ~250,000 a POST (callgrind, the bench's
 * 670-byte report, most of it in strings), 2-3% of the libmicrohttpd
 * threads' CPU (perf, issue 15).
 */
static size_t
json_depth(const char *s, size_t len)
{
	const char *p = s, *end = s + len, *q, *b;
	size_t depth = 0, max = 0;

	while (p < end) {
		switch (*p++) {
		case '"':
			for (;;) {
				q = memchr(p, '"', (size_t)(end - p));
				if (q == NULL)
					return max; /* unterminated */
				for (b = q; b > p && b[-1] == '\\'; b--)
					;
				p = q + 1;
				if ((q - b) % 2 == 0)
					break;
			}
			break;
		case '{':
		case '[':
			if (++depth > max)
				max = depth;
			break;
		case '}':
		case ']':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return max;
}

/*
 * dst = a b, and "[i]" with_index, cut to cap like snprintf: a JSON path
 * for messages.  By hand: ten snprintf calls a policy, for paths that only
 * a warning or a rejection shows, were 2.4% of `ingest`'s reading thread
 * (perf, issue 15).
 */
static void
path_join(char *dst, size_t cap, const char *a, const char *b, size_t i,
    int with_index)
{
	char digits[24];
	size_t o = 0, n = 0;
	const char *parts[4];
	size_t k, len;

	parts[0] = a;
	parts[1] = b;
	parts[2] = parts[3] = NULL;
	if (with_index) {
		n = sizeof(digits) - 1;
		digits[n] = '\0';
		do {
			digits[--n] = (char)('0' + i % 10);
			i /= 10;
		} while (i > 0);
		digits[--n] = '[';
		parts[2] = digits + n;
		parts[3] = "]";
	}
	for (k = 0; k < 4 && parts[k] != NULL && o + 1 < cap; k++) {
		len = strlen(parts[k]);
		if (len > cap - 1 - o)
			len = cap - 1 - o;
		memcpy(dst + o, parts[k], len);
		o += len;
	}
	dst[o] = '\0';
}

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/* A required, non-empty string member. */
static int
req_string(struct vstate *st, const json_t *obj, const char *key,
    const char *path, char **out)
{
	const json_t *v = json_object_get(obj, key);
	char p[160];

	if (v != NULL && json_is_string(v) && json_string_length(v) > 0) {
		if ((*out = copy(st, v)) == NULL)
			return oom(st);
		return TRPT_OK;
	}
	/* The path is formatted only for a rejection: a snprintf per field
	 * was ~3% of the reading thread of `ingest` (issue 15). */
	snprintf(p, sizeof(p), "%s%s%s", path, path[0] ? "." : "", key);
	if (v == NULL)
		return reject(st, p, "missing");
	if (!json_is_string(v))
		return reject(st, p, "must be a string, not %s", type_name(v));
	return reject(st, p, "empty");
}

/*
 * An optional string: absent, null or "" give NULL.  Another type is
 * ignored with a warning (senders put odd things in optional fields).
 */
static int
opt_string(struct vstate *st, const json_t *obj, const char *key,
    const char *alias, const char *path, char **out)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL && alias != NULL) {
		v = json_object_get(obj, alias);
		if (v != NULL && warn(st, "%s.%s: read as \"%s\"", path, alias,
				     key) != TRPT_OK)
			return st->err->code;
	}
	*out = NULL;
	if (v == NULL || json_is_null(v))
		return TRPT_OK;
	if (!json_is_string(v))
		return warn(st, "%s.%s: ignored, %s instead of a string", path,
		    key, type_name(v));
	if (json_string_length(v) == 0)
		return TRPT_OK;
	if ((*out = copy(st, v)) == NULL)
		return oom(st);
	return TRPT_OK;
}

/*
 * A session count: a non-negative integer no larger than 2^53 (I-JSON).
 * A real number with no fraction (12.0) is accepted with a warning.
 */
static int
req_count(struct vstate *st, const json_t *obj, const char *key,
    const char *path, int64_t *out)
{
	const json_t *v = json_object_get(obj, key);
	char p[160];
	double d;

	if (v != NULL && json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= TRPT_MAX_COUNT) {
		*out = (int64_t)json_integer_value(v);
		return TRPT_OK; /* the usual case: no path to format */
	}
	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (v == NULL)
		return reject(st, p, "missing count");
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);

		if (n < 0)
			return reject(st, p,
			    "negative count (%" JSON_INTEGER_FORMAT ")", n);
		if (n > TRPT_MAX_COUNT)
			return reject(st, p,
			    "count above 2^53 (%" JSON_INTEGER_FORMAT ")", n);
		*out = (int64_t)n;
		return TRPT_OK;
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (d < 0)
			return reject(st, p, "negative count (%g)", d);
		if (d != floor(d))
			return reject(st, p, "fractional count (%g)", d);
		if (d > (double)TRPT_MAX_COUNT)
			return reject(st, p, "count above 2^53 (%g)", d);
		*out = (int64_t)d;
		return warn(
		    st, "%s: integer written as a real number (%g)", p, d);
	}
	return reject(st, p, "count must be a number, not %s", type_name(v));
}

static int
parse_date(
    struct vstate *st, const json_t *range, const char *key, int64_t *out)
{
	const json_t *v = json_object_get(range, key);
	char p[64];
	unsigned flags;

	path_join(p, sizeof(p), "date-range.", key, 0, 0);
	if (v == NULL)
		return reject(st, p, "missing");
	if (!json_is_string(v))
		return reject(st, p, "must be a string, not %s", type_name(v));
	if (trpt_datetime_parse(json_string_value(v), out, &flags, NULL) !=
	    TRPT_OK)
		return reject(st, p, "not an RFC 3339 date-time: \"%.40s\"",
		    json_string_value(v));
	if ((flags & TRPT_DT_DATE_ONLY) &&
	    warn(st, "%s: a date without a time, taken as 00:00:00Z", p))
		return st->err->code;
	else if ((flags & TRPT_DT_NO_OFFSET) &&
		 warn(st, "%s: no UTC offset, taken as UTC", p))
		return st->err->code;
	if ((flags & TRPT_DT_OFFSET) &&
	    warn(st, "%s: offset normalised to UTC", p))
		return st->err->code;
	return TRPT_OK;
}

/* A list of strings that real senders give as an array, a string, null,
 * or not at all. */
static int
string_list(struct vstate *st, const json_t *v, const char *path,
    struct trpt_strlist *out)
{
	const json_t *e;
	size_t i;

	if (v == NULL || json_is_null(v))
		return TRPT_OK;
	if (json_is_string(v)) {
		if (warn(st, "%s: a string where an array was expected", path))
			return st->err->code;
		if (json_string_length(v) == 0)
			return TRPT_OK;
		if ((out->v = list_alloc(st, 1)) == NULL ||
		    (out->v[0] = copy(st, v)) == NULL)
			return oom(st);
		out->n = 1;
		return TRPT_OK;
	}
	if (!json_is_array(v))
		return reject(st, path, "must be an array of strings, not %s",
		    type_name(v));
	if (json_array_size(v) > 0 &&
	    (out->v = list_alloc(st, json_array_size(v))) == NULL)
		return oom(st);
	json_array_foreach (v, i, e) {
		if (!json_is_string(e))
			return reject(st, path,
			    "element %zu must be a string, not %s", i,
			    type_name(e));
		if ((out->v[i] = copy(st, e)) == NULL)
			return oom(st);
		out->n = i + 1;
	}
	return TRPT_OK;
}

/*
 * Microsoft sends a TLSA policy-string as one string that holds a JSON
 * array of the records.  Unpack it into one element per record.
 */
static int
unpack_tlsa(struct vstate *st, struct trpt_policy *p, const char *path)
{
	struct trpt_strlist l = { NULL, 0 };
	json_t *inner;
	const json_t *e;
	size_t i;
	const char *s;
	int rc = TRPT_OK;

	if (p->policy_strings.n != 1)
		return TRPT_OK;
	s = p->policy_strings.v[0];
	while (isspace((unsigned char)*s))
		s++;
	if (*s != '[')
		return TRPT_OK;
	inner = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	if (inner == NULL || !json_is_array(inner)) {
		json_decref(inner);
		return TRPT_OK; /* not JSON after all: keep the string */
	}
	json_array_foreach (inner, i, e) {
		if (!json_is_string(e)) {
			json_decref(inner);
			return TRPT_OK; /* not all strings: keep the string */
		}
	}
	if (json_array_size(inner) > 0 &&
	    (l.v = list_alloc(st, json_array_size(inner))) == NULL)
		rc = oom(st);
	json_array_foreach (inner, i, e) {
		if (rc == TRPT_OK && (l.v[i] = copy(st, e)) == NULL)
			rc = oom(st);
		l.n = i + 1;
	}
	json_decref(inner);
	if (rc != TRPT_OK)
		return rc;
	/* The old list stays in the report's blocks until it is freed. */
	p->policy_strings = l;
	return warn(st,
	    "%s.policy-string: one string holding a JSON array, "
	    "unpacked into %zu records",
	    path, l.n);
}

/* Lower case, without trailing dots, in place. */
static void
domain_normalise(char *d)
{
	size_t n = strlen(d), i;

	while (n > 0 && d[n - 1] == '.')
		n--;
	for (i = 0; i < n; i++)
		d[i] = (char)tolower((unsigned char)d[i]);
	d[n] = '\0';
}

/* The domain for policies that name none: TLS-Report-Domain, else an
 * RFC 8460 file name. */
static const char *
fallback_domain(struct vstate *st, const char **from)
{
	*from = NULL;
	if (st->ctx == NULL)
		return NULL;
	if (st->ctx->report_domain != NULL && st->ctx->report_domain[0]) {
		*from = "the TLS-Report-Domain header";
		return st->ctx->report_domain;
	}
	if (st->ctx->filename != NULL &&
	    trpt_filename_parse(st->ctx->filename, &st->fn) &&
	    st->fn.domain[0]) {
		*from = "the report file name";
		return st->fn.domain;
	}
	return NULL;
}

static const char *const known_policy_keys[] = { "policy-type", "policy-string",
	"policy-domain", "mx-host", NULL };
static const char *const known_summary_keys[] = {
	"total-successful-session-count", "total-failure-session-count", NULL
};
static const char *const known_failure_keys[] = { "result-type",
	"sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo",
	"receiving-ip", "failed-session-count", "additional-information",
	"failure-reason-code", "receiving-mx-host-name", "additional-info-uri",
	"failure-error-code", NULL };
static const char *const known_report_keys[] = { "organization-name",
	"date-range", "contact-info", "report-id", "policies", NULL };
static const char *const known_entry_keys[] = { "policy", "summary",
	"failure-details", NULL };

static int
unknown_keys(struct vstate *st, const json_t *obj, const char *path,
    const char *const *known)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)obj, key, v) {
		if (!in_list(key, known) &&
		    warn(st, "%s%s%s: unknown key kept out", path,
			path[0] ? "." : "", key) != TRPT_OK)
			return st->err->code;
	}
	return TRPT_OK;
}

static int
read_failure(struct vstate *st, const json_t *fd, const char *path,
    struct trpt_failure *f)
{
	int rc;

	if (!json_is_object(fd))
		return reject(
		    st, path, "must be an object, not %s", type_name(fd));
	if ((rc = req_string(st, fd, "result-type", path, &f->result_type)) ||
	    (rc = req_count(st, fd, "failed-session-count", path,
		 &f->failed_session_count)) ||
	    (rc = opt_string(
		 st, fd, "sending-mta-ip", NULL, path, &f->sending_mta_ip)) ||
	    (rc = opt_string(st, fd, "receiving-mx-hostname",
		 "receiving-mx-host-name", path, &f->receiving_mx_hostname)) ||
	    (rc = opt_string(st, fd, "receiving-mx-helo", NULL, path,
		 &f->receiving_mx_helo)) ||
	    (rc = opt_string(
		 st, fd, "receiving-ip", NULL, path, &f->receiving_ip)) ||
	    (rc = opt_string(st, fd, "failure-reason-code",
		 "failure-error-code", path, &f->failure_reason_code)) ||
	    (rc = opt_string(st, fd, "additional-information",
		 "additional-info-uri", path, &f->additional_information)) ||
	    (rc = unknown_keys(st, fd, path, known_failure_keys)))
		return rc;
	if (!in_list(f->result_type, known_result_types))
		return warn(st,
		    "%s.result-type: \"%.60s\" is not a registered "
		    "result type, kept as is",
		    path, f->result_type);
	return TRPT_OK;
}

/* One failure detail, the i-th of policy p, added to *details. */
static int
read_one_failure(struct vstate *st, const json_t *fd, const char *path,
    size_t i, struct trpt_policy *p, int64_t *details)
{
	char fpath[160];
	int rc;

	path_join(fpath, sizeof(fpath), path, ".failure-details", i, 1);
	p->nfailures = i + 1;
	if ((rc = read_failure(st, fd, fpath, &p->failures[i])))
		return rc;
	/* Each count is at most 2^53, but 1,024 of them overflow a signed
	 * sum (UBSan; issue 9 item 14). */
	if (__builtin_add_overflow(
		*details, p->failures[i].failed_session_count, details))
		return trpt_err_set(st->err, TRPT_ELIMIT,
		    "%s: failed-session-counts add up to more than 2^63",
		    fpath);
	return TRPT_OK;
}

/*
 * Where the array element starting at pos ends: the first ',' outside
 * strings and brackets, or end.
 */
static size_t
element_end(const char *s, size_t pos, size_t end)
{
	size_t depth = 0;
	int in_str = 0;

	for (; pos < end; pos++) {
		char c = s[pos];

		if (in_str) {
			if (c == '\\')
				pos++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"')
			in_str = 1;
		else if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && depth > 0)
			depth--;
		else if (c == ',' && depth == 0)
			break;
	}
	return pos < end ? pos : end;
}

static int
read_policy(
    struct vstate *st, const json_t *entry, size_t idx, struct trpt_policy *p)
{
	const json_t *pol, *sum, *fds, *fd;
	char path[64], fpath[160];
	const char *from;
	char *domain = NULL;
	const struct streamed *sv = NULL;
	int64_t details = 0;
	size_t i, nfds;
	int rc;

	path_join(path, sizeof(path), "policies", "", idx, 1);
	if (!json_is_object(entry))
		return reject(
		    st, path, "must be an object, not %s", type_name(entry));
	if ((rc = unknown_keys(st, entry, path, known_entry_keys)) != TRPT_OK)
		return rc;
	pol = json_object_get(entry, "policy");
	path_join(fpath, sizeof(fpath), path, ".policy", 0, 0);
	if (pol == NULL)
		return reject(st, fpath, "missing");
	if (!json_is_object(pol))
		return reject(
		    st, fpath, "must be an object, not %s", type_name(pol));
	if ((rc = req_string(st, pol, "policy-type", fpath, &p->policy_type)))
		return rc;
	if (!in_list(p->policy_type, known_policy_types) &&
	    (rc = warn(st, "%s.policy-type: unknown type \"%.60s\", kept as is",
		 fpath, p->policy_type)))
		return rc;
	if ((rc = opt_string(st, pol, "policy-domain", NULL, fpath, &domain)))
		return rc;
	if (domain == NULL) {
		const char *fb = fallback_domain(st, &from);

		/* Counts that no domain can be given to are refused like
		 * any other report that cannot be attributed (issue 9 item
		 * 15); they stay in quarantine, and reprocess stores them
		 * once they arrive with a header or file name. */
		if (fb == NULL)
			return reject(st, fpath,
			    "policy-domain missing, and no TLS-Report-Domain "
			    "header or report file name to take it from");
		domain = trpt_report_strndup(st->r, fb, strlen(fb));
		rc = warn(st, "%s.policy-domain: missing, taken from %s", fpath,
		    from);
		if (domain == NULL)
			return oom(st);
		if (rc != TRPT_OK)
			return rc;
	}
	domain_normalise(domain);
	p->policy_domain = domain;
	path_join(fpath, sizeof(fpath), path, ".policy.policy-string", 0, 0);
	if ((rc = string_list(st, json_object_get(pol, "policy-string"), fpath,
		 &p->policy_strings)))
		return rc;
	path_join(fpath, sizeof(fpath), path, ".policy", 0, 0);
	if (strcmp(p->policy_type, "tlsa") == 0 &&
	    (rc = unpack_tlsa(st, p, fpath)))
		return rc;
	path_join(fpath, sizeof(fpath), path, ".policy.mx-host", 0, 0);
	if ((rc = string_list(
		 st, json_object_get(pol, "mx-host"), fpath, &p->mx_hosts)))
		return rc;
	path_join(fpath, sizeof(fpath), path, ".policy", 0, 0);
	if ((rc = unknown_keys(st, pol, fpath, known_policy_keys)))
		return rc;

	sum = json_object_get(entry, "summary");
	path_join(fpath, sizeof(fpath), path, ".summary", 0, 0);
	if (sum == NULL)
		return reject(st, fpath, "missing");
	if (!json_is_object(sum))
		return reject(
		    st, fpath, "must be an object, not %s", type_name(sum));
	if ((rc = req_count(st, sum, "total-successful-session-count", fpath,
		 &p->successful)) ||
	    (rc = req_count(
		 st, sum, "total-failure-session-count", fpath, &p->failed)) ||
	    (rc = unknown_keys(st, sum, fpath, known_summary_keys)))
		return rc;

	fds = json_object_get(entry, "failure-details");
	path_join(fpath, sizeof(fpath), path, ".failure-details", 0, 0);
	if (fds == NULL || json_is_null(fds))
		return TRPT_OK;
	if (!json_is_array(fds))
		return reject(
		    st, fpath, "must be an array, not %s", type_name(fds));
	/* The placeholder [] of a streamed array (stream_scan). */
	for (i = 0; i < st->nsv && json_array_size(fds) == 0; i++)
		if (st->sv[i].policy == idx)
			sv = &st->sv[i];
	nfds = sv != NULL ? sv->count : json_array_size(fds);
	if (nfds > st->lim->max_failures - st->nfailures)
		return trpt_err_set(st->err, TRPT_ELIMIT,
		    "%s: more than %zu failure details in the report", fpath,
		    st->lim->max_failures);
	st->nfailures += nfds;
	if (nfds == 0)
		return TRPT_OK;
	p->failures =
	    nfds <= SIZE_MAX / sizeof(*p->failures)
		? trpt_report_alloc(st->r, nfds * sizeof(*p->failures))
		: NULL;
	if (p->failures == NULL)
		return oom(st);
	if (sv != NULL) {
		/* Streamed: each element parsed from the text, read and
		 * freed before the next; any syntax error sends the whole
		 * text through the tree (validate). */
		size_t pos = sv->start, e;

		for (i = 0; i < sv->count; i++) {
			json_error_t jerr;

			if (pos > sv->end) /* fewer elements than counted */
				return trpt_err_set(
				    st->err, TRPT_EPARSE, "not valid JSON");
			e = element_end(st->text, pos, sv->end);
			fd = json_loadb(st->text + pos, e - pos,
			    JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
			if (fd == NULL)
				return trpt_err_set(
				    st->err, TRPT_EPARSE, "not valid JSON");
			rc = read_one_failure(st, fd, path, i, p, &details);
			json_decref((json_t *)(uintptr_t)fd);
			if (rc != TRPT_OK)
				return rc;
			pos = e + 1;
		}
		if (pos <= sv->end) /* more elements than counted */
			return trpt_err_set(
			    st->err, TRPT_EPARSE, "not valid JSON");
	} else {
		json_array_foreach (fds, i, fd) {
			if ((rc = read_one_failure(
				 st, fd, path, i, p, &details)) != TRPT_OK)
				return rc;
			/* Read: its part of the tree goes (this function
			 * owns the tree), so that the report's copy of the
			 * strings grows where the tree shrinks; a 5 MB
			 * report peaked 3.5 MiB lower (issue 15). */
			json_array_set_new(
			    (json_t *)(uintptr_t)fds, i, json_null());
		}
	}
	/* Failure types may overlap (RFC 8460 §4.3), so the details can add
	 * up to more than the total: flag it, never "correct" it. */
	if (details != p->failed)
		return warn(st,
		    "%s: failure-details add up to %" PRId64
		    ", total-failure-session-count says %" PRId64,
		    path, details, p->failed);
	return TRPT_OK;
}

static int
read_report(struct vstate *st, const json_t *root)
{
	struct trpt_report *r = st->r;
	const json_t *range, *ci, *pols, *e;
	size_t i;
	int rc;

	if (!json_is_object(root))
		return reject(st, "(top level)", "must be an object, not %s",
		    type_name(root));
	if ((rc = req_string(
		 st, root, "organization-name", "", &r->organization_name)) ||
	    (rc = req_string(st, root, "report-id", "", &r->report_id)))
		return rc;
	ci = json_object_get(root, "contact-info");
	if (ci != NULL && json_is_string(ci) && json_string_length(ci) > 0) {
		if ((r->contact_info = copy(st, ci)) == NULL)
			return oom(st);
	} else if (ci != NULL && !json_is_null(ci) && !json_is_string(ci) &&
		   (rc = warn(st,
			"contact-info: ignored, %s instead of a string",
			type_name(ci))))
		return rc;
	range = json_object_get(root, "date-range");
	if (range == NULL)
		return reject(st, "date-range", "missing");
	if (!json_is_object(range))
		return reject(st, "date-range", "must be an object, not %s",
		    type_name(range));
	if ((rc = parse_date(st, range, "start-datetime", &r->begin)) ||
	    (rc = parse_date(st, range, "end-datetime", &r->end)))
		return rc;
	if (r->begin > r->end)
		return reject(
		    st, "date-range", "start-datetime is after end-datetime");
	/* A report dated 9999 (or 0000) would stretch every default range
	 * of trends and exports over millions of days. */
	if (r->begin < TRPT_DATE_EARLIEST)
		return reject(st, "date-range.start-datetime",
		    "before 2016-01-01 (TLSRPT dates from 2016): not a "
		    "plausible "
		    "report date");
	if (r->end > (int64_t)time(NULL) + TRPT_DATE_AHEAD)
		return reject(st, "date-range.end-datetime",
		    "more than 3 days in the future: not a plausible report "
		    "date");
	pols = json_object_get(root, "policies");
	if (pols == NULL)
		return reject(st, "policies", "missing");
	if (!json_is_array(pols))
		return reject(st, "policies", "must be an array, not %s",
		    type_name(pols));
	if (json_array_size(pols) > st->lim->max_policies)
		return trpt_err_set(st->err, TRPT_ELIMIT,
		    "policies: more than %zu policies in the report",
		    st->lim->max_policies);
	if (json_array_size(pols) == 0 &&
	    (rc = warn(st, "policies: empty, the report carries no sessions")))
		return rc;
	if (json_array_size(pols) > 0) {
		r->policies =
		    json_array_size(pols) <= SIZE_MAX / sizeof(*r->policies)
			? trpt_report_alloc(
			      r, json_array_size(pols) * sizeof(*r->policies))
			: NULL;
		if (r->policies == NULL)
			return oom(st);
	}
	json_array_foreach (pols, i, e) {
		r->npolicies = i + 1;
		if ((rc = read_policy(st, e, i, &r->policies[i])))
			return rc;
	}
	return unknown_keys(st, root, "", known_report_keys);
}

/*
 * Finds the failure-details arrays of the policies of a report object,
 * the path {"policies":[{"failure-details":[...]}]}, so that their
 * elements can be read one at a time: the tree of a whole 5 MB report
 * (21,000 failure details) takes about 25 MB of heap in jansson, more
 * than the 40 MiB budget of its ingest allows beside the text and the
 * report (issue 15; jansson has no streaming reader, so the path is found
 * here by hand: strings, escapes and brackets only).  Returns the number
 * of arrays found (*out, caller frees), 0 when the text is not one of
 * that shape (the keys written with escapes, brackets that do not match:
 * the tree reads it), -1 out of memory.
 *
 * Soundness: the skeleton (the text without those arrays' elements) and
 * each element are parsed by jansson; when all of them parse, the text is
 * valid JSON and its tree is the skeleton with the elements put back, so
 * the report read is the one the whole tree gives.  Any failure is
 * answered by the whole tree (validate), for the same messages.
 */
static int
stream_scan(const char *s, size_t len, struct streamed **out, size_t *nout)
{
	/* Levels 1 to 4 of the path: root object, policies array, policy
	 * object, failure-details array. */
	char type[5] = { 0 };
	int on_path[5] = { 0 }, expect_key[5] = { 0 }, key_match[5] = { 0 };
	size_t depth = 0, i, key_start = 0, commas2 = 0, commas4 = 0;
	size_t policy = 0, n = 0, cap = 0, start4 = 0;
	int in_str = 0, is_key = 0, nonblank4 = 0;
	struct streamed *sv = NULL, *nsv;

	*out = NULL;
	*nout = 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"') {
				in_str = 0;
				if (is_key && depth == 1)
					key_match[1] = i - key_start == 8 &&
						       memcmp(s + key_start,
							   "policies", 8) == 0;
				else if (is_key)
					key_match[3] =
					    i - key_start == 15 &&
					    memcmp(s + key_start,
						"failure-details", 15) == 0;
				is_key = 0;
			}
			continue;
		}
		if (depth >= 4 && on_path[4] && c != ' ' && c != '\t' &&
		    c != '\n' && c != '\r' &&
		    !(depth == 4 && (c == ']' || c == '}')))
			nonblank4 = 1;
		switch (c) {
		case '"':
			in_str = 1;
			if ((depth == 1 || depth == 3) && on_path[depth] &&
			    expect_key[depth]) {
				is_key = 1;
				key_start = i + 1;
				expect_key[depth] = 0;
			}
			break;
		case ',':
			if ((depth == 1 || depth == 3) && on_path[depth])
				expect_key[depth] = 1;
			else if (depth == 2 && on_path[2])
				commas2++;
			else if (depth == 4 && on_path[4])
				commas4++;
			break;
		case '{':
		case '[':
			if (++depth > 4)
				break;
			type[depth] = c;
			if (depth == 1)
				on_path[1] = c == '{';
			else if (depth == 2)
				on_path[2] =
				    c == '[' && on_path[1] && key_match[1];
			else if (depth == 3)
				on_path[3] = c == '{' && on_path[2];
			else
				on_path[4] =
				    c == '[' && on_path[3] && key_match[3];
			expect_key[depth] = 1;
			key_match[depth] = 0;
			if (depth == 2)
				commas2 = 0;
			else if (depth == 3)
				policy = commas2;
			else if (depth == 4) {
				commas4 = 0;
				nonblank4 = 0;
				start4 = i + 1;
			}
			break;
		case '}':
		case ']':
			if (depth == 0 ||
			    (depth <= 4 &&
				type[depth] != (c == '}' ? '{' : '[')))
				goto whole; /* the tree says what is wrong */
			if (depth == 4 && on_path[4]) {
				if (n == cap) {
					cap = cap == 0 ? 4 : cap * 2;
					nsv = realloc(sv, cap * sizeof(*sv));
					if (nsv == NULL) {
						free(sv);
						return -1;
					}
					sv = nsv;
				}
				sv[n].policy = policy;
				sv[n].start = start4;
				sv[n].end = i;
				sv[n].count = nonblank4 ? commas4 + 1 : 0;
				n++;
			}
			depth--;
			break;
		default:
			break;
		}
	}
	if (in_str || depth != 0)
		goto whole;
	*out = sv;
	*nout = n;
	return n > 0;
whole:
	free(sv);
	return 0;
}

/* The text without the elements of the streamed arrays. */
static char *
skeleton(const char *s, size_t len, const struct streamed *sv, size_t nsv,
    size_t *outlen)
{
	size_t i, n = len, pos = 0, o = 0;
	char *k;

	for (i = 0; i < nsv; i++)
		n -= sv[i].end - sv[i].start;
	if ((k = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < nsv; i++) {
		memcpy(k + o, s + pos, sv[i].start - pos);
		o += sv[i].start - pos;
		pos = sv[i].end;
	}
	memcpy(k + o, s + pos, len - pos);
	o += len - pos;
	k[o] = '\0';
	*outlen = o;
	return k;
}

/* Reads the report out of root (and the streamed arrays of text), which
 * it frees. */
static int
read_tree(json_t *root, const char *text, const struct streamed *sv, size_t nsv,
    const struct trpt_limits *lim, const struct trpt_validate_ctx *ctx,
    struct trpt_report **out, struct trpt_err *err)
{
	struct vstate st;
	struct trpt_err local;
	int rc;

	memset(&st, 0, sizeof(st));
	st.lim = lim;
	st.ctx = ctx;
	st.text = text;
	st.sv = sv;
	st.nsv = nsv;
	/* err may be NULL (the API allows it); the readers use its code. */
	st.err = err != NULL ? err : &local;
	if (trpt_report_new(&st.r) != TRPT_OK)
		rc = oom(&st);
	else
		rc = read_report(&st, root);
	json_decref(root);
	if (rc != TRPT_OK) {
		trpt_report_free(&st.r);
		return rc;
	}
	*out = st.r;
	return TRPT_OK;
}

/* trpt_validate_json; with take, the text is freed as soon as parsed. */
static int
validate(char *take, const char *json, size_t len,
    const struct trpt_limits *lim, const struct trpt_validate_ctx *ctx,
    struct trpt_report **out, struct trpt_err *err)
{
	struct streamed *sv = NULL;
	struct jarena arena;
	json_error_t jerr;
	json_t *root;
	size_t depth, nsv, skel_len = 0;
	char *skel;
	int rc;

	if (len >= 3 && memcmp(json, "\xef\xbb\xbf", 3) == 0) {
		json += 3; /* a UTF-8 byte order mark */
		len -= 3;
	}
	if (len > lim->max_json) {
		free(take);
		return trpt_err_set(err, TRPT_ELIMIT,
		    "JSON of %zu bytes exceeds the limit of %zu bytes", len,
		    lim->max_json);
	}
	depth = json_depth(json, len);
	if (depth > lim->max_depth) {
		free(take);
		return trpt_err_set(err, TRPT_ELIMIT,
		    "JSON nested %zu deep, deeper than the limit of %zu", depth,
		    lim->max_depth);
	}
	nsv = 0;
	rc = len >= STREAM_MIN ? stream_scan(json, len, &sv, &nsv) : 0;
	if (rc < 0) {
		free(take);
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	}
	if (rc > 0) {
		/* Any failure of the streamed read is answered by the whole
		 * tree below (the same outcome and message as before). */
		skel = skeleton(json, len, sv, nsv, &skel_len);
		root = skel != NULL ? json_loadb(skel, skel_len,
					  JSON_REJECT_DUPLICATES, &jerr)
				    : NULL;
		free(skel);
		if (root != NULL && read_tree(root, json, sv, nsv, lim, ctx,
					out, err) == TRPT_OK) {
			free(sv);
			free(take);
			return TRPT_OK;
		}
		free(sv);
	}
	/* The arena only below STREAM_MIN: it frees nothing before its end,
	 * and a large text's tree is what streaming keeps out of memory. */
	if (len < STREAM_MIN)
		jarena_begin(&arena);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	free(take);
	if (root == NULL)
		rc = trpt_err_set(err, TRPT_EPARSE,
		    "not valid JSON: %s at line %d column %d", jerr.text,
		    jerr.line, jerr.column);
	else
		rc = read_tree(root, NULL, NULL, 0, lim, ctx, out, err);
	if (len < STREAM_MIN)
		jarena_end(&arena);
	return rc;
}

int
trpt_validate_json(const char *json, size_t len, const struct trpt_limits *lim,
    const struct trpt_validate_ctx *ctx, struct trpt_report **out,
    struct trpt_err *err)
{
	return validate(NULL, json, len, lim, ctx, out, err);
}

int
trpt_validate_json_take(char *json_take, size_t len,
    const struct trpt_limits *lim, const struct trpt_validate_ctx *ctx,
    struct trpt_report **out, struct trpt_err *err)
{
	return validate(json_take, json_take, len, lim, ctx, out, err);
}

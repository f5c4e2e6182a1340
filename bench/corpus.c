#include "bench/corpus.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#define DAY0     20412 /* 2025-11-20: the first report day */
#define NDAYS    90    /* report days: domain n / NDAYS, day n % NDAYS */
#define MAX_FILE (64u * 1024 * 1024)

enum style { STYLE_GOOGLE, STYLE_MICROSOFT, STYLE_UUID };

static const char *const result_types[] = { "starttls-not-supported",
	"certificate-host-mismatch", "certificate-expired",
	"certificate-not-trusted", "validation-failure", "tlsa-invalid",
	"dnssec-invalid", "dane-required", "sts-policy-fetch-error",
	"sts-policy-invalid", "sts-webpki-invalid" };
#define NTYPES (sizeof(result_types) / sizeof(result_types[0]))

static const char *const uuid_orgs[] = { "Mail.ru", "mx.example.net", "Yahoo",
	"Comcast", "GMX" };

/* splitmix64: one well-mixed value per (seed, n, k). */
static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

struct rng {
	uint64_t s;
};

static uint64_t
next(struct rng *r)
{
	r->s += 0x9e3779b97f4a7c15u;
	return mix(r->s);
}

static unsigned
below(struct rng *r, unsigned n)
{
	return (unsigned)(next(r) % n);
}

static enum style
style_of(uint64_t seed, uint64_t n)
{
	unsigned v = (unsigned)(mix(seed ^ (n / NDAYS) * 7919u) % 10);

	return v < 5 ? STYLE_GOOGLE : v < 8 ? STYLE_MICROSOFT : STYLE_UUID;
}

static const char *
org_of(uint64_t seed, uint64_t n, enum style st)
{
	switch (st) {
	case STYLE_GOOGLE:
		return "Google Inc.";
	case STYLE_MICROSOFT:
		return "Microsoft Corporation";
	case STYLE_UUID:
		break;
	}
	return uuid_orgs[mix(seed + n / NDAYS) % 5];
}

static const char *
submitter_of(const char *org)
{
	if (strcmp(org, "Google Inc.") == 0)
		return "google.com";
	if (strcmp(org, "Microsoft Corporation") == 0)
		return "microsoft.com";
	if (strcmp(org, "Mail.ru") == 0)
		return "mail.ru";
	return "mx.example.net";
}

struct meta {
	enum style style;
	const char *org;
	char domain[64];
	char id[128];
	int64_t day;
};

static void
civil(int64_t day, int *y, unsigned *m, unsigned *d)
{
	/* Howard Hinnant's days_to_civil. */
	int64_t z = day + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static void
meta_of(uint64_t seed, uint64_t n, struct meta *m)
{
	uint64_t h = mix(seed ^ mix(n));
	unsigned mo, d;
	int y;

	m->style = style_of(seed, n);
	m->org = org_of(seed, n, m->style);
	/* Each block of a million indexes is a later window of days: a
	 * database filled from one block holds the past of the next. */
	m->day = DAY0 + (int64_t)(n / 1000000 * NDAYS + n % NDAYS);
	snprintf(
	    m->domain, sizeof(m->domain), "d%" PRIu64 ".example", n / NDAYS);
	civil(m->day, &y, &mo, &d);
	switch (m->style) {
	case STYLE_GOOGLE:
		snprintf(m->id, sizeof(m->id), "%04d-%02u-%02uT00:00:00Z_%s", y,
		    mo, d, m->domain);
		break;
	case STYLE_MICROSOFT:
		/* A .NET tick count, then the domain. */
		snprintf(m->id, sizeof(m->id), "%" PRIu64 "+%s",
		    (uint64_t)(m->day + 719162) * 864000000000u +
			h % 864000000000u,
		    m->domain);
		break;
	case STYLE_UUID:
		snprintf(m->id, sizeof(m->id),
		    "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-a%03" PRIx64
		    "-%012" PRIx64,
		    h >> 32, (h >> 16) & 0xffff, h & 0xfff, (h >> 12) & 0xfff,
		    n & 0xffffffffffffu);
		break;
	}
}

void
corpus_file_name(uint64_t seed, uint64_t n, char *name, size_t size)
{
	struct meta m;
	int64_t b;

	meta_of(seed, n, &m);
	b = m.day * 86400;
	if (m.style == STYLE_UUID)
		snprintf(name, size, "%s!%s!%" PRId64 "!%" PRId64 "!%s.json.gz",
		    submitter_of(m.org), m.domain, b, b + 86399, m.id);
	else
		snprintf(name, size,
		    "%s!%s!%" PRId64 "!%" PRId64 "!%03" PRIu64 ".json.gz",
		    submitter_of(m.org), m.domain, b, b + 86399, n % 1000);
}

static void
ip4(struct rng *r, char *s, size_t size)
{
	uint64_t v = next(r);

	snprintf(s, size, "%u.%u.%u.%u", (unsigned)(v & 0x7f) + 1,
	    (unsigned)(v >> 8) & 0xff, (unsigned)(v >> 16) & 0xff,
	    (unsigned)(v >> 24) % 254 + 1);
}

static void
ip6(struct rng *r, char *s, size_t size)
{
	uint64_t v = next(r);

	snprintf(s, size, "2001:db8:%x:%x::%x", (unsigned)(v & 0xffff),
	    (unsigned)(v >> 16) & 0xffff, (unsigned)(v >> 32) & 0xffff);
}

static int
failure_detail(struct rng *r, const struct meta *m, int first, int64_t count,
    struct trpt_buf *out, struct trpt_err *err)
{
	const char *type = result_types[below(r, NTYPES)];
	char sip[48], rip[48];
	int rc;

	if (below(r, 4) == 0)
		ip6(r, sip, sizeof(sip));
	else
		ip4(r, sip, sizeof(sip));
	ip4(r, rip, sizeof(rip));
	rc = trpt_buf_appendf(out, err,
	    "%s{\"result-type\":\"%s\",\"sending-mta-ip\":\"%s\","
	    "\"receiving-mx-hostname\":\"mx%u.%s\",\"receiving-ip\":\"%s\","
	    "\"failed-session-count\":%" PRId64,
	    first ? "" : ",", type, sip, below(r, 3) + 1, m->domain, rip,
	    count);
	if (rc == TRPT_OK && below(r, 3) == 0)
		rc = trpt_buf_appendf(
		    out, err, ",\"receiving-mx-helo\":\"mx.%s\"", m->domain);
	if (rc == TRPT_OK && below(r, 2) == 0)
		rc = trpt_buf_appendf(out, err,
		    ",\"failure-reason-code\":\"%s\","
		    "\"additional-information\":"
		    "\"https://%s/tlsrpt/%08" PRIx64 "\"",
		    below(r, 2) ? "X509_V_ERR_CERT_HAS_EXPIRED" : "421 4.7.0",
		    m->domain, next(r) & 0xffffffffu);
	if (rc == TRPT_OK)
		rc = trpt_buf_append(out, "}", 1, err);
	return rc;
}

static int
policy_head(struct rng *r, const struct meta *m, unsigned k,
    struct trpt_buf *out, struct trpt_err *err)
{
	int rc;

	switch (k) {
	case 0:
		rc = trpt_buf_appendf(out, err,
		    "{\"policy\":{\"policy-type\":\"sts\",\"policy-string\":"
		    "[\"version: STSv1\",\"mode: %s\",\"mx: mx1.%s\","
		    "\"mx: mx2.%s\",\"max_age: 604800\"],"
		    "\"policy-domain\":\"%s\",\"mx-host\":[\"mx1.%s\","
		    "\"mx2.%s\"]}",
		    below(r, 4) ? "enforce" : "testing", m->domain, m->domain,
		    m->domain, m->domain, m->domain);
		break;
	case 1:
		rc = trpt_buf_appendf(out, err,
		    "{\"policy\":{\"policy-type\":\"tlsa\",\"policy-string\":"
		    "[\"3 1 1 %016" PRIX64 "%016" PRIX64 "%016" PRIX64
		    "%016" PRIX64 "\"],\"policy-domain\":\"%s\"}",
		    next(r), next(r), next(r), next(r), m->domain);
		break;
	default:
		rc = trpt_buf_appendf(out, err,
		    "{\"policy\":{\"policy-type\":\"no-policy-found\","
		    "\"policy-domain\":\"%s\"}",
		    m->domain);
	}
	return rc;
}

int
corpus_report_json(uint64_t seed, uint64_t n, enum corpus_shape shape,
    size_t large_bytes, struct trpt_buf *out, struct corpus_counts *counts,
    struct trpt_err *err)
{
	struct rng r = { mix(seed ^ (n * 0x2545f4914f6cdd1du)) };
	struct meta m;
	size_t start = out->len;
	unsigned npol, p, nfail, f, mo, d;
	int64_t ok, failed, c;
	uint64_t pols = 0, fails = 0;
	int rc, y;

	meta_of(seed, n, &m);
	npol = shape == CORPUS_LARGE ? 1 + below(&r, 2) : 1 + below(&r, 3);
	civil(m.day, &y, &mo, &d);
	rc = trpt_buf_appendf(out, err,
	    "{\"organization-name\":\"%s\",\"date-range\":{"
	    "\"start-datetime\":\"%04d-%02u-%02uT00:00:00Z\","
	    "\"end-datetime\":\"%04d-%02u-%02uT23:59:59Z\"},"
	    "\"contact-info\":\"%s\",\"report-id\":\"%s\",\"policies\":[",
	    m.org, y, mo, d, y, mo, d, "tlsrpt@example.net", m.id);
	if (rc != TRPT_OK)
		return rc;
	for (p = 0; p < npol; p++) {
		unsigned kind = npol == 1 ? below(&r, 3) : p;

		if (p > 0 &&
		    (rc = trpt_buf_append(out, ",", 1, err)) != TRPT_OK)
			return rc;
		if ((rc = policy_head(&r, &m, kind, out, err)) != TRPT_OK)
			return rc;
		ok = (int64_t)below(&r, 5000);
		failed = 0;
		if ((rc = trpt_buf_append(
			 out, ",\"failure-details\":[", 20, err)) != TRPT_OK)
			return rc;
		if (shape == CORPUS_LARGE) {
			/* Details until the report reaches its size. */
			size_t want = start + large_bytes / npol * (p + 1);

			for (f = 0; out->len < want; f++) {
				c = 1 + (int64_t)below(&r, 20);
				failed += c;
				rc =
				    failure_detail(&r, &m, f == 0, c, out, err);
				if (rc != TRPT_OK)
					return rc;
				fails++;
			}
		} else {
			nfail = below(&r, 6);
			for (f = 0; f < nfail; f++) {
				c = 1 + (int64_t)below(&r, 50);
				failed += c;
				rc =
				    failure_detail(&r, &m, f == 0, c, out, err);
				if (rc != TRPT_OK)
					return rc;
				fails++;
			}
		}
		rc = trpt_buf_appendf(out, err,
		    "],\"summary\":{\"total-successful-session-count\":%" PRId64
		    ",\"total-failure-session-count\":%" PRId64 "}}",
		    ok, failed);
		if (rc != TRPT_OK)
			return rc;
		pols++;
	}
	if ((rc = trpt_buf_append(out, "]}\n", 3, err)) != TRPT_OK)
		return rc;
	if (counts != NULL) {
		counts->reports++;
		counts->policies += pols;
		counts->failures += fails;
		counts->json_bytes += out->len - start;
	}
	return TRPT_OK;
}

int
corpus_gzip(
    const void *data, size_t len, struct trpt_buf *out, struct trpt_err *err)
{
	z_stream zs;
	char *p;
	size_t room;
	int rc, zrc;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return trpt_err_set(err, TRPT_ENOMEM, "gzip: out of memory");
	room = deflateBound(&zs, (uLong)len) + 32;
	if ((rc = trpt_buf_reserve(out, room, &p, err)) != TRPT_OK)
		goto out;
	zs.next_in = (Bytef *)(uintptr_t)data;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)p;
	zs.avail_out = (uInt)room;
	zrc = deflate(&zs, Z_FINISH);
	if (zrc != Z_STREAM_END) {
		rc = trpt_err_set(err, TRPT_EINVAL, "gzip: deflate failed");
		goto out;
	}
	trpt_buf_commit(out, zs.total_out);
	rc = TRPT_OK;
out:
	deflateEnd(&zs);
	return rc;
}

static int
base64(const unsigned char *p, size_t len, struct trpt_buf *out,
    struct trpt_err *err)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[80];
	size_t i, col = 0;
	int rc;

	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		line[col++] = tab[v >> 18];
		line[col++] = tab[(v >> 12) & 63];
		line[col++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		line[col++] = i + 2 < len ? tab[v & 63] : '=';
		if (col == 76 || i + 3 >= len) {
			line[col++] = '\r';
			line[col++] = '\n';
			if ((rc = trpt_buf_append(out, line, col, err)) !=
			    TRPT_OK)
				return rc;
			col = 0;
		}
	}
	return TRPT_OK;
}

int
corpus_email(uint64_t seed, uint64_t n, const char *filename, const void *gz,
    size_t gzlen, struct trpt_buf *out, struct trpt_err *err)
{
	struct meta m;
	const char *sub;
	unsigned mo, d;
	int y, rc;

	meta_of(seed, n, &m);
	sub = submitter_of(m.org);
	civil(m.day + 1, &y, &mo, &d);
	rc = trpt_buf_appendf(out, err,
	    "Return-Path: <noreply-smtp-tls-reporting@%s>\r\n"
	    "Received: from mail-out.%s (mail-out.%s [192.0.2.25])\r\n"
	    "\tby mx1.%s with ESMTPS id %016" PRIx64 "\r\n"
	    "\tfor <tlsrpt@%s>; %02u %s %04d 03:10:07 +0000\r\n"
	    "MIME-Version: 1.0\r\n"
	    "From: TLS reporting <noreply-smtp-tls-reporting@%s>\r\n"
	    "To: tlsrpt@%s\r\n"
	    "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n"
	    "Date: %02u %s %04d 03:10:07 +0000\r\n"
	    "Message-ID: <%016" PRIx64 ".%" PRIu64 "@%s>\r\n"
	    "TLS-Report-Domain: %s\r\n"
	    "TLS-Report-Submitter: %s\r\n"
	    "Content-Type: multipart/report; "
	    "boundary=\"=_b%016" PRIx64 "\"; report-type=\"tlsrpt\"\r\n"
	    "\r\n"
	    "This is a multi-part message in MIME format.\r\n"
	    "\r\n"
	    "--=_b%016" PRIx64 "\r\n"
	    "Content-Type: text/plain; charset=\"UTF-8\"\r\n"
	    "\r\n"
	    "This is an aggregate TLS report from %s\r\n"
	    "\r\n"
	    "--=_b%016" PRIx64 "\r\n"
	    "Content-Type: application/tlsrpt+gzip; name=\"%s\"\r\n"
	    "Content-Disposition: attachment; filename=\"%s\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n",
	    sub, sub, sub, m.domain, mix(n), m.domain, d,
	    (const char *[]){ "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
		"Aug", "Sep", "Oct", "Nov", "Dec" }[mo - 1],
	    y, sub, m.domain, m.domain, sub, m.id, d,
	    (const char *[]){ "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
		"Aug", "Sep", "Oct", "Nov", "Dec" }[mo - 1],
	    y, mix(seed ^ n), n, sub, m.domain, sub, mix(n + 1), mix(n + 1),
	    sub, mix(n + 1), filename, filename);
	if (rc == TRPT_OK)
		rc = base64(gz, gzlen, out, err);
	if (rc == TRPT_OK)
		rc = trpt_buf_appendf(
		    out, err, "\r\n--=_b%016" PRIx64 "--\r\n", mix(n + 1));
	return rc;
}

static int
write_file(const char *path, const void *data, size_t len, struct trpt_err *err)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return trpt_err_set(
		    err, TRPT_EIO, "%s: %s", path, strerror(errno));
	ok = fwrite(data, 1, len, f) == len;
	ok = fclose(f) == 0 && ok;
	if (!ok)
		return trpt_err_set(
		    err, TRPT_EIO, "%s: %s", path, strerror(errno));
	return TRPT_OK;
}

int
corpus_write_dir(const char *dir, uint64_t seed, uint64_t first, uint64_t count,
    enum corpus_shape shape, size_t large_bytes, int email,
    struct corpus_counts *counts, struct trpt_err *err)
{
	struct trpt_buf json, gz, mail;
	char name[512], path[4096];
	uint64_t n;
	int rc = TRPT_OK;

	trpt_buf_init(&json, MAX_FILE);
	trpt_buf_init(&gz, MAX_FILE);
	trpt_buf_init(&mail, MAX_FILE);
	for (n = first; n < first + count && rc == TRPT_OK; n++) {
		trpt_buf_reset(&json);
		trpt_buf_reset(&gz);
		trpt_buf_reset(&mail);
		rc = corpus_report_json(
		    seed, n, shape, large_bytes, &json, counts, err);
		if (rc == TRPT_OK)
			rc = corpus_gzip(json.data, json.len, &gz, err);
		if (rc != TRPT_OK)
			break;
		corpus_file_name(seed, n, name, sizeof(name));
		if (email) {
			rc = corpus_email(
			    seed, n, name, gz.data, gz.len, &mail, err);
			if (rc != TRPT_OK)
				break;
			snprintf(
			    path, sizeof(path), "%s/%08" PRIu64 ".eml", dir, n);
			rc = write_file(path, mail.data, mail.len, err);
			if (counts != NULL)
				counts->file_bytes += mail.len;
		} else {
			snprintf(path, sizeof(path), "%s/%s", dir, name);
			rc = write_file(path, gz.data, gz.len, err);
			if (counts != NULL)
				counts->file_bytes += gz.len;
		}
	}
	trpt_buf_free(&json);
	trpt_buf_free(&gz);
	trpt_buf_free(&mail);
	return rc;
}

int
corpus_write_bad(
    const char *dir, uint64_t seed, uint64_t count, struct trpt_err *err)
{
	struct trpt_buf b, gz;
	char path[4096];
	uint64_t i;
	int rc = TRPT_OK;

	trpt_buf_init(&b, MAX_FILE);
	trpt_buf_init(&gz, MAX_FILE);
	for (i = 0; i < count && rc == TRPT_OK; i++) {
		unsigned kind = (unsigned)(i % 5);
		int zip = kind >= 3;

		trpt_buf_reset(&b);
		trpt_buf_reset(&gz);
		switch (kind) {
		case 0: /* truncated JSON */
			rc = trpt_buf_appendf(&b, err,
			    "{\"organization-name\":\"Bad %" PRIu64
			    "\",\"policies\":[",
			    i);
			break;
		case 1: /* no report-id */
			rc = trpt_buf_appendf(&b, err,
			    "{\"organization-name\":\"Bad %" PRIu64
			    "\",\"date-range\":{\"start-datetime\":"
			    "\"2026-01-01T00:00:00Z\",\"end-datetime\":"
			    "\"2026-01-01T23:59:59Z\"},\"policies\":[]}",
			    i);
			break;
		case 2: /* a negative count */
		case 3: /* the same, gzipped */
			rc = trpt_buf_appendf(&b, err,
			    "{\"organization-name\":\"Bad\",\"report-id\":"
			    "\"bad-%" PRIu64 "-%" PRIu64
			    "\",\"date-range\":{\"start-datetime\":"
			    "\"2026-01-01T00:00:00Z\",\"end-datetime\":"
			    "\"2026-01-01T23:59:59Z\"},\"policies\":[{"
			    "\"policy\":{\"policy-type\":\"sts\"},"
			    "\"summary\":{\"total-successful-session-count\":"
			    "-1,\"total-failure-session-count\":0}}]}",
			    seed, i);
			break;
		default: /* a corrupt gzip stream */
			rc = trpt_buf_appendf(&b, err,
			    "\x1f\x8b\x08%c%c%c%c%c garbage %" PRIu64
			    " %" PRIu64,
			    0, 0, 0, 0, 0, seed, i);
			zip = 0;
		}
		if (rc == TRPT_OK && zip)
			rc = corpus_gzip(b.data, b.len, &gz, err);
		if (rc != TRPT_OK)
			break;
		snprintf(path, sizeof(path), "%s/bad-%04" PRIu64 ".%s", dir, i,
		    kind >= 3 ? "json.gz" : "json");
		rc = zip ? write_file(path, gz.data, gz.len, err)
			 : write_file(path, b.data, b.len, err);
	}
	trpt_buf_free(&b);
	trpt_buf_free(&gz);
	return rc;
}

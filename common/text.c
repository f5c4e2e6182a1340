#include "common/text.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Where escaped text goes: a buffer (truncated at a unit) or a FILE. */
struct sink {
	char *out;
	size_t size, len;
	int full;
	FILE *f;
	int ferr;
};

static void
put(struct sink *k, const char *s, size_t n)
{
	if (k->f != NULL) {
		if (!k->ferr && fwrite(s, 1, n, k->f) != n)
			k->ferr = 1;
		return;
	}
	if (k->full || k->size == 0)
		return;
	if (k->len + n >= k->size) {
		k->full = 1; /* never half a character or half an escape */
		return;
	}
	memcpy(k->out + k->len, s, n);
	k->len += n;
	k->out[k->len] = '\0';
}

/*
 * Length of the valid UTF-8 sequence at s (at most n bytes), 0 if the
 * bytes there are not one (RFC 3629: no overlong forms, no surrogates).
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static void
escape(struct sink *k, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	char e[8];
	size_t i = 0, u;

	while (i < n && !k->full && !k->ferr) {
		if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
			e[0] = '\\';
			e[1] = s[i] == '\n' ? 'n' : s[i] == '\r' ? 'r' : 't';
			put(k, e, 2);
			i++;
			continue;
		}
		u = s[i] < 0x20 || s[i] == 0x7f ? 0 : utf8_len(s + i, n - i);
		if (u == 0) {
			e[0] = '\\';
			e[1] = 'x';
			e[2] = hex[s[i] >> 4];
			e[3] = hex[s[i] & 15];
			put(k, e, 4);
			i++;
		} else if (u == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0) {
			memcpy(e, "\\u00", 4); /* a C1 control */
			e[4] = hex[s[i + 1] >> 4];
			e[5] = hex[s[i + 1] & 15];
			put(k, e, 6);
			i += 2;
		} else {
			put(k, (const char *)s + i, u);
			i += u;
		}
	}
}

char *
trpt_text_escape_n(const char *s, size_t len, char *out, size_t outsize)
{
	struct sink k;

	memset(&k, 0, sizeof(k));
	k.out = out;
	k.size = outsize;
	if (outsize > 0)
		out[0] = '\0';
	if (s != NULL)
		escape(&k, s, len);
	return out;
}

char *
trpt_text_escape(const char *s, char *out, size_t outsize)
{
	return trpt_text_escape_n(s, s != NULL ? strlen(s) : 0, out, outsize);
}

int
trpt_text_fputs(const char *s, FILE *f)
{
	struct sink k;

	memset(&k, 0, sizeof(k));
	k.f = f;
	if (s != NULL)
		escape(&k, s, strlen(s));
	return k.ferr ? EOF : 0;
}

int
trpt_text_is_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, u;

	while (i < n) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
		u = utf8_len(p + i, n - i);
		if (u == 0 || (u == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0))
			return 0;
		i += u;
	}
	return 1;
}

/* A query parameter name that suggests its value is a secret. */
static int
secret_name(const char *name, size_t n)
{
	static const char *const words[] = { "token", "key", "sig", "pass",
		"secret", "auth", "cred", "code", NULL };
	size_t i, j, w;

	for (i = 0; words[i] != NULL; i++) {
		w = strlen(words[i]);
		for (j = 0; j + w <= n; j++)
			if (strncasecmp(name + j, words[i], w) == 0)
				return 1;
	}
	return 0;
}

char *
trpt_text_redact_url(const char *url, char *out, size_t outsize)
{
	struct sink k;
	const char *p, *auth, *end, *at, *colon, *q, *amp, *eq;

	memset(&k, 0, sizeof(k));
	k.out = out;
	k.size = outsize;
	if (outsize > 0)
		out[0] = '\0';
	if (url == NULL)
		return out;
	p = strstr(url, "://");
	auth = p != NULL ? p + 3 : url;
	end = auth + strcspn(auth, "/?#");
	at = NULL;
	for (q = auth; q < end; q++)
		if (*q == '@')
			at = q; /* the last one: a password may hold '@' */
	escape(&k, url, (size_t)(auth - url));
	if (at != NULL) {
		colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon != NULL) {
			escape(&k, auth, (size_t)(colon - auth));
			put(&k, ":***", 4);
		} else
			put(&k, "***", 3);
		auth = at;
	}
	q = strchr(end, '?');
	if (q == NULL) {
		escape(&k, auth, strlen(auth));
		return out;
	}
	escape(&k, auth, (size_t)(q + 1 - auth));
	for (p = q + 1; *p != '\0' && *p != '#'; p = amp) {
		amp = p + strcspn(p, "&#");
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq != NULL && secret_name(p, (size_t)(eq - p))) {
			escape(&k, p, (size_t)(eq + 1 - p));
			put(&k, "***", 3);
		} else
			escape(&k, p, (size_t)(amp - p));
		if (*amp == '&') {
			put(&k, "&", 1);
			amp++;
		}
	}
	escape(&k, p, strlen(p));
	return out;
}

static int
scheme_char(char c)
{
	return isalnum((unsigned char)c) || c == '+' || c == '-' || c == '.';
}

char *
trpt_text_message(const char *msg, char *out, size_t outsize)
{
	struct sink k;
	const char *p = msg, *sep, *start, *end;
	char *url;
	size_t len;

	memset(&k, 0, sizeof(k));
	k.out = out;
	k.size = outsize;
	if (outsize > 0)
		out[0] = '\0';
	if (msg == NULL)
		return out;
	while ((sep = strstr(p, "://")) != NULL && !k.full) {
		start = sep;
		while (start > p && scheme_char(start[-1]))
			start--;
		if (start == sep) { /* no scheme: not a URL */
			escape(&k, p, (size_t)(sep + 3 - p));
			p = sep + 3;
			continue;
		}
		end = sep + 3;
		while (*end != '\0' && (unsigned char)*end > 0x20 &&
		       *end != '"' && *end != '\'' && *end != '<' &&
		       *end != '>')
			end++;
		escape(&k, p, (size_t)(start - p));
		len = (size_t)(end - start);
		if ((url = malloc(len + 1)) == NULL) {
			k.full = 1; /* never the URL unredacted */
			break;
		}
		memcpy(url, start, len);
		url[len] = '\0';
		if (k.len < k.size) {
			trpt_text_redact_url(
			    url, k.out + k.len, k.size - k.len);
			k.len += strlen(k.out + k.len);
		}
		free(url);
		p = end;
	}
	escape(&k, p, strlen(p));
	return out;
}

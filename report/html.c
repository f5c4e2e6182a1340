#include "report/html.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/calendar.h"

void
trpt_html_init(struct trpt_html *h, size_t max)
{
	trpt_buf_init(&h->buf, max);
	memset(&h->err, 0, sizeof(h->err));
	h->rc = TRPT_OK;
}

void
trpt_html_free(struct trpt_html *h)
{
	trpt_buf_free(&h->buf);
}

static void
put(struct trpt_html *h, const void *p, size_t n)
{
	if (h->rc != TRPT_OK || n == 0)
		return;
	h->rc = trpt_buf_append(&h->buf, p, n, &h->err);
}

void
trpt_html_raw(struct trpt_html *h, const char *markup)
{
	put(h, markup, strlen(markup));
}

void
trpt_html_rawf(struct trpt_html *h, const char *fmt, ...)
{
	char small[256], *p;
	va_list ap;
	int n;

	if (h->rc != TRPT_OK)
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		h->rc = trpt_err_set(&h->err, TRPT_EINVAL, "html: bad format");
		return;
	}
	if ((size_t)n < sizeof(small)) {
		put(h, small, (size_t)n);
		return;
	}
	/* reserve leaves room for the NUL after the n bytes */
	h->rc = trpt_buf_reserve(&h->buf, (size_t)n, &p, &h->err);
	if (h->rc != TRPT_OK)
		return;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	trpt_buf_commit(&h->buf, (size_t)n);
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	/* C1 controls (U+0080..U+009F) are shown escaped. */
	if (cp >= 0x80 && cp <= 0x9f)
		return 0;
	return len;
}

void
trpt_html_textn(struct trpt_html *h, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, len;
	char esc[8];

	if (s == NULL)
		return;
	while (i < n && h->rc == TRPT_OK) {
		const char *rep = NULL;

		switch (p[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			break;
		}
		if (rep == NULL && (p[i] < 0x20 || p[i] == 0x7f) &&
		    p[i] != '\t' && p[i] != '\n') {
			snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
			rep = esc;
		}
		if (rep != NULL) {
			put(h, p + run, i - run);
			put(h, rep, strlen(rep));
			run = ++i;
			continue;
		}
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		len = utf8_len(p + i, n - i);
		if (len > 0) {
			i += len;
			continue;
		}
		put(h, p + run, i - run);
		if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9f) {
			/* A C1 control: visible, like C0. */
			snprintf(esc, sizeof(esc), "\\u%04x", p[i + 1]);
			put(h, esc, strlen(esc));
			i += 2;
		} else {
			put(h, "\xef\xbf\xbd", 3);
			i++;
		}
		run = i;
	}
	put(h, p + run, i - run);
}

void
trpt_html_text(struct trpt_html *h, const char *s)
{
	if (s != NULL)
		trpt_html_textn(h, s, strlen(s));
}

void
trpt_html_url(struct trpt_html *h, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	char e[3];

	if (s == NULL)
		return;
	for (; *p != '\0' && h->rc == TRPT_OK; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~') {
			put(h, p, 1);
			continue;
		}
		e[0] = '%';
		e[1] = hex[*p >> 4];
		e[2] = hex[*p & 15];
		put(h, e, 3);
	}
}

void
trpt_html_count(struct trpt_html *h, int64_t n)
{
	char digits[32], out[48];
	size_t len, i, o = 0;
	int neg = n < 0;

	snprintf(digits, sizeof(digits), "%" PRIu64,
	    neg ? (uint64_t)0 - (uint64_t)n : (uint64_t)n);
	len = strlen(digits);
	if (neg)
		out[o++] = '-';
	for (i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	put(h, out, o);
}

void
trpt_html_rate(struct trpt_html *h, double rate)
{
	if (rate < 0)
		trpt_html_raw(h, "\xe2\x80\x93");
	else
		trpt_html_rawf(h, "%.2f%%", rate * 100.0);
}

void
trpt_html_day(struct trpt_html *h, int64_t day)
{
	char b[16];

	trpt_calendar_day_label(day, b, sizeof(b));
	trpt_html_raw(h, b);
}

int
trpt_html_finish(
    struct trpt_html *h, char **out, size_t *len, struct trpt_err *err)
{
	int rc = h->rc;

	if (rc != TRPT_OK) {
		if (err != NULL)
			*err = h->err;
		trpt_buf_free(&h->buf);
		return rc;
	}
	*out = trpt_buf_steal(&h->buf, len);
	if (*out == NULL)
		return trpt_err_set(err, TRPT_ENOMEM, "out of memory");
	return TRPT_OK;
}

const char *
trpt_html_css(void)
{
	return "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2329;"
	       "background:#f6f7f9}"
	       "header{background:#1f3a5f;color:#fff;padding:8px 16px}"
	       "header a{color:#fff;margin-right:16px;text-decoration:none}"
	       "header form{display:inline;margin-left:16px}"
	       "header input{width:8em}"
	       "main{padding:8px 16px;max-width:1200px}"
	       "h1{font-size:20px}h2{font-size:17px;margin-top:24px}"
	       "h3{font-size:15px}"
	       "table{border-collapse:collapse;background:#fff;margin:4px 0}"
	       "th,td{border:1px solid #d5d9de;padding:3px 8px;text-align:left;"
	       "vertical-align:top}"
	       "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
	       "tr.act td:first-child{border-left:4px solid #c0392b}"
	       ".bad{color:#b03020;font-weight:600}.ok{color:#2a7a3a}"
	       ".muted{color:#66707a}"
	       ".alert{background:#fff;border-left:4px solid #c0392b;"
	       "padding:6px 10px;margin:8px 0}"
	       ".alert.closed{border-left-color:#8a939c}"
	       ".cause{background:#fff;padding:6px 10px;margin:8px 0;"
	       "border-left:4px solid #2f6fa7}"
	       "pre{background:#fff;border:1px solid #d5d9de;padding:8px;"
	       "overflow:auto;max-height:480px;white-space:pre-wrap;"
	       "word-break:break-all}"
	       "code{word-break:break-all}"
	       "svg{background:#fff;border:1px solid #d5d9de}"
	       "svg.spark{border:0;background:none;vertical-align:middle}"
	       "svg text{font:11px system-ui,sans-serif;fill:#444}"
	       ".legend span{display:inline-block;margin-right:12px}"
	       ".sw{display:inline-block;width:10px;height:10px;"
	       "margin-right:4px}"
	       ".c0{background:#c0392b}.c1{background:#e67e22}"
	       ".c2{background:#8e44ad}.c3{background:#2980b9}"
	       ".c4{background:#16a085}.c5{background:#d4ac0d}"
	       ".c6{background:#7f8c8d}.c7{background:#e84393}"
	       ".c8{background:#2c3e50}.c9{background:#27ae60}"
	       ".c10{background:#a0522d}.c11{background:#5d6d7e}"
	       "nav.range a{margin-right:10px}";
}

#include "common/width.h"

#include <stdint.h>
#include <string.h>

/* Decodes one UTF-8 character at s; *len is its length (1 for a byte
 * that starts none, which then counts as U+FFFD). */
static uint32_t
decode(const unsigned char *s, size_t *len)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		goto bad;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto bad;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	*len = n;
	return cp;
bad:
	*len = 1;
	return 0xfffd;
}

/* Cells of one code point (Unicode 15 East Asian Width W/F ranges and
 * the common zero-width ones, condensed). */
static size_t
cells(uint32_t c)
{
	static const uint32_t zero[][2] = { { 0x0300, 0x036f },
		{ 0x0483, 0x0489 }, { 0x0591, 0x05bd }, { 0x0610, 0x061a },
		{ 0x064b, 0x065f }, { 0x0900, 0x0903 }, { 0x093a, 0x094f },
		{ 0x0e31, 0x0e31 }, { 0x0e34, 0x0e3a }, { 0x0e47, 0x0e4e },
		{ 0x1ab0, 0x1aff }, { 0x1dc0, 0x1dff }, { 0x200b, 0x200f },
		{ 0x202a, 0x202e }, { 0x2060, 0x2064 }, { 0x20d0, 0x20ff },
		{ 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f }, { 0xfeff, 0xfeff },
		{ 0xe0100, 0xe01ef } };
	static const uint32_t wide[][2] = { { 0x1100, 0x115f },
		{ 0x231a, 0x231b }, { 0x2329, 0x232a }, { 0x23e9, 0x23ec },
		{ 0x25fd, 0x25fe }, { 0x2614, 0x2615 }, { 0x2648, 0x2653 },
		{ 0x26aa, 0x26ab }, { 0x26bd, 0x26be }, { 0x26c4, 0x26c5 },
		{ 0x26f2, 0x26f5 }, { 0x2705, 0x2705 }, { 0x274c, 0x274c },
		{ 0x2e80, 0x303e }, { 0x3041, 0x33ff }, { 0x3400, 0x4dbf },
		{ 0x4e00, 0x9fff }, { 0xa000, 0xa4cf }, { 0xa960, 0xa97f },
		{ 0xac00, 0xd7a3 }, { 0xf900, 0xfaff }, { 0xfe10, 0xfe19 },
		{ 0xfe30, 0xfe6f }, { 0xff00, 0xff60 }, { 0xffe0, 0xffe6 },
		{ 0x16fe0, 0x16fe4 }, { 0x17000, 0x18cd5 },
		{ 0x1b000, 0x1b2ff }, { 0x1f004, 0x1f004 },
		{ 0x1f0cf, 0x1f0cf }, { 0x1f18e, 0x1f18e },
		{ 0x1f191, 0x1f19a }, { 0x1f200, 0x1f251 },
		{ 0x1f300, 0x1f64f }, { 0x1f680, 0x1f6ff },
		{ 0x1f7e0, 0x1f7eb }, { 0x1f90c, 0x1f9ff },
		{ 0x1fa70, 0x1faff }, { 0x20000, 0x2fffd },
		{ 0x30000, 0x3fffd } };
	size_t i;

	for (i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
		if (c >= zero[i][0] && c <= zero[i][1])
			return 0;
	for (i = 0; i < sizeof(wide) / sizeof(wide[0]); i++)
		if (c >= wide[i][0] && c <= wide[i][1])
			return 2;
	return 1;
}

size_t
trpt_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0, len;

	while (*p != '\0') {
		w += cells(decode(p, &len));
		p += len;
	}
	return w;
}

int
trpt_width_fput(FILE *f, const char *s, size_t cols)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0, len, c;

	while (*p != '\0') {
		c = cells(decode(p, &len));
		if (w + c > cols)
			break;
		if (fwrite(p, 1, len, f) != len)
			return EOF;
		w += c;
		p += len;
	}
	for (; w < cols; w++)
		if (fputc(' ', f) == EOF)
			return EOF;
	return 0;
}

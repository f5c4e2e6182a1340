#include "common/passwd.h"

#include <sys/random.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/memops.h>
#include <nettle/pbkdf2.h>

#define SALT_LEN 16
#define KEY_LEN  32
#define PREFIX   "pbkdf2-sha256$"

static int
user_ok(const char *user)
{
	const unsigned char *p = (const unsigned char *)user;

	if (*p == '\0')
		return 0;
	for (; *p != '\0'; p++)
		if (*p == ':' || *p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static void
b64(const uint8_t *in, size_t n, char *out)
{
	base64_encode_raw(out, n, in);
	out[BASE64_ENCODE_RAW_LENGTH(n)] = '\0';
}

int
trpt_passwd_hash(const char *user, const char *password, unsigned iterations,
    char out[TRPT_PASSWD_LINE_MAX], struct trpt_err *err)
{
	uint8_t salt[SALT_LEN], key[KEY_LEN];
	char s64[BASE64_ENCODE_RAW_LENGTH(SALT_LEN) + 1];
	char k64[BASE64_ENCODE_RAW_LENGTH(KEY_LEN) + 1];
	int n;

	if (!user_ok(user) || strlen(user) > 64)
		return trpt_err_set(err, TRPT_EINVAL,
		    "user name must be 1 to 64 characters without ':' or "
		    "control characters");
	if (iterations < 1000 || iterations > TRPT_PASSWD_MAX_ITERATIONS)
		return trpt_err_set(err, TRPT_EINVAL,
		    "iterations must be between 1000 and %d",
		    TRPT_PASSWD_MAX_ITERATIONS);
	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
		return trpt_err_set(
		    err, TRPT_EIO, "getrandom: %s", strerror(errno));
	pbkdf2_hmac_sha256(strlen(password), (const uint8_t *)password,
	    iterations, sizeof(salt), salt, sizeof(key), key);
	b64(salt, sizeof(salt), s64);
	b64(key, sizeof(key), k64);
	n = snprintf(out, TRPT_PASSWD_LINE_MAX, "%s:" PREFIX "%u$%s$%s", user,
	    iterations, s64, k64);
	explicit_bzero(key, sizeof(key));
	if (n < 0 || n >= TRPT_PASSWD_LINE_MAX)
		return trpt_err_set(err, TRPT_EINVAL, "user name too long");
	return TRPT_OK;
}

/* Decodes exactly want bytes of base64 from s (len chars). */
static int
unb64(const char *s, size_t len, uint8_t *out, size_t want)
{
	struct base64_decode_ctx ctx;
	uint8_t tmp[64];
	size_t n = sizeof(tmp);

	if (len > BASE64_ENCODE_LENGTH(sizeof(tmp)))
		return -1;
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &n, tmp, len, s) ||
	    !base64_decode_final(&ctx) || n != want)
		return -1;
	memcpy(out, tmp, want);
	return 0;
}

/* Parses "pbkdf2-sha256$ITER$SALT$KEY" (the part after "USER:"). */
static int
parse(const char *s, size_t len, unsigned *iter, uint8_t salt[SALT_LEN],
    uint8_t key[KEY_LEN])
{
	const char *end = s + len, *d1, *d2;
	char num[16];
	char *e;
	unsigned long v;

	if (len < sizeof(PREFIX) || memcmp(s, PREFIX, sizeof(PREFIX) - 1) != 0)
		return -1;
	s += sizeof(PREFIX) - 1;
	if ((d1 = memchr(s, '$', (size_t)(end - s))) == NULL ||
	    (d2 = memchr(d1 + 1, '$', (size_t)(end - d1 - 1))) == NULL)
		return -1;
	if (d1 - s == 0 || (size_t)(d1 - s) >= sizeof(num))
		return -1;
	memcpy(num, s, (size_t)(d1 - s));
	num[d1 - s] = '\0';
	errno = 0;
	v = strtoul(num, &e, 10);
	if (errno != 0 || *e != '\0' || num[0] < '0' || num[0] > '9' || v < 1 ||
	    v > TRPT_PASSWD_MAX_ITERATIONS)
		return -1;
	*iter = (unsigned)v;
	if (unb64(d1 + 1, (size_t)(d2 - d1 - 1), salt, SALT_LEN) != 0 ||
	    unb64(d2 + 1, (size_t)(end - d2 - 1), key, KEY_LEN) != 0)
		return -1;
	return 0;
}

int
trpt_passwd_check(const char *file, const char *user, const char *password,
    int *ok, struct trpt_err *err)
{
	const char *p = file, *nl, *colon, *end;
	uint8_t salt[SALT_LEN], key[KEY_LEN], got[KEY_LEN];
	size_t ulen = strlen(user);
	unsigned iter;
	int line = 0, found = 0, match = 0;

	for (; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		line++;
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		end = nl;
		if (end > p && end[-1] == '\r')
			end--;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end || *p == '#')
			continue;
		colon = memchr(p, ':', (size_t)(end - p));
		if (colon == NULL || parse(colon + 1, (size_t)(end - colon - 1),
					 &iter, salt, key) != 0)
			return trpt_err_set(err, TRPT_EPARSE,
			    "line %d: not "
			    "USER:pbkdf2-sha256$ITERATIONS$SALT$KEY",
			    line);
		if (found || (size_t)(colon - p) != ulen ||
		    memcmp(p, user, ulen) != 0)
			continue;
		found = 1;
		pbkdf2_hmac_sha256(strlen(password), (const uint8_t *)password,
		    iter, sizeof(salt), salt, sizeof(got), got);
		match = memeql_sec(got, key, sizeof(key));
		explicit_bzero(got, sizeof(got));
	}
	*ok = match;
	return TRPT_OK;
}

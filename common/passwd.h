#pragma once
/*
 * Password hashes for the dashboard's HTTP basic authentication:
 * PBKDF2-HMAC-SHA256 (nettle), stored one user a line as
 *
 *	USER:pbkdf2-sha256$ITERATIONS$SALT$KEY
 *
 * with SALT (16 bytes) and KEY (32 bytes) in base64.  The file holds no
 * password, only what checks one.
 */

#include <stddef.h>

#include "common/err.h"

#define TRPT_PASSWD_ITERATIONS     600000 /* OWASP's figure for SHA-256 */
#define TRPT_PASSWD_MAX_ITERATIONS 10000000
#define TRPT_PASSWD_LINE_MAX       256

/*
 * Writes the line for user and password (a fresh random salt) into out.
 * TRPT_EINVAL for a user with ':' or a control character, or an empty
 * one.
 */
int trpt_passwd_hash(const char *user, const char *password,
    unsigned iterations, char out[TRPT_PASSWD_LINE_MAX], struct trpt_err *err);

/*
 * Checks user and password against the lines in file (the file's text,
 * NUL-terminated; blank lines and lines starting with '#' are skipped).
 * Sets *ok to 1 on a match.  TRPT_EPARSE names the line of a malformed
 * entry.  The comparison of keys takes the same time whatever matches.
 */
int trpt_passwd_check(const char *file, const char *user, const char *password,
    int *ok, struct trpt_err *err);

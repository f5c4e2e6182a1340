#pragma once
/*
 * Text from outside (report fields, IMAP server answers, URLs, file names)
 * on its way to a terminal or a log: one escaper for control characters,
 * one redactor for credentials in URLs.
 *
 * Escaping: C0 controls and DEL become \n, \r, \t or \xHH; C1 controls
 * (U+0080..U+009F) become \u0080..\u009f; bytes that are not UTF-8 become
 * \xHH.  Printable UTF-8 is kept as it is.  A newline in a field therefore
 * never starts a new log line and an escape sequence never reaches the
 * terminal.
 */

#include <stddef.h>
#include <stdio.h>

/*
 * Writes s escaped into out (always NUL-terminated when outsize > 0),
 * truncated at a character boundary when it does not fit.  Returns out.
 */
char *trpt_text_escape(const char *s, char *out, size_t outsize);

/* The same for the len bytes at s (which may hold NUL bytes: \x00). */
char *trpt_text_escape_n(const char *s, size_t len, char *out, size_t outsize);

/* Writes s escaped to f.  Returns 0, or EOF on a write error. */
int trpt_text_fputs(const char *s, FILE *f);

/* 1 when s holds nothing the escaper would change. */
int trpt_text_is_clean(const char *s);

/*
 * Copies url into out with its credentials hidden: the password of the
 * user part ("smtp://user:***@host"; a user part without a password, often
 * a token, becomes "***@"), and the values of query parameters whose names
 * suggest a secret (token, key, sig, pass, secret, auth, cred, code).
 * Control characters are escaped too.  Returns out.
 */
char *trpt_text_redact_url(const char *url, char *out, size_t outsize);

/*
 * A message on its way to a terminal or a log: control characters escaped
 * and every URL in it ("scheme://...") redacted as above.  Returns out.
 */
char *trpt_text_message(const char *msg, char *out, size_t outsize);

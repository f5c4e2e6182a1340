#pragma once
/*
 * Sends one message over SMTP with libcurl.  smtp:// requires STARTTLS
 * by default (the session fails if the server does not offer it);
 * smtps:// is TLS from the start.  Certificates are verified.
 */

#include <stddef.h>

#include "common/err.h"

enum trpt_mail_tls {
	TRPT_MAIL_TLS_REQUIRED, /* STARTTLS required (default) */
	TRPT_MAIL_TLS_NONE      /* plain SMTP: only for a local relay */
};

struct trpt_mail {
	const char *url;       /* smtp://host[:port] or smtps://host[:port] */
	const char *from;      /* envelope sender */
	const char *const *to; /* envelope recipients */
	size_t nto;
	const char *username; /* NULL: no AUTH */
	const char *password;
	const char *ca_file; /* NULL: the system's CAs */
	enum trpt_mail_tls tls;
	long timeout; /* seconds for the whole transfer; 0: 60 */
};

/*
 * Sends msg (a complete RFC 5322 message with CRLF line ends).  Returns
 * TRPT_EINVAL for a bad URL scheme, TRPT_ETEMP for a connection or
 * server failure (with curl's message and the SMTP reply).
 */
int trpt_mail_send_message(const struct trpt_mail *m, const char *msg,
    size_t len, struct trpt_err *err);

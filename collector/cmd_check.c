#include "collector/cmd_check.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/datetime.h"
#include "report/causes.h"

#define MAX_ONLY 16

static void
check_usage(FILE *f)
{
	fprintf(f,
	    "usage: tlsrpt-collector check DOMAIN [--mx HOST]... [--format "
	    "table|json]\n"
	    "           [--resolver ADDR[@PORT]] [--trust-anchor FILE] "
	    "[--ca-file FILE]\n"
	    "           [--smtp-port N] [--https-port N] [--helo NAME] "
	    "[--timeout SECONDS]\n"
	    "\n"
	    "Tests DOMAIN live, as a sending MTA does:\n"
	    "  DNS       the MX set, the _smtp._tls (TLSRPT) and _mta-sts TXT\n"
	    "            records and TLSA at _25._tcp.MX, each validated with\n"
	    "            DNSSEC (secure, insecure or bogus)\n"
	    "  MTA-STS   the policy from https://mta-sts.DOMAIN (certificate\n"
	    "            verified, no redirects, 64 KiB), its syntax, and\n"
	    "            whether every MX matches an mx line\n"
	    "  SMTP      every MX over STARTTLS with TLS 1.2 or 1.3: the\n"
	    "            certificate's chain, expiry, names, and DANE\n"
	    "The outcome per MX is the RFC 8460 result types a sender would\n"
	    "report today, with probable causes and fixes, or \"ok\".\n"
	    "It connects only to what DOMAIN publishes.\n"
	    "\n"
	    "  --mx HOST           check only this MX host (repeatable)\n"
	    "  --format F          table (default) or json\n"
	    "  --resolver A[@P]    DNS resolver to ask (default: "
	    "/etc/resolv.conf)\n"
	    "  --trust-anchor F    DNSSEC trust anchor "
	    "(default: " TRPT_DNS_ROOT_ANCHOR ")\n"
	    "  --ca-file F         trusted CAs, PEM (default: the system's)\n"
	    "  --smtp-port N       port of the MX hosts (default 25)\n"
	    "  --https-port N      port of mta-sts.DOMAIN (default 443)\n"
	    "  --helo NAME         EHLO name (default: this host's name)\n"
	    "  --timeout S         per network step (default 5)\n"
	    "The same settings are keys of the [check] section: resolver,\n"
	    "trust_anchor, ca_file, smtp_port, https_port, helo, timeout.\n"
	    "\n"
	    "Exit status: 0 everything passes, 1 something fails, 2 usage,\n"
	    "3 the check could not run (DNS did not answer).\n");
}

int
trpt_cmd_check_config(const struct trpt_cli *cli, struct trpt_check_config *c,
    struct trpt_err *err)
{
	struct trpt_conf_check k;
	int rc;

	if ((rc = trpt_config_read(
		 cli->cfg, NULL, "check", &k, sizeof(k), err)) != TRPT_OK)
		return rc;
	c->resolver = k.resolver;
	c->trust_anchor = k.trust_anchor;
	c->cafile = k.ca_file;
	if (k.helo != NULL)
		c->helo = k.helo;
	c->smtp_port = k.smtp_port;
	c->https_port = k.https_port;
	c->timeout_ms = k.timeout * 1000;
	c->dns_timeout_ms = k.dns_timeout * 1000;
	c->max_mx = k.max_mx;
	c->max_policy = k.max_policy;
	c->max_time_ms = k.max_time * 1000;
	return TRPT_OK;
}

/* Text from the network, with control characters escaped. */
static void
put_safe(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			fprintf(out, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, out);
	}
}

static void line(FILE *out, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
line(FILE *out, const char *label, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(out, "  %-12s", label);
	put_safe(out, buf);
	fputc('\n', out);
}

static void
day(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, size, "?");
	else
		strftime(buf, size, "%Y-%m-%d", &tm);
}

static void
write_finding(FILE *out, const char *label, const struct trpt_check_finding *f,
    int causes)
{
	const struct trpt_cause *c;

	fprintf(out, "  %-12s%s\n  %-12s", label,
	    f->type != NULL ? f->type : "problem", "");
	put_safe(out, f->detail);
	fputc('\n', out);
	if (!causes || f->type == NULL)
		return;
	c = trpt_causes_lookup(f->type);
	fprintf(out, "    causes: %s\n    fix: %s\n", c->causes, c->fixes);
}

static void
write_mx(
    FILE *out, const struct trpt_check_result *r, const struct trpt_check_mx *m)
{
	char d[16], tlsa[400];
	const struct trpt_smtp_result *s = &m->smtp;
	size_t i, o = 0;

	fprintf(out, "\nMX %s", m->host);
	if (m->addr[0] != '\0')
		fprintf(out, " [%s]", m->addr);
	fputc('\n', out);
	tlsa[0] = '\0';
	for (i = 0; i < m->ntlsa && i < 4 && o < sizeof(tlsa) - 1; i++)
		o += (size_t)snprintf(tlsa + o, sizeof(tlsa) - o, "%s%s",
		    i > 0 ? "; " : "", m->tlsa[i]);
	line(out, "addresses", "%s", trpt_dns_dnssec_name(m->addr_dnssec));
	if (m->ntlsa == 0)
		line(out, "TLSA", "%s, none at _25._tcp.%s",
		    trpt_dns_dnssec_name(m->tlsa_dnssec), m->host);
	else
		line(out, "TLSA", "%s, %zu record%s: %s%s",
		    trpt_dns_dnssec_name(m->tlsa_dnssec), m->ntlsa,
		    m->ntlsa == 1 ? "" : "s", tlsa,
		    m->tlsa_dnssec == TRPT_DNSSEC_INSECURE
			? " (not DNSSEC-validated: senders ignore them)"
			: "");
	if (r->sts_fetched && r->sts.mode != TRPT_STS_NONE)
		line(out, "MTA-STS", "%s",
		    m->sts_pattern != NULL ? m->sts_pattern
					   : "(matches no mx line)");
	if (s->connected)
		line(out, "STARTTLS", "%s",
		    !s->starttls ? "not offered"
		    : s->tls     ? "offered"
				 : "offered, handshake failed");
	if (s->tls) {
		line(out, "TLS", "%s %s", s->version, s->cipher);
		day(s->not_after, d, sizeof(d));
		line(out, "certificate", "%s", s->subject);
		if (s->names[0] != '\0')
			line(out, "names", "%s", s->names);
		line(out, "issuer", "%s", s->issuer);
		line(out, "expires", "%s (%" PRId64 " days %s)", d,
		    m->days_left >= 0 ? m->days_left : -m->days_left,
		    m->days_left >= 0 ? "left" : "ago");
		line(out, "chain", "%s%s%s",
		    s->untrusted || s->expired ? "not valid" : "valid",
		    s->trust_why[0] != '\0' ? ": " : "", s->trust_why);
		line(out, "name", "%s", s->name_ok ? "matches" : "mismatch");
		if (s->dane >= 0)
			line(out, "DANE", "%s%s%s",
			    s->dane ? "a TLSA record matches" : "no match",
			    s->dane_why[0] != '\0' ? ": " : "", s->dane_why);
	}
	if (m->findings.n == 0) {
		line(out, "result", "ok");
		return;
	}
	for (i = 0; i < m->findings.n; i++)
		write_finding(out, "result", &m->findings.v[i], 1);
}

static void
write_table(FILE *out, const struct trpt_check_result *r)
{
	char when[32], mx[600];
	size_t i, o = 0, problems = 0, failing = 0;

	trpt_datetime_format(r->checked_at, when, sizeof(when));
	fprintf(out, "check ");
	put_safe(out, r->input);
	if (strcmp(r->input, r->domain) != 0)
		fprintf(out, " (%s)", r->domain);
	fprintf(out, " at %s\n", when);
	mx[0] = '\0';
	for (i = 0; i < r->nmx && o < sizeof(mx) - 1; i++)
		o += (size_t)snprintf(mx + o, sizeof(mx) - o, "%s%u %s",
		    i > 0 ? ", " : "", r->mx[i].pref, r->mx[i].host);
	line(out, "MX", "%s, %s%s", trpt_dns_dnssec_name(r->mx_dnssec),
	    r->implicit_mx ? "none (the domain itself: " : "", mx);
	line(out, "TLSRPT", "%s, %s", trpt_dns_dnssec_name(r->tlsrpt.dnssec),
	    r->tlsrpt.found ? r->tlsrpt.text : "no record");
	line(out, "MTA-STS TXT", "%s, %s",
	    trpt_dns_dnssec_name(r->sts_txt.dnssec),
	    r->sts_txt.found ? r->sts_txt.text : "no record");
	if (r->sts_fetched) {
		o = 0;
		mx[0] = '\0';
		for (i = 0; i < r->sts.nmx && o < sizeof(mx) - 1; i++)
			o += (size_t)snprintf(mx + o, sizeof(mx) - o, "%s%s",
			    i > 0 ? ", " : "", r->sts.mx[i]);
		line(out, "policy", "%s", r->sts_url);
		line(out, "", "mode %s, max_age %" PRId64 ", mx %s",
		    trpt_policy_sts_mode_name(r->sts.mode), r->sts.max_age,
		    mx[0] != '\0' ? mx : "(none)");
	}
	if (r->findings.n > 0) {
		for (i = 0; i < r->findings.n; i++)
			write_finding(out, "domain", &r->findings.v[i], 0);
	}
	for (i = 0; i < r->nmx; i++) {
		write_mx(out, r, &r->mx[i]);
		failing += r->mx[i].findings.n > 0;
	}
	for (i = 0; i < r->findings.n; i++)
		problems += r->findings.v[i].type == NULL;
	fprintf(out, "\nresult: %s (%zu of %zu MX host%s failing",
	    trpt_check_failures(r) == 0 ? "ok" : "FAIL", failing, r->nmx,
	    r->nmx == 1 ? "" : "s");
	if (problems > 0)
		fprintf(out, ", %zu other problem%s", problems,
		    problems == 1 ? "" : "s");
	fprintf(out, ")\n");
}

static json_t *
findings_json(const struct trpt_check_findings *f, int causes)
{
	const struct trpt_cause *c;
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; a != NULL && i < f->n; i++) {
		o = json_pack("{s:s?, s:s}", "result_type", f->v[i].type,
		    "detail", f->v[i].detail);
		if (o != NULL && causes && f->v[i].type != NULL) {
			c = trpt_causes_lookup(f->v[i].type);
			json_object_set_new(o, "title", json_string(c->title));
			json_object_set_new(
			    o, "causes", json_string(c->causes));
			json_object_set_new(o, "fixes", json_string(c->fixes));
		}
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *
mx_json(const struct trpt_check_result *r, const struct trpt_check_mx *m)
{
	const struct trpt_smtp_result *s = &m->smtp;
	char na[32], nb[32];
	json_t *o, *tlsa = json_array(), *cert = NULL;
	size_t i;

	for (i = 0; tlsa != NULL && i < m->ntlsa && i < 4; i++)
		json_array_append_new(tlsa, json_string(m->tlsa[i]));
	if (s->tls) {
		trpt_datetime_format(s->not_before, nb, sizeof(nb));
		trpt_datetime_format(s->not_after, na, sizeof(na));
		cert = json_pack(
		    "{s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:b, s:b, "
		    "s:b, s:s}",
		    "subject", s->subject, "issuer", s->issuer, "names",
		    s->names, "not_before", nb, "not_after", na, "days_left",
		    (json_int_t)m->days_left, "expired", s->expired, "trusted",
		    !s->untrusted, "name_ok", s->name_ok, "dane_checked",
		    s->dane >= 0, "chain_status", s->trust_why);
		if (cert != NULL && s->dane >= 0)
			json_object_set_new(
			    cert, "dane_match", json_boolean(s->dane == 1));
	}
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:o, s:s?, s:b, s:b, s:b, "
		      "s:s, s:s, s:o?, s:s, s:o}",
	    "host", m->host, "preference", (int)m->pref, "address", m->addr,
	    "address_dnssec", trpt_dns_dnssec_name(m->addr_dnssec),
	    "tlsa_dnssec", trpt_dns_dnssec_name(m->tlsa_dnssec), "tlsa", tlsa,
	    "sts_pattern", m->sts_pattern, "connected", s->connected,
	    "starttls", s->starttls, "tls", s->tls, "tls_version", s->version,
	    "cipher", s->cipher, "certificate", cert, "result",
	    m->findings.n == 0 ? "ok" : "fail", "findings",
	    findings_json(&m->findings, 1));
	(void)r;
	return o;
}

static int
write_json(FILE *out, const struct trpt_check_result *r)
{
	char when[32];
	json_t *o, *mx = json_array(), *pol = NULL, *rua = json_array();
	size_t i;
	int rc;

	trpt_datetime_format(r->checked_at, when, sizeof(when));
	for (i = 0; mx != NULL && i < r->nmx; i++)
		json_array_append_new(mx, mx_json(r, &r->mx[i]));
	for (i = 0; rua != NULL && i < r->tlsrpt_rua.nrua; i++)
		json_array_append_new(rua, json_string(r->tlsrpt_rua.rua[i]));
	if (r->sts_fetched) {
		json_t *pats = json_array();

		for (i = 0; pats != NULL && i < r->sts.nmx; i++)
			json_array_append_new(pats, json_string(r->sts.mx[i]));
		pol = json_pack("{s:s, s:s, s:I, s:o}", "url", r->sts_url,
		    "mode", trpt_policy_sts_mode_name(r->sts.mode), "max_age",
		    (json_int_t)r->sts.max_age, "mx", pats);
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:{s:s, s:s?, s:o}, "
		      "s:{s:s, s:s?, s:s?, s:o?}, s:o, s:o, s:I, s:s}",
	    "domain", r->domain, "input", r->input, "checked_at", when,
	    "mx_dnssec", trpt_dns_dnssec_name(r->mx_dnssec), "implicit_mx",
	    r->implicit_mx, "tlsrpt", "dnssec",
	    trpt_dns_dnssec_name(r->tlsrpt.dnssec), "record",
	    r->tlsrpt.found ? r->tlsrpt.text : NULL, "rua", rua, "mta_sts",
	    "dnssec", trpt_dns_dnssec_name(r->sts_txt.dnssec), "record",
	    r->sts_txt.found ? r->sts_txt.text : NULL, "id",
	    r->sts_id[0] != '\0' ? r->sts_id : NULL, "policy", pol, "findings",
	    findings_json(&r->findings, 0), "mx", mx, "failures",
	    (json_int_t)trpt_check_failures(r), "result",
	    trpt_check_failures(r) == 0 ? "ok" : "fail");
	if (o == NULL)
		return -1;
	rc = json_dumpf(o, out, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	fputc('\n', out);
	json_decref(o);
	return rc;
}

void
trpt_cmd_check_summary(const struct trpt_check_mx *m, char *buf, size_t size)
{
	size_t i, o = 0;

	buf[0] = '\0';
	if (m->findings.n == 0) {
		snprintf(buf, size, "ok");
		return;
	}
	for (i = 0; i < m->findings.n && o + 1 < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s",
		    i > 0 ? "; " : "", m->findings.v[i].detail);
}

static int
parse_port(const char *opt, const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || v < 1 || v > 65535) {
		trpt_cli_warn("check: %s \"%s\": expected a number from 1 to "
			      "65535",
		    opt, s);
		return TRPT_EXIT_USAGE;
	}
	*out = (unsigned)v;
	return TRPT_EXIT_OK;
}

int
trpt_cmd_check_run(struct trpt_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mx", required_argument, NULL, 'm' },
		{ "format", required_argument, NULL, 'f' },
		{ "resolver", required_argument, NULL, 'r' },
		{ "trust-anchor", required_argument, NULL, 'a' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "smtp-port", required_argument, NULL, 'p' },
		{ "https-port", required_argument, NULL, 'P' },
		{ "helo", required_argument, NULL, 'H' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct trpt_check_config cc;
	struct trpt_check_result *r = NULL;
	struct trpt_err err;
	const char *only[MAX_ONLY];
	char host[256];
	size_t nonly = 0;
	unsigned v;
	int c, rc, json = 0;

	trpt_check_config_init(&cc);
	if (gethostname(host, sizeof(host)) == 0 && strchr(host, '.') != NULL)
		cc.helo = host;
	host[sizeof(host) - 1] = '\0';
	if ((rc = trpt_cmd_check_config(cli, &cc, &err)) != TRPT_OK) {
		trpt_cli_warn("check: %s", err.msg);
		return trpt_cli_exit_for(rc);
	}
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (nonly == MAX_ONLY) {
				trpt_cli_warn(
				    "check: at most %d --mx", MAX_ONLY);
				return TRPT_EXIT_USAGE;
			}
			only[nonly++] = trpt_cli_domain_arg(optarg);
			break;
		case 'f':
			if (strcmp(optarg, "json") == 0)
				json = 1;
			else if (strcmp(optarg, "table") != 0) {
				trpt_cli_warn("check: --format \"%s\": "
					      "expected table or json",
				    optarg);
				return TRPT_EXIT_USAGE;
			}
			break;
		case 'r':
			cc.resolver = optarg;
			break;
		case 'a':
			cc.trust_anchor = optarg;
			break;
		case 'C':
			cc.cafile = optarg;
			break;
		case 'p':
			if (parse_port("--smtp-port", optarg, &cc.smtp_port) !=
			    TRPT_EXIT_OK)
				return TRPT_EXIT_USAGE;
			break;
		case 'P':
			if (parse_port("--https-port", optarg,
				&cc.https_port) != TRPT_EXIT_OK)
				return TRPT_EXIT_USAGE;
			break;
		case 'H':
			cc.helo = optarg;
			break;
		case 't':
			if (parse_port("--timeout", optarg, &v) !=
				TRPT_EXIT_OK ||
			    v > 300) {
				trpt_cli_warn("check: --timeout: 1 to 300 "
					      "seconds");
				return TRPT_EXIT_USAGE;
			}
			cc.timeout_ms = cc.dns_timeout_ms = v * 1000;
			break;
		case 'h':
			check_usage(stdout);
			return TRPT_EXIT_OK;
		default:
			check_usage(stderr);
			return TRPT_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		check_usage(stderr);
		return TRPT_EXIT_USAGE;
	}
	rc = trpt_check_run(&cc, argv[optind], only, nonly, &r, &err);
	if (rc != TRPT_OK) {
		trpt_cli_warn("check %s: %s", argv[optind], err.msg);
		return rc == TRPT_EINVAL ? TRPT_EXIT_USAGE : TRPT_EXIT_FATAL;
	}
	if (json)
		rc = write_json(stdout, r);
	else
		write_table(stdout, r);
	if (rc != 0 || fflush(stdout) != 0 || ferror(stdout)) {
		trpt_cli_warn("check: writing the result: write error");
		trpt_check_free(&r);
		return TRPT_EXIT_FATAL;
	}
	rc = trpt_check_failures(r) == 0 ? TRPT_EXIT_OK : TRPT_EXIT_REJECTED;
	trpt_check_free(&r);
	return rc;
}

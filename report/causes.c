#include "report/causes.h"

#include <string.h>

static const struct trpt_cause table[] = {
	{ "starttls-not-supported", "STARTTLS not offered",
	    "An MX host does not offer STARTTLS: TLS is switched off or "
	    "misconfigured on that server, or a firewall, load balancer or "
	    "other middlebox strips STARTTLS from the EHLO reply.",
	    "Check that every MX host announces STARTTLS (openssl s_client "
	    "-starttls smtp -connect MX:25) from outside your network, and "
	    "disable SMTP inspection (\"ESMTP fixup\") on firewalls in "
	    "front of it." },
	{ "certificate-host-mismatch", "certificate name mismatch",
	    "The certificate an MX host presents does not cover its host "
	    "name: a new MX was added with an old certificate, the "
	    "certificate lacks a SAN for the MX name, or the MX record or "
	    "MTA-STS mx pattern points at another name.",
	    "Make every MX host name appear in its certificate's subject "
	    "alternative names, and keep the MX records, the MTA-STS "
	    "policy's mx lines and the certificates in step." },
	{ "certificate-expired", "certificate expired",
	    "The certificate of an MX host has expired: automatic renewal "
	    "failed, or it was renewed but the mail server was not reloaded.",
	    "Renew the certificate, check the renewal automation and its "
	    "logs, reload the mail server, and check every MX host, not "
	    "just the first one." },
	{ "certificate-not-trusted", "certificate not trusted",
	    "Senders cannot build a chain to a trusted CA: a self-signed or "
	    "private-CA certificate, or a missing intermediate certificate "
	    "in the chain the server sends.",
	    "Use a certificate from a public CA and configure the full chain "
	    "(leaf plus intermediates) on every MX host; see the "
	    "failure-reason-code for the exact error." },
	{ "validation-failure", "other validation failure",
	    "A TLS negotiation or validation error outside the other "
	    "categories, such as a handshake failure, no shared protocol "
	    "version or cipher, or a broken certificate.",
	    "Read the failure-reason-code the senders give, test the MX "
	    "hosts with a TLS checker, and allow TLS 1.2 and 1.3 with "
	    "current ciphers." },
	{ "tlsa-invalid", "TLSA records do not match",
	    "No published TLSA record matches the certificate: the key or "
	    "certificate was rolled over before the TLSA records were "
	    "updated.",
	    "Publish the TLSA record for the next key alongside the current "
	    "one, wait at least two TTLs, then roll the key; make renewal "
	    "reuse the key or update TLSA first." },
	{ "dnssec-invalid", "DNSSEC validation failed",
	    "Resolvers returned SERVFAIL for the MX host's records: expired "
	    "DNSSEC signatures, a broken DS record after a key or provider "
	    "change, or a DNS server not answering.",
	    "Check the zone with a DNSSEC analyser, re-sign it or fix the DS "
	    "record at the registry, and monitor signature expiry." },
	{ "dane-required", "DANE required but missing",
	    "The sender requires DANE for your domain but found no "
	    "DNSSEC-validated TLSA records for an MX host: TLSA records were "
	    "removed, or the zone lost DNSSEC.",
	    "Publish TLSA records for every MX host in a DNSSEC-signed zone, "
	    "or remove the configuration that asks senders for DANE." },
	{ "sts-policy-fetch-error", "MTA-STS policy not reachable",
	    "Senders could not fetch https://mta-sts.DOMAIN/.well-known/"
	    "mta-sts.txt: the policy host is down, its name does not "
	    "resolve, or it returns an error or a redirect.",
	    "Check that the policy host answers with status 200 and the "
	    "policy as text/plain over a valid certificate, from outside "
	    "your network; monitor it like the MX hosts." },
	{ "sts-policy-invalid", "MTA-STS policy invalid",
	    "The MTA-STS policy file or TXT record is malformed: a syntax "
	    "error, a missing version, mode, mx or max_age line, or a "
	    "policy that does not list the MX hosts in use.",
	    "Validate the policy file and the _mta-sts TXT record, list every "
	    "MX host in mx lines, and change the TXT id after each edit." },
	{ "sts-webpki-invalid", "MTA-STS policy host certificate invalid",
	    "The HTTPS certificate of the mta-sts policy host is not valid "
	    "for senders: expired, not trusted, or not covering "
	    "mta-sts.DOMAIN.",
	    "Give the policy host a publicly trusted certificate for "
	    "mta-sts.DOMAIN and check its renewal." },
};

static const struct trpt_cause unknown = { "", "unregistered result type",
	"The sender used a result type that is not in the IANA registry; its "
	"meaning is the sender's own.",
	"Look at the failure-reason-code and additional-information of the "
	"report, and ask the sender's contact address if it stays unclear." };

const struct trpt_cause *
trpt_causes_lookup(const char *result_type)
{
	size_t i;

	if (result_type == NULL)
		return &unknown;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].result_type, result_type) == 0)
			return &table[i];
	return &unknown;
}

int
trpt_causes_registered(const char *result_type)
{
	return trpt_causes_lookup(result_type) != &unknown;
}

size_t
trpt_causes_count(void)
{
	return sizeof(table) / sizeof(table[0]);
}

const struct trpt_cause *
trpt_causes_at(size_t i)
{
	return i < trpt_causes_count() ? &table[i] : NULL;
}

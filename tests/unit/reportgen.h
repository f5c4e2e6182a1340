#pragma once
/*
 * Builds reports for the analysis tests (trend, alert, summary) and stores
 * them with trpt_store_report.  Header-only so that each test executable
 * stays one file plus the shared helpers.
 *
 *	gen_begin(&g, "Google Inc.", day);
 *	gen_policy(&g, "sts", "example.com", 990, 10, 0);
 *	gen_failure(&g, "certificate-expired", "mx1.example.com",
 *	    "192.0.2.1", 10);
 *	gen_end(&g, db);
 */

#include <stdio.h>
#include <string.h>

#include "schema/store.h"

#define GEN_MAX_POL  8
#define GEN_MAX_FAIL 8

struct gen {
	struct trpt_policy p[GEN_MAX_POL];
	struct trpt_failure f[GEN_MAX_POL][GEN_MAX_FAIL];
	char *ps_testing[3];
	char *ps_enforce[3];
	struct trpt_report r;
	char org[64], id[96];
	int seq;
};

static void
gen_begin(struct gen *g, const char *org, int64_t day)
{
	int seq = g->seq + 1;

	memset(g, 0, sizeof(*g));
	g->seq = seq;
	g->ps_testing[0] = "version: STSv1";
	g->ps_testing[1] = "mode: testing";
	g->ps_testing[2] = "max_age: 86400";
	g->ps_enforce[0] = "version: STSv1";
	g->ps_enforce[1] = "mode: enforce";
	g->ps_enforce[2] = "max_age: 86400";
	snprintf(g->org, sizeof(g->org), "%s", org);
	snprintf(g->id, sizeof(g->id), "%s-%lld-%d", org, (long long)day, seq);
	g->r.organization_name = g->org;
	g->r.contact_info = "reports@example.net";
	g->r.report_id = g->id;
	g->r.begin = day * 86400;
	g->r.end = day * 86400 + 86399;
	g->r.policies = g->p;
}

/* testing: 1 for an sts policy in testing mode. */
static void
gen_policy(struct gen *g, const char *type, const char *domain, int64_t s,
    int64_t f, int testing)
{
	struct trpt_policy *p = &g->p[g->r.npolicies];

	p->policy_type = (char *)type;
	p->policy_domain = (char *)domain;
	if (strcmp(type, "sts") == 0) {
		p->policy_strings.v = testing ? g->ps_testing : g->ps_enforce;
		p->policy_strings.n = 3;
	}
	p->successful = s;
	p->failed = f;
	p->failures = g->f[g->r.npolicies];
	g->r.npolicies++;
}

/* A failure detail of the last policy. */
static void
gen_failure(
    struct gen *g, const char *type, const char *mx, const char *ip, int64_t n)
{
	struct trpt_policy *p = &g->p[g->r.npolicies - 1];
	struct trpt_failure *f = &p->failures[p->nfailures++];

	f->result_type = (char *)type;
	f->receiving_mx_hostname = (char *)mx;
	f->sending_mta_ip = (char *)ip;
	f->failed_session_count = n;
}

static int
gen_end(struct gen *g, struct trpt_db *db)
{
	struct trpt_origin o = { .kind = "file", .source = "gen" };
	struct trpt_raw raw = { .origin = &o };
	struct trpt_err err;
	int dup = 0, rc;

	o.received = g->r.begin + 86400 + 3600;
	raw.bytes = g->id;
	raw.len = strlen(g->id);
	rc = trpt_store_report(db, &g->r, &raw, &dup, NULL, &err);
	if (rc != TRPT_OK)
		fprintf(stderr, "# store %s: %s\n", g->id, err.msg);
	return rc;
}

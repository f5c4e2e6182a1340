#include "schema/report.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

int
trpt_strlist_add(struct trpt_strlist *l, const char *s)
{
	char **nv, *copy;

	copy = strdup(s);
	if (copy == NULL)
		return TRPT_ENOMEM;
	nv = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	if (nv == NULL) {
		free(copy);
		return TRPT_ENOMEM;
	}
	nv[l->n++] = copy;
	l->v = nv;
	return TRPT_OK;
}

void
trpt_strlist_clear(struct trpt_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void
failure_clear(struct trpt_failure *f)
{
	free(f->result_type);
	free(f->sending_mta_ip);
	free(f->receiving_mx_hostname);
	free(f->receiving_mx_helo);
	free(f->receiving_ip);
	free(f->failure_reason_code);
	free(f->additional_information);
}

void
trpt_report_free(struct trpt_report **rp)
{
	struct trpt_report *r;
	size_t i, j;

	if (rp == NULL || *rp == NULL)
		return;
	r = *rp;
	for (i = 0; i < r->npolicies; i++) {
		struct trpt_policy *p = &r->policies[i];

		free(p->policy_type);
		free(p->policy_domain);
		trpt_strlist_clear(&p->policy_strings);
		trpt_strlist_clear(&p->mx_hosts);
		for (j = 0; j < p->nfailures; j++)
			failure_clear(&p->failures[j]);
		free(p->failures);
	}
	free(r->policies);
	free(r->organization_name);
	free(r->contact_info);
	free(r->report_id);
	trpt_strlist_clear(&r->warnings);
	free(r);
	*rp = NULL;
}

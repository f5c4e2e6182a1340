#include "collector/recheck.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "schema/livecheck.h"

#define DOMAINS_MAX 3 /* domains of one sender's alert checked */

static int
store(struct trpt_db *db, const char *domain, const char *mx, int64_t at,
    const char *type, const char *detail, struct trpt_err *err)
{
	struct trpt_livecheck_row row;

	row.domain = domain;
	row.mx = mx;
	row.checked_at = at;
	row.result_type = type;
	row.detail = detail;
	return trpt_livecheck_add(db, &row, err);
}

/* "STARTTLS, TLS1.3, certificate valid until 2026-12-03 (2 days left)" */
static void
ok_text(const struct trpt_check_mx *m, char *buf, size_t size)
{
	char day[16];
	time_t t = (time_t)m->smtp.not_after;
	struct tm tm;

	if (!m->smtp.tls || gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, size, "passes");
		return;
	}
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	snprintf(buf, size,
	    "passes: STARTTLS, %s, certificate valid until %s (%" PRId64
	    " days left)%s",
	    m->smtp.version, day, m->days_left,
	    m->smtp.dane == 1 ? ", DANE matches" : "");
}

static int
published(const struct trpt_check_result *r, const char *host)
{
	char a[TRPT_POLICY_NAME];
	size_t i;

	if (trpt_check_domain_ascii(host, a, sizeof(a), NULL) != TRPT_OK)
		return 0;
	for (i = 0; i < r->mx_total && i < r->nmx; i++)
		if (strcmp(r->mx[i].host, a) == 0)
			return 1;
	return 0;
}

int
trpt_recheck_domain(struct trpt_db *db, const struct trpt_recheck_lock *lk,
    const struct trpt_check_config *cc, const char *domain,
    const struct trpt_alert_items *reported_mx, struct trpt_err *err)
{
	struct trpt_check_result *r = NULL;
	int rc;

	if ((rc = trpt_check_run(cc, domain, NULL, 0, &r, err)) != TRPT_OK)
		return rc;
	if (lk != NULL)
		lk->lock(lk->arg);
	rc = trpt_recheck_store(db, r, reported_mx, err);
	if (lk != NULL)
		lk->unlock(lk->arg);
	trpt_check_free(&r);
	return rc;
}

int
trpt_recheck_store(struct trpt_db *db, const struct trpt_check_result *r,
    const struct trpt_alert_items *reported_mx, struct trpt_err *err)
{
	const struct trpt_check_finding *f;
	const char *domain = r->domain;
	char text[TRPT_CHECK_DETAIL + 64];
	size_t i, j;
	int rc;

	if ((rc = trpt_db_begin(db, err)) != TRPT_OK)
		return rc;
	for (i = 0; rc == TRPT_OK && i < r->findings.n; i++) {
		f = &r->findings.v[i];
		if (f->type == NULL || r->nmx == 0)
			rc = store(db, domain, "", r->checked_at,
			    f->type != NULL ? f->type : "problem", f->detail,
			    err);
	}
	for (i = 0; rc == TRPT_OK && i < r->nmx; i++) {
		const struct trpt_check_mx *m = &r->mx[i];

		if (m->findings.n == 0) {
			ok_text(m, text, sizeof(text));
			rc = store(db, domain, m->host, r->checked_at, "ok",
			    text, err);
		}
		for (j = 0; rc == TRPT_OK && j < m->findings.n; j++) {
			f = &m->findings.v[j];
			rc = store(db, domain, m->host, r->checked_at,
			    f->type != NULL ? f->type : "problem", f->detail,
			    err);
		}
	}
	/* A host the reports named that the domain no longer publishes. */
	for (i = 0; rc == TRPT_OK && reported_mx != NULL && i < reported_mx->n;
	     i++) {
		const char *h = reported_mx->v[i].name;

		if (h[0] == '\0' || r->nmx == 0 || published(r, h))
			continue;
		snprintf(text, sizeof(text),
		    "%.120s is not an MX host of %.120s any more: not checked",
		    h, r->domain);
		rc = store(db, domain, h, r->checked_at, "problem", text, err);
	}
	if (rc == TRPT_OK)
		rc = trpt_db_commit(db, err);
	else
		trpt_db_rollback(db);
	return rc;
}

int
trpt_recheck_alert(struct trpt_db *db, const struct trpt_recheck_lock *lk,
    const struct trpt_check_config *cc, const struct trpt_alert *al,
    size_t *checked, struct trpt_err *err)
{
	struct trpt_err e1;
	size_t i, n = 0;
	int rc = TRPT_OK, r1;

	if (checked != NULL)
		*checked = 0;
	if (al->kind == TRPT_ALERT_SILENT || al->kind == TRPT_ALERT_RECOVERY)
		return TRPT_OK;
	if (!al->sender) {
		rc = trpt_recheck_domain(db, lk, cc, al->subject, &al->mx, err);
		n = rc == TRPT_OK;
	}
	for (i = 0; al->sender && i < al->others.n && i < DOMAINS_MAX; i++) {
		if (al->others.v[i].name[0] == '\0')
			continue;
		r1 = trpt_recheck_domain(
		    db, lk, cc, al->others.v[i].name, NULL, &e1);
		if (r1 == TRPT_OK)
			n++;
		else if (rc == TRPT_OK) {
			rc = r1;
			if (err != NULL)
				*err = e1;
		}
	}
	if (checked != NULL)
		*checked = n;
	return rc;
}

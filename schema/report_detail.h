#pragma once
/*
 * One stored report as a person looks at it (`report show ID`): what it
 * says, where it came from (its input), how it was authenticated (the
 * DKIM verdict of its mail, or the HTTPS client), its copies, policies
 * and warnings.  Only reads.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct trpt_db;

struct trpt_report_detail_policy {
	char *type;
	char *domain;
	int64_t successful;
	int64_t failed;
	int64_t details; /* failure details stored */
};

/*
 * Every string is owned by the struct (trpt_report_detail_free) and is
 * NULL when the database holds NULL.  Values came from strangers: escape
 * them wherever they are shown (report/show.h does).
 */
struct trpt_report_detail {
	int64_t id;
	char *org;
	char *report_id;
	char *contact_info;
	int64_t begin, end;
	int64_t received, last_seen;
	int64_t seen_count;
	int64_t copy;    /* 0: the first content received for its report-id */
	int64_t ncopies; /* distinct contents stored for its report-id */
	int conflict;    /* other copies with a different content exist */
	int counted;     /* the copy trends, alerts and summaries count */
	int64_t successful, failed;
	/* DKIM of the report: the signature chosen for it and its
	 * alignment with the submitter or organisation domain. */
	char *dkim; /* pass, fail, none, temperror; NULL: not verified */
	char *dkim_reason;
	char *dkim_domain;
	char *dkim_selector;
	char *dkim_key_service;
	char *dkim_aligned;
	int dkim_accepted; /* released by reprocess --accept-unsigned */
	/* The input it came from. */
	int64_t raw_id;
	int part;
	int64_t raw_size;
	char *sha256;
	char *source_kind;
	char *source;
	char *message_id;
	char *report_domain;
	char *report_submitter;
	char *client;   /* HTTPS POST client */
	char *raw_dkim; /* the input's verdict (its best signature) */
	char *raw_dkim_domain;
	struct trpt_report_detail_policy *policies;
	size_t npolicies;
	char **warnings;
	size_t nwarnings;
};

/*
 * Reads report id (reports.id).  TRPT_ENOTFOUND when there is none;
 * TRPT_EDB, TRPT_ETEMP, TRPT_ENOMEM.  Caller frees *out.
 */
int trpt_report_detail_load(struct trpt_db *db, int64_t id,
    struct trpt_report_detail **out, struct trpt_err *err);
void trpt_report_detail_free(struct trpt_report_detail **dp);

/*
 * Fuzz target: the whole pipeline (recognition, mbox, MIME, gzip,
 * validation, storage and quarantine) on an in-memory database.  An
 * in-memory database cannot be busy or fail, so any error return is a bug:
 * hostile data must end as a rejection, never as a database error that
 * stops a run (the first crash this target found: counts adding up past
 * 2^63 made ingest exit 3 instead of quarantining the report).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "fuzz/fuzz.h"
#include "ingest/pipeline.h"
#include "ingest/validate.h"
#include "schema/db.h"

static struct trpt_db *db;
static unsigned runs;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum trpt_event_kind outcome;
	struct trpt_pipeline p;
	struct trpt_limits lim;
	struct trpt_origin o;
	struct trpt_err err;
	int rc;

	trpt_validate_init(); /* jansson's arena, as in the program */
	/* A fresh database now and then, so that memory stays bounded. */
	if (db != NULL && ++runs % 2000 == 0)
		trpt_db_close(&db);
	if (db == NULL && trpt_db_open(":memory:", &db, &err) != TRPT_OK) {
		fprintf(stderr, "%s\n", err.msg);
		abort();
	}
	trpt_limits_default(&lim);
	lim.max_parts = 16;
	lim.max_failures = 4096;
	lim.max_inflated = 4u * 1024 * 1024;
	trpt_pipeline_init(&p, db, &lim);
	if (size > 0 && (data[size - 1] & 1))
		p.flags |= TRPT_PIPE_SKIP_NON_REPORTS;
	if (size > 0 && (data[size - 1] & 2))
		p.batch_max = 4;
	memset(&o, 0, sizeof(o));
	o.kind = "fuzz";
	o.source = "fuzz-input";
	o.filename = "google.com!example.com!1795132800!1795219199!001.json";
	rc = trpt_pipeline_input(&p, data, size, &o, &outcome, &err);
	if (rc == TRPT_OK)
		rc = trpt_pipeline_flush(&p, &err);
	if (rc != TRPT_OK && rc != TRPT_ENOMEM) {
		fprintf(
		    stderr, "pipeline error on hostile input: %s\n", err.msg);
		abort();
	}
	return 0;
}

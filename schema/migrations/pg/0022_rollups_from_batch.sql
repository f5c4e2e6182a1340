-- PostgreSQL spelling of schema/migrations/sqlite/0022_rollups_from_batch.sql
-- (its comments say why): rollup_failures_week and rollup_type_first are
-- written by the store's commit, not by triggers on rollup_failures.
-- rollup_type_first_add stays: the commit calls it for the batch's
-- (domain, result type) pairs, in their order, before it writes
-- rollup_failures (schema/rollup.c type_first).

DROP TRIGGER rollup_type_first_insert ON rollup_failures;
DROP TRIGGER rollup_type_first_delete ON rollup_failures;
DROP TRIGGER rollup_type_first_update ON rollup_failures;
DROP TRIGGER rollup_failures_week_insert ON rollup_failures;
DROP TRIGGER rollup_failures_week_delete ON rollup_failures;
DROP TRIGGER rollup_failures_week_update ON rollup_failures;
DROP FUNCTION rollup_type_first_trigger();
DROP FUNCTION rollup_type_first_remove(TEXT, TEXT, BIGINT);
DROP FUNCTION rollup_failures_week_trigger();

ALTER TABLE rollup_failures_week DROP COLUMN days;

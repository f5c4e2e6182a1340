-- rollup_failures_week (0018) and rollup_type_first (0016) are written by
-- the store's commit (schema/rollup.c) instead of by triggers on
-- rollup_failures (issue 15).  The triggers ran once for every row of
-- rollup_failures the commit wrote (an upsert into the weeks, a look-up
-- in the first days): with the commit's other upserts they were about a
-- third of the thread that stores.  The commit now writes each key of
-- the batch's weeks and (domain, result type) pairs once, from the sums
-- it keeps in memory for the other rollups; what rewrites rollup_failures
-- another way (a copy taken out of the counts, a rebuild) computes the
-- weeks and first days it touched again from rollup_failures.  Nothing
-- else writes rollup_failures.
--
-- rollup_failures_week.days counted the rows of rollup_failures in the
-- week, so that the delete trigger knew when to take the week's row out;
-- nothing read it, and without the triggers nothing needs it (a week
-- touched by a removal is computed again from its days).

DROP TRIGGER rollup_type_first_insert;
DROP TRIGGER rollup_type_first_delete;
DROP TRIGGER rollup_type_first_update;
DROP TRIGGER rollup_failures_week_insert;
DROP TRIGGER rollup_failures_week_delete;
DROP TRIGGER rollup_failures_week_failed;
DROP TRIGGER rollup_failures_week_key;

ALTER TABLE rollup_failures_week DROP COLUMN days;

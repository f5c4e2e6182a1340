-- PostgreSQL spelling of schema/migrations/sqlite/0008_sts_mode.sql: the
-- MTA-STS mode of an sts policy as a column (issue 9 item 14).
--
--   sts_mode  the value of the policy-string line "mode: ..." of an sts
--             policy, lower case; NULL for other policy types or none given

ALTER TABLE policies ADD COLUMN sts_mode TEXT;

-- The first string element that starts with "mode:", as SQLite's
-- json_each reads it.  The lists are JSON arrays written by jansson; a
-- value that is not one is left alone (SQLite's json_valid guard).
UPDATE policies SET sts_mode = (
	SELECT lower(trim(substr(trim(e.value #>> '{}'), 6)))
	FROM jsonb_array_elements(policies.policy_strings::jsonb)
		WITH ORDINALITY AS e(value, n)
	WHERE jsonb_typeof(e.value) = 'string'
		AND lower(substr(trim(e.value #>> '{}'), 1, 5)) = 'mode:'
	ORDER BY e.n
	LIMIT 1)
WHERE policy_type = 'sts' AND policy_strings ~ '^\s*\[.*\]\s*$';

-- The rollups are built again from the column.
UPDATE rollup_state SET dirty = 1 WHERE id = 1;

-- The MTA-STS mode of an sts policy as a column (issue 9 item 14).  The
-- rollups found "testing" policies with LIKE '%"mode:%testing%' on the
-- JSON text of policy_strings, which also matched an enforce policy whose
-- MX pattern contains "testing" (a false MTA-STS testing alert).
--
--   sts_mode  the value of the policy-string line "mode: ..." of an sts
--             policy, lower case ('enforce', 'testing', 'none', or what
--             the sender wrote); NULL for other policy types or none given

ALTER TABLE policies ADD COLUMN sts_mode TEXT;

UPDATE policies SET sts_mode = (
	SELECT lower(trim(substr(trim(value), 6)))
	FROM json_each(policies.policy_strings)
	WHERE type = 'text' AND lower(substr(trim(value), 1, 5)) = 'mode:'
	LIMIT 1)
WHERE policy_type = 'sts' AND json_valid(policy_strings);

-- The rollups are built again from the column.
UPDATE rollup_state SET dirty = 1 WHERE id = 1;

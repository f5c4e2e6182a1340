-- PostgreSQL spelling of schema/migrations/sqlite/0007_dkim.sql: DKIM
-- (RFC 8460 §3), the verdict on each report e-mail, and for each report the
-- signature chosen for it and whether its domain aligns.  NULL: not
-- verified.  An HTTPS POST records its client.
ALTER TABLE raw_inputs
	ADD COLUMN dkim TEXT
		CHECK (dkim IN ('pass', 'fail', 'none', 'temperror')),
	ADD COLUMN dkim_reason TEXT,
	ADD COLUMN dkim_domain TEXT,        -- d=
	ADD COLUMN dkim_selector TEXT,      -- s=
	ADD COLUMN dkim_key_service TEXT,   -- s= of the key
	ADD COLUMN client TEXT;             -- HTTPS: address, TLS, cert

ALTER TABLE reports
	ADD COLUMN dkim TEXT
		CHECK (dkim IN ('pass', 'fail', 'none', 'temperror')),
	ADD COLUMN dkim_reason TEXT,
	ADD COLUMN dkim_domain TEXT,
	ADD COLUMN dkim_selector TEXT,
	ADD COLUMN dkim_key_service TEXT,
	ADD COLUMN dkim_aligned TEXT
		CHECK (dkim_aligned IN ('same', 'parent', 'child', 'no')),
	-- 1: stored by an operator's release (reprocess --accept-unsigned)
	ADD COLUMN dkim_accepted BIGINT NOT NULL DEFAULT 0;

-- When the counted copy of a report changes, the rollups are rebuilt.
CREATE TRIGGER rollup_report_recounted AFTER UPDATE OF counted ON reports
	FOR EACH ROW EXECUTE FUNCTION trpt_rollup_dirty();

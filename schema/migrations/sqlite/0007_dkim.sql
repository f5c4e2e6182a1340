-- DKIM (RFC 8460 §3): the verdict on each report e-mail, and for each report
-- the signature chosen for it and whether its domain aligns with the
-- report's submitter or organisation.  NULL: not verified (not a mail, an
-- HTTPS POST, or [dkim] require = no).  An HTTPS POST records its client.
ALTER TABLE raw_inputs ADD COLUMN dkim TEXT
	CHECK (dkim IN ('pass', 'fail', 'none', 'temperror'));
ALTER TABLE raw_inputs ADD COLUMN dkim_reason TEXT;
ALTER TABLE raw_inputs ADD COLUMN dkim_domain TEXT;       -- d=
ALTER TABLE raw_inputs ADD COLUMN dkim_selector TEXT;     -- s=
ALTER TABLE raw_inputs ADD COLUMN dkim_key_service TEXT;  -- s= of the key
ALTER TABLE raw_inputs ADD COLUMN client TEXT;  -- HTTPS: address, TLS, cert

ALTER TABLE reports ADD COLUMN dkim TEXT
	CHECK (dkim IN ('pass', 'fail', 'none', 'temperror'));
ALTER TABLE reports ADD COLUMN dkim_reason TEXT;
ALTER TABLE reports ADD COLUMN dkim_domain TEXT;
ALTER TABLE reports ADD COLUMN dkim_selector TEXT;
ALTER TABLE reports ADD COLUMN dkim_key_service TEXT;
ALTER TABLE reports ADD COLUMN dkim_aligned TEXT
	CHECK (dkim_aligned IN ('same', 'parent', 'child', 'no'));
-- 1: stored by an operator's release (reprocess --accept-unsigned)
ALTER TABLE reports ADD COLUMN dkim_accepted INTEGER NOT NULL DEFAULT 0;

-- Among conflicting copies of a report (0005), a copy with a verified DKIM
-- signature is counted rather than an unverified one stored before it
-- (schema/store.c count_verified): when the counted copy changes, the
-- rollups are rebuilt.
CREATE TRIGGER rollup_report_recounted AFTER UPDATE OF counted ON reports
BEGIN
	UPDATE rollup_state SET dirty = 1 WHERE id = 1;
END;

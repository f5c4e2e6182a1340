-- Findings of the live check (check/), kept as evidence for alerts: written
-- by `alerts --recheck` and by `run` when an alert opens, read by the alert
-- views.  One row per finding of one MX host at one time: result_type is
-- an RFC 8460 result type, 'ok', or 'problem' (outside those types); mx is
-- '' for a finding about the domain as a whole.
CREATE TABLE live_checks (
	id INTEGER PRIMARY KEY,
	domain TEXT NOT NULL,
	mx TEXT NOT NULL,
	checked_at INTEGER NOT NULL,
	result_type TEXT NOT NULL,
	detail TEXT NOT NULL
) STRICT;
CREATE INDEX live_checks_domain ON live_checks (domain, mx, checked_at);

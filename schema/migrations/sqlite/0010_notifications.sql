-- Alert notifications sent by `run` ([notify]): one row per incident,
-- event (open or close) and channel ("mail", "webhook:NAME", or
-- "summary" for the weekly summary), written right after the channel
-- accepted it, so that a restart sends nothing twice.  incident is a
-- stable key made from the alert (kind, scope, subject, type, first day),
-- e.g. "drop/domain/example.org//2026-11-02".
CREATE TABLE notifications (
	id INTEGER PRIMARY KEY,
	incident TEXT NOT NULL,
	event TEXT NOT NULL CHECK (event IN ('open', 'close', 'sent')),
	channel TEXT NOT NULL,
	summary TEXT NOT NULL,
	sent_at INTEGER NOT NULL,
	UNIQUE (incident, event, channel)
) STRICT;

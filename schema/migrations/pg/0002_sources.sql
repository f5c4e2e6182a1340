-- PostgreSQL spelling of schema/migrations/sqlite/0002_sources.sql: state
-- kept by the network sources between runs.

-- IMAP: per configured source and mailbox, the UIDVALIDITY seen and the
-- highest UID whose reports are committed.  A UIDVALIDITY change rescans.
CREATE TABLE imap_state (
	source TEXT NOT NULL,
	mailbox TEXT NOT NULL,
	uidvalidity BIGINT NOT NULL,
	last_uid BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (source, mailbox)
);

-- HTTPS pull: conditional-request validators per source and URL, so an
-- unchanged resource costs one 304.
CREATE TABLE http_state (
	source TEXT NOT NULL,
	url TEXT NOT NULL,
	etag TEXT,
	last_modified TEXT,
	last_status BIGINT,
	fetched_at BIGINT NOT NULL,
	PRIMARY KEY (source, url)
);

-- State kept by the network sources between runs.

-- IMAP: per configured source and mailbox, the UIDVALIDITY seen and the
-- highest UID whose reports are committed.  A UIDVALIDITY change rescans.
CREATE TABLE imap_state (
	source TEXT NOT NULL,
	mailbox TEXT NOT NULL,
	uidvalidity INTEGER NOT NULL,
	last_uid INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (source, mailbox)
) STRICT;

-- HTTPS pull: conditional-request validators per source and URL, so an
-- unchanged resource costs one 304.
CREATE TABLE http_state (
	source TEXT NOT NULL,
	url TEXT NOT NULL,
	etag TEXT,
	last_modified TEXT,
	last_status INTEGER,
	fetched_at INTEGER NOT NULL,
	PRIMARY KEY (source, url)
) STRICT;

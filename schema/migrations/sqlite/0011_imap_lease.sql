-- Who is fetching an IMAP source now (issue 14): several fetchers (`run`
-- or `fetch`, on one host or several) may share one database, and only
-- the holder of a source's lease works on its mailboxes.  holder is
-- "HOST:PID"; expires_at (UTC seconds) ends the lease unless the holder
-- renews it, so a fetcher that died holding it blocks the source only
-- until then.  The row goes when the holder is done.
CREATE TABLE imap_lease (
	source TEXT PRIMARY KEY NOT NULL,
	holder TEXT NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

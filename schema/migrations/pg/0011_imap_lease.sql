-- PostgreSQL spelling of schema/migrations/sqlite/0011_imap_lease.sql: who
-- is fetching an IMAP source now (issue 14).  holder is "HOST:PID";
-- expires_at (UTC seconds) ends the lease unless the holder renews it.
CREATE TABLE imap_lease (
	source TEXT PRIMARY KEY NOT NULL,
	holder TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);

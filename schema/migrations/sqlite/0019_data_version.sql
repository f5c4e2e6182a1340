-- A number that changes with every transaction that changes the rollups
-- (issue 15): what a cache of results read from them (the dashboard's
-- alerts) keys on.  The highest reports.id did that before, but on
-- PostgreSQL ids are handed out when a report is inserted, not when it
-- commits: a transaction committing after one with a higher id left it
-- unchanged, and the cache kept results without that transaction's
-- reports.  Each writer adds 1 to n in the transaction that writes the
-- rollups (schema/rollup.c), in a row of its own (slot), so that
-- concurrent writers do not wait for each other's commits on one row; the
-- version is the sum of n, which only grows and changes exactly when such
-- a transaction commits.

CREATE TABLE data_version (
	slot INTEGER PRIMARY KEY,
	n INTEGER NOT NULL
) STRICT;

-- A raw input that holds one report and nothing else no longer goes into
-- the index on its digest (issue 15).  That index is keyed by random
-- values: each new input went to a random leaf of it, and in a database
-- of 500,000 inputs (2,067 leaves) nearly every input of a batch wrote a
-- leaf of its own, and every checkpoint wrote it again: 5,946 of the
-- 7,141 pages the log of 5,000 reports grew by against an empty database
-- (docs/PERFORMANCE.md, stops 22 and 23).
--
-- one_report is 1 when the bytes are one report and nothing else: a
-- .json or .json.gz input, or an e-mail with exactly one part that the
-- store's pipeline takes for a report (ingest/pipeline.c).  The same bytes
-- give the same report again, so when they come again the report's
-- (organization-name, report-id) is already stored, and the store finds
-- the bytes from the report instead (schema/store.c raw_of_copies: among
-- the stored copies of that report, one whose input has this digest).
-- Such an input needs no other way to be found: its row is written when
-- its report is stored with it and deleted with it (trpt_maintain_prune).
--
-- Every other input (0: an e-mail of several parts, a part refused or
-- quarantined beside a stored one, rows stored before this migration,
-- anything stored through the library without saying) stays in the
-- index, now partial, and is found by its digest as before: a report of
-- it that is new may come from bytes stored for another report of them.
--
-- The index is built again (an index's WHERE cannot be changed): it reads
-- the raw inputs once; the table itself is not rewritten.

ALTER TABLE raw_inputs ADD COLUMN one_report INTEGER NOT NULL DEFAULT 0
	CHECK (one_report = 0 OR one_report = 1);
DROP INDEX raw_inputs_sha256_prefix;
CREATE INDEX raw_inputs_sha256_prefix ON raw_inputs (substr(sha256, 1, 8))
	WHERE one_report = 0;

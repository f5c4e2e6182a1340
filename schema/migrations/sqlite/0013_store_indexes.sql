-- Less work per stored report (issue 15 item 1), checked with EXPLAIN
-- QUERY PLAN over the statements of the tree:
--
--   reports_day          only `prune` used it (DELETE ... WHERE day < ?),
--                        which rewrites the file with VACUUM anyway: dropped
--   policies_day_domain  kept: schema/view.c seeks it per day and domain
--                        (the dashboard's latest reports and failure
--                        reasons of a domain)
--   reports_begin        kept as it is: exports stream in its order with
--                        no sort (tests/unit/test_export.c counts sorts);
--                        the narrower (begin_ts) measured within the noise
--                        and needs a sort per begin time
--
-- Foreign keys stay declared (and checked after each migration); the
-- ingest path runs without SQLite's per-row checks (schema/db.c), as
-- schema/store.c inserts children with the id it has just been given and
-- prune deletes children by name.

DROP INDEX reports_day;

-- PostgreSQL spelling of schema/migrations/sqlite/0013_store_indexes.sql
-- (written by helper store): reports_day, used only by prune, goes.

DROP INDEX reports_day;

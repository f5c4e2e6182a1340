-- PostgreSQL spelling of schema/migrations/sqlite/0009_content_digest.sql:
-- digests taken the earlier way are dropped and taken again from the stored
-- rows when a copy is compared.

UPDATE reports SET content_sha256 = NULL WHERE content_sha256 IS NOT NULL;

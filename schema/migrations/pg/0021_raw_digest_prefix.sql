-- The index on the first 8 hex digits of a raw input's digest that the
-- store looks inputs up by (see schema/migrations/sqlite/0021: there it
-- replaces the unique index on the whole digest).  PostgreSQL keeps its
-- unique constraint: several writers may store at once there, and the
-- constraint makes two of them storing the same input wait for each other
-- and store it once (the store inserts first, ON CONFLICT DO NOTHING, and
-- looks the row up only after a conflict).  No table rewrite: only the
-- new index is built.
CREATE INDEX raw_inputs_sha256_prefix ON raw_inputs (substr(sha256, 1, 8));

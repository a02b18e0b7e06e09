-- A value sealed with the secret key when the database is first opened, so
-- that a host started with another key stops at once instead of failing
-- every write that needs a token.
CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

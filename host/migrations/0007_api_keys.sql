-- API keys with roles. Only the sha256 of a key is kept: a key is 256 random
-- bits, so a fast hash is as hard to reverse as the key is to guess, and a
-- leaked database gives no usable key.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    -- JSON array of customer names; empty means every customer.
    customers   TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

-- Who did what to keys and plugins, newest last.
CREATE TABLE operator_audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    customer  TEXT,
    plugin    TEXT,
    version   TEXT,
    detail    TEXT NOT NULL,
    at        TEXT NOT NULL
);
CREATE INDEX operator_audit_customer ON operator_audit (customer, id);

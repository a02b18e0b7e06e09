-- The host's state: audit, idempotency keys, connections, plugins, schema cache.

CREATE TABLE idempotency (
    customer    TEXT NOT NULL,
    key         TEXT NOT NULL,
    -- NULL while the write is in flight; the per-record result once done.
    result      TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (customer, key)
);

CREATE TABLE write_audit (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    customer        TEXT NOT NULL,
    idempotency_key TEXT,
    entity          TEXT NOT NULL,
    object          TEXT,
    crm_id          TEXT,
    status          TEXT NOT NULL,
    error_code      TEXT,
    config_version  TEXT NOT NULL,
    plugin          TEXT,
    -- Per field: value before, value after, policy, decision and reason.
    decisions       TEXT NOT NULL,
    error           TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX write_audit_customer ON write_audit (customer, id);

CREATE TABLE connections (
    customer    TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    credentials TEXT NOT NULL,
    status      TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE plugins (
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    wasm        BLOB NOT NULL,
    uploaded_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE schema_cache (
    customer TEXT NOT NULL,
    object   TEXT NOT NULL,
    body     TEXT NOT NULL,
    read_at  TEXT NOT NULL,
    PRIMARY KEY (customer, object)
);

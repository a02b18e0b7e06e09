-- The read side: per (customer, object) read progress, the change feed the
-- agent pulls, the last known values of each record's mapped fields (what
-- echo suppression compares a read against), and webhook deliveries.

-- Keyset cursor of the incremental read: the modification time and id of
-- the last record whose change is stored. `mode` is `backfill` until a run
-- reaches the newest record, then `incremental`.
CREATE TABLE read_cursors (
    customer     TEXT NOT NULL,
    object       TEXT NOT NULL,
    entity       TEXT NOT NULL,
    mode         TEXT NOT NULL,
    modstamp     TEXT,
    last_id      TEXT,
    -- HubSpot lists archived records apart from live ones: their own cursor.
    deleted_at   TEXT,
    deleted_id   TEXT,
    records_read INTEGER NOT NULL DEFAULT 0,
    changes      INTEGER NOT NULL DEFAULT 0,
    started_at   TEXT,
    last_run_at  TEXT,
    last_error   TEXT,
    PRIMARY KEY (customer, object)
);

-- One row per change the agent sees; `id` is the feed's cursor.
CREATE TABLE changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    customer   TEXT NOT NULL,
    entity     TEXT NOT NULL,
    object     TEXT NOT NULL,
    crm_id     TEXT NOT NULL,
    record_key TEXT,
    kind       TEXT NOT NULL,
    -- The agent's fields as JSON; `{}` for a deletion.
    fields     TEXT NOT NULL,
    -- Values the reverse mapping could not translate, as JSON.
    notes      TEXT NOT NULL,
    -- Why the record could not be mapped, as JSON; NULL when it was.
    error      TEXT,
    modstamp   TEXT NOT NULL,
    read_at    TEXT NOT NULL
);
CREATE INDEX changes_customer ON changes (customer, id);

-- Per mapped CRM field of a record: the value the agent last knew it to
-- hold, from the host's own write or from the feed, and when.
CREATE TABLE record_shadow (
    customer   TEXT NOT NULL,
    object     TEXT NOT NULL,
    crm_id     TEXT NOT NULL,
    field      TEXT NOT NULL,
    value      TEXT,
    origin     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (customer, object, crm_id, field)
);

-- One row per change and webhook; claimed with a lease so that one
-- delivery is sent by one replica at a time.
CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    customer     TEXT NOT NULL,
    url          TEXT NOT NULL,
    change_id    INTEGER NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TEXT NOT NULL,
    lease_until  TEXT,
    last_status  INTEGER,
    last_error   TEXT,
    created_at   TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_customer ON webhook_deliveries (customer, state, id);

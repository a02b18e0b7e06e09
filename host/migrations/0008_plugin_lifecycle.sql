-- The plugin lifecycle: who uploaded a version and what its fixture cases
-- found, who approved it (never the uploader), which version each customer
-- runs by activation, and plugins paused for a customer after repeated
-- traps. Versions are immutable once uploaded.
ALTER TABLE plugins ADD COLUMN uploaded_by TEXT;
ALTER TABLE plugins ADD COLUMN uploader_id TEXT;
-- The fixture report as JSON; NULL when the component carries no cases.
ALTER TABLE plugins ADD COLUMN fixtures TEXT;
ALTER TABLE plugins ADD COLUMN approved_by TEXT;
ALTER TABLE plugins ADD COLUMN approver_id TEXT;
ALTER TABLE plugins ADD COLUMN approved_at TEXT;

-- A stack per customer: the newest row not rolled back is in force; with
-- none, the version the customer's config names.
CREATE TABLE plugin_activations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    customer       TEXT NOT NULL,
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,
    activated_by   TEXT NOT NULL,
    activated_at   TEXT NOT NULL,
    rolled_back_by TEXT,
    rolled_back_at TEXT
);
CREATE INDEX plugin_activations_customer ON plugin_activations (customer, id);

CREATE TABLE plugin_pauses (
    customer  TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    version   TEXT NOT NULL,
    reason    TEXT NOT NULL,
    paused_at TEXT NOT NULL
);

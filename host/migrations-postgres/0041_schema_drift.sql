-- What the last schema check found in a customer's config that its CRM no
-- longer allows. A finding keeps the time it was first seen while it lasts
-- and is deleted by the first check that no longer finds it.
CREATE TABLE schema_drift (
    customer    TEXT NOT NULL,
    finding     TEXT NOT NULL,
    entity      TEXT NOT NULL,
    object      TEXT NOT NULL,
    field       TEXT,
    agent_field TEXT,
    option      TEXT,
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    since       TEXT NOT NULL,
    checked_at  TEXT NOT NULL,
    PRIMARY KEY (customer, finding)
);

-- When each customer's schema was last checked, found or not.
CREATE TABLE schema_checks (
    customer   TEXT PRIMARY KEY,
    checked_at TEXT NOT NULL,
    findings   BIGINT NOT NULL
);

-- Connections to a customer's CRM, one row per identity that writes: the
-- org-wide integration user (subject '') and each rep (subject = the rep's
-- email in lowercase). Client secrets and tokens are sealed with the host's
-- secret key. `generation` grows with each stored refresh, so a replica can
-- tell a token newer than its own; `lease_until` lets one refresh at a time.
CREATE TABLE grants (
    customer    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    provider    TEXT NOT NULL,
    method      TEXT NOT NULL,
    base_url    TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    secrets     TEXT NOT NULL,
    access      TEXT,
    state       TEXT NOT NULL,
    reason      TEXT,
    generation  BIGINT NOT NULL DEFAULT 0,
    lease_until TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (customer, subject)
);

-- Authorization-code flows in progress: the state parameter sent to the CRM
-- and whom the grant that comes back is for.
CREATE TABLE oauth_states (
    state      TEXT PRIMARY KEY,
    customer   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

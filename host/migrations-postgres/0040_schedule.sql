-- One row per periodic task and customer: the lease that keeps one replica
-- at a time running it, and what its last run did. `holder` is NULL when
-- nobody runs it; a holder that crashed leaves a lease that stops counting
-- at `lease_until`. Times in milliseconds since the epoch compare as
-- numbers; the RFC 3339 ones are for people.
CREATE TABLE schedule_tasks (
    task             TEXT NOT NULL,
    customer         TEXT NOT NULL,
    holder           TEXT,
    lease_until      BIGINT NOT NULL DEFAULT 0,
    next_due         BIGINT NOT NULL DEFAULT 0,
    interval_ms      BIGINT,
    started_at       TEXT,
    finished_at      TEXT,
    duration_ms      BIGINT,
    outcome          TEXT,
    error            TEXT,
    runs             BIGINT NOT NULL DEFAULT 0,
    failures         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (task, customer)
);

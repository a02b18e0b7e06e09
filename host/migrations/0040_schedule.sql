-- One row per periodic task and customer: the lease that keeps one replica
-- at a time running it, and what its last run did. `holder` is NULL when
-- nobody runs it; a holder that crashed leaves a lease that stops counting
-- at `lease_until`. Times in milliseconds since the epoch compare as
-- numbers; the RFC 3339 ones are for people.
CREATE TABLE schedule_tasks (
    task             TEXT NOT NULL,
    customer         TEXT NOT NULL,
    holder           TEXT,
    lease_until      INTEGER NOT NULL DEFAULT 0,
    next_due         INTEGER NOT NULL DEFAULT 0,
    interval_ms      INTEGER,
    started_at       TEXT,
    finished_at      TEXT,
    duration_ms      INTEGER,
    outcome          TEXT,
    error            TEXT,
    runs             INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (task, customer)
);

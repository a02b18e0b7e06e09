-- Durable intake. Every accepted intent is kept in its idempotency row from
-- the moment it is accepted until it has an outcome, so that a host stopped
-- mid-batch leaves nothing behind: the intent resumes on the next start or on
-- another replica. One row per intent: the key, what to run, who runs it,
-- and its outcome.

-- What to run: the intent as the pipeline parsed it (JSON); NULL for keys
-- claimed before durable intake, which cannot be resumed.
ALTER TABLE idempotency ADD COLUMN intent TEXT;
-- The job it was submitted in, and its position in its submission.
ALTER TABLE idempotency ADD COLUMN job_id TEXT;
ALTER TABLE idempotency ADD COLUMN ordinal BIGINT NOT NULL DEFAULT 0;
-- Not to be run before this time: a deferred intent waits here.
ALTER TABLE idempotency ADD COLUMN not_before TEXT;
-- The replica running it, until its lease runs out; renewed while it runs.
ALTER TABLE idempotency ADD COLUMN claimed_by TEXT;
ALTER TABLE idempotency ADD COLUMN lease_until TEXT;
ALTER TABLE idempotency ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
-- The outcome's status (`created`, `failed`, ...) beside its result, so jobs
-- count outcomes without reading JSON.
ALTER TABLE idempotency ADD COLUMN status TEXT;
-- 1 when the outcome wrote nothing: the key may be claimed again.
ALTER TABLE idempotency ADD COLUMN released BIGINT NOT NULL DEFAULT 0;
-- Why a deferred intent waits (the error of its last attempt, JSON).
ALTER TABLE idempotency ADD COLUMN last_error TEXT;

CREATE INDEX idempotency_due ON idempotency (customer, not_before) WHERE result IS NULL;
CREATE INDEX idempotency_job ON idempotency (job_id, ordinal) WHERE job_id IS NOT NULL;

-- A large submission, run in the background. Recorded once all its intents
-- are stored, so a job that exists is whole.
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    customer    TEXT NOT NULL,
    total       BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX jobs_customer ON jobs (customer, created_at);

-- A job's records answered without running: refused at intake (`result`
-- set), or following the row of an earlier intent with the same key and
-- record (`result` NULL: the answer is that row's outcome, replayed).
CREATE TABLE job_answers (
    job_id   TEXT NOT NULL,
    ordinal  BIGINT NOT NULL,
    key      TEXT,
    status   TEXT,
    result   TEXT,
    PRIMARY KEY (job_id, ordinal)
);

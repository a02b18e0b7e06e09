-- The order the intake runs a submission in, apart from the order the agent
-- gave it: in a job, records that others of the job name come first, so a
-- contact in one claimed batch finds the company its job creates in an
-- earlier one. `ordinal` keeps the agent's order for the answers.
ALTER TABLE idempotency ADD COLUMN run_order BIGINT NOT NULL DEFAULT 0;

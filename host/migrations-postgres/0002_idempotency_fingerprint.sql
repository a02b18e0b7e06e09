-- What each idempotency key was first used for: a hash of the intent, so a
-- key sent again with a different record is refused instead of answered
-- with the first record's outcome. NULL for keys claimed before this column.
ALTER TABLE idempotency ADD COLUMN fingerprint TEXT;

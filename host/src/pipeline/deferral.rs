//! Deferred records: a record the CRM refused only for now is not final.
//!
//! The one rule for what "only for now" means lives here. Today it is the
//! CRM's API allocation for the customer being spent (`crm_limit_reached`,
//! with `retry_at` when the CRM or the host's ceiling says when it refills):
//! such a record goes back to pending and runs again at `retry_at`, or after
//! a backoff that grows with its attempts when no time was given. Other
//! customers' intents are claimed meanwhile as usual.

use chrono::{DateTime, Duration, Utc};

use super::{LIMIT_REACHED, RecordError, RecordResult, Status};

/// The first wait when the CRM gave no time; it doubles with each attempt.
const FIRST_BACKOFF: Duration = Duration::seconds(60);

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::hours(1);

/// When a record whose result is `result` should run again, after
/// `attempts` attempts; none when the result is final.
pub fn deferred_until(
    result: &RecordResult,
    attempts: i64,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let error = result.error.as_ref()?;
    if result.status != Status::Failed || !is_deferred(error) {
        return None;
    }
    let at = error.retry_at.unwrap_or_else(|| now + backoff(attempts));
    Some(at.max(now))
}

/// Whether `error` defers its record rather than failing it.
pub fn is_deferred(error: &RecordError) -> bool {
    error.code == LIMIT_REACHED
}

/// The wait after `attempts` attempts: 1, 2, 4, ... minutes, at most an hour.
fn backoff(attempts: i64) -> Duration {
    let doublings = attempts.clamp(1, 7) - 1;
    (FIRST_BACKOFF * 2_i32.pow(doublings as u32)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(retry_at: Option<DateTime<Utc>>) -> RecordResult {
        let mut error = RecordError::input(LIMIT_REACHED, "allocation spent".into(), None);
        error.retryable = true;
        error.retry_at = retry_at;
        RecordResult::failed(0, Some("k".into()), Some("deal".into()), error)
    }

    #[test]
    fn a_spent_allocation_defers_until_its_retry_time() {
        let now = Utc::now();
        let later = now + Duration::minutes(30);
        assert_eq!(deferred_until(&limited(Some(later)), 1, now), Some(later));
    }

    #[test]
    fn without_a_retry_time_the_wait_grows_and_is_bounded() {
        let now = Utc::now();
        let wait = |attempts| deferred_until(&limited(None), attempts, now).map(|t| t - now);
        assert_eq!(wait(1), Some(Duration::minutes(1)));
        assert_eq!(wait(2), Some(Duration::minutes(2)));
        assert_eq!(wait(3), Some(Duration::minutes(4)));
        assert_eq!(wait(50), Some(MAX_BACKOFF));
    }

    #[test]
    fn a_retry_time_in_the_past_runs_now() {
        let now = Utc::now();
        let past = now - Duration::minutes(5);
        assert_eq!(deferred_until(&limited(Some(past)), 1, now), Some(now));
    }

    #[test]
    fn other_failures_are_final() {
        let error = RecordError::input("crm_rejected", "no".into(), None).retryable();
        let result = RecordResult::failed(0, None, None, error);
        assert_eq!(deferred_until(&result, 1, Utc::now()), None);
    }
}

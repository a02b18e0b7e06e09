//! What may be sent again, and how long to wait first.
//!
//! A call is sent again only when doing so cannot write twice: reads, and
//! writes that name their target (an update by id, an upsert by a key). A
//! create that was refused by a rate limit was not served, so it may be sent
//! again too; one that met a server error or lost its answer may have been
//! served, and is left to the caller.

use std::time::Duration;

use rand::Rng;
use reqwest::Method;

/// The most times one call is sent, the first included.
pub(super) const MAX_ATTEMPTS: u32 = 6;
/// The wait before the first resend, doubled each time after.
const BASE_WAIT: Duration = Duration::from_millis(200);
/// The longest computed wait between two sends.
const MAX_WAIT: Duration = Duration::from_secs(5);
/// The longest `Retry-After` the host waits out within a call; a longer one
/// fails the call with a time to retry at, so that the batch does not hold
/// its records (and the agent its request) for minutes.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Whether sending `method path` twice has the effect of sending it once.
pub(super) fn idempotent(method: &Method, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or_default();
    match *method {
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS => true,
        // Salesforce: updates by id (`PATCH /sobjects/X/id`, Collections
        // with ids) and upserts by external id. HubSpot: updates by id.
        Method::PATCH => true,
        // HubSpot reads and upserts by a unique property are POSTs.
        Method::POST => {
            path.ends_with("/search")
                || path.ends_with("/batch/read")
                || path.ends_with("/batch/upsert")
                || path.ends_with("/batch/update")
        }
        _ => false,
    }
}

/// The wait before send number `attempt + 1` (`attempt` counts from 1):
/// at least what the CRM asked for in `Retry-After`, otherwise exponential
/// with jitter, so that the calls of many batches refused together do not
/// come back together.
pub(super) fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let computed = BASE_WAIT.saturating_mul(1 << exponent).min(MAX_WAIT);
    let mut rng = rand::rng();
    match retry_after {
        // A little on top, never less: the CRM counts from its own clock.
        Some(asked) => asked + computed.mul_f64(rng.random_range(0.0..0.25)),
        None => computed.mul_f64(rng.random_range(0.5..=1.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_updates_and_upserts_are_resent_creates_are_not() {
        let resent = [
            (
                Method::GET,
                "/services/data/v60.0/query?q=SELECT+Id+FROM+Account",
            ),
            (Method::PATCH, "/services/data/v60.0/composite/sobjects"),
            (
                Method::PATCH,
                "/services/data/v60.0/composite/sobjects/Account/Conduit_Key__c",
            ),
            (Method::POST, "/crm/v3/objects/contacts/search"),
            (Method::POST, "/crm/v3/objects/contacts/batch/read"),
            (Method::POST, "/crm/v3/objects/contacts/batch/upsert"),
            (
                Method::PUT,
                "/crm/v4/objects/deals/1/associations/default/companies/2",
            ),
        ];
        for (method, path) in resent {
            assert!(idempotent(&method, path), "{method} {path}");
        }
        let not_resent = [
            (Method::POST, "/services/data/v60.0/composite/sobjects"),
            (Method::POST, "/services/data/v60.0/composite"),
            (Method::POST, "/crm/v3/objects/contacts/batch/create"),
            (Method::POST, "/crm/v3/objects/contacts"),
        ];
        for (method, path) in not_resent {
            assert!(!idempotent(&method, path), "{method} {path}");
        }
    }

    #[test]
    fn waits_grow_and_never_undercut_retry_after() {
        for attempt in 1..=MAX_ATTEMPTS {
            let wait = backoff(attempt, None);
            let full = BASE_WAIT.saturating_mul(1 << (attempt - 1)).min(MAX_WAIT);
            assert!(wait <= full && wait >= full / 2, "{attempt}: {wait:?}");

            let asked = Duration::from_secs(2);
            let wait = backoff(attempt, Some(asked));
            assert!(
                wait >= asked && wait <= asked + full / 4,
                "{attempt}: {wait:?}"
            );
        }
        assert!(backoff(40, None) <= MAX_WAIT);
    }
}

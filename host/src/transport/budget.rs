//! One customer's API budget with its CRM, shared by every connection of
//! that customer (the org's and its reps'): the org's allocation is one,
//! whoever spends it.
//!
//! - HubSpot: calls are paced under the rolling ten-second limit (the one
//!   configured, or the one HubSpot announces in `X-HubSpot-RateLimit-Max`)
//!   and searches under the per-second search limit, so that 429s are rare.
//! - Salesforce: the daily usage `Sforce-Limit-Info` reports on every
//!   answer is kept; once it reaches the customer's ceiling, or Salesforce
//!   answers `REQUEST_LIMIT_EXCEEDED` for the day's total, the customer's
//!   calls are refused until a time to look again; likewise when HubSpot
//!   answers that the day's limit is spent.
//!
//! Each customer has its own budget, so waiting on one never stalls
//! another. The budget lives in the process, and replicas sharing one
//! customer learn what the others spent from the CRM's own count on each
//! answer: Salesforce reports the org's daily usage, HubSpot what remains
//! of the ten-second limit, which the pacer then counts as spent. Two
//! replicas sending at the same instant can still go over by the calls in
//! flight; the 429 that follows is waited out and resent.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use tokio::time::{Instant, sleep};

use crate::config::{Limits, Provider};
use crate::crm::CrmError;

/// How long a customer's Salesforce calls stay refused once its daily usage
/// reached the ceiling or the allocation. Salesforce counts the allocation
/// over a rolling 24 hours and reports it only on answers, so the host
/// looks again (with one call) after this long.
pub const DAILY_RECHECK: Duration = Duration::from_secs(15 * 60);
/// HubSpot's rolling window.
const TEN_SECONDS: Duration = Duration::from_secs(10);

/// A customer's API budget; see the module docs.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    daily: Mutex<Daily>,
    ten_second: Pacer,
    search: Pacer,
}

/// What is known of a Salesforce org's daily allocation.
#[derive(Debug, Default)]
struct Daily {
    /// `(used, max)` from the latest `Sforce-Limit-Info`.
    usage: Option<(u64, u64)>,
    /// While set, calls are refused with this error, until its `retry_at`.
    closed: Option<CrmError>,
}

impl Budget {
    /// A budget within `limits`.
    pub fn new(limits: Limits) -> Self {
        let search = limits.hubspot_search_per_second;
        Self {
            limits,
            daily: Mutex::default(),
            ten_second: Pacer::new(TEN_SECONDS, limits.hubspot_ten_second_budget.unwrap_or(0)),
            search: Pacer::new(Duration::from_secs(1), search),
        }
    }

    /// Waits until a call to `path` fits the budget, and answers how long
    /// that took; or refuses it while the daily allocation is closed.
    pub async fn admit(&self, provider: Provider, path: &str) -> Result<Duration, CrmError> {
        self.daily_open()?;
        if provider == Provider::Salesforce {
            return Ok(Duration::ZERO);
        }
        let mut waited = Duration::ZERO;
        if path
            .split('?')
            .next()
            .unwrap_or_default()
            .ends_with("/search")
        {
            waited += self.search.admit().await;
        }
        waited += self.ten_second.admit().await;
        Ok(waited)
    }

    /// Learns from an answer's headers: Salesforce's daily usage, HubSpot's
    /// announced ten-second limit.
    pub fn observe(&self, provider: Provider, headers: &HeaderMap) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match provider {
            Provider::Salesforce => {
                if let Some(usage) = header("sforce-limit-info").and_then(api_usage) {
                    self.lock_daily().usage = Some(usage);
                }
            }
            Provider::Hubspot => {
                let number = |name| header(name).and_then(|v| v.trim().parse::<u32>().ok());
                let ten_second =
                    number("x-hubspot-ratelimit-interval-milliseconds") == Some(10_000);
                if let Some(max) = number("x-hubspot-ratelimit-max").filter(|_| ten_second) {
                    let configured = self.limits.hubspot_ten_second_budget;
                    self.ten_second
                        .set_max(configured.map_or(max, |c| c.min(max)));
                    if let Some(remaining) = number("x-hubspot-ratelimit-remaining") {
                        self.ten_second.report(max.saturating_sub(remaining));
                    }
                }
            }
        }
    }

    /// Closes the customer's Salesforce calls after the org answered that
    /// the day's allocation is spent; answers the refusal for the caller.
    pub fn daily_spent(&self, error: CrmError) -> CrmError {
        let error = error.limited_until(Utc::now() + DAILY_RECHECK);
        self.lock_daily().closed = Some(error.clone());
        error
    }

    /// Refuses a call while the allocation is closed, or closes it when the
    /// latest usage reached the ceiling.
    fn daily_open(&self) -> Result<(), CrmError> {
        let now = Utc::now();
        let mut daily = self.lock_daily();
        if let Some(closed) = &daily.closed {
            if closed.retry_at.is_some_and(|until| now < until) {
                return Err(closed.clone());
            }
            // Time to look again: this call's answer reports the usage now.
            daily.closed = None;
            daily.usage = None;
            return Ok(());
        }
        let ceiling = self.limits.salesforce_daily_ceiling;
        match daily.usage {
            Some((used, max)) if max > 0 && used as f64 >= ceiling * max as f64 => {
                tracing::info!(
                    used,
                    max,
                    ceiling,
                    error.type = "api_ceiling_reached",
                    "salesforce daily usage reached the customer's ceiling; holding its calls"
                );
                let error = self.ceiling_error(used, max, now + DAILY_RECHECK);
                daily.closed = Some(error.clone());
                Err(error)
            }
            _ => Ok(()),
        }
    }

    fn ceiling_error(&self, used: u64, max: u64, until: DateTime<Utc>) -> CrmError {
        let ceiling = self.limits.salesforce_daily_ceiling;
        CrmError {
            status: None,
            code: "api_ceiling_reached".into(),
            message: format!(
                "{used} of the org's {max} daily API requests are used; conduit stops at \
                 {:.0}% (`limits.salesforce_daily_ceiling`) to leave the rest to the \
                 customer's own tools",
                ceiling * 100.0
            ),
            fields: Vec::new(),
            retryable: true,
            retry_at: None,
        }
        .limited_until(until)
    }

    fn lock_daily(&self) -> std::sync::MutexGuard<'_, Daily> {
        self.daily.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

/// `api-usage=USED/MAX` out of a `Sforce-Limit-Info` value.
fn api_usage(value: &str) -> Option<(u64, u64)> {
    let usage = value
        .split(',')
        .find_map(|part| part.trim().strip_prefix("api-usage="))?;
    let (used, max) = usage.split_once('/')?;
    Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
}

/// At most `max` calls in any `window` (0: no limit), in the order they
/// asked.
#[derive(Debug)]
struct Pacer {
    window: Duration,
    max: AtomicU32,
    /// When the calls in the current window were let through, oldest first:
    /// this process's, and those the CRM counted that this process did not
    /// make. An async lock: a caller waiting for room keeps its place in
    /// line.
    sent: tokio::sync::Mutex<VecDeque<Instant>>,
    /// The latest count of calls in the window the CRM reported, and when:
    /// taken into `sent` by the next caller.
    reported: std::sync::Mutex<Option<(Instant, u32)>>,
}

impl Pacer {
    fn new(window: Duration, max: u32) -> Self {
        Self {
            window,
            max: AtomicU32::new(max),
            sent: tokio::sync::Mutex::new(VecDeque::new()),
            reported: std::sync::Mutex::new(None),
        }
    }

    fn set_max(&self, max: u32) {
        self.max.store(max, Ordering::Relaxed);
    }

    /// Notes that the CRM counts `used` calls in the window now.
    fn report(&self, used: u32) {
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        *reported = Some((Instant::now(), used));
    }

    /// Counts the calls the CRM reported beyond those `sent` holds up to
    /// the report (other replicas'), as sent at the time of the report:
    /// they leave the window no sooner than that.
    fn absorb_report(&self, sent: &mut VecDeque<Instant>) {
        let taken = self
            .reported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some((at, used)) = taken else {
            return;
        };
        let known = sent
            .iter()
            .filter(|t| **t <= at && at.duration_since(**t) < self.window)
            .count();
        let others = (used as usize).saturating_sub(known);
        if others > 0 {
            tracing::debug!(others, "calls made by other replicas counted in the window");
        }
        let position = sent.partition_point(|t| *t <= at);
        for _ in 0..others {
            sent.insert(position, at);
        }
    }

    /// Waits for room in the window; answers how long it waited.
    async fn admit(&self) -> Duration {
        let max = self.max.load(Ordering::Relaxed) as usize;
        if max == 0 {
            return Duration::ZERO;
        }
        let started = Instant::now();
        let mut sent = self.sent.lock().await;
        loop {
            self.absorb_report(&mut sent);
            let now = Instant::now();
            while sent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                sent.pop_front();
            }
            if sent.len() < max {
                sent.push_back(now);
                return started.elapsed();
            }
            if let Some(oldest) = sent.front().copied() {
                sleep(self.window.saturating_sub(now.duration_since(oldest))).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn api_usage_is_read_from_sforce_limit_info() {
        assert_eq!(api_usage("api-usage=18/15000"), Some((18, 15000)));
        assert_eq!(
            api_usage("per-app-api-usage=2/100(appName=x), api-usage=7/900"),
            Some((7, 900))
        );
        assert_eq!(api_usage("api-usage=x/10"), None);
    }

    fn usage(used: u64, max: u64) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("api-usage={used}/{max}");
        headers.insert(
            "sforce-limit-info",
            HeaderValue::from_str(&value).expect("as the test sets it up"),
        );
        headers
    }

    #[tokio::test]
    async fn salesforce_calls_stop_at_the_ceiling_with_a_time_to_retry() {
        let budget = Budget::new(Limits {
            salesforce_daily_ceiling: 0.8,
            ..Limits::default()
        });
        let path = "/services/data/v60.0/query";
        budget.observe(Provider::Salesforce, &usage(79, 100));
        assert!(budget.admit(Provider::Salesforce, path).await.is_ok());

        budget.observe(Provider::Salesforce, &usage(80, 100));
        let refused = budget
            .admit(Provider::Salesforce, path)
            .await
            .expect_err("refused");
        assert_eq!(refused.code, "api_ceiling_reached");
        assert!(
            refused.message.contains("80 of the org's 100"),
            "{}",
            refused.message
        );
        let retry_at = refused.retry_at.expect("as the test sets it up");
        assert!(retry_at > Utc::now() + DAILY_RECHECK - Duration::from_secs(60));

        // Still closed for the next call, whatever it is.
        assert!(
            budget
                .admit(Provider::Salesforce, "/sobjects")
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_spent_allocation_closes_the_calls_until_the_recheck() {
        let budget = Budget::default();
        let error = budget.daily_spent(CrmError::protocol("spent".into()));
        assert!(error.is_limit() && error.retryable);
        let refused = budget
            .admit(Provider::Salesforce, "/query")
            .await
            .expect_err("refused");
        assert_eq!(
            refused, error,
            "held calls see the refusal that closed them"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn hubspot_calls_are_paced_under_the_announced_limit() {
        let budget = Budget::default();
        let mut headers = HeaderMap::new();
        headers.insert("x-hubspot-ratelimit-max", HeaderValue::from_static("3"));
        headers.insert(
            "x-hubspot-ratelimit-interval-milliseconds",
            HeaderValue::from_static("10000"),
        );
        budget.observe(Provider::Hubspot, &headers);

        let path = "/crm/v3/objects/deals/batch/create";
        for _ in 0..3 {
            let waited = budget
                .admit(Provider::Hubspot, path)
                .await
                .expect("as the test sets it up");
            assert_eq!(waited, Duration::ZERO);
        }
        let waited = budget
            .admit(Provider::Hubspot, path)
            .await
            .expect("as the test sets it up");
        assert!(waited >= Duration::from_secs(9), "{waited:?}");
    }

    fn hubspot_room(max: u32, remaining: u32) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-hubspot-ratelimit-interval-milliseconds", 10_000),
            ("x-hubspot-ratelimit-max", max),
            ("x-hubspot-ratelimit-remaining", remaining),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
        headers
    }

    #[tokio::test(start_paused = true)]
    async fn calls_another_replica_made_count_against_the_ten_seconds() {
        let budget = Budget::default();
        let path = "/crm/v3/objects/deals/batch/create";
        let admit = || async {
            budget
                .admit(Provider::Hubspot, path)
                .await
                .expect("as the test sets it up")
        };

        // This replica sent one call; HubSpot counts 4 of 5 spent.
        budget.observe(Provider::Hubspot, &hubspot_room(5, 5));
        assert_eq!(admit().await, Duration::ZERO);
        budget.observe(Provider::Hubspot, &hubspot_room(5, 1));
        assert_eq!(admit().await, Duration::ZERO, "one call of room left");
        let waited = admit().await;
        assert!(waited >= Duration::from_secs(9), "{waited:?}");

        // A report of what this replica sent itself adds nothing.
        tokio::time::sleep(Duration::from_secs(20)).await;
        for _ in 0..3 {
            assert_eq!(admit().await, Duration::ZERO);
        }
        budget.observe(Provider::Hubspot, &hubspot_room(5, 2));
        assert_eq!(admit().await, Duration::ZERO);
        assert_eq!(admit().await, Duration::ZERO);
        assert!(admit().await >= Duration::from_secs(9));
    }

    #[tokio::test(start_paused = true)]
    async fn searches_are_paced_per_second() {
        let budget = Budget::new(Limits {
            hubspot_search_per_second: 2,
            ..Limits::default()
        });
        let search = "/crm/v3/objects/contacts/search";
        budget
            .admit(Provider::Hubspot, search)
            .await
            .expect("as the test sets it up");
        budget
            .admit(Provider::Hubspot, search)
            .await
            .expect("as the test sets it up");
        // Other calls are not searches: no wait.
        let other = budget
            .admit(Provider::Hubspot, "/crm/v3/objects/contacts/batch/read")
            .await
            .expect("as the test sets it up");
        assert_eq!(other, Duration::ZERO);
        let third = budget
            .admit(Provider::Hubspot, search)
            .await
            .expect("as the test sets it up");
        assert!(third >= Duration::from_millis(900), "{third:?}");
    }
}

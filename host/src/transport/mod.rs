//! Sending requests to a CRM: the bearer token, one refresh when the CRM says
//! the token expired, the customer's API budget ([`Budget`]), resending
//! what is safe to resend ([`retry`]), and counting calls.
//!
//! Each call runs in a `crm_call` span naming the customer, provider,
//! endpoint and object, and is counted and timed in the metrics.

mod budget;
mod endpoint;
mod retry;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use tracing::{Instrument, debug, info, info_span};

pub use budget::{Budget, DAILY_RECHECK};

use crate::auth::Connection;
use crate::config::Provider;
use crate::crm::CrmError;
use crate::telemetry::metrics;

/// A CRM's answer: status and JSON body (null when there is none).
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: StatusCode,
    /// Parsed body.
    pub body: serde_json::Value,
}

/// Sends requests for one customer's connection.
pub struct Transport {
    http: reqwest::Client,
    connection: Arc<Connection>,
    headers: reqwest::header::HeaderMap,
    calls: AtomicU64,
    budget: Arc<Budget>,
}

impl Transport {
    /// A transport over `connection`.
    pub fn new(http: reqwest::Client, connection: Arc<Connection>) -> Self {
        Self {
            http,
            connection,
            headers: reqwest::header::HeaderMap::new(),
            calls: AtomicU64::new(0),
            budget: Arc::new(Budget::default()),
        }
    }

    /// The same transport, spending `budget`: the customer's, shared with
    /// its other connections.
    pub fn with_budget(mut self, budget: Arc<Budget>) -> Self {
        self.budget = budget;
        self
    }

    /// The same transport, sending `name: value` with every request.
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.insert(
            reqwest::header::HeaderName::from_static(name),
            reqwest::header::HeaderValue::from_static(value),
        );
        self
    }

    /// The connection requests are made with.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// CRM API calls made so far, token refreshes excluded.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Sends one request to `path` (relative to the API base) and returns the
    /// CRM's answer whatever its status, except that an expired token is
    /// refreshed once, a rate limit is waited out (or, when it lasts, fails
    /// the call with its `retry_at`), and a call that may safely be sent
    /// again is, after a server error or a lost answer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Response, CrmError> {
        let idempotent = retry::idempotent(&method, path);
        self.send_as(method, path, query, body, idempotent).await
    }

    /// Sends one request the caller knows is safe to send twice although
    /// its method and path do not say so: a Composite Graph whose every
    /// node names its record (an update by id or an upsert by key) is a
    /// `POST`, yet a lost answer or a server error may be resent.
    pub async fn send_resendable(
        &self,
        method: Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<Response, CrmError> {
        self.send_as(method, path, &[], Some(body), true).await
    }

    async fn send_as(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        idempotent: bool,
    ) -> Result<Response, CrmError> {
        let endpoint = endpoint::label(path);
        let span = info_span!(
            "crm_call",
            customer = self.connection.customer(),
            provider = %self.connection.provider(),
            %method,
            endpoint = %endpoint,
            object = endpoint::object(path),
        );
        let call = Call {
            method,
            path,
            endpoint: &endpoint,
            query,
            body,
            idempotent,
        };
        self.send_in_span(call).instrument(span).await
    }

    async fn send_in_span(&self, call: Call<'_>) -> Result<Response, CrmError> {
        let Call {
            method,
            path,
            endpoint,
            query,
            body,
            idempotent,
        } = call;
        let provider = self.connection.provider();
        let label = provider.to_string();
        let mut token = self.connection.token().await?;
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let paced = self.budget.admit(provider, path).await?;
            if !paced.is_zero() {
                debug!(
                    path,
                    wait_ms = paced.as_millis() as u64,
                    "paced under the rate limit"
                );
                metrics::rate_limit_wait(&label, paced);
            }

            let url = format!("{}{path}", token.api_base);
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&token.value)
                .headers(self.headers.clone())
                .query(query);
            if let Some(body) = body {
                request = request.json(body);
            }
            self.calls.fetch_add(1, Ordering::Relaxed);
            debug!(%method, path, attempt, "crm request");

            let started = Instant::now();
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => {
                    metrics::crm_call(&label, endpoint, "error", started.elapsed());
                    // A connection never made carried nothing to the CRM.
                    if (idempotent || e.is_connect()) && attempt < retry::MAX_ATTEMPTS {
                        resend_after(path, attempt, None, "connection_failed").await;
                        continue;
                    }
                    let message = format!("request to {path} failed before an answer: {e}");
                    return Err(CrmError::connection(message));
                }
            };
            let status = response.status();
            self.budget.observe(provider, response.headers());
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = response.text().await;
            metrics::crm_call(&label, endpoint, status.as_str(), started.elapsed());
            let text = match text {
                Ok(text) => text,
                // The CRM served the call and the answer was lost: only a
                // call that cannot write twice is sent again.
                Err(e) if idempotent && attempt < retry::MAX_ATTEMPTS => {
                    debug!(path, error = %e, "answer cut off");
                    resend_after(path, attempt, None, "answer_lost").await;
                    continue;
                }
                Err(e) => {
                    let message = format!("answer from {path} was cut off: {e}");
                    return Err(CrmError::connection(message));
                }
            };
            let body = if text.trim().is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
            };

            if status == StatusCode::UNAUTHORIZED && !refreshed {
                info!(path, error.type = "token_expired", "crm refused the token; refreshing");
                token = self.connection.refresh_after_rejection(&token).await?;
                refreshed = true;
                continue;
            }
            match limit(provider, status, &body) {
                Some(Limit::Spent) => {
                    info!(path, error.type = "api_limit_spent", "crm api allocation spent");
                    return Err(self.budget.daily_spent(refusal(provider, status, &body)));
                }
                // A call refused for a rate limit was not served: any call,
                // a create too, may be sent again.
                Some(Limit::Throttled) => {
                    let long = retry_after.is_some_and(|w| w > retry::MAX_RETRY_AFTER);
                    if long || attempt >= retry::MAX_ATTEMPTS {
                        let wait = retry_after.unwrap_or(retry::backoff(attempt, None));
                        let retry_at = chrono::Utc::now()
                            + chrono::Duration::from_std(wait).unwrap_or_default();
                        info!(path, attempt, error.type = "rate_limited", "rate limit outlasted");
                        return Err(refusal(provider, status, &body).limited_until(retry_at));
                    }
                    let wait = resend_after(path, attempt, retry_after, "rate_limited").await;
                    metrics::rate_limit_wait(&label, wait);
                    continue;
                }
                None => {}
            }
            if status.is_server_error() && idempotent && attempt < retry::MAX_ATTEMPTS {
                resend_after(path, attempt, retry_after, "server_error").await;
                continue;
            }
            return Ok(Response { status, body });
        }
    }
}

/// One call as the transport sends it.
struct Call<'a> {
    method: Method,
    path: &'a str,
    endpoint: &'a str,
    query: &'a [(&'a str, String)],
    body: Option<&'a serde_json::Value>,
    /// Whether sending it twice has the effect of sending it once.
    idempotent: bool,
}

/// Waits before sending a call again, saying why; answers the wait.
async fn resend_after(
    path: &str,
    attempt: u32,
    retry_after: Option<Duration>,
    reason: &'static str,
) -> Duration {
    let wait = retry::backoff(attempt, retry_after);
    info!(
        path,
        attempt,
        wait_ms = wait.as_millis() as u64,
        error.type = reason,
        "crm call to be sent again"
    );
    tokio::time::sleep(wait).await;
    wait
}

/// How an API limit refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// A short-lived limit (HubSpot's ten-second or search limit,
    /// Salesforce's concurrent-request limit): wait and send again.
    Throttled,
    /// The day's allocation is spent: nothing more today.
    Spent,
}

/// Whether an answer is an API limit's refusal: any 429; Salesforce's 403
/// `REQUEST_LIMIT_EXCEEDED` (the daily total, or concurrent long requests).
fn limit(provider: Provider, status: StatusCode, body: &serde_json::Value) -> Option<Limit> {
    match provider {
        Provider::Hubspot if status == StatusCode::TOO_MANY_REQUESTS => {
            let daily = body.get("policyName").and_then(|p| p.as_str()) == Some("DAILY");
            Some(if daily {
                Limit::Spent
            } else {
                Limit::Throttled
            })
        }
        Provider::Hubspot => None,
        Provider::Salesforce if status == StatusCode::TOO_MANY_REQUESTS => Some(Limit::Throttled),
        Provider::Salesforce if status == StatusCode::FORBIDDEN => {
            let first = body.as_array().and_then(|a| a.first()).unwrap_or(body);
            let text = |key: &str| first.get(key).and_then(|v| v.as_str()).unwrap_or_default();
            if text("errorCode") != "REQUEST_LIMIT_EXCEEDED" {
                return None;
            }
            let total = text("message").starts_with("TotalRequests");
            Some(if total {
                Limit::Spent
            } else {
                Limit::Throttled
            })
        }
        Provider::Salesforce => None,
    }
}

/// The CRM's refusal in its own words.
fn refusal(provider: Provider, status: StatusCode, body: &serde_json::Value) -> CrmError {
    match provider {
        Provider::Salesforce => CrmError::from_salesforce(status.as_u16(), body),
        Provider::Hubspot => CrmError::from_hubspot(status.as_u16(), body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_are_told_apart_from_other_refusals() {
        let total = json!([{"errorCode": "REQUEST_LIMIT_EXCEEDED",
            "message": "TotalRequests Limit exceeded."}]);
        let concurrent = json!([{"errorCode": "REQUEST_LIMIT_EXCEEDED",
            "message": "ConcurrentPerOrgLongTxn Limit exceeded."}]);
        let denied = json!([{"errorCode": "INSUFFICIENT_ACCESS", "message": "no"}]);
        let sf = Provider::Salesforce;
        assert_eq!(limit(sf, StatusCode::FORBIDDEN, &total), Some(Limit::Spent));
        assert_eq!(
            limit(sf, StatusCode::FORBIDDEN, &concurrent),
            Some(Limit::Throttled)
        );
        assert_eq!(limit(sf, StatusCode::FORBIDDEN, &denied), None);

        let hs = Provider::Hubspot;
        let rolling = json!({"policyName": "TEN_SECONDLY_ROLLING"});
        let daily = json!({"policyName": "DAILY"});
        assert_eq!(
            limit(hs, StatusCode::TOO_MANY_REQUESTS, &rolling),
            Some(Limit::Throttled)
        );
        assert_eq!(
            limit(hs, StatusCode::TOO_MANY_REQUESTS, &daily),
            Some(Limit::Spent)
        );
        assert_eq!(limit(hs, StatusCode::FORBIDDEN, &rolling), None);
    }
}

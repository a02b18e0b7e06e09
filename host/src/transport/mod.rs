//! Sending requests to a CRM: the bearer token, one refresh when the CRM says
//! the token expired, waiting out rate limits, and counting calls.
//!
//! Each call runs in a `crm_call` span naming the customer, provider,
//! endpoint and object, and is counted and timed in the metrics.

mod endpoint;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use tracing::{Instrument, debug, info, info_span};

use crate::auth::Connection;
use crate::crm::CrmError;
use crate::telemetry::metrics;

/// How many times a rate-limited request is tried again.
const RATE_LIMIT_RETRIES: u32 = 3;
/// The longest the host waits on one `Retry-After` before giving up.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

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
}

impl Transport {
    /// A transport over `connection`.
    pub fn new(http: reqwest::Client, connection: Arc<Connection>) -> Self {
        Self {
            http,
            connection,
            headers: reqwest::header::HeaderMap::new(),
            calls: AtomicU64::new(0),
        }
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
    /// refreshed once and a rate limit is waited out.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
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
        self.send_in_span(method, path, &endpoint, query, body)
            .instrument(span)
            .await
    }

    async fn send_in_span(
        &self,
        method: Method,
        path: &str,
        endpoint: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Response, CrmError> {
        let provider = self.connection.provider().to_string();
        let mut token = self.connection.token().await?;
        let mut refreshed = false;
        let mut rate_limited = 0;
        loop {
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
            debug!(%method, path, "crm request");

            let started = Instant::now();
            let response = request.send().await.map_err(|e| {
                metrics::crm_call(&provider, endpoint, "error", started.elapsed());
                CrmError::connection(format!("request to {path} failed before an answer: {e}"))
            })?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = response
                .text()
                .await
                .map_err(|e| CrmError::connection(format!("answer from {path} was cut off: {e}")));
            metrics::crm_call(&provider, endpoint, status.as_str(), started.elapsed());
            let text = text?;
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
            if status == StatusCode::TOO_MANY_REQUESTS && rate_limited < RATE_LIMIT_RETRIES {
                rate_limited += 1;
                let wait = retry_after
                    .unwrap_or(Duration::from_secs(1))
                    .min(MAX_RETRY_AFTER);
                info!(path, wait_ms = wait.as_millis() as u64, error.type = "rate_limited",
                    "crm rate limit; waiting");
                metrics::rate_limit_wait(&provider, wait);
                tokio::time::sleep(wait).await;
                continue;
            }
            return Ok(Response { status, body });
        }
    }
}

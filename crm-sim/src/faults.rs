//! Fault injection, per org: added latency, calls answered with a server error, writes that
//! commit and then lose their connection, and storms of rate-limit refusals. Set from the
//! profile's `faults` key or `PUT /__sim/faults`; `GET /__sim/faults` shows what is left.
//!
//! Counts rather than rates keep runs repeatable: `fail_next: 3` fails exactly the next three
//! calls. Admin (`/__sim/`) calls are never faulted.

use std::sync::Mutex;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

/// The faults an org injects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Milliseconds every call waits before it is served.
    pub latency_ms: u64,
    /// How many of the next calls answer `error_status` without being served.
    pub fail_next: u32,
    /// The status of failed calls; 503 if not set.
    pub error_status: Option<u16>,
    /// How many of the next writes (POST, PATCH, PUT, DELETE) are served and committed, and
    /// then lose their connection before the answer arrives.
    pub drop_next: u32,
    /// How many of the next calls are refused as rate limited (a 429 storm).
    pub throttle_next: u32,
    /// Seconds a rate-limited refusal asks the client to wait, in `Retry-After`; none sends
    /// no such header.
    pub retry_after_seconds: Option<u64>,
}

/// What the fault plan decided for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Refuse as rate limited.
    Throttled,
    /// Answer this server error.
    Failed(StatusCode),
}

/// An org's fault plan, shared by its requests.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan(Mutex<Faults>);

impl FaultPlan {
    /// A plan of `faults`.
    pub fn new(faults: Faults) -> Self {
        Self(Mutex::new(faults))
    }

    /// Replaces the plan.
    pub fn set(&self, faults: Faults) {
        *self.lock() = faults;
    }

    /// The plan as it stands.
    pub fn current(&self) -> Faults {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one call through the plan; `refuse` renders a refusal in the CRM's own shape.
    pub async fn apply(
        &self,
        request: Request,
        next: Next,
        refuse: impl FnOnce(Refusal) -> Response,
    ) -> Response {
        if request.uri().path().starts_with("/__sim/") {
            return next.run(request).await;
        }
        let write =
            [Method::POST, Method::PATCH, Method::PUT, Method::DELETE].contains(request.method());
        let (latency, refusal, drop, retry_after) = {
            let mut plan = self.lock();
            let refusal = if plan.throttle_next > 0 {
                plan.throttle_next -= 1;
                Some(Refusal::Throttled)
            } else if plan.fail_next > 0 {
                plan.fail_next -= 1;
                let status = plan.error_status.and_then(|s| StatusCode::from_u16(s).ok());
                Some(Refusal::Failed(
                    status.unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                ))
            } else {
                None
            };
            let drop = refusal.is_none() && write && plan.drop_next > 0;
            if drop {
                plan.drop_next -= 1;
            }
            (plan.latency_ms, refusal, drop, plan.retry_after_seconds)
        };
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if let Some(refusal) = refusal {
            tracing::debug!(?refusal, "injected fault refuses a call");
            let mut response = refuse(refusal);
            if let (Refusal::Throttled, Some(seconds)) = (refusal, retry_after) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, seconds.into());
            }
            return response;
        }
        let response = next.run(request).await;
        if !drop {
            return response;
        }
        tracing::debug!("injected fault drops a committed write's connection");
        let (parts, _) = response.into_parts();
        let broken = futures::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection dropped after the write committed",
            ))
        });
        Response::from_parts(parts, Body::from_stream(broken))
    }
}

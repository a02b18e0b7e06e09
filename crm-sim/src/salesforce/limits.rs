//! The daily API request allocation: every data call counts once (a composite call too),
//! `Sforce-Limit-Info` reports the usage, `/limits` the remaining allocation, and a call made
//! once it is spent answers 403 `REQUEST_LIMIT_EXCEEDED`, as in Salesforce.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::Org;
use super::errors::{ApiError, SfError};

/// The org's allocation and what has been used of it.
#[derive(Debug)]
pub(crate) struct ApiUsage {
    max: AtomicU64,
    used: AtomicU64,
}

impl ApiUsage {
    /// An allocation of `max` requests, none used.
    pub fn new(max: u64) -> Self {
        Self {
            max: AtomicU64::new(max),
            used: AtomicU64::new(0),
        }
    }

    /// Counts one request; `Err` when the allocation was already spent.
    pub fn take(&self) -> Result<(u64, u64), ApiError> {
        let max = self.max.load(Ordering::SeqCst);
        let taken = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used < max).then_some(used + 1)
            });
        match taken {
            Ok(before) => Ok((before + 1, max)),
            Err(_) => Err(ApiError {
                status: StatusCode::FORBIDDEN,
                errors: vec![SfError::bare(
                    "REQUEST_LIMIT_EXCEEDED",
                    "TotalRequests Limit exceeded.",
                )],
            }),
        }
    }

    /// (used, max).
    pub fn current(&self) -> (u64, u64) {
        let used = self.used.load(Ordering::SeqCst);
        (used, self.max.load(Ordering::SeqCst))
    }

    /// Sets the allocation and, if given, the usage so far.
    pub fn set(&self, max: u64, used: Option<u64>) {
        self.max.store(max, Ordering::SeqCst);
        if let Some(used) = used {
            self.used.store(used, Ordering::SeqCst);
        }
    }
}

/// `GET /services/data/vXX.X/limits`: the daily allocation and what remains of it.
pub(crate) async fn limits(State(org): State<Arc<Org>>) -> Json<Value> {
    let (used, max) = org.api_usage.current();
    let remaining = max.saturating_sub(used);
    Json(json!({
        "DailyApiRequests": {"Max": max, "Remaining": remaining},
        "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
        "DataStorageMB": {"Max": 5, "Remaining": 5},
        "FileStorageMB": {"Max": 20, "Remaining": 20},
        "SingleEmail": {"Max": 15, "Remaining": 15},
    }))
}

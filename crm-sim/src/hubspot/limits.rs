//! HubSpot's rate limits, per token: a rolling ten-second limit on every CRM call and a lower
//! per-second limit on search. A call over either answers 429 with HubSpot's body, whose
//! `policyName` says which limit it hit (`TEN_SECONDLY_ROLLING` or `SECONDLY`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use super::error;

/// The limits a portal enforces; none by default, so that demo replays run at full speed.
/// HubSpot gives a private app 100 calls per ten seconds (190 on Professional and
/// Enterprise) and search 5 per second.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Calls per token in any ten seconds.
    pub ten_secondly: Option<u32>,
    /// Search calls per token in any second.
    pub search_per_second: Option<u32>,
}

/// Which limit a call hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// The rolling ten-second limit.
    TenSecondly,
    /// Search's per-second limit.
    Secondly,
}

/// HubSpot's 429 for `policy`.
pub(crate) fn too_many(policy: Policy) -> Response {
    let (message, name) = match policy {
        Policy::TenSecondly => (
            "You have reached your ten_secondly_rolling limit.",
            "TEN_SECONDLY_ROLLING",
        ),
        Policy::Secondly => ("You have reached your secondly limit.", "SECONDLY"),
    };
    let mut extra = Map::new();
    extra.insert("errorType".into(), json!("RATE_LIMIT"));
    extra.insert("policyName".into(), json!(name));
    extra.insert("groupName".into(), json!("publicapi:private-app"));
    error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITS", message, extra)
}

/// The portal's limits and the recent calls of each token.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    limits: Mutex<RateLimits>,
    /// Call times by (token, is search), newest last.
    calls: Mutex<HashMap<(String, bool), VecDeque<Instant>>>,
}

impl Limiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits: Mutex::new(limits),
            calls: Mutex::default(),
        }
    }

    /// Replaces the limits.
    pub fn set(&self, limits: RateLimits) {
        *self.limits.lock().unwrap_or_else(|e| e.into_inner()) = limits;
    }

    /// Counts a call by `token`; answers the ten-second (max, remaining) when that limit is
    /// on, or the policy the call is over (and then counts nothing).
    pub fn take(&self, token: &str, search: bool) -> Result<Option<(u32, u32)>, Policy> {
        let limits = self
            .limits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let search_max = limits.search_per_second.filter(|_| search);
        if let Some(max) = search_max {
            let times = calls.entry((token.to_owned(), true)).or_default();
            room(times, now, second, max).ok_or(Policy::Secondly)?;
        }
        let mut answer = None;
        if let Some(max) = limits.ten_secondly {
            let times = calls.entry((token.to_owned(), false)).or_default();
            let remaining = room(times, now, 10 * second, max).ok_or(Policy::TenSecondly)?;
            times.push_back(now);
            answer = Some((max, remaining - 1));
        }
        if search_max.is_some() {
            calls
                .entry((token.to_owned(), true))
                .or_default()
                .push_back(now);
        }
        Ok(answer)
    }
}

/// Forgets calls older than `window`; answers how many more fit under `max`, if any.
fn room(times: &mut VecDeque<Instant>, now: Instant, window: Duration, max: u32) -> Option<u32> {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        times.pop_front();
    }
    let used = times.len() as u32;
    (used < max).then(|| max - used)
}

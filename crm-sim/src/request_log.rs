//! The log of API requests a simulator served, for tests and `GET /__sim/requests`.

use std::sync::Mutex;

use serde::Serialize;

/// One request a simulator answered (admin `/__sim/` requests are not logged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    /// The HTTP method, e.g. `POST`.
    pub method: String,
    /// The path with its query string, e.g. `/services/data/v60.0/query?q=...`.
    pub path: String,
    /// The status code the simulator answered with.
    pub status: u16,
    /// Who the call ran as: the Salesforce user Id or HubSpot `userId` of its token; `None`
    /// for calls without one (token requests, refused calls).
    pub user: Option<String>,
}

/// Requests served so far; its own lock so logging never waits on the org's state.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    entries: Mutex<Vec<LoggedRequest>>,
}

impl RequestLog {
    /// Records one request and returns how many have been served, this one included.
    pub(crate) fn record(
        &self,
        method: &str,
        path: &str,
        status: u16,
        user: Option<String>,
    ) -> u64 {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.push(LoggedRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            user,
        });
        entries.len() as u64
    }

    /// How many requests have been served.
    pub(crate) fn count(&self) -> u64 {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len() as u64
    }

    /// A copy of every logged request, oldest first.
    pub(crate) fn entries(&self) -> Vec<LoggedRequest> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

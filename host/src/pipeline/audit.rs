//! Auditing: every record's entry and every key's outcome, stored in one
//! transaction before the answer goes back to the agent.

use chrono::Utc;

use super::{Pipeline, RecordResult, Status};
use crate::config::CustomerConfig;
use crate::store::AuditEntry;

/// Audits every record and stores the outcomes of their keys.
///
/// A key's outcome is kept only when something may have been written: a
/// failure that wrote nothing releases its key, so the agent can fix the
/// cause (add the rep, correct the value) and send the same key again.
pub(super) async fn finish(pipeline: &Pipeline, config: &CustomerConfig, results: &[RecordResult]) {
    let now = crate::store::timestamp(Utc::now());
    let plugin = config
        .plugin
        .as_ref()
        .map(|p| format!("{}@{}", p.name, p.version));
    let mut entries = Vec::with_capacity(results.len());
    let mut outcomes = Vec::new();
    let mut released = Vec::new();
    for r in results {
        entries.push(AuditEntry {
            id: 0,
            customer: config.customer.clone(),
            idempotency_key: r.idempotency_key.clone(),
            entity: r.entity.clone().unwrap_or_default(),
            record_key: r.key.clone(),
            object: r.object.clone(),
            crm_id: r.crm_id.clone(),
            status: serde_json::to_value(r.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            error_code: r.error.as_ref().map(|e| e.code.clone()),
            config_version: config.version.clone(),
            plugin: plugin.clone(),
            decisions: serde_json::to_value(&r.fields).unwrap_or_default(),
            error: r.error.as_ref().and_then(|e| serde_json::to_value(e).ok()),
            created_at: now.clone(),
        });
        let Some(key) = &r.idempotency_key else {
            continue;
        };
        let wrote_nothing = r.status == Status::Failed && r.crm_id.is_none();
        if wrote_nothing {
            released.push((config.customer.clone(), key.clone()));
        } else if let Ok(value) = serde_json::to_value(r) {
            outcomes.push((config.customer.clone(), key.clone(), value));
        }
    }
    if let Err(e) = pipeline
        .store()
        .record_batch(&entries, &outcomes, &released)
        .await
    {
        // The CRM has the writes but the audit does not: an invariant of ours.
        // FIXME(#9): the keys stay claimed without an outcome, so a retry
        // answers `in_flight`; durable intake resumes such records instead.
        tracing::error!(error = %format!("{e:#}"), "could not store the audit of a batch");
    }
}
